"""A real JupyterLab and Debian's Chromium for the browser tests, and a server starter.

Everything the server and its kernels write goes into one temporary tree (notebook root, IPython
dir with its history.sqlite, Jupyter config/runtime/settings/workspaces), so a test can search
all of it for a secret afterwards. The kernels reach a sandbox that runs in the test process
through ``FREDDY_BASE_URL``; no key and no ``FREDDY_SANDBOX`` is in their environment, so a plain
``%freddy_auth`` shows the key widget. The fixtures using this are in conftest.py.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "e2e-token"
REPO = Path(__file__).resolve().parents[2]
LABEXTENSION = json.loads((REPO / "labextension" / "package.json").read_text())["name"]

# True once a kernel of the panel showing `path` exists, is connected and idle. The toolbar's
# execution indicator reads "idle" before any kernel exists, so ask the app.
KERNEL_STATUS_JS = """([path, wanted]) => {
  const app = window.jupyterapp;
  if (!app) return false;
  for (const w of app.shell.widgets('main')) {
    if (!w.context || w.context.path !== path) continue;
    const kernel = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === wanted;
  }
  return false;
}"""


# The dirty flag of the document at `path` (the tab carries the CSS class, the model the truth).
DIRTY_JS = """([path, wanted]) => {
  for (const w of window.jupyterapp.shell.widgets('main')) {
    if (w.context && w.context.path === path) return w.context.model.dirty === wanted;
  }
  return false;
}"""


def open_notebook(page, server, path, cells, front="lab"):
    """Write ``cells`` (id -> source) as the notebook ``path`` under the server's root (with a
    kernelspec and no language_info, so the kernel's arrives after opening), open it in JupyterLab
    or Notebook 7 and wait for its idle kernel; the cells' locators, by id."""
    import nbformat
    from playwright.sync_api import expect

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code, id=ident) for ident, code in cells.items()]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (server.root / path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, server.root / path)
    where = f"lab/tree/{path}?reset&" if front == "lab" else f"notebooks/{path}?"
    page.goto(f"{server.url}/{where}token={server.token}")
    page.wait_for_function(KERNEL_STATUS_JS, arg=[path, "idle"], timeout=60_000)
    located = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
    expect(located).to_have_count(len(cells))
    return {ident: located.nth(i) for i, ident in enumerate(cells)}


def require_chromium():
    """Skip with a reason, or in CI fail: the browser tests may never vanish silently there."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found (install it with `make chromium` or apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}: browser tests must run in CI", pytrace=False)
    print(f"\nSKIPPING browser tests: {reason}", file=sys.stderr)
    pytest.skip(reason)


# Jupyter Server logs this when its event loop is about to start; the port is bound on that loop.
READY = "Use Control-C to stop this server"
# Started with port 0, the server picks a free port itself, a moment before binding it, and logs
# its URLs before the ready line. A port picked here and passed in would stay open to any other
# process for the seconds the server takes to start.
BASE_URL = re.compile(r"(http://127\.0\.0\.1:[1-9]\d*)/")


class Server:
    """A Jupyter server process whose output is read as it comes (into ``lines`` and a log file)."""

    def __init__(self, argv, *, env, cwd, log_path):
        self.lines = []
        self.base_url = None
        self.said_ready = threading.Event()
        self.exited = threading.Event()
        self.log_path = log_path
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        with open(self.log_path, "w") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line)
                found = self.base_url is None and BASE_URL.search(line)
                if found:
                    self.base_url = found.group(1)
                if READY in line:
                    self.said_ready.set()
        self.exited.set()
        self.said_ready.set()

    def wait_ready(self, path, timeout=60):
        """Wait for the ready line, then for ``path`` to answer; return the server's base URL.

        Nothing announces the port bind that follows the ready line, so the last step polls,
        and stops at once if the server exits.
        """
        deadline = time.monotonic() + timeout
        if self.said_ready.wait(timeout) and not self.exited.is_set() and self.base_url:
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
                        if response.status == 200:
                            return self.base_url
                except OSError:  # not bound yet
                    pass
                if self.exited.wait(0.05):
                    break
        raise RuntimeError(f"the Jupyter server did not start:\n{''.join(self.lines)[-3000:]}")

    def stop(self):
        """SIGTERM, which also shuts the kernels down (SIGINT would ask for confirmation)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        return "".join(self.lines)


@dataclass
class Lab:
    url: str
    token: str
    tmp: Path
    root: Path
    settings: Path
    ipython_dir: Path

    @property
    def history(self):
        return self.ipython_dir / "profile_default" / "history.sqlite"

    def set_widget_save_state(self, on):
        """Switch "Save Jupyter widget state in notebooks"; read by the page on load."""
        path = self.settings / "@jupyter-widgets" / "jupyterlab-manager" / "plugin.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"saveState": bool(on)}))

    def api(self, method, path):
        request = urllib.request.Request(f"{self.url}{path}?token={self.token}", method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self):
        """Stop every kernel through the REST API, which also closes (flushes) their history files."""
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")
