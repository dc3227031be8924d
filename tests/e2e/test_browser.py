"""The quickstart in a real JupyterLab in headless Chromium: what only a browser can show.

A user opens the quickstart with no key, types the key into the widget, presses Connect, sees the
status line, watches an answer stream in, compares two models and saves with widget-state saving
on. Then the key must be in none of: the saved notebook, its checkpoint, the kernel's
history.sqlite, or any other file the server and kernels wrote. The second run types while
another cell is still running: the Connect click must never overtake the value sync.
Screenshots go to test-results/browser/ (pytest-playwright's --output). The teaching notebook
is run too, against the in-kernel sandbox at its default pace, to see its first answer being
written in both the light and the dark theme.

The websocket view a second collaborator's browser would have is searched too: every frame the
kernel sends to the page, with the frames the page sent as the control (they must hold the key,
or the test typed nothing), and the page's own storage.
"""

import json
import os
import re
import sys

import pytest
from playwright.sync_api import expect

from freddy_magic._redaction import fingerprint
from freddy_magic.testing import assert_no_canary, find_canary

from . import lab as lab_helpers
from .lab import DIRTY_JS, KERNEL_STATUS_JS, REPO

QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"
WIDGET_STATE_MARKER = "widget-state-" + "was-saved"  # joined only in the kernel, so only widget state holds it
RELEASE = "release-busy-cell"  # a FIFO: the busy cell blocks reading it until the test writes
DONE_PROMPT = re.compile(r"\[\d+\]")


def in_the_browser(test):
    """The marks of a test that drives JupyterLab in Chromium (the helper test at the end needs none)."""
    return pytest.mark.browser(pytest.mark.slow(test))


# Records the text of an element at every DOM change, with a timestamp, so a test can tell a
# stream (many growing snapshots over time) from an answer that appeared at once.
RECORD_JS = """(el) => {
  window.__snapshots = [];
  new MutationObserver(() => window.__snapshots.push([performance.now(), el.innerText]))
    .observe(el, {subtree: true, childList: true, characterData: true});
}"""


def _prepare(lab, name):
    """The quickstart copied into its own folder, plus a widget-state control and a busy cell."""
    import nbformat

    nb = nbformat.read(QUICKSTART, as_version=4)
    head, tail = WIDGET_STATE_MARKER[:13], WIDGET_STATE_MARKER[13:]
    control = nbformat.v4.new_code_cell(f'import ipywidgets\nipywidgets.Text(value="{head}" + "{tail}")')
    control.id = "control"
    busy = nbformat.v4.new_code_cell(f"with open({RELEASE!r}) as release:\n    release.read()")
    busy.id = "busy"
    nb.cells += [control, busy]
    folder = lab.root / name
    folder.mkdir()
    nbformat.write(nb, folder / "quickstart.ipynb")
    return f"{name}/quickstart.ipynb", folder, {cell.id: i for i, cell in enumerate(nb.cells)}


def _run(page, cell):
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _wait_done(cell, timeout=30_000):
    expect(cell.locator(".jp-InputArea-prompt")).to_have_text(DONE_PROMPT, timeout=timeout)


def _shotter(page, folder, name):
    def shot(step):
        folder.mkdir(parents=True, exist_ok=True)  # another pytest session may have emptied test-results/
        page.screenshot(path=str(folder / f"{name}-{step}.png"), full_page=True)

    return shot


@pytest.mark.parametrize("typing_while_busy", [False, True], ids=["idle", "typing-while-busy"])
@in_the_browser
@pytest.mark.security
def test_quickstart_in_lab_keeps_key_out_of_every_file(page, lab, shared_sandbox, screenshots, typing_while_busy):
    name = "busy" if typing_while_busy else "idle"
    shot = _shotter(page, screenshots, name)
    shared_sandbox.set_latency(per_delta=0.05)  # slow enough per delta to watch the answer stream in
    key = shared_sandbox.api_key
    lab.set_widget_save_state(True)
    path, folder, index = _prepare(lab, name)

    page.goto(f"{lab.url}/lab/tree/{path}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_STATUS_JS, arg=[path, "idle"], timeout=60_000)
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    expect(cells).to_have_count(len(index))
    cell = {ident: cells.nth(i) for ident, i in index.items()}

    _run(page, cell["load"])
    _wait_done(cell["load"])
    _run(page, cell["auth"])
    auth_out = cell["auth"].locator(".jp-Cell-outputArea")
    field = cell["auth"].locator(".jupyter-widgets input[type=password]")
    expect(field).to_be_visible()
    _wait_done(cell["auth"])  # the magic shows the widget and returns: it never blocks the kernel
    shot("1-key-widget")

    if typing_while_busy:
        os.mkfifo(folder / RELEASE)
        _run(page, cell["busy"])
        page.wait_for_function(KERNEL_STATUS_JS, arg=[path, "busy"])
    prompt_text = auth_out.inner_text()
    auth_out.evaluate(RECORD_JS)
    field.press_sequentially(key)
    cell["auth"].locator("button.widget-button", has_text="Connect").click()
    if typing_while_busy:
        # The kernel is still busy: nothing can have been checked yet; then let the cell finish.
        expect(cell["busy"].locator(".jp-InputArea-prompt")).to_have_text("[*]:")
        expect(auth_out).not_to_contain_text(fingerprint(key))
        with open(folder / RELEASE, "w") as release:
            release.write("go")
        _wait_done(cell["busy"])
        (folder / RELEASE).unlink()  # a FIFO left behind would block the file search below

    # The fingerprint of the whole key proves the whole key arrived (not a first-keystroke prefix).
    expect(auth_out).to_contain_text(fingerprint(key))
    expect(auth_out).to_contain_text(re.compile("sandbox", re.I))
    expect(field).to_have_count(0)
    # Nothing but (parts of) the prompt while it is taken down, then the status: no message ever,
    # so no prefix of the key was submitted and refused, and no click arrived before the value.
    prompt_lines = {line.strip() for line in prompt_text.splitlines()} | {""}
    seen = {text.strip() for _, text in page.evaluate("window.__snapshots")}
    extra = [
        text
        for text in seen
        if fingerprint(key) not in text and not {line.strip() for line in text.splitlines()} <= prompt_lines
    ]
    assert not extra, f"the key prompt showed more than prompt and status: {extra}"
    shot("2-connected")

    first_out = cell["first"].locator(".jp-Cell-outputArea")
    first_out.evaluate(RECORD_JS)
    _run(page, cell["first"])
    _wait_done(cell["first"])
    final = first_out.inner_text()
    snapshots = page.evaluate("window.__snapshots")
    partial = [(t, text) for t, text in snapshots if "[sandbox ftg-3.0]" in text and len(text) < 0.8 * len(final)]
    assert partial, f"no partial answer was ever shown before the final one: {snapshots[-3:]}"
    last_change = snapshots[-1][0]
    assert last_change - partial[0][0] > 100, "the answer did not arrive over time (latency_per_delta=0.05)"
    assert final.count("[sandbox ftg-3.0]") == 1, "the final answer must be shown exactly once"
    shot("3-streamed")

    _run(page, cell["data"])
    _wait_done(cell["data"])
    _run(page, cell["compare"])
    _wait_done(cell["compare"])
    compare_out = cell["compare"].locator(".jp-Cell-outputArea")
    expect(compare_out).to_contain_text("[sandbox ftg-3.0]")
    expect(compare_out).to_contain_text("[sandbox gpt-4o]")
    _run(page, cell["compare-table"])
    _wait_done(cell["compare-table"])
    expect(cell["compare-table"].locator(".jp-Cell-outputArea table")).to_contain_text("gpt-4o")
    _run(page, cell["control"])
    _wait_done(cell["control"])
    expect(cell["control"].locator(".jupyter-widgets input[type=text]")).to_have_value(WIDGET_STATE_MARKER)
    shot("4-compared")

    page.wait_for_function(DIRTY_JS, arg=[path, True])
    page.keyboard.press("Control+s")
    page.wait_for_function(DIRTY_JS, arg=[path, False])
    shot("5-saved")
    lab.shutdown_kernels()  # closes history.sqlite, so what the kernel wrote is on disk

    saved = (folder / "quickstart.ipynb").read_text()
    checkpoint = folder / ".ipynb_checkpoints" / "quickstart-checkpoint.ipynb"
    assert WIDGET_STATE_MARKER in json.dumps(json.loads(saved)["metadata"].get("widgets", {})), (
        "widget state was not saved, so its absence of the key proves nothing"
    )
    assert "[sandbox ftg-3.0]" in saved, "the outputs were not saved"
    assert checkpoint.exists()
    assert "%freddy_auth" in lab.history.read_bytes().decode("utf-8", "replace"), "the kernel recorded no history"
    assert_no_canary([folder / "quickstart.ipynb", checkpoint, lab.history], key)
    server_log = (lab.tmp / "server.log").read_text(errors="replace")
    assert "[D " in server_log and "MESSAGE TYPE:comm_msg" in server_log, "control: server and kernel log at DEBUG"
    assert_no_canary([lab.tmp], key)  # and nothing else the server or kernels wrote, server.log included


@in_the_browser
@pytest.mark.security
def test_websocket_frames_to_the_browser_never_carry_the_key(page, lab, shared_sandbox):
    import nbformat

    key = shared_sandbox.api_key
    folder = lab.root / "ws-sweep"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("%load_ext freddy_magic\n%freddy_auth")]
    nbformat.write(nb, folder / "ws.ipynb")
    received, sent = [], []

    def watch(ws):
        ws.on("framereceived", lambda payload: received.append(payload))
        ws.on("framesent", lambda payload: sent.append(payload))

    page.on("websocket", watch)
    path = "ws-sweep/ws.ipynb"
    page.goto(f"{lab.url}/lab/tree/{path}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_STATUS_JS, arg=[path, "idle"], timeout=60_000)
    cell = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(0)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    field = cell.locator(".jupyter-widgets input[type=password]")
    expect(field).to_be_visible(timeout=30_000)
    field.press_sequentially(key)
    field.press("Enter")
    expect(cell.locator(".jp-Cell-outputArea")).to_contain_text(fingerprint(key), timeout=30_000)
    storage = page.evaluate("() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})")
    print(f"websocket frames: {len(received)} received, {len(sent)} sent", file=sys.stderr)
    assert find_canary(sent, key), "control: the key never left the page, so the sweep proves nothing"
    assert find_canary(received, key) == [], "the kernel sent the key back to the browser"
    assert find_canary(storage, key) == []


def test_browser_tests_skip_or_fail_loudly_without_chromium(monkeypatch, tmp_path):
    """Without chromium: a skip that says why, except in CI, where it is a failure."""
    monkeypatch.setattr(lab_helpers, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="browser tests must run in CI"):
        lab_helpers.require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="not found"):
        lab_helpers.require_chromium()


SOURCES = {
    # what binder/start exports, without and with the lesson's shipped recording
    "sandbox": ("%env FREDDY_SANDBOX=1", "SANDBOX: answers are fake"),
    "replay": (
        f"%env FREDDY_SANDBOX=1\n%env FREDDY_REPLAY={REPO / 'notebooks' / 'recorded-answers.jsonl'}",
        "REPLAY: answers recorded earlier",
    ),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
@in_the_browser
def test_the_teaching_notebook_streams_visibly_in_light_and_dark(page, lab, screenshots, source):
    """The lesson as a class sees it on Binder: from the in-kernel sandbox at its default pace, or
    replayed from its recording at the recorded pace; the first answer is seen half-written, with
    the cursor, before it is whole; the conversation's tokens grow. Screenshots in both themes."""
    import nbformat

    nb = nbformat.read(REPO / "notebooks" / "teaching-demo.ipynb", as_version=4)
    switch = nbformat.v4.new_code_cell(SOURCES[source][0])
    switch.id = "switch"
    nb.cells.insert(0, switch)
    folder = lab.root / f"teaching-{source}"
    folder.mkdir()
    nbformat.write(nb, folder / "teaching-demo.ipynb")
    index = {cell.id: i for i, cell in enumerate(nb.cells)}
    path = f"teaching-{source}/teaching-demo.ipynb"
    shot = _shotter(page, screenshots, f"teaching-{source}")

    page.goto(f"{lab.url}/lab/tree/{path}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_STATUS_JS, arg=[path, "idle"], timeout=60_000)
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    expect(cells).to_have_count(len(index))
    cell = {ident: cells.nth(i) for ident, i in index.items()}
    for ident in ("switch", "load", "auth"):
        _run(page, cell[ident])
        _wait_done(cell[ident])
    expect(cell["auth"].locator(".jp-Cell-outputArea")).to_contain_text(SOURCES[source][1])

    for theme in ("light", "dark"):
        if theme == "dark":
            page.evaluate(
                "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
            )
            page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        answer = cell["ask"].locator(".jp-Cell-outputArea")
        answer.evaluate(RECORD_JS)
        _run(page, cell["ask"])
        expect(answer).to_contain_text("▍", timeout=30_000)  # half-written, the cursor showing
        shot(f"{theme}-1-streaming")
        _wait_done(cell["ask"])
        expect(answer).not_to_contain_text("▍")
        final = answer.inner_text()
        growing = [text for _, text in page.evaluate("window.__snapshots") if "[sandbox ftg-3.0]" in text]
        assert len({text for text in growing if "▍" in text}) >= 3, f"{theme}: fewer than three partial answers seen"
        assert final.count("[sandbox ftg-3.0]") == 1, "the finished answer is shown once"
        shot(f"{theme}-2-answered")

    for ident in ("vars", "template", "chat1", "chat2", "chat-tokens"):
        _run(page, cell[ident])
        _wait_done(cell[ident])
    expect(cell["chat2"].locator(".jp-Cell-outputArea")).to_contain_text("Turn 2 of this conversation")
    tokens = [int(n) for n in re.findall(r"(\d+) input tokens", cell["chat-tokens"].inner_text())]
    assert len(tokens) == 2 and tokens[1] > tokens[0], tokens
    cell["chat2"].scroll_into_view_if_needed()
    shot("dark-3-conversation")
    lab.shutdown_kernels()
