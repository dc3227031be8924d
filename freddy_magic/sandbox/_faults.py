"""Fault injection: make a route fail on demand so clients can be tested against each failure.

A :class:`Fault` matches one exact path (and a method, or any) and fires ``times`` times
(``None`` = forever), on every matching request or, with ``chance`` below 1, on that share of
them (a seeded draw, so a run can be repeated; a request it spares goes on to the next fault).
Kinds: ``status`` (an error envelope; with ``after_deltas`` on a stream, a ``response.error``
event mid-stream instead), ``reset`` (connection closed with no answer), ``truncate`` (stream cut
after ``after_deltas`` deltas with no ``response.completed``; a plain JSON body cut in half),
``slow`` (``delay`` seconds before answering), ``echo`` (a hostile 500 echoing the request
headers) and ``html`` (a proxy's 502 HTML page).

:meth:`FaultList.add` takes a :class:`Fault` or the CLI's string form and checks every field
before the fault is armed: a fault is consulted on every request, so a malformed one would
otherwise break every later request (even signing in) instead of the one it was meant for.
"""

from __future__ import annotations

import random
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError

KINDS = ("status", "reset", "truncate", "slow", "echo", "html")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")


def _armed(fault: object) -> Fault:
    """A fault ready to arm: parsed from its string form, checked again (fields may have changed)."""
    if isinstance(fault, str):
        return Fault.parse(fault)
    if not isinstance(fault, Fault):
        raise ValueError(
            f"expected a Fault or a string such as 'POST /v1/model/response status=503', got {type(fault).__name__}"
        )
    fault.check()
    return fault


@dataclass
class Fault:
    method: str | None = None
    path: str = "/v1/model/response"
    kind: str = "status"
    status: int = 503
    code: str | None = None
    retry_after: float | None = None
    times: int | None = 1
    after_deltas: int | None = None
    delay: float = 1.0
    chance: float = 1.0

    def __post_init__(self) -> None:
        self.check()
        if self.method is not None:
            self.method = self.method.upper()

    def check(self) -> None:
        """Raise ValueError naming the first field that a request could not be failed with."""
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.method is not None and not (isinstance(self.method, str) and self.method.isalpha()):
            raise ValueError(f"fault method must be an HTTP method such as POST, or None for any, got {self.method!r}")
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ValueError(f"fault path must start with '/', got {self.path!r}")
        if not _is_int(self.status) or not 400 <= self.status <= 599:
            raise ValueError(f"fault status must be an error status from 400 to 599, got {self.status!r}")
        if self.code is not None and not isinstance(self.code, str):
            raise ValueError(f"fault code must be a string such as 'SERVICE_UNAVAILABLE', got {self.code!r}")
        if self.times is not None and (not _is_int(self.times) or self.times < 1):
            raise ValueError(f"fault times must be a whole number >= 1, or None for forever, got {self.times!r}")
        if self.after_deltas is not None and (not _is_int(self.after_deltas) or self.after_deltas < 0):
            raise ValueError(f"fault after_deltas must be a whole number >= 0, got {self.after_deltas!r}")
        if not _is_seconds(self.chance) or not 0 < self.chance <= 1:
            raise ValueError(f"fault chance must be a number above 0 and at most 1, got {self.chance!r}")
        for name in ("delay", "retry_after"):
            value = getattr(self, name)
            if value is not None and not _is_seconds(value):
                raise ValueError(f"fault {name} must be a number of seconds >= 0, got {value!r}")

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``"POST /v1/model/response status=503 times=2"`` or ``"/v1/models reset"``."""
        words = shlex.split(spec)
        kw: dict[str, Any] = {}
        if words and not words[0].startswith("/"):
            method = words.pop(0)
            kw["method"] = None if method in ("*", "ANY") else method
        if not words or not words[0].startswith("/"):
            raise ValueError(f"fault needs a path starting with '/': {spec!r}")
        kw["path"] = words.pop(0)
        casts: dict[str, Callable[[str], Any]] = {
            "status": int,
            "retry_after": float,
            "after_deltas": int,
            "delay": float,
            "chance": float,
            "code": str,
            "times": lambda v: None if v.lower() in ("none", "forever", "inf") else int(v),
        }
        for word in words:
            name, eq, value = word.partition("=")
            if not eq:
                kw["kind"] = name
            elif name in casts or name == "kind":
                kw[name] = casts.get(name, str)(value)
            else:
                raise ValueError(f"unknown fault option {name!r}")
        return cls(**kw)


class FaultList:
    """Thread-safe list of armed faults; :meth:`take` consumes one firing of the first match."""

    def __init__(self, seed: int = 0) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._draw = random.Random(seed).random

    def add(self, fault: Fault | str) -> Fault:
        """Arm ``fault`` (a :class:`Fault`, or a string such as ``"POST /v1/model/response status=503"``)."""
        problem = None
        try:
            fault = _armed(fault)
        except ValueError as exc:
            problem = f"Cannot add this sandbox fault: {exc}"
        if problem is not None:
            raise ConfigError(problem)
        assert isinstance(fault, Fault)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path == path and fault.method in (None, method):
                    if fault.chance < 1 and self._draw() >= fault.chance:
                        continue
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
