"""Bent answers: the sandbox's shapes changed on purpose, to test what reads them.

``Sandbox(middleware=Misshapes("models-count-as-text", "no-usage"))`` serves the named changes.
Two families, each entry a change a real server could plausibly make:

- :data:`WRONG_SHAPES`: departures from the documented shapes (a field renamed, a number sent
  as text, a stream that never completes). The live check must report every one of them.
- :data:`DOCUMENTED_VARIANTS`: forms the documentation itself allows or disagrees about
  (data-only frames, ``[DONE]``, heartbeats, no ``usage``, ``response_blocks`` only, FastAPI's
  bare 422). The live check must tolerate them, not fail.

A WSGI middleware over the sandbox app: requests, validation and state are untouched, only the
answers are bent on their way out, so nothing here makes the sandbox accept more than it does.
It relies on the sandbox's streams yielding whole frames, one or more per chunk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import ClosingIterator

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Headers = list[tuple[str, str]]
RESPONSES = ("POST", "/v1/model/response")
MODELS = ("GET", "/v1/models")
REFRESH = ("POST", "/v1/auth/refresh")
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-retry-after")


@dataclass
class Answer:
    """A buffered JSON answer while it is bent: status, decoded body, headers."""

    status: int
    data: Any
    headers: Headers


@dataclass
class Event:
    """One stream frame: the ``event:`` line (None for a data-only frame) and the decoded data
    (a ``str`` when it is not JSON, such as ``[DONE]``)."""

    frame_name: str | None
    data: Any

    @property
    def name(self) -> str | None:
        if self.frame_name:
            return self.frame_name
        return self.data.get("event") if isinstance(self.data, dict) else None

    @classmethod
    def parse(cls, raw: bytes) -> Event:
        name, data = None, []
        for line in raw.decode("utf-8").split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        text = "\n".join(data)
        try:
            return cls(name, json.loads(text))
        except ValueError:
            return cls(name, text)

    def encode(self) -> bytes:
        data = self.data if isinstance(self.data, str) else json.dumps(self.data, separators=(",", ":"))
        head = f"event: {self.frame_name}\n" if self.frame_name else ""
        return (head + f"data: {data}\n\n").encode("utf-8")


@dataclass(frozen=True)
class Bend:
    """One change: on ``route`` (None: every route), edit JSON answers of the given outcome
    (``ok``: 2xx, ``error``: 4xx), stream events, headers, or the streams' Content-Type."""

    route: tuple[str, str] | None
    on: str = "ok"
    answer: Callable[[Answer], None] | None = None
    event: Callable[[Event], list[Event]] | None = None
    headers: Callable[[Headers], Headers] | None = None
    stream_type: str | None = None


def _json(route: tuple[str, str], edit: Callable[[Any], None], on: str = "ok") -> Bend:
    return Bend(route, on, answer=lambda answer: edit(answer.data))


def _events(name: str | None, edit: Callable[[Event], list[Event]]) -> Bend:
    """An edit of every stream event called ``name`` (None: every event)."""
    return Bend(RESPONSES, event=lambda event: edit(event) if name in (None, event.name) else [event])


def _kept(edit: Callable[[Any], None]) -> Callable[[Event], list[Event]]:
    def apply(event: Event) -> list[Event]:
        if isinstance(event.data, dict):
            edit(event.data)
        return [event]

    return apply


def _rename(data: dict[str, Any], old: str, new: str) -> None:
    data[new] = data.pop(old)


def _as_text(data: dict[str, Any], name: str) -> None:
    data[name] = str(data[name])


def _error_as_500(answer: Answer) -> None:
    answer.status = 500
    answer.data["error"]["status"] = 500


def _remaining_as_text(headers: Headers) -> Headers:
    return [(k, "plenty" if k.lower() == "x-ratelimit-remaining" else v) for k, v in headers]


def _models_without_key(data: dict[str, Any]) -> None:
    for model in data["models"]:
        del model["key"]


def _without_rate_headers(headers: Headers) -> Headers:
    return [(k, v) for k, v in headers if k.lower() not in RATE_HEADERS]


def _other_thread(data: dict[str, Any]) -> None:
    if "thread_id" in data:
        data["thread_id"] = "thread_elsewhere"


def _blocks_only(data: dict[str, Any]) -> None:
    blocks = data.pop("response")
    data["response_blocks"] = [{"type": "text", "content": block.get("text")} for block in blocks]


def _fastapi_422(answer: Answer) -> None:
    if answer.status == 422:
        problem = {"loc": ["body", "inputs"], "msg": "List should have at least 1 item", "type": "too_short"}
        answer.data = {"detail": [problem]}


DONE = Event(None, "[DONE]")

WRONG_SHAPES: dict[str, Bend] = {
    "models-renamed": _json(MODELS, lambda d: _rename(d, "models", "data")),
    "models-count-as-text": _json(MODELS, lambda d: _as_text(d, "total_count")),
    "model-without-key": _json(MODELS, _models_without_key),
    "answer-success-as-text": _json(RESPONSES, lambda d: _as_text(d, "success")),
    "answer-without-thread": _json(RESPONSES, lambda d: d.pop("thread_id")),
    "answer-text-as-number": _json(RESPONSES, lambda d: d["response"][0].update(text=42)),
    "answer-usage-as-text": _json(RESPONSES, lambda d: _as_text(d["usage"], "input_tokens")),
    "error-without-code": _json(RESPONSES, lambda d: _rename(d["error"], "code", "error_code"), on="error"),
    "error-status-as-text": _json(RESPONSES, lambda d: _as_text(d["error"], "status"), on="error"),
    "error-as-500": Bend(RESPONSES, "error", answer=_error_as_500),
    "refresh-without-access-token": _json(REFRESH, lambda d: _rename(d, "access_token", "jwt")),
    "ratelimit-remaining-as-text": Bend(None, headers=_remaining_as_text),
    "stream-delta-as-object": _events("response.content_delta", _kept(lambda d: d.update(delta={"text": d["delta"]}))),
    "stream-without-completion": _events("response.completed", lambda event: []),
    "stream-completed-without-response-id": _events("response.completed", _kept(lambda d: d.pop("response_id"))),
    "stream-other-thread": _events(None, _kept(_other_thread)),
    "stream-as-json": Bend(RESPONSES, stream_type="application/json"),
    "stream-not-json": _events("response.content_delta", lambda event: [Event(event.frame_name, "oops, not JSON")]),
}

DOCUMENTED_VARIANTS: dict[str, Bend] = {
    "data-only-frames": _events(None, lambda event: [Event(None, event.data)]),
    "done-after-completed": _events("response.completed", lambda event: [event, DONE]),
    "done-without-completed": _events("response.completed", lambda event: [DONE]),
    "heartbeats": _events(
        "response.created",
        lambda event: [event, Event(None, {"event": "response.processing"}), Event(None, {"event": "heartbeat"})],
    ),
    "no-usage": _json(RESPONSES, lambda d: d.pop("usage")),
    "no-usage-in-stream": _events("response.completed", _kept(lambda d: d.pop("usage"))),
    "blocks-only": _json(RESPONSES, _blocks_only),
    "string-response": _json(RESPONSES, lambda d: d.update(response=d["response"][0]["text"])),
    "no-ratelimit-headers": Bend(None, headers=_without_rate_headers),
    "token-alias": _json(REFRESH, lambda d: _rename(d, "access_token", "token")),
    "fastapi-422": Bend(RESPONSES, "error", answer=_fastapi_422),
}
SHAPES = {**WRONG_SHAPES, **DOCUMENTED_VARIANTS}


class Misshapes:
    """The middleware factory ``Sandbox(middleware=...)`` takes: the named bends, in order."""

    def __init__(self, *names: str) -> None:
        unknown = [name for name in names if name not in SHAPES]
        if unknown:
            raise ValueError(f"unknown misshapes {unknown}; known: {', '.join(SHAPES)}")
        self.names = names
        self.bends = [SHAPES[name] for name in names]

    def __call__(self, app: WSGIApplication) -> WSGIApplication:
        return _Bent(app, self.bends)

    def __repr__(self) -> str:
        return f"Misshapes{self.names!r}"


class _Bent:
    def __init__(self, app: WSGIApplication, bends: list[Bend]) -> None:
        self.app = app
        self.bends = bends

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        route = (environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
        bends = [bend for bend in self.bends if bend.route in (None, route)]
        if not bends:
            return self.app(environ, start_response)
        seen: dict[str, Any] = {}

        def capture(status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], object]:
            seen["status"], seen["headers"] = status, list(headers)
            return lambda data: None

        result = self.app(environ, capture)  # a werkzeug Response calls capture before it returns
        status_line, headers = seen["status"], seen["headers"]
        for bend in bends:
            if bend.headers is not None:
                headers = bend.headers(headers)
        kind = next((v for k, v in headers if k.lower() == "content-type"), "")
        if kind.startswith("text/event-stream"):
            for bend in bends:
                if bend.stream_type is not None:
                    headers = [(k, bend.stream_type if k.lower() == "content-type" else v) for k, v in headers]
            start_response(status_line, headers)
            edits = [bend.event for bend in bends if bend.event is not None]
            closer = [result.close] if hasattr(result, "close") else []
            return ClosingIterator(_bent_frames(result, edits), closer)
        status = int(status_line.split(" ", 1)[0])
        outcome = "ok" if status < 300 else "error" if status < 500 else None
        answers = [bend.answer for bend in bends if bend.answer is not None and bend.on == outcome]
        if not answers or not kind.startswith("application/json"):
            start_response(status_line, headers)
            return result
        try:
            answer = Answer(status, json.loads(b"".join(result)), headers)
        finally:
            if hasattr(result, "close"):
                result.close()
        for edit in answers:
            edit(answer)
        body = json.dumps(answer.data, separators=(",", ":")).encode("utf-8")
        headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in answer.headers]
        start_response(f"{answer.status} {HTTP_STATUS_CODES.get(answer.status, 'Unknown')}", headers)
        return [body]


def _bent_frames(result: Iterable[bytes], edits: list[Callable[[Event], list[Event]]]) -> Iterator[bytes]:
    for chunk in result:
        out = []
        for raw in chunk.split(b"\n\n"):
            if not raw.strip():
                continue
            events = [Event.parse(raw)]
            for edit in edits:
                events = [bent for event in events for bent in edit(event)]
            out += [event.encode() for event in events]
        if out:
            yield b"".join(out)
