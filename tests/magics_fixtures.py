"""Fixtures for the magics tests: a fresh shell per test, a display recorder, a sandbox.

A fresh ``InteractiveShell`` per test (history off) means a fresh ``FreddyMagics`` and so a
fresh world: no state is reset by hand. The recorder replaces the shell's display publisher,
which is where both ``display()`` and display-handle updates go, so tests see every message a
front end would get.
"""

import contextlib
import threading
import time

import pytest
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config


class RecordingPublisher(DisplayPublisher):
    """Keeps every display message: ``(data, transient, update, monotonic time)``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.messages = []
        self.first_at = None
        self.published = threading.Event()

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.messages.append({"data": data, "transient": transient or {}, "update": update})
        self.published.set()

    def clear_output(self, wait=False):
        self.messages.append({"clear": True})

    def texts(self, mime="text/markdown"):
        return [m["data"].get(mime) for m in self.messages if "data" in m]


@pytest.fixture
def ip():
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.enabled = False
    config.HistoryAccessor.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = RecordingPublisher(shell=shell)
    yield shell
    if "FreddyMagics" in shell.magics_manager.registry:
        shell.run_line_magic("unload_ext", "freddy_magic")
    InteractiveShell.clear_instance()


@pytest.fixture
def shown(ip):
    return ip.display_pub


@pytest.fixture(scope="module")
def sandbox():
    from freddy_magic.sandbox import Sandbox

    with Sandbox() as sb:
        yield sb


@pytest.fixture
def sb(sandbox):
    sandbox.faults.clear()
    sandbox.set_rate_limit(None)
    yield sandbox
    sandbox.faults.clear()


@pytest.fixture
def magics(ip, sb):
    """The extension loaded and pointed at the sandbox, not yet authenticated."""
    ip.config.FreddyMagics.base_url = sb.url
    ip.run_line_magic("load_ext", "freddy_magic")
    return ip.magics_manager.registry["FreddyMagics"]


@pytest.fixture
def connected(magics, sb, monkeypatch):
    """Authenticated with the sandbox's API key through the widget path."""
    monkeypatch.delenv("FREDDY_API_KEY", raising=False)
    magics.session.connect_key(sb.api_key, "test")
    return magics


@pytest.fixture
def make_connected(ip):
    """``make(**sandbox_knobs) -> (magics, sandbox)``: a dedicated sandbox (latencies are fixed
    at start) with the extension loaded and connected to it."""
    from freddy_magic.sandbox import Sandbox

    with contextlib.ExitStack() as stack:

        def make(**knobs):
            sandbox = stack.enter_context(Sandbox(**knobs))
            ip.config.FreddyMagics.base_url = sandbox.url
            ip.run_line_magic("load_ext", "freddy_magic")
            magics = ip.magics_manager.registry["FreddyMagics"]
            magics.session.connect_key(sandbox.api_key, "test")
            return magics, sandbox

        yield make
