"""The bundled front-end extension, in real JupyterLab and Notebook 7 in Chromium.

``%%freddy`` cells are highlighted as Markdown, read from what CodeMirror renders: a token is a
keyword or a heading when its computed colour is the theme's keyword or heading colour, and
Markdown's strong text is bold. A plain Python cell with the same body is the control. The cells
are followed through the kernel's language arriving (which resets every code cell's mime type),
edits that remove and restore ``%%freddy``, and a cell added after opening.

The key prompt's field is focused when it appears: the key is typed and sent with Enter and no
click, and the connected status proves all of it arrived; a second prompt is focused once and
then leaves the focus where the user puts it. Signing in is typed from start to end: the first
field is focused, Tab reaches the password, and the code field is focused when it appears. The
servers load the extension as this checkout built it (conftest.py).
"""

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from freddy_magic._redaction import fingerprint
from freddy_magic.testing import assert_no_canary

from .lab import open_notebook
from .test_browser import _run, _shotter, _wait_done, in_the_browser
from .test_browser_tables import _set_theme

FRONT_ENDS = ["lab", "notebook7"]
BODY = "# Title\n**bold** words\nfor x in y:\n    print(x)"

# The tokens of a cell's editor, classified by their computed style against the theme's colours.
TOKENS_JS = """(cell) => {
  const resolve = (name) => {
    const probe = document.createElement('span');
    probe.style.color = `var(${name})`;
    cell.appendChild(probe);
    const color = getComputedStyle(probe).color;
    probe.remove();
    return color;
  };
  const keyword = resolve('--jp-mirror-editor-keyword-color');
  const header = resolve('--jp-mirror-editor-header-color');
  const spans = [...cell.querySelectorAll('.jp-InputArea-editor .cm-line span')].filter((s) => !s.children.length);
  const texts = (test) => spans.filter(test).map((s) => s.textContent.trim());
  return {
    distinct: keyword !== header,
    keywords: texts((s) => getComputedStyle(s).color === keyword),
    headers: texts((s) => getComputedStyle(s).color === header),
    bold: texts((s) => Number(getComputedStyle(s).fontWeight) >= 600),
  };
}"""

HIGHLIGHT_JS = (
    """([cell, want]) => {
  const t = (%s)(cell);
  const markdown = t.headers.some((s) => s.includes('Title')) && t.bold.includes('bold') && !t.keywords.includes('for');
  const python = t.keywords.includes('for') && t.keywords.includes('in') && !t.headers.length;
  return t.distinct && (want === 'markdown' ? markdown : python);
}"""
    % TOKENS_JS
)

FOCUSED_FIELD_JS = """(cell) => {
  const active = document.activeElement;
  return !!active && active.type === 'password' && cell.contains(active);
}"""

# The focused element is the cell's field whose placeholder starts with the given text.
FOCUSED_PLACEHOLDER_JS = """([cell, start]) => {
  const active = document.activeElement;
  return !!active && cell.contains(active) && (active.placeholder || '').startsWith(start);
}"""

PLUGINS_JS = """() => ['freddy-magic:highlight', 'freddy-magic:focus']
  .map((id) => window.jupyterapp.isPluginActivated(id))"""


def _open(page, server, front, cells):
    """A notebook of ``cells`` opened in ``front``, with the extension's plugins checked active."""
    path = f"labext-{front}-{len(list(server.root.glob('labext-*')))}.ipynb"
    cell = open_notebook(page, server, path, cells, front)
    assert page.evaluate(PLUGINS_JS) == [True, True], "the freddy-magic extension is not loaded"
    return cell


def _expect_highlight(page, cell, want):
    """Wait until the cell's tokens read as ``want``; on timeout, fail showing what they read as."""
    handle = cell.element_handle()
    try:
        page.wait_for_function(HIGHLIGHT_JS, arg=[handle, want], timeout=15_000)
    except PlaywrightError:
        pytest.fail(f"not highlighted as {want}: {handle.evaluate(TOKENS_JS)}")


def _edit(page, cell):
    """Put the cursor at the start of the cell's source, in edit mode."""
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Home")


@pytest.mark.parametrize("front", FRONT_ENDS)
@in_the_browser
def test_freddy_cells_are_highlighted_as_markdown_and_follow_edits(page, request, screenshots, front):
    server = request.getfixturevalue(front)
    shot = _shotter(page, screenshots, f"labext-{front}")
    page.set_viewport_size({"width": 1024, "height": 768})
    cell = _open(page, server, front, {"freddy": f"%%freddy\n{BODY}", "control": BODY})

    _expect_highlight(page, cell["control"], "python")  # the kernel's language has arrived
    _expect_highlight(page, cell["freddy"], "markdown")
    for theme in ("light", "dark"):
        _set_theme(page, theme)
        _expect_highlight(page, cell["freddy"], "markdown")
        _expect_highlight(page, cell["control"], "python")
        cell["freddy"].scroll_into_view_if_needed()
        expect(page.locator("#jupyterlab-splash")).to_have_count(0)  # JupyterLab's splash while the theme loads
        shot(f"{theme}-highlighted")
    _set_theme(page, "light")

    _edit(page, cell["freddy"])  # the magic line deleted: the body is Python again
    page.keyboard.press("Shift+End")
    page.keyboard.press("Delete")
    page.keyboard.press("Delete")
    _expect_highlight(page, cell["freddy"], "python")
    page.keyboard.type("%%freddy")  # and typed back
    page.keyboard.press("Enter")
    _expect_highlight(page, cell["freddy"], "markdown")
    _expect_highlight(page, cell["control"], "python")

    cell["control"].click()
    page.keyboard.press("Escape")  # command mode
    page.keyboard.press("b")  # a new code cell below the control, which the notebook makes Python
    added = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(2)
    expect(added).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.type("for x in y:")
    expect(added.locator(".cm-line").first).to_have_text("for x in y:")
    _expect_highlight(page, added, "python")
    page.keyboard.press("Control+Home")
    page.keyboard.type("%%freddy\n# Title\n**bold**\n")
    _expect_highlight(page, added, "markdown")
    _expect_highlight(page, cell["control"], "python")
    server.shutdown_kernels()


@pytest.mark.parametrize("front", FRONT_ENDS)
@in_the_browser
@pytest.mark.security
def test_the_key_field_is_focused_when_shown_and_enter_connects(page, request, shared_sandbox, screenshots, front):
    server = request.getfixturevalue(front)
    key = shared_sandbox.api_key
    cell = _open(
        page,
        server,
        front,
        {"auth": "%load_ext freddy_magic\n%freddy_auth", "again": "%freddy_auth --key", "other": "1 + 1"},
    )

    shot = _shotter(page, screenshots, f"labext-{front}")
    _run(page, cell["auth"])
    page.wait_for_function(FOCUSED_FIELD_JS, arg=cell["auth"].element_handle(), timeout=30_000)
    shot("focus-key-field")
    page.keyboard.type(key)  # no click: the focus is where the typing goes
    page.keyboard.press("Enter")
    expect(cell["auth"].locator(".jp-Cell-outputArea")).to_contain_text(fingerprint(key), timeout=30_000)
    expect(cell["auth"].locator(".freddy-status")).to_contain_text("Connected")
    expect(cell["auth"].locator("input[type=password]")).to_have_count(0)
    shot("focus-connected")

    # A second prompt is focused when it appears, and only then: running another cell, whose
    # output changes the page, leaves the focus in that cell's notebook.
    _run(page, cell["again"])
    page.wait_for_function(FOCUSED_FIELD_JS, arg=cell["again"].element_handle(), timeout=30_000)
    _run(page, cell["other"])
    _wait_done(cell["other"])
    expect(cell["other"].locator(".jp-Cell-outputArea")).to_contain_text("2")
    assert not page.evaluate(FOCUSED_FIELD_JS, cell["again"].element_handle()), "the key field took the focus back"
    cell["again"].locator("button.widget-button", has_text="Cancel").click()
    expect(cell["again"].locator(".jp-Cell-outputArea")).to_contain_text("Cancelled")

    server.shutdown_kernels()  # closes history.sqlite, so what the kernel wrote is on disk
    assert_no_canary([server.tmp], key)


@pytest.mark.parametrize("front", FRONT_ENDS)
@in_the_browser
@pytest.mark.security
def test_signing_in_takes_no_click_the_code_field_is_focused_when_it_appears(
    page, request, shared_sandbox, screenshots, front
):
    server = request.getfixturevalue(front)
    cell = _open(page, server, front, {"login": "%load_ext freddy_magic\n%freddy_auth --login"})
    shot = _shotter(page, screenshots, f"labext-{front}")
    handle = cell["login"].element_handle()
    codes_before = len(shared_sandbox.outbox())

    _run(page, cell["login"])
    page.wait_for_function(FOCUSED_PLACEHOLDER_JS, arg=[handle, "email or username"], timeout=30_000)
    page.keyboard.type(shared_sandbox.email)
    page.keyboard.press("Tab")  # the password field is next
    page.wait_for_function(FOCUSED_PLACEHOLDER_JS, arg=[handle, "then press Enter"], timeout=10_000)
    page.keyboard.type(shared_sandbox.password)
    page.keyboard.press("Enter")
    page.wait_for_function(FOCUSED_PLACEHOLDER_JS, arg=[handle, "4-digit code"], timeout=30_000)
    shot("login-code-field")
    mails = shared_sandbox.outbox()[codes_before:]
    assert len(mails) == 1, "one code was sent"
    page.keyboard.type(str(mails[0]["code"]))
    page.keyboard.press("Enter")
    expect(cell["login"].locator(".freddy-status")).to_contain_text("Connected", timeout=30_000)
    expect(cell["login"].locator("input")).to_have_count(0)

    server.shutdown_kernels()
    assert_no_canary([server.tmp], shared_sandbox.password)


@pytest.mark.parametrize("front", FRONT_ENDS)
@in_the_browser
def test_a_prompt_that_appears_while_the_user_writes_in_a_cell_leaves_the_keyboard_there(
    page, request, tmp_path, front
):
    server = request.getfixturevalue(front)
    go = tmp_path / "go"
    cell = _open(
        page,
        server,
        front,
        {
            # the prompt appears only when the test says so, while the user is writing elsewhere
            "auth": "%load_ext freddy_magic\nimport os, time\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n%freddy_auth --key",
            "notes": "notes = 'draft'",
        },
    )
    _run(page, cell["auth"])
    _edit(page, cell["notes"])
    page.keyboard.press("Control+End")
    page.keyboard.type(" one")
    go.touch()
    expect(cell["auth"].locator("input[type=password]")).to_be_visible(timeout=30_000)
    page.keyboard.type(" two")
    expect(cell["notes"].locator(".cm-content")).to_have_text("notes = 'draft' one two")
    assert cell["auth"].locator("input[type=password]").input_value() == ""
    cell["auth"].locator("button.widget-button", has_text="Cancel").click()
    expect(cell["auth"].locator(".jp-Cell-outputArea")).to_contain_text("Cancelled")
    server.shutdown_kernels()
