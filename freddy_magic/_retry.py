"""The retry policy: which failed attempt is repeated, and how long to wait before repeating it.

The sender asks the policy after every attempt, and the HTTP adapter underneath makes no retries
of its own, so each decision is taken in one place and the retry counts the client reports are
exact. The rules, and why:

- At most ``max_retries`` repeats per call. A 401 refresh-and-replay (decided by the sender,
  because it needs the credential) counts as one of them.
- A wait the server asks for (``retry-after-ms``, ``Retry-After``) is honoured up to
  ``max_retry_after``. A 429 asking for longer fails at once, so the user learns how long to
  wait instead of watching a cell hang for hours.
- Without such a wait: exponential backoff with full jitter, so that the threads of a batch, or
  several notebooks, do not retry in step.
- A request that certainly never left (connect phase: DNS, refused, connect timeout) may be
  repeated whatever its method. One that may have reached the server (read timeout, reset) is
  repeated only when its method is idempotent: an LLM POST costs money and may answer twice. A
  TLS failure, or a request the HTTP library would not build, is never repeated.
- 429 is repeated for every method: the server refused the request without processing it.
  502/503/504 are repeated only for idempotent methods, plus any statuses a call names for itself
  (the token endpoint's 5xx, :attr:`RetryPolicy.token_statuses`).
- 401 and 403 are never repeated here, whatever a caller asks: 403 is final, and 401 gets the
  sender's single refresh-and-replay.
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from ._errors import ConfigError

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_RETRY_AFTER = 60.0  # the longest wait a server may ask for before a retry (seconds)
NEVER_RETRIED = frozenset({401, 403})


class Phase(enum.Enum):
    """How far a failed attempt got, which decides whether repeating it is safe."""

    CONNECT = "connect"  # nothing was sent: DNS failure, connection refused, connect timeout
    SENT = "sent"  # the request may have been processed: read timeout, reset after sending
    FATAL = "fatal"  # repeating cannot help: TLS failure, a request that could not be built


@dataclass(frozen=True)
class Decision:
    """The policy's answer after one attempt.

    ``wait`` is set even when ``retry`` is False for a 429 (``shared``): the server's rate limit
    still holds every other thread of the client back, through the shared limiter, although this
    call has no retries left.
    """

    retry: bool
    wait: float = 0.0
    shared: bool = False


FINAL = Decision(False)


def header_number(text: str | None) -> float | None:
    """A finite number from a header value, or None (absent, garbage, NaN, infinite)."""
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_retry_after(headers: Mapping[str, str], wall: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asks us to wait, or None when absent, negative or unparseable.

    Order as in the official SDK: ``retry-after-ms`` (precise), then ``Retry-After`` as
    seconds or an HTTP date, then the documented ``X-RateLimit-Retry-After``.
    """
    ms = header_number(headers.get("retry-after-ms"))
    if ms is not None and ms >= 0:
        return ms / 1000.0
    value = headers.get("Retry-After")
    if value:
        seconds = header_number(value)
        if seconds is None:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - wall()
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = None
        if seconds is not None and seconds >= 0:
            return seconds
    seconds = header_number(headers.get("X-RateLimit-Retry-After"))
    if seconds is not None and seconds > 0:
        return seconds
    return None


def backoff_delay(
    retry_number: int, rng: Callable[[], float] = random.random, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(n-1))]."""
    return rng() * min(cap, base * 2.0 ** max(retry_number - 1, 0))


def _seconds(value: object, message: str) -> float:
    """``value`` as a finite float >= 0, or ConfigError(message): an infinite cap is no cap."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(message)
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """Every retry rule of one client, as one immutable value (see the module docstring).

    ``rng`` and ``sleep`` are injectable so tests can fix the jitter and record the waits
    instead of sleeping; ``wall`` is the clock used to read an HTTP-date ``Retry-After``.
    """

    max_retries: int = 2
    max_retry_after: float = MAX_RETRY_AFTER
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP
    idempotent_methods: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS"})
    idempotent_statuses: frozenset[int] = frozenset({502, 503, 504})
    token_statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    wall: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise ConfigError("max_retries must be a whole number from 0 to 10")
        # The dataclass is frozen: normalised values are stored the way its own __init__ does.
        object.__setattr__(
            self, "max_retry_after", _seconds(self.max_retry_after, "max_retry_after must be a number of seconds >= 0")
        )
        base = _seconds(self.backoff_base, "backoff_base must be a number of seconds >= 0")
        cap = _seconds(self.backoff_cap, "backoff_cap must be a number of seconds >= 0")
        object.__setattr__(self, "backoff_base", base)
        object.__setattr__(self, "backoff_cap", cap)
        for name in ("idempotent_statuses", "token_statuses"):
            if getattr(self, name) & NEVER_RETRIED:
                raise ConfigError(f"{name} must not contain 401 or 403: those are never retried")

    def is_idempotent(self, method: str) -> bool:
        """True when repeating ``method`` after it may have been processed is harmless."""
        return method in self.idempotent_methods

    def backoff(self, retry_number: int) -> float:
        """The jittered wait before retry ``retry_number`` (1 for the first retry)."""
        return backoff_delay(retry_number, self.rng, self.backoff_base, self.backoff_cap)

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        """The wait the server asks for, uncapped (a RateLimited error reports it as is)."""
        return parse_retry_after(headers, self.wall)

    def after_failure(self, method: str, phase: Phase, retries: int, time_left: float) -> Decision:
        """After an attempt that produced no HTTP answer; ``retries`` made so far in this call."""
        if phase is Phase.CONNECT or (phase is Phase.SENT and self.is_idempotent(method)):
            return self._next(retries, self.backoff(retries + 1), time_left)
        return FINAL

    def after_status(
        self,
        method: str,
        status: int,
        headers: Mapping[str, str],
        retries: int,
        time_left: float,
        extra_statuses: frozenset[int] = frozenset(),
    ) -> Decision:
        """After an error status; ``extra_statuses`` are repeated whatever the method.

        A 429's wait is ``shared``: the caller hands it to the client's limiter so every thread
        pauses, rather than sleeping in this thread alone.
        """
        if status in NEVER_RETRIED:
            return FINAL
        asked = self.retry_after(headers)
        if status == 429:
            if asked is not None and asked > self.max_retry_after:
                return FINAL  # fail fast; the error reports the server's wait
            wait = asked if asked is not None else self.backoff(retries + 1)
            return self._next(retries, wait, time_left, shared=True)
        if status in extra_statuses or (self.is_idempotent(method) and status in self.idempotent_statuses):
            if asked is None or asked > self.max_retry_after:
                asked = self.backoff(retries + 1)
            return self._next(retries, asked, time_left)
        return FINAL

    def _next(self, retries: int, wait: float, time_left: float, shared: bool = False) -> Decision:
        """Retry unless the budget is spent or the wait would outlast the call's deadline."""
        return Decision(retries < self.max_retries and wait < time_left, wait, shared)
