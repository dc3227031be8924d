"""What a cell shows, in a real JupyterLab at 1024 px, light and dark: result tables, the status
card, the waiting line and the answer's footer.

A 6-row and a 60-row ``--over`` batch, ``%freddy log`` and ``%freddy models`` are shown in the
browser; the test measures each table's rendered height (written to ``table-heights.json`` beside
the screenshots), checks that text is left-aligned and cut to one line, that a long table
scrolls inside its box, and computes the WCAG contrast of the rendered colours (text against the
first opaque background behind it) for body text, header, notes, a failed row's error and the
SANDBOX notice, in both themes.
"""

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from freddy_magic.sandbox import Fault

from .lab import DIRTY_JS, open_notebook
from .test_browser import RECORD_JS, _run, _shotter, _wait_done, in_the_browser

# WCAG 2.x contrast of an element's text colour against the first opaque background behind it.
CONTRAST_JS = """(el) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let bg = null;
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] === 1)) { bg = c.slice(0, 3); break; }
  }
  bg = bg || [255, 255, 255];
  const [fr, fg0, fb, alpha = 1] = rgb(getComputedStyle(el).color);
  const fg = [fr, fg0, fb].map((v, i) => v * alpha + bg[i] * (1 - alpha));  // text drawn over its background
  const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return {ratio: (hi + 0.05) / (lo + 0.05), fg: getComputedStyle(el).color, bg: `rgb(${bg.join(',')})`};
}"""

CELLS = {
    "env": "%env FREDDY_SANDBOX=1\n%env FREDDY_SANDBOX_PACE=0",
    "auth": "%load_ext freddy_magic\n%freddy_auth",
    "data": (
        "import pandas as pd\n"
        "terms = ['photosynthesis', 'gravity', 'entropy', 'osmosis', 'inflation', 'recursion']\n"
        "six = pd.DataFrame({'term': terms, 'audience': ['a curious ten-year-old'] * 6})\n"
        "sixty = pd.DataFrame({'term': [f'{t} {i}' for i in range(10) for t in terms], 'audience': 'adults'})\n"
        "wide = pd.DataFrame({'question': [f'What does {t} have to do with everyday life at home?' for t in terms],\n"
        "    'audience': 'a curious ten-year-old child', 'context': 'science lesson, chapter four',\n"
        "    'level': 'beginner', 'language': 'English (UK)'})"
    ),
    "six": "%%freddy --over six -o r6\nExplain {term} to {audience} in three sentences.",
    "sixty": "%%freddy --over sixty -o r60\nExplain {term} to {audience} in three sentences.",
    "wide": "%%freddy --over wide -o rw\nFor {audience} ({level}, {language}, {context}): {question}",
    "failed": (
        "from freddy_magic._results import Rows\n"
        "failed = Rows([dict(r6[0]), dict(r6[1], status='error', text=None, error='RateLimited: slow down')])\n"
        "failed"
    ),
    "log": "%config FreddyMagics.display_limit = 30\n%freddy log",
    "models": "%freddy models",
    "error": "%%freddy -m no-such-model\nhi",
}


def _set_theme(page, theme):
    name, light = ("JupyterLab Dark", "false") if theme == "dark" else ("JupyterLab Light", "true")
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{name}'}})")
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")


@in_the_browser
def test_batch_tables_are_compact_bounded_and_readable_in_light_and_dark(page, lab, screenshots):
    page.set_viewport_size({"width": 1024, "height": 768})
    shot = _shotter(page, screenshots, "tables")
    cell = open_notebook(page, lab, "tables/tables.ipynb", CELLS)
    _set_theme(page, "light")
    for ident in CELLS:
        _run(page, cell[ident])
        _wait_done(cell[ident], timeout=60_000)

    heights, contrast = {}, {}
    for theme in ("light", "dark"):
        _set_theme(page, theme)
        for ident in ("six", "sixty", "wide"):
            table = cell[ident].locator(".jp-OutputArea-output").last
            table.scroll_into_view_if_needed()
            shot(f"{theme}-{ident}")
            heights[f"{theme}-{ident}"] = round(table.bounding_box()["height"])
    (screenshots / "table-heights.json").write_text(json.dumps(heights))  # before any check that may fail
    for theme in ("light", "dark"):
        _set_theme(page, theme)
        checks = {
            "body text": cell["six"].locator(".freddy-rows tbody td.freddy-excerpt").first,
            "header": cell["six"].locator(".freddy-rows thead th").nth(1),
            "row number": cell["six"].locator(".freddy-rows td.freddy-index").first,
            "note": cell["sixty"].locator(".freddy-note"),
            "failed row's error": cell["failed"].locator("tr.freddy-failed td.freddy-excerpt"),
            "SANDBOX notice": cell["auth"].locator(".jp-OutputArea-output strong", has_text="SANDBOX"),
            "a cell's error": cell["error"].locator("[data-mime-type='application/vnd.jupyter.stderr'] pre"),
        }
        for label, element in checks.items():
            contrast[f"{theme}: {label}"] = element.evaluate(CONTRAST_JS)
        cell["failed"].scroll_into_view_if_needed()
        shot(f"{theme}-failed-and-log")
    (screenshots / "table-contrast.json").write_text(json.dumps(contrast, indent=1))

    low = {label: c for label, c in contrast.items() if c["ratio"] < 4.5}
    assert not low, f"below WCAG AA (4.5:1): {low}"
    for key, height in heights.items():
        assert height < 420, f"{key}: the table is {height} px tall"
    excerpt = cell["six"].locator(".freddy-rows tbody td.freddy-excerpt").first
    style = excerpt.evaluate("(el) => [getComputedStyle(el).textAlign, getComputedStyle(el).whiteSpace]")
    assert style == ["left", "nowrap"]
    assert excerpt.evaluate("(el) => el.scrollWidth > el.clientWidth"), "a long answer is cut (ellipsis)"
    # five long input columns: four are shown, narrowed, so the answer keeps the widest column in view
    for ident in ("wide", "six", "failed"):
        box = cell[ident].locator(".freddy-table")
        widths = box.evaluate(
            "(box) => [...box.querySelector('tbody tr').children].map((td) => td.getBoundingClientRect().width)"
        )
        assert widths[-1] == max(widths), f"{ident}: the answer is not the widest column: {widths}"
        assert box.evaluate("(box) => box.scrollWidth <= box.clientWidth"), f"{ident}: the table scrolls sideways"
    expect(cell["wide"].locator(".freddy-note")).to_contain_text("not shown: language")
    expect(cell["sixty"].locator(".freddy-rows tbody tr")).to_have_count(10)
    expect(cell["sixty"].locator(".freddy-note")).to_contain_text("Showing the first 10 of 60 rows")
    log_box = cell["log"].locator(".freddy-table")
    expect(cell["log"].locator(".freddy-rows tbody tr")).to_have_count(30)
    assert log_box.evaluate("(el) => el.scrollHeight > el.clientHeight + 20"), "30 rows scroll inside the box"
    expect(cell["models"].locator(".freddy-rows thead")).to_contain_text("provider")
    expect(cell["models"].locator(".freddy-rows")).not_to_contain_text("mdl_")
    expect(cell["error"].locator(".jp-Cell-outputArea")).to_contain_text(
        "UsageError: Unknown model 'no-such-model': see %freddy models (details: "
    )
    lab.shutdown_kernels()


@pytest.fixture(autouse=True)
def _light_again(page):
    """The theme is a user setting, kept by the session's server: leave it light for other tests."""
    yield
    if page.url.startswith("http") and page.evaluate("() => !!window.jupyterapp"):
        _set_theme(page, "light")


# The placeholder's rendered width (in the field's own font) fits inside the field.
PLACEHOLDER_FITS_JS = """(el) => {
  const ctx = document.createElement('canvas').getContext('2d');
  const style = getComputedStyle(el);
  ctx.font = `${style.fontSize} ${style.fontFamily}`;
  const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
  return ctx.measureText(el.placeholder).width + padding <= el.clientWidth;
}"""

PLACEHOLDER_WIDTHS_JS = PLACEHOLDER_FITS_JS.replace(
    "return ctx.measureText(el.placeholder).width + padding <= el.clientWidth;",
    "return [ctx.measureText(el.placeholder).width, padding, el.clientWidth, ctx.font];",
)

ANSWER_CELLS = {
    "auth": "%load_ext freddy_magic\n%freddy_auth",
    "ask": "%%freddy -m ftg-3.0\nTell me a long story about the sea.",
    "cut": "%%freddy -m ftg-3.0 --max-tokens 5\nTell me a long story about the sea.",
}


@in_the_browser
def test_status_card_waiting_line_and_footer_survive_save_and_reopen(page, lab, shared_sandbox, screenshots):
    """Connect in the key widget: the prompt becomes a plain status card. An answer first says what
    it waits for, then ends with its footer; a cut-off one says so. Saved and reopened, the card
    and the footers are still there (no widget is needed to show them)."""
    page.set_viewport_size({"width": 1024, "height": 768})
    path = "card/card.ipynb"
    shot = _shotter(page, screenshots, "card")
    cell = open_notebook(page, lab, path, ANSWER_CELLS)
    _set_theme(page, "light")
    _run(page, cell["auth"])
    field = cell["auth"].locator(".jupyter-widgets input[type=password]")
    expect(field).to_be_visible()
    _wait_done(cell["auth"])
    shot("light-key-widget")
    assert field.evaluate(PLACEHOLDER_FITS_JS), field.evaluate(PLACEHOLDER_WIDTHS_JS)
    field.press_sequentially(shared_sandbox.api_key)
    cell["auth"].locator("button.widget-button", has_text="Connect").click()
    card = cell["auth"].locator(".freddy-status")
    expect(card).to_contain_text("Connected")
    expect(cell["auth"].locator(".jupyter-widgets")).to_have_count(0)
    org = shared_sandbox.organization_id
    named = requests.get(
        f"{shared_sandbox.url}/v1/organizations/{org}", headers={"X-API-Key": shared_sandbox.api_key}, timeout=30
    )
    organization = card.get_by_title(f"{named.json()['name']} ({org})")
    expect(organization).to_have_text(f"{named.json()['name']} ({org[:13]}…)")  # by name, the id shortened

    answer = cell["ask"].locator(".jp-Cell-outputArea")
    shared_sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="slow", delay=2.0, times=1))
    _run(page, cell["ask"])
    expect(answer).to_have_text("waiting for ftg-3.0…")  # while the server holds the answer back
    shot("light-waiting")
    _wait_done(cell["ask"])
    expect(answer).not_to_contain_text("waiting for")
    expect(cell["ask"].locator(".freddy-footer")).to_contain_text(
        re.compile(r"^ftg-3\.0 · [\d.]+ s · \d+ → \d+ tokens$")
    )
    _run(page, cell["cut"])
    _wait_done(cell["cut"])
    expect(cell["cut"].locator(".freddy-footer")).to_contain_text("stopped: max tokens")
    shot("light-answered")
    _set_theme(page, "dark")
    footer = cell["cut"].locator(".freddy-footer").evaluate(CONTRAST_JS)
    assert footer["ratio"] >= 4.5, footer
    shot("dark-answered")

    page.keyboard.press("Control+s")
    page.wait_for_function(DIRTY_JS, arg=[path, False])
    lab.shutdown_kernels()
    saved = (lab.root / path).read_text()
    assert "widget-view+json" not in saved and "freddy-status" in saved
    page.goto(f"{lab.url}/lab/tree/{path}?reset&token={lab.token}")
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    expect(cells.nth(0).locator(".freddy-status")).to_contain_text("Connected")
    expect(cells.nth(0).locator(".freddy-status")).to_contain_text(named.json()["name"])
    expect(cells.nth(2).locator(".freddy-footer")).to_contain_text("stopped: max tokens")
    expect(page.locator(".jp-NotebookPanel:visible")).not_to_contain_text("Error displaying widget")
    shot("dark-reopened")


NB7_CELLS = {
    "auth": "%load_ext freddy_magic\n%freddy_auth",
    "ask": "%%freddy -m ftg-3.0\nTell me a long story about the sea.",
    "data": "rows = [{'term': t} for t in ('owls', 'tides', 'snow')]",
    "batch": "%%freddy --over rows -m ftg-3.0\nExplain {term} in one sentence.",
}


@in_the_browser
def test_notebook_7_key_widget_streamed_answer_and_batch_table(page, notebook7, shared_sandbox, screenshots):
    """The same in Jupyter Notebook 7: the key widget connects, an answer streams in (seen half
    written) and ends with its footer, and a batch shows the compact table."""
    page.set_viewport_size({"width": 1024, "height": 768})
    shot = _shotter(page, screenshots, "notebook7")
    cell = open_notebook(page, notebook7, "nb7.ipynb", NB7_CELLS, front="notebook7")
    _run(page, cell["auth"])
    field = cell["auth"].locator(".jupyter-widgets input[type=password]")
    expect(field).to_be_visible()
    _wait_done(cell["auth"])
    assert field.evaluate(PLACEHOLDER_FITS_JS), field.evaluate(PLACEHOLDER_WIDTHS_JS)
    shot("1-key-widget")
    field.press_sequentially(shared_sandbox.api_key)
    cell["auth"].locator("button.widget-button", has_text="Connect").click()
    expect(cell["auth"].locator(".freddy-status")).to_contain_text("Connected")

    answer = cell["ask"].locator(".jp-Cell-outputArea")
    answer.evaluate(RECORD_JS)
    shared_sandbox.set_latency(per_delta=0.05, per_request=0.0)  # written over a second or two
    _run(page, cell["ask"])
    _wait_done(cell["ask"])
    final = answer.inner_text()
    partial = [text for _, text in page.evaluate("window.__snapshots") if "▍" in text and "[sandbox" in text]
    assert partial and all(len(text) < len(final) for text in partial), "no half-written answer was seen"
    expect(cell["ask"].locator(".freddy-footer")).to_contain_text("ftg-3.0 · ")
    shot("2-streamed")

    for ident in ("data", "batch"):
        _run(page, cell[ident])
        _wait_done(cell[ident])
    table = cell["batch"].locator(".freddy-rows")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("thead")).to_contain_text("answer")
    cell["batch"].scroll_into_view_if_needed()
    shot("3-batch-table")
    notebook7.shutdown_kernels()
