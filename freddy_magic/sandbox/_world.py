"""All mutable sandbox state in one object: accounts, tokens, threads, streams, knobs, counters.

Handlers receive the world explicitly, so two sandboxes in one process (a fixture and a test
that changes knobs) never share anything. Knobs are plain attributes read on every request,
which is what makes them changeable while the server runs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from ._accounts import Directory, Tokens
from ._auth_routes import LoginDesk
from ._dialects import pick
from ._envelope import timestamp
from ._faults import FaultList
from ._jsonmode import Spoiler
from ._pacing import check_pace
from ._ratelimit import RateLimiter
from ._streams import ActiveStreams
from ._threads import ThreadStore


class World:
    def __init__(
        self,
        *,
        clock=None,
        token_lifetime=3600.0,
        rate_limit="100/60s",
        latency_per_delta=0.0,
        latency_per_request=0.0,
        pace=0.0,
        verbose=False,
        dialect=None,
        json_invalid=0.0,
    ):
        self.dialect = pick(dialect)
        self.clock = clock or time.time
        self.directory = Directory(self.clock)
        self.tokens = Tokens(self.clock, token_lifetime)
        self.login = LoginDesk(self.clock)
        self.threads = ThreadStore(self.clock)
        self.streams = ActiveStreams()
        self.limiter = RateLimiter(rate_limit, self.clock)
        self.faults = FaultList()
        self.latency_per_delta = float(latency_per_delta)
        self.latency_per_request = float(latency_per_request)
        self.pace = check_pace(pace)
        self.json_spoiler = Spoiler(json_invalid)
        self.verbose = verbose
        self.last_used = {}
        self.stopping = threading.Event()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._calls_lock = threading.Condition()

    def stamp(self, seconds):
        return timestamp(seconds)

    def wait(self, seconds):
        """Sleep that ends early when the sandbox stops, so shutdown never waits on a delay."""
        if seconds and seconds > 0:
            self.stopping.wait(seconds)

    def count(self, method, path):
        with self._calls_lock:
            self._calls[(method, path)] += 1
            self._calls_lock.notify_all()

    def calls(self, path, method=None):
        with self._calls_lock:
            return self._count_calls(path, method)

    def _count_calls(self, path, method):
        return sum(n for (m, p), n in self._calls.items() if p == path and method in (None, m))

    def wait_for_calls(self, path, count, method=None, timeout=30.0):
        """Block until ``path`` has been requested ``count`` times (a slow fault is then holding
        the last one); False on timeout."""
        with self._calls_lock:
            return self._calls_lock.wait_for(lambda: self._count_calls(path, method) >= count, timeout)
