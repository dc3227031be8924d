"""Result tables in a real JupyterLab at 1024 px, light and dark: compact, bounded, readable.

A 6-row and a 60-row ``--over`` batch, ``%freddy log`` and ``%freddy models`` are shown in the
browser; the test measures each table's rendered height (written to ``table-heights.json`` beside
the screenshots), checks that text is left-aligned and cut to one line, that a long table
scrolls inside its box, and computes the WCAG contrast of the rendered colours (text against the
first opaque background behind it) for body text, header, notes, a failed row's error and the
SANDBOX notice, in both themes.
"""

import json

import pytest
from playwright.sync_api import expect

from .lab import KERNEL_STATUS_JS
from .test_browser import _run, _shotter, _wait_done, in_the_browser

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
        "sixty = pd.DataFrame({'term': [f'{t} {i}' for i in range(10) for t in terms], 'audience': 'adults'})"
    ),
    "six": "%%freddy --over six -o r6\nExplain {term} to {audience} in three sentences.",
    "sixty": "%%freddy --over sixty -o r60\nExplain {term} to {audience} in three sentences.",
    "failed": (
        "from freddy_magic._results import Rows\n"
        "failed = Rows([dict(r6[0]), dict(r6[1], status='error', text=None, error='RateLimited: slow down')])\n"
        "failed"
    ),
    "log": "%config FreddyMagics.display_limit = 30\n%freddy log",
    "models": "%freddy models",
}


def _set_theme(page, theme):
    name, light = ("JupyterLab Dark", "false") if theme == "dark" else ("JupyterLab Light", "true")
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{name}'}})")
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")


@in_the_browser
def test_batch_tables_are_compact_bounded_and_readable_in_light_and_dark(page, lab, screenshots):
    import nbformat

    page.set_viewport_size({"width": 1024, "height": 768})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code, id=ident) for ident, code in CELLS.items()]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = lab.root / "tables"
    folder.mkdir()
    nbformat.write(nb, folder / "tables.ipynb")
    path = "tables/tables.ipynb"
    shot = _shotter(page, screenshots, "tables")

    page.goto(f"{lab.url}/lab/tree/{path}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_STATUS_JS, arg=[path, "idle"], timeout=60_000)
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    expect(cells).to_have_count(len(CELLS))
    cell = {ident: cells.nth(i) for i, ident in enumerate(CELLS)}
    _set_theme(page, "light")
    for ident in CELLS:
        _run(page, cell[ident])
        _wait_done(cell[ident], timeout=60_000)

    heights, contrast = {}, {}
    for theme in ("light", "dark"):
        _set_theme(page, theme)
        for ident in ("six", "sixty"):
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
    expect(cell["sixty"].locator(".freddy-rows tbody tr")).to_have_count(10)
    expect(cell["sixty"].locator(".freddy-note")).to_contain_text("Showing the first 10 of 60 rows")
    log_box = cell["log"].locator(".freddy-table")
    expect(cell["log"].locator(".freddy-rows tbody tr")).to_have_count(30)
    assert log_box.evaluate("(el) => el.scrollHeight > el.clientHeight + 20"), "30 rows scroll inside the box"
    expect(cell["models"].locator(".freddy-rows thead")).to_contain_text("provider")
    expect(cell["models"].locator(".freddy-rows")).not_to_contain_text("mdl_")
    lab.shutdown_kernels()


@pytest.fixture(autouse=True)
def _light_again(page):
    """The theme is a user setting, kept by the session's server: leave it light for other tests."""
    yield
    if page.url.startswith("http") and page.evaluate("() => !!window.jupyterapp"):
        _set_theme(page, "light")
