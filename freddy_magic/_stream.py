"""A streamed answer: an iterator of events read from the live connection as bytes arrive.

Both documented event vocabularies are understood: the current
``response.content_delta`` family and the older OpenAI-like ``response.output_text.delta``
family, with the event name taken from the SSE ``event:`` field or, failing that, from the
JSON's ``event``/``type``. Nothing here retries: once text has reached the user a replay would
duplicate it, so a cut stream raises :class:`StreamInterrupted` carrying what arrived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import requests
import urllib3

from ._apierrors import error_from_event
from ._errors import FreddyError, ResponseFormatError, StreamInterrupted
from ._payloads import completion_from_json, text_of
from ._sse import SSEDecoder

__all__ = ["StreamEvent", "ResponseStream", "MAX_STREAM"]

MAX_STREAM = 64 * 1024 * 1024
DELTA_EVENTS = frozenset({"response.content_delta", "response.output_text.delta"})
DONE_EVENTS = frozenset({"response.completed"})
ERROR_EVENTS = frozenset({"response.error", "response.failed"})


@dataclass(frozen=True)
class StreamEvent:
    """One event: ``type`` is the event name; ``delta`` is set for text deltas."""

    type: str
    data: dict = field(default_factory=dict)
    delta: str | None = None


class ResponseStream:
    """Context manager and iterator of :class:`StreamEvent`; see :meth:`text_deltas`."""

    def __init__(self, response, *, model, started, clock, deadline, idle_timeout, retries,
                 max_line, max_stream=MAX_STREAM):
        self._response = response
        self._model = model
        self._started = started
        self._clock = clock
        self._deadline = deadline
        self._idle = idle_timeout
        self._retries = retries
        self._decoder = SSEDecoder(max_line)
        self._max_stream = max_stream
        self._parts = []
        self._events = self._read()
        self.thread_id = None
        self.response_id = None
        self.completion = None
        self.first_delta_at = None

    @property
    def text(self):
        """The text received so far."""
        return "".join(self._parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self):
        return self._events

    def __next__(self):
        return next(self._events)

    def text_deltas(self):
        """Only the text pieces, in order, each as soon as it arrives."""
        for event in self._events:
            if event.delta:
                yield event.delta

    def close(self):
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def _chunks(self):
        """Raw bytes as they arrive; failures become (exception class, message) pairs."""
        raw, total = self._response.raw, 0
        while True:
            problem = None
            if self._deadline is not None and self._clock() > self._deadline:
                problem = "the call's overall deadline passed"
            else:
                try:
                    chunk = raw.read1(65536, decode_content=True)
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                    timed_out = "timeout" in type(exc).__name__.lower() or isinstance(exc, TimeoutError)
                    problem = ("no data arrived within the stream idle timeout" if timed_out
                               else f"the connection was lost ({type(exc).__name__})")
            if problem is None:
                if not chunk:
                    return
                total += len(chunk)
                if total > self._max_stream:
                    problem = f"the stream exceeded {self._max_stream // (1024 * 1024)} MB"
            if problem is not None:
                yield problem
                return
            yield chunk

    def _read(self):
        failure = None
        for chunk in self._chunks():
            if isinstance(chunk, str):
                failure = StreamInterrupted(f"The answer stream stopped early: {chunk}; the partial "
                                            "text is kept", partial_text=self.text)
                break
            try:
                frames = self._decoder.feed(chunk)
            except FreddyError as exc:
                failure = exc
                break
            for name, data in frames:
                event = self._event(name, data)
                if isinstance(event, FreddyError):
                    failure = event
                    break
                if event is not None:
                    yield event
                    if event.type in DONE_EVENTS:
                        self.close()
                        return
            if failure is not None:
                break
        self.close()
        if failure is None:
            failure = StreamInterrupted("The answer stream ended without response.completed; the "
                                        "partial text is kept", partial_text=self.text)
        raise failure

    def _event(self, name, data):
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            return ResponseFormatError("A stream event carried data that is not JSON")
        if not isinstance(payload, dict):
            payload = {"value": payload}
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
            return error_from_event(payload)
        if name == "response.cancelled":
            return StreamInterrupted("The answer was cancelled; the partial text is kept",
                                     partial_text=self.text, code="cancelled")
        self.thread_id = payload.get("thread_id") or self.thread_id
        self.response_id = payload.get("response_id") or self.response_id
        if name in DONE_EVENTS:
            self.completion = self._complete(payload)
        return StreamEvent(name, payload)

    def _complete(self, payload):
        payload.setdefault("thread_id", self.thread_id)
        ttft = None if self.first_delta_at is None else self.first_delta_at - self._started
        # Deltas are the answer; a final payload's text counts only when nothing was streamed.
        text = self.text or text_of(payload) or ""
        return completion_from_json(payload, model=self._model, retries=self._retries,
                                    latency_s=self._clock() - self._started, ttft_s=ttft, text=text)
