"""A real JupyterLab and Debian's Chromium for the browser tests (recipe: reference/e2e.md §4).

Everything the server and its kernels write goes into one temporary tree (notebook root, IPython
dir with its history.sqlite, Jupyter config/runtime/settings/workspaces), so a test can search
all of it for a secret afterwards. The kernels reach a sandbox that runs in the test process
through ``FREDDY_BASE_URL``; no key and no ``FREDDY_SANDBOX`` is in their environment, so a plain
``%freddy_auth`` shows the key widget. Imported by tests/test_browser.py.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TOKEN = "e2e-token"
REPO = Path(__file__).resolve().parents[1]

# True once a kernel of the panel showing `path` exists, is connected and idle. The toolbar's
# execution indicator reads "idle" before any kernel exists (e2e.md flake 1), so ask the app.
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


def require_chromium():
    """Skip with a reason, or in CI fail: the browser tests may never vanish silently there."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found (install it with `make chromium` or apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}: browser tests must run in CI", pytrace=False)
    print(f"\nSKIPPING browser tests: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch args, on Debian's Chromium (Playwright's download is blocked)."""
    require_chromium()
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def screenshots(pytestconfig):
    """Where screenshots are kept: pytest-playwright's ``--output`` folder (test-results/), which
    that plugin empties at the start of every pytest session."""
    folder = Path(pytestconfig.getoption("--output")).absolute() / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser_sandbox():
    """The Freddy sandbox the Lab kernels talk to, slow enough per delta to watch a stream."""
    from freddy_magic.sandbox import Sandbox

    with Sandbox(latency_per_delta=0.05) as sb:
        yield sb


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_status(url, proc, log_path, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)  # polling a server that is starting; there is no event to wait on
    raise RuntimeError(f"jupyter lab did not answer in time:\n{log_path.read_text()[-3000:]}")


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


@pytest.fixture(scope="session")
def lab(tmp_path_factory, browser_sandbox):
    tmp = tmp_path_factory.mktemp("lab")
    root, settings, ipython_dir = tmp / "root", tmp / "settings", tmp / "ipython"
    for path in (root, settings, ipython_dir):
        path.mkdir()
    # Without this, a "get notified about Jupyter news?" toast covers the bottom right corner.
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREDDY_", "JUPYTER", "IPYTHON"))}
    env.update(
        FREDDY_BASE_URL=browser_sandbox.url,
        PYTHON_DOTENV_DISABLED="1",  # no stray .env key may hide the widget
        IPYTHONDIR=str(ipython_dir),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        HOME=str(tmp),
    )
    port = _free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=root,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_status(url, proc, log_path, time.monotonic() + 60)
        yield Lab(url=url, token=TOKEN, tmp=tmp, root=root, settings=settings, ipython_dir=ipython_dir)
    finally:
        proc.send_signal(signal.SIGTERM)  # SIGTERM also shuts the kernels down; SIGINT would ask
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
