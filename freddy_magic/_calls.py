"""One request, start to row: fill the prompt, call the client, turn any outcome into a row.

Every outcome is a row: an answer, a ``FreddyError`` (status ``"error"`` with its
one-line, redacted reason), or a cancel (status ``"cancelled"``, partial text kept). Nothing
here raises for a failed call, so a batch keeps its other rows; the magic decides whether a
failed single call fails the cell. A stream interrupted by Ctrl-C (main thread) or by the batch's
stop event (worker threads) is cancelled server-side too, because the server would otherwise
keep generating, and billing, an answer nobody reads. That cancel is itself a request that may
hang, so one more Ctrl-C abandons it (:func:`~._interrupts.interruptible`); the row, with the
text that arrived, is kept either way and says whether the cancel reached the server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from IPython.utils.text import FullEvalFormatter

from ._errors import ConfigError, FreddyError, StreamInterrupted
from ._interrupts import interruptible
from ._redaction import redact
from ._results import make_row, now_iso

if TYPE_CHECKING:
    from ._payloads import Completion
    from ._replay import AnswerSource, AnswerStream
    from ._rerun import RowRetry
    from ._results import Row
    from ._structured import Shape

log = logging.getLogger("freddy_magic")

_BRACES_HINT = "write {{ and }} for literal braces"


@dataclass
class Job:
    """What to send for one row: the model, the filled prompt, API parameters, input columns, a
    note for the row when text had to be changed to be sent (see :mod:`._safe_text`), and the
    shape a ``--json`` answer must have (see :mod:`._structured`)."""

    model: str | None  # None: no model is sent, the server's default answers
    prompt: str
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[Any, Any] = field(default_factory=dict)
    warning: str | None = None
    shape: Shape | None = None


def fill_placeholders(
    template: str, namespace: Mapping[str, Any], columns: Mapping[str, Any] | None = None, over: str | None = None
) -> str:
    """Replace each ``{expr}`` with its value evaluated in ``namespace`` (``{{``/``}}`` escape).

    ``columns`` (an ``--over`` row, keyed by the text of each column name) wins when a
    placeholder is exactly a column's name, so ``{0}`` is column ``0`` of a headerless CSV and
    ``{unit price}`` works too; anything else is evaluated, with identifier columns as names.
    """
    from string import Formatter

    problem = None
    try:
        list(Formatter().parse(template))
    except ValueError as exc:
        problem = f"Bad braces in the cell ({exc}); {_BRACES_HINT}"
    if problem is None:
        try:
            return _Template(columns or {}).fill(template, namespace)
        except NameError as exc:
            problem = f"A {{placeholder}} in the cell failed: NameError: {exc}; {_BRACES_HINT}"
            if over is not None and columns:  # most likely a misspelt column: name them all
                listed = ", ".join(columns)
                problem = f"--over: no column '{exc.name}' in {over} (columns: {listed})"
        except Exception as exc:  # noqa: BLE001 - SyntaxError, ValueError...: the user's expression failed
            problem = f"A {{placeholder}} in the cell failed: {type(exc).__name__}: {exc}; {_BRACES_HINT}"
    raise ConfigError(redact(problem))


class _Template(FullEvalFormatter):
    """IPython's evaluating formatter, with exact column names resolved first (through aliases)."""

    def __init__(self, columns: Mapping[str, Any]) -> None:
        self.aliases = {name: f"__freddy_column_{index}" for index, name in enumerate(columns)}
        self.values = {self.aliases[name]: value for name, value in columns.items()}
        self.names = {name: value for name, value in columns.items() if name.isidentifier()}

    def parse(self, template: str) -> Any:
        for literal, name, spec, conversion in super().parse(template):
            whole = f"{name}:{spec}" if spec else name
            if whole is not None and whole in self.aliases:
                name, spec = self.aliases[whole], ""
            yield literal, name, spec, conversion

    def fill(self, template: str, namespace: Mapping[str, Any]) -> str:
        return str(self.vformat(template, (), {**namespace, **self.names, **self.values}))


def describe(error: BaseException) -> str:
    """The one-line text of an error row: the class name says what kind of failure it was."""
    first = (str(error).splitlines() or [""])[0]
    return redact(f"{type(error).__name__}: {first}")


CANCELLED = "cancelled by the user"


def _cancel(client: AnswerSource, thread_id: str | None) -> str:
    """Ask the server to stop generating; the row's error text, saying if that did not happen."""
    if not thread_id:
        return CANCELLED
    try:
        with interruptible():
            client.cancel(thread_id)
    except FreddyError as exc:  # the stream is gone either way; a failed cancel only costs tokens
        log.debug("cancel of %s failed: %s", thread_id, describe(exc))
        return f"{CANCELLED}; the server-side cancel failed, so the server may finish (and bill) the answer"
    except KeyboardInterrupt:
        return f"{CANCELLED}; the server-side cancel was interrupted, so the server may finish (and bill) the answer"
    return CANCELLED


def call(
    client: AnswerSource,
    job: Job,
    *,
    stream: bool = True,
    on_delta: Callable[[str], object] | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    retry: RowRetry | None = None,
) -> Row:
    """Run ``job`` and return its row. ``on_delta(text)`` sees each streamed piece as it arrives.

    ``retry`` (batches, not streamed) repeats a transiently failed request; the repeats are added
    to the row's ``retries``. A ``--json`` job's answer is read into columns, and an invalid one
    asked again; a streamed re-ask is announced in the stream, so what is on screen says why the
    answer starts over.
    """
    row = _answer(client, job, stream, on_delta, stop, clock, retry)
    if job.shape is None:
        return row

    def again(invalid: Row) -> Row:
        if on_delta is not None:
            on_delta(f"\n\n[invalid: {invalid['error']}; asking again]\n\n")
        return _answer(client, job, stream, on_delta, stop, clock, retry)

    return job.shape.settle(row, again, stop)


def _answer(
    client: AnswerSource,
    job: Job,
    stream: bool,
    on_delta: Callable[[str], object] | None,
    stop: threading.Event | None,
    clock: Callable[[], float],
    retry: RowRetry | None,
) -> Row:
    """One request's row, whatever happened to it."""
    created_at, started = now_iso(), clock()
    row_args: dict[str, Any] = {"created_at": created_at, "extra": job.extra, "warning": job.warning}
    if stream:
        return _call_streaming(client, job, on_delta, stop, clock, started, row_args)
    retried = 0
    try:
        outcome = _create(client, job)
        while isinstance(outcome, FreddyError) and retry is not None and retry.again(outcome, retried, stop):
            retried += 1
            outcome = _create(client, job)
    except KeyboardInterrupt:  # nothing to cancel server-side: no thread id until the answer
        return make_row(
            job.model,
            job.prompt,
            status="cancelled",
            error=CANCELLED,
            latency_s=clock() - started,
            **row_args,
        )
    if isinstance(outcome, FreddyError):
        row = _error_row(job, outcome, clock() - started, row_args)
        if retry is not None:
            row["retries"] = retried
        return row
    row = make_row(job.model, job.prompt, completion=outcome, **row_args)
    if retried:
        row["retries"] = (row["retries"] or 0) + retried
    return row


def _create(client: AnswerSource, job: Job) -> Completion | FreddyError:
    """One plain request: its answer, or the error it ended in (kept, not raised, for the caller
    to repeat or record outside any ``except``)."""
    try:
        return client.create_response(job.prompt, model=job.model, **job.params)
    except FreddyError as exc:
        return exc


def _call_streaming(
    client: AnswerSource,
    job: Job,
    on_delta: Callable[[str], object] | None,
    stop: threading.Event | None,
    clock: Callable[[], float],
    started: float,
    row_args: dict[str, Any],
) -> Row:
    """The streamed call. A failure is kept, not returned from inside ``with``/``except``, so the
    partial text, the server-side cancel and the row are handled in one place, stream closed."""
    pieces: list[str] = []
    response: AnswerStream | None = None
    completion, failure, cancelled = None, None, False
    try:
        with client.stream_response(job.prompt, model=job.model, **job.params) as response:
            for piece in response.text_deltas():
                pieces.append(piece)
                if on_delta is not None:
                    on_delta(piece)
                if stop is not None and stop.is_set():
                    cancelled = True
                    break
            completion = None if cancelled else response.completion
    except KeyboardInterrupt:
        cancelled = True
    except FreddyError as exc:
        failure = exc
    text = "".join(pieces)
    if isinstance(failure, StreamInterrupted):
        text = failure.partial_text or text
    if cancelled:
        thread_id = getattr(response, "thread_id", None)
        row = make_row(
            job.model,
            job.prompt,
            status="cancelled",
            error=_cancel(client, thread_id),
            text=text,
            latency_s=clock() - started,
            **row_args,
        )
        row["thread_id"] = thread_id
        return row
    if failure is not None:
        return _error_row(job, failure, clock() - started, row_args, text or None)
    return make_row(job.model, job.prompt, completion=completion, **row_args)


def _error_row(
    job: Job, failure: FreddyError, latency_s: float, row_args: dict[str, Any], text: str | None = None
) -> Row:
    """The row of a call that ended in ``failure``: its one-line reason, and its class and code
    kept beside the columns, so the magic can still add the remedy."""
    return make_row(
        job.model,
        job.prompt,
        status="error",
        error=describe(failure),
        failure=failure,
        text=text,
        latency_s=latency_s,
        **row_args,
    )
