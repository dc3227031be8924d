"""Where a notebook's answers come from: the live client, a recording, or both.

:class:`Answers` stands where the calls expect a client (``create_response``, ``stream_response``,
``cancel``) and decides per request:

- replaying: the recorded answer, with no network at all; a request the recording does not hold
  is a one-line :class:`NotRecorded` naming it, or goes to the fallback client (the sandbox)
  when one was asked for, labelled as what it is;
- recording: the live answer, appended to the recording once it completed;
- reusing (both): the recorded answer where there is one, else the live one, recorded, so a
  re-run notebook pays only for cells it has not answered before.

Every answer says where it came from (``source``: live, sandbox or replay, and ``recorded_at``
for a replay). A replayed stream keeps its recorded pacing, scaled by a speed factor and capped
per answer, so a class sees an answer being written without waiting as long as the model did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ._errors import NotRecorded
from ._recording import Entry, Recorder, Recording, SecretInEntry, make_entry, request_key
from ._redaction import redact

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._client import FreddyClient
    from ._payloads import Completion

MAX_REPLAY_S = 3.0  # the longest a replayed answer takes to appear, whatever the model took
_PROMPT_SHOWN = 40


class AnswerStream(Protocol):
    """What a streamed call reads: text pieces as they come, then the completion."""

    @property
    def thread_id(self) -> str | None: ...

    @property
    def completion(self) -> Completion | None: ...

    def text_deltas(self) -> Iterator[str]: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class AnswerSource(Protocol):
    """What a call needs from where answers come from: :class:`Answers`, or a plain client."""

    def create_response(self, inputs: str, **params: Any) -> Completion: ...

    def stream_response(self, inputs: str, **params: Any) -> AnswerStream: ...

    def cancel(self, thread_id: str) -> Any: ...


class Answers:
    """The source of answers for one run of cells; see the module docstring for the modes."""

    def __init__(
        self,
        client: FreddyClient | None,
        *,
        sandbox: bool = False,
        recording: Recording | None = None,
        recorder: Recorder | None = None,
        forbidden: Sequence[str | None] = (),
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.source = "sandbox" if sandbox else "live"
        self.host = "sandbox" if sandbox else (urlsplit(client.base_url).hostname or "") if client else ""
        self.recording = recording
        self.recorder = recorder
        self.forbidden = [value for value in forbidden if value]
        self.speed = speed
        self.clock = clock
        self.sleep = sleep
        self.notes: list[str] = []  # answers that could not be recorded, said once after the cell

    def _replayed(self, inputs: str | Sequence[dict[str, Any]], params: dict[str, Any]) -> Entry | None:
        """The recorded answer, if any. Replaying with a fallback, a conversation that began in the
        recording continues in a new thread there: the fallback never saw the recorded one."""
        if self.recording is None:
            return None
        entry = self.recording.find(request_key(inputs, params))
        if entry is None and self.recorder is None and params.get("thread_id") in self.recording.threads:
            del params["thread_id"]
        if entry is None and self.client is None:
            model = params.get("model") or "the default model"
            start = inputs if isinstance(inputs, str) else str(inputs[-1].get("content", "")) if inputs else ""
            shown = " ".join(start.split())
            shown = shown if len(shown) <= _PROMPT_SHOWN else shown[: _PROMPT_SHOWN - 1] + "…"
            raise NotRecorded(redact(f"Not in the recording {self.recording.path.name}: {model}, {shown!r}"))
        return entry

    def create_response(self, inputs: str | Sequence[dict[str, Any]], **params: Any) -> Completion:
        entry = self._replayed(inputs, params)
        if entry is not None:
            return entry.completion()
        assert self.client is not None, "_replayed raises when there is neither an entry nor a client"
        started = self.clock()
        completion = replace(self.client.create_response(inputs, **params), source=self.source)
        self.record(inputs, params, completion, None, started)
        return completion

    def stream_response(self, inputs: str | Sequence[dict[str, Any]], **params: Any) -> AnswerStream:
        entry = self._replayed(inputs, params)
        if entry is not None:
            return ReplayStream(entry, speed=self.speed, clock=self.clock, sleep=self.sleep)
        assert self.client is not None, "_replayed raises when there is neither an entry nor a client"
        started = self.clock()
        live = self.client.stream_response(inputs, **params)
        return LiveStream(live, self, inputs, params, started)

    def cancel(self, thread_id: str) -> Any:
        """Replayed answers have nothing to cancel (their stream reports no thread id)."""
        return None if self.client is None else self.client.cancel(thread_id)

    def record(
        self,
        inputs: str | Sequence[dict[str, Any]],
        params: Mapping[str, Any],
        completion: Completion,
        deltas: list[tuple[float, str]] | None,
        started: float,
    ) -> None:
        """Keep a completed live answer, in the file and (reusing) for this kernel's re-runs."""
        if self.recorder is None:
            return
        entry = make_entry(request_key(inputs, params), completion, host=self.host, sandbox=self.source == "sandbox")
        if deltas is not None:
            entry = replace(entry, deltas=[(at - started, piece) for at, piece in deltas])
        try:
            self.recorder.write(entry, self.forbidden)
        except SecretInEntry as exc:
            self.notes.append(str(exc))
            return
        if self.recording is not None:
            self.recording.add(entry)


class ReplayStream:
    """A recorded answer streamed again at its recorded pace (times ``1/speed``, capped)."""

    # Nothing runs server-side, so an interrupt has nothing to cancel: no thread id while streaming.
    thread_id: str | None = None

    def __init__(
        self, entry: Entry, *, speed: float, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self._entry = entry
        self._speed = speed
        self._clock = clock
        self._sleep = sleep
        self._done = False

    @property
    def completion(self) -> Completion | None:
        return self._entry.completion() if self._done else None

    def __enter__(self) -> ReplayStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        return None

    def text_deltas(self) -> Iterator[str]:
        entry = self._entry
        deltas = entry.deltas or [(entry.answer.get("latency_s") or 0.0, entry.answer.get("text") or "")]
        last = deltas[-1][0] if deltas else 0.0
        scale = 0.0 if self._speed <= 0 or last <= 0 else min(1 / self._speed, MAX_REPLAY_S / last)
        started = self._clock()
        for at, piece in deltas:
            wait = started + at * scale - self._clock()
            if wait > 0:
                self._sleep(wait)
            if piece:
                yield piece
        self._done = True


class LiveStream:
    """A live stream passed through, its pieces timed, and recorded once it completed."""

    def __init__(
        self,
        stream: Any,
        answers: Answers,
        inputs: str | Sequence[dict[str, Any]],
        params: Mapping[str, Any],
        started: float,
    ) -> None:
        self._stream = stream
        self._answers = answers
        self._inputs = inputs
        self._params = params
        self._started = started

    @property
    def thread_id(self) -> str | None:
        return self._stream.thread_id

    @property
    def completion(self) -> Completion | None:
        completion = self._stream.completion
        return None if completion is None else replace(completion, source=self._answers.source)

    def __enter__(self) -> LiveStream:
        self._stream.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stream.__exit__(kind, exc, tb)

    def text_deltas(self) -> Iterator[str]:
        timed: list[tuple[float, str]] | None = [] if self._answers.recorder is not None else None
        for piece in self._stream.text_deltas():
            if timed is not None:
                timed.append((self._answers.clock(), piece))
            yield piece
        completion = self.completion
        if completion is not None:
            self._answers.record(self._inputs, self._params, completion, timed, self._started)
