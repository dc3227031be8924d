"""Client-side rate limiting, so a batch slows down before the server says 429.

The server is a token bucket that tells us its state on every response
(``X-RateLimit-Limit/Remaining/Reset``) and, on a 429, exactly how long to wait
(``retry-after-ms``, ``Retry-After``). The limiter mirrors that bucket so a batch paces itself
at the refill rate instead of discovering the limit by being refused. One limiter per client,
shared by every thread of a ``--over`` batch. What a 429 itself means for the call that got it
(wait and repeat, or fail fast) is the retry policy's business (:mod:`._retry`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._errors import RateLimited
from ._retry import header_number


@dataclass(frozen=True)
class RateLimitStatus:
    """The last ``X-RateLimit-*`` values seen; ``reset_at`` is epoch seconds (wall clock)."""

    limit: int | None
    remaining: int | None
    reset_at: float | None


class RateLimiter:
    """A local mirror of the server's token bucket, shared by every thread of one client.

    ``acquire`` reserves a token from the mirror and sleeps while the reservation is in debt,
    so waiting threads are released one refill interval apart. Each answer pulls the mirror
    back to what the server reported (minus our requests it has not counted yet). The refill
    rate is learnt as the largest lower bound the headers prove: ``X-RateLimit-Reset`` is
    rounded up to whole seconds, so ``(limit - remaining - 1) / (reset - now)`` never exceeds
    the true rate, and over a few dozen answers it comes within a few percent of it. A 429
    caps the estimate, in case the server's clock and ours disagree.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self._lock = threading.Lock()
        self.status: RateLimitStatus | None = None
        self._tokens: float | None = None  # unknown until the server reports; no limiting until then
        self._stamp = 0.0
        self._rate: float | None = None
        self._cap = math.inf
        self._outstanding = 0
        self._newest_sent = -math.inf

    def acquire(self, deadline: float | None = None) -> None:
        """Wait for a token; ``release()`` must follow once the answer (or failure) is in.

        A wait that fails (past the deadline) or is interrupted (Ctrl-C) gives its reservation
        back before raising, so no slot is held by a request that was never sent; a leaked slot
        would make every later request of this client wait longer. The bookkeeping steps are
        attribute updates with a flag set right after each, which Ctrl-C cannot split.
        """
        counted = reserved = False
        try:
            with self._lock:
                self._outstanding += 1
                counted = True
                if self._tokens is None:
                    return
                now = self._refill()
                self._tokens -= 1.0
                reserved = True
                wait = -self._tokens / self._rate if self._tokens < 0 and self._rate else 0.0
            if wait > 0:
                if deadline is not None and now + wait > deadline:
                    raise RateLimited(
                        f"Rate limit: the next request slot is {wait:.1f} s away, past this call's deadline",
                        retry_after=wait,
                    )
                self._sleep(wait)
        except BaseException:
            with self._lock:
                if reserved and self._tokens is not None:
                    self._tokens += 1.0
                if counted:
                    self._outstanding -= 1
            raise

    def release(self) -> None:
        with self._lock:
            self._outstanding -= 1

    def observe(self, headers: Mapping[str, str], sent_at: float | None = None) -> None:
        """Learn from a response's ``X-RateLimit-*`` headers (call before ``release()``).

        ``sent_at`` orders answers: one overtaken by the answer to a later request reports an
        older, fuller bucket, so it may only lower the mirror, never raise it.
        """
        limit = header_number(headers.get("X-RateLimit-Limit"))
        remaining = header_number(headers.get("X-RateLimit-Remaining"))
        if limit is None or remaining is None:
            return
        reset_at = header_number(headers.get("X-RateLimit-Reset"))
        self.status = RateLimitStatus(int(limit), int(remaining), reset_at)
        with self._lock:
            self._learn_rate(limit, remaining, reset_at)
            # Requests reserved but not yet counted by the server: the others in flight or waiting.
            target = remaining - (self._outstanding - 1)
            if self._tokens is None:
                self._stamp = self._clock()
                self._tokens = float(target)
            else:
                self._refill()
                stale = sent_at is not None and sent_at < self._newest_sent
                if not stale:
                    self._tokens = max(self._tokens, float(target))
                    if sent_at is not None:
                        self._newest_sent = sent_at
                self._tokens = min(self._tokens, target + 1.0)

    def throttled(self, wait: float) -> None:
        """A 429 arrived (call after ``release()``): hold everyone back for ``wait`` seconds."""
        with self._lock:
            self._refill()
            if self._rate:
                self._cap = self._rate * 0.9
                self._rate = self._cap
            else:
                self._rate = 1.0 / max(wait, 0.001)
            # The next reservation must wait ``wait``; requests already reserved (the refused one
            # has been released) keep their turn.
            fresh = 1.0 - wait * self._rate - self._outstanding
            self._tokens = fresh if self._tokens is None else min(self._tokens, fresh)

    def _refill(self) -> float:
        now = self._clock()
        if self._tokens is not None and self._rate:
            limit = self.status.limit if self.status is not None else None
            full = math.inf if limit is None else float(limit)
            self._tokens = min(full, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        return now

    def _learn_rate(self, limit: float, remaining: float, reset_at: float | None) -> None:
        if reset_at is None:
            return
        horizon = reset_at - self._wall()
        spent = limit - remaining - 1
        if horizon > 0 and spent > 0:
            bound = min(spent / horizon, self._cap)
            if self._rate is None or bound > self._rate:
                self._rate = bound
