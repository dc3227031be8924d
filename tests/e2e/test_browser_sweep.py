"""What the browser receives (§4.R automated where a test can): no echo of the key on the wire,
and nothing of it kept in the page's own storage.

The file sweep in JupyterLab (saved notebook with widget state on, checkpoint, history.sqlite,
every file the server wrote) is tests/test_browser.py's; this adds the websocket view a second
collaborator's browser would have: every frame the kernel sends to the page is searched, and the
frames the page sent are the control (they must hold the key, or the test typed nothing).
Reuses the browser helper's fixtures; without them or without Chromium it skips and says why.
"""

import sys

import nbformat
import pytest

from playwright.sync_api import expect

from freddy_magic._redaction import fingerprint
from freddy_magic.testing import find_canary

from .lab import KERNEL_STATUS_JS

pytestmark = pytest.mark.browser


def test_websocket_frames_to_the_browser_never_carry_the_key(page, lab, browser_sandbox):
    key = browser_sandbox.api_key
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
