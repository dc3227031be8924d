"""Fixtures of the end-to-end tests: sealed real kernels, and a real JupyterLab for Chromium."""

import json
import os
import sys
from pathlib import Path

import pytest

from .harness import KernelSweep
from .lab import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    LABEXTENSION,
    REPO,
    TOKEN,
    Lab,
    Server,
    require_chromium,
)


@pytest.fixture
def kernel_sweep(tmp_path):
    """A factory: ``with kernel_sweep(env={...}) as k:`` is a sealed real kernel (tests/e2e/harness.py)."""

    def make(env=None, extra_arguments=(), name="sweep"):
        return KernelSweep(tmp_path / name, env=env, extra_arguments=extra_arguments)

    return make


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
def lab(tmp_path_factory, shared_sandbox):
    """JupyterLab whose kernels answer from the session's shared sandbox (``FREDDY_BASE_URL``), and
    whose server and kernels both log at DEBUG into server.log, which the browser tests search with
    every other file of the tree: neither log may ever hold the key."""
    yield from _jupyter(tmp_path_factory.mktemp("lab"), shared_sandbox, "jupyterlab", "LabApp")


@pytest.fixture(scope="session")
def notebook7(tmp_path_factory, shared_sandbox):
    """Jupyter Notebook 7, the other front end most users run, set up like ``lab``; its notebooks
    open at ``/notebooks/<path>``."""
    yield from _jupyter(tmp_path_factory.mktemp("notebook7"), shared_sandbox, "notebook", "JupyterNotebookApp")


def _jupyter(tmp, shared_sandbox, module, app):
    """A Jupyter server (``python -m <module>``) in its own tree, until the session ends."""
    root, settings, ipython_dir = tmp / "root", tmp / "settings", tmp / "ipython"
    for path in (root, settings, ipython_dir):
        path.mkdir()
    (ipython_dir / "profile_default").mkdir()
    (ipython_dir / "profile_default" / "ipython_kernel_config.py").write_text('c.IPKernelApp.log_level = "DEBUG"\n')
    # Without this, a "get notified about Jupyter news?" toast covers the bottom right corner.
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    # The front-end extension as this checkout built it: an install copies it into the venv
    # (an editable one too) and may be older; JUPYTER_PATH is searched first.
    labextensions = tmp / "jupyter-path" / "labextensions"
    labextensions.mkdir(parents=True)
    (labextensions / LABEXTENSION).symlink_to(REPO / "freddy_magic" / "labextension", target_is_directory=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREDDY_", "JUPYTER", "IPYTHON"))}
    env.update(
        JUPYTER_PATH=str(tmp / "jupyter-path"),
        FREDDY_BASE_URL=shared_sandbox.url,
        PYTHON_DOTENV_DISABLED="1",  # no stray .env key may hide the widget
        IPYTHONDIR=str(ipython_dir),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        HOME=str(tmp),
    )
    server = Server(
        [
            sys.executable,
            "-m",
            module,
            "--debug",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",
            # Kernels on Unix sockets next to their connection files: no TCP port picked free can
            # be taken by another process before the kernel binds it.
            "--KernelManager.transport=ipc",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            f"--{app}.expose_app_in_browser=True",
            *(
                ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
                if app == "LabApp"
                else []  # Notebook 7 has neither setting, and refuses to start on an unknown one
            ),
        ],
        env=env,
        cwd=root,
        log_path=tmp / "server.log",
    )
    try:
        url = server.wait_ready(f"/api/status?token={TOKEN}")
        yield Lab(url=url, token=TOKEN, tmp=tmp, root=root, settings=settings, ipython_dir=ipython_dir)
    finally:
        server.stop()
