"""Fault injection: make a route fail on demand so clients can be tested against each failure.

A :class:`Fault` matches one exact path (and a method, or any) and fires ``times`` times
(``None`` = forever). Kinds: ``status`` (an error envelope; with ``after_deltas`` on a stream,
a ``response.error`` event mid-stream instead), ``reset`` (connection closed with no answer),
``truncate`` (stream cut after ``after_deltas`` deltas with no ``response.completed``; a plain
JSON body cut in half), ``slow`` (``delay`` seconds before answering), ``echo`` (a hostile 500
echoing the request headers) and ``html`` (a proxy's 502 HTML page).
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("status", "reset", "truncate", "slow", "echo", "html")


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

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.method is not None:
            self.method = self.method.upper()

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

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
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
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
