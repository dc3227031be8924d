"""Fixtures of the security suite: canaries, the sandbox, hostile servers and sealed kernels.

The canary fixture is the shipped plugin's own (``freddy_magic.testing.freddy_canary``, imported
here rather than named in ``pytest_plugins``, which pytest refuses in a non-root conftest), so
the suite exercises exactly what course authors get.
"""

import logging

import pytest

from freddy_magic.testing import freddy_canary  # noqa: F401  (re-exported fixture)

FUZZ = {"max_examples": 100, "derandomize": True, "deadline": None}


@pytest.fixture
def canary(freddy_canary):  # noqa: F811
    return freddy_canary


@pytest.fixture
def sandbox():
    from freddy_magic.sandbox import Sandbox

    with Sandbox(rate_limit=None) as sb:
        yield sb


@pytest.fixture
def kernel_sweep(tmp_path):
    """A factory: ``with kernel_sweep(env={...}) as k:`` — a sealed real kernel (harness.py)."""
    from .harness import KernelSweep

    def make(env=None, extra_arguments=(), name="sweep"):
        return KernelSweep(tmp_path / name, env=env, extra_arguments=extra_arguments)

    return make


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(level=0)
        self.records = []

    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format is kept raw and checked raw
            message = repr(record.msg)
        self.records.append({"name": record.name, "msg": repr(record.msg), "args": repr(record.args),
                             "message": message, "exc": record.exc_text or ""})


@pytest.fixture
def debug_logs():
    """Every log record at DEBUG from the root, our logger and the transport loggers."""
    handler = _Records()
    names = ("", "freddy_magic", "urllib3", "requests")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield handler.records
    root.removeHandler(handler)
    for lg, level in zip(loggers, levels):
        lg.setLevel(level)


@pytest.fixture
def recording_comms(monkeypatch):
    """Widgets created in-process talk to a comm that records every message it would publish,
    the way a kernel would put them on IOPub for every front end."""
    import comm

    sent = []

    class RecordingComm(comm.DummyComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            sent.append({"msg_type": msg_type, "comm_id": self.comm_id, "data": data})

    monkeypatch.setattr(comm, "create_comm", lambda *a, **kw: RecordingComm(*a, **kw))
    return sent


def front_end_update(widget, **state):
    """Deliver a front-end ``update`` to an in-process widget exactly as the kernel would."""
    widget.comm.handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def front_end_event(widget, event):
    widget.comm.handle_msg({"content": {"data": {"method": "custom", "content": {"event": event}}}, "buffers": []})


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory):
    """A certificate for 127.0.0.1 that no trust store knows (openssl CLI)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


class SleepRecorder:
    """An injectable ``sleep`` that records instead of waiting (retry timing is asserted, not lived)."""

    def __init__(self, on_sleep=None):
        self.calls = []
        self.on_sleep = on_sleep

    def __call__(self, seconds):
        self.calls.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()
