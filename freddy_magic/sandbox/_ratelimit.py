"""Token-bucket rate limiting per API key and per user, with the documented headers.

Each caller gets a bucket of ``N`` tokens refilled at ``N / period`` per second. Headers follow
the team contract: ``X-RateLimit-Limit``, ``-Remaining`` (floor of tokens), ``-Reset`` (epoch
second when the bucket is full again), ``-Retry-After`` (0 unless limited), and on 429 also
``Retry-After`` (whole seconds, at least 1) and ``retry-after-ms`` as aitronos-sdk reads it.
"""

from __future__ import annotations

import math
import re
import threading

from ._envelope import ApiError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*s\s*$")


def parse_rate(spec):
    """``"100/60s"`` -> (100, 60.0); ``None``/``"none"``/``"off"`` -> None (unlimited)."""
    if spec is None or str(spec).strip().lower() in ("", "none", "off", "unlimited"):
        return None
    match = _SPEC.match(str(spec))
    if not match or int(match.group(1)) < 1 or float(match.group(2) or 1) <= 0:
        raise ValueError(f"rate limit must look like '100/60s', got {spec!r}")
    return int(match.group(1)), float(match.group(2) or 1)


class RateLimiter:
    def __init__(self, spec, clock):
        self._clock = clock
        self._lock = threading.Lock()
        self.set(spec)

    def set(self, spec):
        rate = parse_rate(spec)
        with self._lock:
            self._rate = rate
            self._buckets = {}  # name -> [tokens, last_refill]

    def take(self, name):
        """Spend one token for ``name``; returns the headers to add, or raises the 429."""
        with self._lock:
            if self._rate is None:
                return {}
            limit, period = self._rate
            per_second = limit / period
            now = self._clock()
            tokens, last = self._buckets.get(name, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * per_second)
            limited = tokens < 1.0
            if not limited:
                tokens -= 1.0
            self._buckets[name] = [tokens, now]
        reset = math.ceil(now + (limit - tokens) / per_second)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(math.floor(tokens)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Retry-After": "0",
        }
        if not limited:
            return headers
        wait = (1.0 - tokens) / per_second
        seconds = max(1, math.ceil(wait))
        headers.update(
            {
                "X-RateLimit-Retry-After": str(seconds),
                "Retry-After": str(seconds),
                "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
            }
        )
        raise ApiError(
            429,
            "RATE_LIMIT_EXCEEDED",
            "Rate limit exceeded. Please slow down and retry shortly.",
            f"Rate limit of {limit} requests per {period:g}s exceeded",
            details={"retry_after": seconds, "limit": limit},
            headers=headers,
        )
