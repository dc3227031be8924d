"""Stand-ins the tests inject instead of waiting or touching a front end.

Time moves only when a test moves it (``FakeClock``), waits are recorded instead of lived
(``Sleeper``), token refreshes are counted and can be held open (``FakeRefresher``), and
in-process widgets and displays record what a kernel would send to every front end
(``RecordingComm``, ``RecordingPublisher``). Fixtures wrapping them live in conftest.py.
"""

import contextlib
import logging
import threading
import time

import comm
import jwt
from IPython.core.displaypub import DisplayPublisher


class FakeClock:
    """A clock that moves only when told to (or when a ``Sleeper`` bound to it sleeps).

    It also remembers which threads have read it, so a test can wait until every thread it
    started is inside the code under test (``wait_for_readers``) instead of sleeping.
    """

    def __init__(self, start=1000.0):
        self.now = float(start)
        self._readers = set()
        self._changed = threading.Condition()

    @classmethod
    def epoch(cls):
        """Starting at the current wall-clock second: for the sandbox, which signs JWTs."""
        return cls(start=float(int(time.time())))

    def __call__(self):
        with self._changed:
            self._readers.add(threading.get_ident())
            self._changed.notify_all()
            return self.now

    def advance(self, seconds):
        with self._changed:
            self.now += seconds

    @property
    def readers(self):
        """How many distinct threads have read the clock so far."""
        with self._changed:
            return len(self._readers)

    def wait_for_readers(self, count, timeout=30):
        """Block until ``count`` distinct threads have read the clock; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._readers) >= count, timeout)


class Sleeper:
    """An injectable ``sleep``: records every wait, advances ``clock`` instead of waiting, and
    calls ``on_sleep(seconds)`` if given (which may raise, like a Ctrl-C during a backoff)."""

    def __init__(self, clock=None, on_sleep=None):
        self.clock = clock
        self.on_sleep = on_sleep
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)

    @property
    def total(self):
        return sum(self.calls)


class FakeRefresher:
    """The credential's refresher seam: counts calls and hands out numbered access tokens.

    ``gate`` (an Event) holds every refresh open until it is set; ``entered`` is set as soon as a
    refresh starts; ``fail_with`` makes the next refreshes raise.
    """

    def __init__(self, expires_in=60.0, gate=None, refresh_token=None):
        self.calls = 0
        self.expires_in = expires_in
        self.gate = gate
        self.fail_with = None
        self.refresh_token = refresh_token
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, refresh_token):
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never released the refresh"
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.fail_with is not None:
            raise self.fail_with
        return {
            "access_token": f"access-token-{n:04d}-abcdef",
            "refresh_token": self.refresh_token or refresh_token,
            "expires_in": self.expires_in,
        }


def make_jwt(lifetime=3600.0, **claims):
    """An HS256 JWT with a real exp, as the API issues (the client never checks the signature)."""
    payload = {"sub": "usr_test", "type": "access", "exp": int(time.time() + lifetime), **claims}
    return jwt.encode(payload, "test-secret-test-secret-test-secret!", algorithm="HS256")


class RecordingComm(comm.DummyComm):
    """A comm that keeps every message it would publish, as a kernel puts them on IOPub."""

    def __init__(self, *args, sent, **kwargs):
        self.sent = sent
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.sent.append({"msg_type": msg_type, "comm_id": self.comm_id, "data": data})


def front_end_update(widget, **state):
    """Deliver a front-end ``update`` to an in-process widget exactly as the kernel would."""
    widget.comm.handle_msg(
        {"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []}
    )


def front_end_event(widget, event):
    """Deliver a front-end custom event (a button ``click``, a field ``submit``)."""
    widget.comm.handle_msg({"content": {"data": {"method": "custom", "content": {"event": event}}}, "buffers": []})


class RecordingPublisher(DisplayPublisher):
    """A shell's display publisher that keeps every message: both ``display()`` and updates of
    display handles go through it, so a test sees every message a front end would get."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.messages = []
        self._changed = threading.Condition()

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        with self._changed:
            self.messages.append({"data": data, "transient": transient or {}, "update": update})
            self._changed.notify_all()

    def wait_for(self, predicate, timeout=30):
        """Block until ``predicate(message)`` holds for a published message; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: any(predicate(m) for m in self.messages if "data" in m), timeout)

    def clear_output(self, wait=False):
        self.messages.append({"clear": True})

    def texts(self, mime="text/markdown"):
        return [m["data"].get(mime) for m in self.messages if "data" in m]


@contextlib.contextmanager
def captured_logs(on="", debug=()):
    """The records (as ``LogRecords`` keeps them) reaching logger ``on`` (the root by default),
    with the loggers named in ``debug`` set to DEBUG meanwhile; everything is put back after."""
    handler = LogRecords()
    target = logging.getLogger(on)
    loggers = [logging.getLogger(name) for name in debug]
    levels = [lg.level for lg in loggers]
    target.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        target.removeHandler(handler)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class LogRecords(logging.Handler):
    """Keeps every record as plain fields (a record that cannot format is kept raw)."""

    def __init__(self):
        super().__init__(level=0)
        self.records = []

    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception:  # kept raw and checked raw
            message = repr(record.msg)
        self.records.append(
            {
                "name": record.name,
                "msg": repr(record.msg),
                "args": repr(record.args),
                "message": message,
                "exc": record.exc_text or "",
            }
        )


def run_together(n, work):
    """Run ``work`` on ``n`` threads released at once by a barrier; ``(results, errors)``."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        barrier.wait()
        try:
            results.append(work())
        except Exception as exc:  # collected and asserted on by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


class Connections:
    """Every socket ``connect`` this process makes while watched (an audit hook, installed once:
    hooks cannot be removed, so it records only while a watch is on)."""

    _installed = False
    _current = None

    def __init__(self):
        self.addresses = []

    @classmethod
    def _hook(cls, event, args):
        if event == "socket.connect" and cls._current is not None:
            cls._current.addresses.append(args[1])

    @contextlib.contextmanager
    def watch(self):
        import sys

        if not Connections._installed:
            sys.addaudithook(Connections._hook)
            Connections._installed = True
        Connections._current = self
        try:
            yield self
        finally:
            Connections._current = None
