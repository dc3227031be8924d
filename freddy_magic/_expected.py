"""What the live check expects of the API: the shapes of its answers, and a stream read as shapes.

The expectations follow the API reference. Where the documentation disagrees with itself (usage
absent, data-only stream frames, ``[DONE]``, ``response_blocks`` without ``response``) a shape
marks the other form as tolerated, so the check can say which one it saw. Kept apart from the
steps that send the requests (:mod:`._check`) so each can be read on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._safe_text import loads
from ._shapes import Arr, Field, Findings, Obj, Spec, compare, field_name, shape
from ._sse import SSEDecoder

BODY_CAP = 4 * 1024 * 1024
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
DELTA_EVENTS = ("response.content_delta", "response.output_text.delta")
COMPLETED_EVENTS = ("response.completed",)
ERROR_EVENTS = ("response.error", "response.failed")
NEWEST_DOCS_EVENTS = ("response.processing", "heartbeat", "response.heartbeat")
KNOWN_EVENTS = (
    "response.created",
    "response.block",
    "reasoning.started",
    "reasoning.content",
    "reasoning.completed",
    *DELTA_EVENTS,
    *COMPLETED_EVENTS,
)
MEDIA_TYPE = re.compile(r"[a-z]+/[a-z0-9.+-]{1,60}")
NUMBER = re.compile(r"\s*\d+(\.\d+)?\s*")
NOT_JSON = object()


def _f(spec: Spec, **kw: Any) -> Field:
    return Field(spec, **kw)


def _optional(spec: Spec) -> Field:
    return Field(spec, required=False, nullable=True)


NO_USAGE = "usage absent (token columns will say unknown)"
MODEL = Obj(
    {
        "id": _f("str"),
        "key": _f("str"),
        "name": _f("str"),
        "is_visible_in_ui": _f("bool"),
        "is_deprecated": _f("bool"),
        "availability_status": _f("str"),
        "description": _optional("str"),
        "provider": _optional("str"),
        "capabilities": _optional(Arr("str")),
        "context_window": _optional("int"),
    }
)
MODELS = Obj({"models": _f(Arr(MODEL)), "total_count": _f("int")})
USAGE = Obj({"input_tokens": _f("int"), "output_tokens": _f("int"), "total_tokens": _optional("int")})
BLOCK = Obj({"type": _f("str"), "text": _optional("str")})
ANSWER = Obj(
    {
        "success": _f("bool"),
        "thread_id": _f("str"),
        "response_id": _f("str"),
        "response": _f(Arr(BLOCK)),
        "stop_reason": _f("str", nullable=True),
        "is_summarized": _optional("bool"),
        "response_blocks": _optional(Arr("object")),
        "usage": _f(USAGE, tolerated=NO_USAGE),
    }
)
DELTA = Obj({"delta": _f("str")})
COMPLETED = Obj(
    {
        "thread_id": _f("str"),
        "response_id": _f("str"),
        "status": _optional("str"),
        "response": _optional(Arr(BLOCK)),
        "response_blocks": _optional(Arr("object")),
        "usage": _f(USAGE, tolerated=NO_USAGE),
    }
)
ENVELOPE = Obj(
    {
        "success": _f("bool"),
        "error": _f(
            Obj(
                {
                    "code": _f("str"),
                    "message": _f("str"),
                    "type": _f("str"),
                    "status": _f("int"),
                    "system_message": _optional("str"),
                    "details": _optional("any"),
                    "trace_id": _optional("str"),
                    "timestamp": _optional("str"),
                }
            )
        ),
    }
)
FASTAPI_422 = Obj({"detail": _f(Arr(Obj({"loc": _f(Arr("any")), "msg": _f("str"), "type": _f("str")})))})
REFRESH = Obj(
    {
        "access_token": _f("str"),
        "refresh_token": _f("str", tolerated="no refresh_token (the current one is kept)"),
        "token_type": _optional("str"),
        "expires_in": _optional("number"),
        "device_id": _optional("str"),
    }
)


class StreamShapes:
    """Reads a stream's events as shapes: framing, event names in order, and what each carried."""

    def __init__(self) -> None:
        self.decoder = SSEDecoder()
        self.framings: list[str] = []
        self.names: list[str] = []
        self.threads: list[str] = []
        self.found = Findings()
        self.done = False
        self.completed: object = None
        self.after_end = False

    def feed(self, chunk: bytes) -> None:
        for frame_name, data in self.decoder.feed(chunk):
            self._event(frame_name, data)

    def _event(self, frame_name: str, data: str) -> None:
        if self.done or self.completed is not None:
            self.after_end = self.after_end or data.strip() != "[DONE]"
        if data.strip() == "[DONE]":  # a bare marker: it says nothing about how events are framed
            self.done = True
            self.names.append("[DONE]")
            return
        framing = "event+data frames" if frame_name != "message" else "data-only frames"
        if framing not in self.framings:
            self.framings.append(framing)
        try:
            payload = loads(data) if data else {}
        except (ValueError, RecursionError):
            payload = NOT_JSON
        if payload is NOT_JSON:
            self.names.append("(not JSON)")
            self._add(Findings(["an event's data is not JSON"]))
            return
        name = frame_name
        if name == "message" and isinstance(payload, Mapping):
            name = str(payload.get("event") or payload.get("type") or name)
        self.names.append(field_name(name))
        if isinstance(payload, Mapping) and isinstance(payload.get("thread_id"), str):
            self.threads.append(payload["thread_id"])
        self._judge(name, payload)

    def _judge(self, name: str, payload: object) -> None:
        if name in DELTA_EVENTS:
            self._add(compare(DELTA, payload, name))
        elif name in COMPLETED_EVENTS:
            self.completed = payload
            self._add(compare(COMPLETED, payload, name))
        elif name in ERROR_EVENTS:
            self._add(Findings([f"the stream failed with {name} {shape(payload)}"]))
        elif name in NEWEST_DOCS_EVENTS:
            self._tolerate(f"{name} events (newest docs)")
        elif name not in KNOWN_EVENTS:
            self._tolerate(f"unknown event {field_name(name)} (ignored)")

    def _add(self, found: Findings) -> None:
        self.found.differs += [d for d in found.differs if d not in self.found.differs]
        for note in found.tolerated:
            self._tolerate(note)

    def _tolerate(self, note: str) -> None:
        if note not in self.found.tolerated:
            self.found.tolerated.append(note)

    def findings(self) -> Findings:
        found = Findings(list(self.found.differs), list(self.found.tolerated))
        if "data-only frames" in self.framings:
            found.tolerated.append("data-only frames, the event name inside the JSON (newest docs)")
        if not any(name in DELTA_EVENTS for name in self.names):
            found.tolerated.append("no text delta events")
        if self.completed is None and self.done:
            found.tolerated.append("ended with [DONE] and no response.completed (newest docs)")
        elif self.completed is None:
            found.differs.append("ended without response.completed or [DONE]")
        elif self.done:
            found.tolerated.append("[DONE] after response.completed (newest docs)")
        if self.after_end:
            found.tolerated.append("events after the end (ignored)")
        return found

    def observed(self) -> str:
        runs: list[list[Any]] = []
        for name in self.names:
            if runs and runs[-1][0] == name:
                runs[-1][1] += 1
            else:
                runs.append([name, 1])
        events = ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in runs) or "none"
        text = f"{' and '.join(self.framings) or 'no frames'}; events: {events}"
        if self.completed is not None:
            text += f"; response.completed {shape(self.completed)}"
        return text
