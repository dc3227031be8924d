"""Seams shared by the client/auth tests: a fake monotonic clock, a recording sleeper, JWTs.

Tests drive time through these instead of sleeping, so retry and refresh timing is exact.
"""

import threading
import time

import jwt


class FakeClock:
    """A monotonic clock that moves only when told to (or when the sleeper sleeps)."""

    def __init__(self, start=1000.0):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self):
        return self.now

    def advance(self, seconds):
        with self._lock:
            self.now += seconds


class Sleeper:
    """Records every requested sleep and advances the fake clock instead of waiting."""

    def __init__(self, clock=None):
        self.clock = clock
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)

    @property
    def total(self):
        return sum(self.calls)


def make_jwt(lifetime=3600.0, **claims):
    """An HS256 JWT with a real exp, as the API issues (the client never checks the signature)."""
    payload = {"sub": "usr_test", "type": "access", "exp": int(time.time() + lifetime), **claims}
    return jwt.encode(payload, "test-secret-test-secret-test-secret!", algorithm="HS256")


class FakeRefresher:
    """The refresher seam: counts calls, hands out numbered tokens, can be told to fail."""

    def __init__(self, expires_in=60.0, delay_event=None):
        self.calls = 0
        self.expires_in = expires_in
        self.fail_with = None
        self.delay_event = delay_event
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, refresh_token):
        self.entered.set()
        if self.delay_event is not None:
            self.delay_event.wait(5)
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.fail_with is not None:
            raise self.fail_with
        return {"access_token": f"access-token-{n:04d}-abcdef", "refresh_token": refresh_token,
                "expires_in": self.expires_in}
