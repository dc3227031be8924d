"""A streamed answer: an iterator of events read from the live connection as bytes arrive.

Both documented event vocabularies are understood: the current
``response.content_delta`` family and the older OpenAI-like ``response.output_text.delta``
family, with the event name taken from the SSE ``event:`` field or, failing that, from the
JSON's ``event``/``type`` (the newest docs send data-only frames). ``data: [DONE]`` ends the
stream with or without a ``response.completed`` before it: without one, the answer is what the
deltas said. Heartbeats and ``response.processing`` pass through as plain events, and
``response.block`` blocks (tool calls and the like) are kept for the completion.

Nothing here retries: once text has reached the user a replay would duplicate it, so a cut
stream raises :class:`StreamInterrupted` carrying what arrived (the client asks again only when
the very first event is an auth error, see :meth:`ResponseStream.opening_auth_failure`). The
bytes come from the same :class:`~._body.BodyReader` as a plain answer's, with its size cap, deadline
and idle timeout; only the error it raises differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import requests

from ._apierrors import error_from_event
from ._body import BodyReader
from ._errors import AuthError, FreddyError, ResponseFormatError, StreamInterrupted
from ._payloads import Completion, completion_from_json, optional_text, text_of
from ._safe_text import loads
from ._sse import SSEDecoder

MAX_STREAM = 64 * 1024 * 1024
DELTA_EVENTS = frozenset({"response.content_delta", "response.output_text.delta"})
DONE_EVENTS = frozenset({"response.completed"})
ERROR_EVENTS = frozenset({"response.error", "response.failed"})
#: Events that say the server is alive but nothing about the answer yet.
QUIET_EVENTS = frozenset({"heartbeat", "ping", "response.processing"})
DONE_LINE = "[DONE]"


@dataclass(frozen=True)
class StreamEvent:
    """One event: ``type`` is the event name; ``delta`` is set for text deltas."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    delta: str | None = None


class ResponseStream:
    """Context manager and iterator of :class:`StreamEvent`; see :meth:`text_deltas`."""

    def __init__(
        self,
        response: requests.Response,
        *,
        model: str | None,
        started: float,
        clock: Callable[[], float],
        deadline: float | None,
        idle_timeout: float | None,
        retries: int,
        max_line: int,
        max_stream: int = MAX_STREAM,
    ) -> None:
        self._response: requests.Response | None = response
        self._body = BodyReader(
            response, cap=max_stream, deadline=deadline, clock=clock, idle_timeout=idle_timeout, error=self._interrupted
        )
        self._model = model
        self._started = started
        self._clock = clock
        self._retries = retries
        self._decoder = SSEDecoder(max_line)
        self._parts: list[str] = []
        self._blocks: list[dict[str, Any]] = []
        self._events: Iterator[StreamEvent] = self._read()
        self.thread_id: str | None = None
        self.response_id: str | None = None
        self.completion: Completion | None = None
        self.first_delta_at: float | None = None

    @property
    def retries(self) -> int:
        """Repeats it took to open this stream."""
        return self._retries

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._parts)

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        return self._events

    def __next__(self) -> StreamEvent:
        return next(self._events)

    def text_deltas(self) -> Iterator[str]:
        """Only the text pieces, in order, each as soon as it arrives."""
        for event in self._events:
            if event.delta:
                yield event.delta

    def opening_auth_failure(self) -> AuthError | None:
        """Read up to the first event that is not a heartbeat. When that event is an auth error
        (a 200 stream may carry one where a plain request would get a 401) it is returned, the
        stream closed, for the caller to refresh and ask again: nothing was shown yet. Any other
        error raises; any other event is kept and iteration starts with it."""
        seen: list[StreamEvent] = []
        failure: AuthError | None = None
        try:
            for event in self._events:
                seen.append(event)
                if event.type not in QUIET_EVENTS:
                    break
        except AuthError as exc:
            if self._parts:
                raise
            failure = exc
        if failure is not None:
            self.close()
            return failure
        self._events = itertools.chain(seen, self._events)
        return None

    def close(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def _interrupted(self, _kind: type[FreddyError], reason: str) -> FreddyError:
        """The body reader's error for a stream: whatever cut it, the partial text is kept."""
        return StreamInterrupted(
            f"The answer stream stopped early: {reason}; the partial text is kept", partial_text=self.text
        )

    def _read(self) -> Iterator[StreamEvent]:
        """Events as their frames complete; the connection is closed however iteration ends
        (completed, failed, or the iterator dropped early)."""
        try:
            for chunk in self._body:
                for name, data in self._decoder.feed(chunk):
                    if data.strip() == DONE_LINE:
                        yield self._done()
                        return
                    event = self._event(name, data)
                    yield event
                    if event.type in DONE_EVENTS:
                        return
        finally:
            self.close()
        raise StreamInterrupted(
            "The answer stream ended without response.completed; the partial text is kept", partial_text=self.text
        )

    def _event(self, name: str, data: str) -> StreamEvent:
        decoded = _decode(data)
        if decoded is _NOT_JSON:
            raise ResponseFormatError("A stream event carried data that is not JSON")
        if not isinstance(decoded, dict) and name in DONE_EVENTS:
            raise ResponseFormatError(f"The {name} event's data is not a JSON object")
        payload: dict[str, Any] = decoded if isinstance(decoded, dict) else {"value": decoded}
        if name == "message":
            name = str(payload.get("event") or payload.get("type") or name)
        if name in DELTA_EVENTS:
            delta = payload.get("delta")
            delta = delta if isinstance(delta, str) else ""
            if delta and self.first_delta_at is None:
                self.first_delta_at = self._clock()
            self._parts.append(delta)
            return StreamEvent(name, payload, delta)
        if name in ERROR_EVENTS:
            raise error_from_event(payload)
        if name == "response.block" and isinstance(payload.get("block"), dict):
            self._blocks.append(payload["block"])
        if name == "response.cancelled":
            raise StreamInterrupted(
                "The answer was cancelled; the partial text is kept", partial_text=self.text, code="cancelled"
            )
        self.thread_id = optional_text(payload, "thread_id") or self.thread_id
        self.response_id = optional_text(payload, "response_id") or self.response_id
        if name in DONE_EVENTS:
            self.completion = self._complete(payload)
        return StreamEvent(name, payload)

    def _done(self) -> StreamEvent:
        """``[DONE]`` without a ``response.completed``: the completion is what arrived."""
        payload = {"status": "completed", "thread_id": self.thread_id, "response_id": self.response_id}
        self.completion = self._complete(payload)
        return StreamEvent("response.completed", payload)

    def _complete(self, payload: dict[str, Any]) -> Completion:
        payload.setdefault("thread_id", self.thread_id)
        ttft = None if self.first_delta_at is None else self.first_delta_at - self._started
        # Deltas are the answer; a final payload's text counts only when nothing was streamed.
        text = self.text or text_of(payload) or ""
        completion = completion_from_json(
            payload,
            model=self._model,
            retries=self._retries,
            latency_s=self._clock() - self._started,
            ttft_s=ttft,
            text=text,
        )
        if completion.blocks is None and self._blocks:
            completion.blocks = list(self._blocks)
        return completion


_NOT_JSON = object()


def _decode(data: str) -> object:
    """The event's JSON, or ``_NOT_JSON``; the caller raises, outside this ``except``, because
    the decode error keeps the whole event text in ``.doc`` and would ride along as context."""
    try:
        return loads(data) if data else {}
    except (ValueError, RecursionError):
        return _NOT_JSON
