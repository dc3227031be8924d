"""Fixtures shared by the whole suite: canaries, fake time, sandboxes, shells and recorders.

The canary is the shipped pytest plugin's own fixture (``freddy_magic.testing``), so the suite
exercises exactly what course authors get. Two sandboxes, one per scope: ``sandbox`` is fresh
for each test (exact request counts, knobs fixed at start, a clock of its own);
``shared_sandbox`` serves the whole session, and whatever a test changes on it (faults, rate
limit, token lifetime, latency) is put back when that test ends.
"""

import atexit
import contextlib
import os
import signal
import threading

import pytest
from hypothesis import HealthCheck, settings

from .fakes import Connections, FakeClock, RecordingComm, RecordingPublisher, Sleeper, captured_logs

pytest_plugins = ["freddy_magic.testing"]

# Every property test replays the same examples on every run, and writes no example database.
settings.register_profile(
    "freddy_magic",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("freddy_magic")


@pytest.fixture
def canary(freddy_canary):
    """A fresh random secret (``.value``) with its search (``.find``, ``.assert_absent``)."""
    return freddy_canary


# dialect ---------------------------------------------------------------------------------------
def pytest_addoption(parser):
    parser.addoption(
        "--dialect",
        choices=("classic", "current"),
        default=None,
        help="the sandbox dialect every sandbox of this run speaks (default: FREDDY_SANDBOX_DIALECT, else classic)",
    )


def pytest_configure(config):
    """The chosen dialect goes into the environment, so sandboxes built anywhere follow it: the
    fixtures', those tests build themselves, in-kernel ones and ``python -m freddy_magic.sandbox``."""
    chosen = config.getoption("dialect")
    if chosen:
        os.environ["FREDDY_SANDBOX_DIALECT"] = chosen


def pytest_report_header(config):
    return f"sandbox dialect: {os.environ.get('FREDDY_SANDBOX_DIALECT') or 'classic'}"


@pytest.fixture
def dialect(shared_sandbox):
    """The dialect the sandboxes of this run speak (``classic`` or ``current``)."""
    return shared_sandbox.dialect


# time ------------------------------------------------------------------------------------------
@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def sleeper(clock):
    """The client's ``sleep`` seam: waits are recorded and move ``clock``, never the test."""
    return Sleeper(clock)


# sandboxes ---------------------------------------------------------------------------------------
@pytest.fixture
def sandbox():
    """A fresh sandbox for this test alone (no rate limit)."""
    from freddy_magic.sandbox import Sandbox

    with Sandbox(rate_limit=None) as fresh:
        yield fresh


@pytest.fixture(scope="session")
def shared_sandbox():
    """One sandbox for the session (no rate limit): for tests that count relative to a start."""
    from freddy_magic.sandbox import Sandbox

    with Sandbox(rate_limit=None) as shared:
        yield shared


@pytest.fixture(autouse=True)
def _restore_shared_sandbox(request):
    shared = request.getfixturevalue("shared_sandbox") if "shared_sandbox" in request.fixturenames else None
    yield
    if shared is not None:
        shared.faults.clear()
        shared.set_rate_limit(None)
        shared.set_token_lifetime(3600.0)
        shared.set_latency(per_delta=0.0, per_request=0.0)


@pytest.fixture
def scripted():
    """``responses`` answering every request of the client from a script: no socket opens."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# IPython ---------------------------------------------------------------------------------------
@pytest.fixture
def ip():
    """A fresh shell (history off) per test, so a fresh FreddyMagics and nothing to reset by hand.

    Its display publisher records every message a front end would get (``shown``).
    """
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.enabled = False
    config.HistoryAccessor.enabled = False
    config.FreddyMagics.sandbox_pace = 0.0  # an in-kernel sandbox answers at once; pacing has its own tests
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = RecordingPublisher(shell=shell)
    yield shell
    if "FreddyMagics" in shell.magics_manager.registry:
        shell.run_line_magic("unload_ext", "freddy_magic")
    InteractiveShell.clear_instance()
    # Every shell registers an exit hook that resets it and collects garbage; hundreds of them
    # made the interpreter take seconds to exit, and kept every shell alive until then.
    atexit.unregister(shell.atexit_operations)


@pytest.fixture
def shown(ip):
    return ip.display_pub


@pytest.fixture
def magics(ip, shared_sandbox):
    """The extension loaded and pointed at the shared sandbox, not yet authenticated."""
    ip.config.FreddyMagics.base_url = shared_sandbox.url
    ip.run_line_magic("load_ext", "freddy_magic")
    return ip.magics_manager.registry["FreddyMagics"]


@pytest.fixture
def connected(magics, shared_sandbox, monkeypatch):
    """Authenticated with the shared sandbox's API key, as the key widget would do it."""
    monkeypatch.delenv("FREDDY_API_KEY", raising=False)
    magics.session.connect_key(shared_sandbox.api_key, "test")
    return magics


@pytest.fixture
def make_connected(ip):
    """``make(**sandbox_knobs) -> (magics, sandbox)``: a sandbox of its own (latencies are fixed
    at start) with the extension loaded and connected to it."""
    from freddy_magic.sandbox import Sandbox

    with contextlib.ExitStack() as stack:

        def make(**knobs):
            own = stack.enter_context(Sandbox(**knobs))
            ip.config.FreddyMagics.base_url = own.url
            ip.run_line_magic("load_ext", "freddy_magic")
            loaded = ip.magics_manager.registry["FreddyMagics"]
            loaded.session.connect_key(own.api_key, "test")
            return loaded, own

        yield make


# Ctrl-C ---------------------------------------------------------------------------------------
@pytest.fixture
def ctrl_c():
    """``ctrl_c(wait, [wait2, ...])``: Ctrl-C as a kernel delivers it, pressed once per ``wait``.

    A helper thread calls each ``wait()`` (a condition: a display shown, a request arrived at the
    sandbox), and when it returns true sends SIGINT to the main thread, which interrupts a
    blocking socket read there and raises KeyboardInterrupt, exactly like the stop button. The
    default handler is installed for the test, because a process started in the background
    inherits SIGINT ignored, and then nothing would arrive.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main, helpers, pressed = threading.main_thread().ident, [], []

    def press_when(*waits):
        def fire():
            for wait in waits:
                if not wait():
                    return
                pressed.append(wait)
                signal.pthread_kill(main, signal.SIGINT)

        helper = threading.Thread(target=fire, daemon=True)
        helper.start()
        helpers.append(helper)
        return pressed

    yield press_when
    for helper in helpers:
        helper.join(timeout=60)
    signal.signal(signal.SIGINT, previous)


# recorders -------------------------------------------------------------------------------------
@pytest.fixture
def recording_comms(monkeypatch):
    """Widgets created in-process talk to a comm that records every message it would publish,
    the way a kernel puts them on IOPub for every front end."""
    import comm

    sent = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **kw: RecordingComm(*a, sent=sent, **kw))
    return sent


@pytest.fixture
def connections():
    """``connections.watch()``: a block during which every socket connect is recorded."""
    return Connections()


@pytest.fixture
def debug_logs():
    """Every log record at DEBUG from the root, our logger and the transport loggers."""
    with captured_logs(debug=("", "freddy_magic", "urllib3", "requests")) as records:
        yield records


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory):
    """A certificate for 127.0.0.1 that no trust store knows (openssl CLI)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)
