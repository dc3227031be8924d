"""Many requests at once (``-m a,b,c`` and ``--over``): a thread pool feeding the main thread.

Workers only talk HTTP; every delta and finished row travels back over one queue, and the main
thread does all the displaying (output published from other threads can land in the wrong
cell). The main thread waits on that queue, which is also where Ctrl-C arrives: it sets the
stop event (streams in flight are cancelled server-side by :func:`calls.call`), drops the jobs
not yet started, keeps every finished row, and returns at once instead of waiting for requests
already on the wire. Rows come back in input order whatever order they finished in; a job that
never finished is a row with status ``"cancelled"``.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from ._calls import call, describe
from ._results import Rows, make_row

if TYPE_CHECKING:
    from ._calls import Job
    from ._replay import AnswerSource
    from ._rerun import RowRetry
    from ._results import Row

    Event = tuple[str, int, Any]  # ("delta" | "done" | "idle", job index (-1 for idle), piece or row)
    Events = queue.SimpleQueue[Event]

_IDLE_S = 0.05  # how often a waiting main thread wakes up to show throttled display updates


def _work(
    client: AnswerSource,
    job: Job,
    index: int,
    events: Events,
    stop: threading.Event,
    stream: bool,
    retry: RowRetry | None,
) -> None:
    """One job on a worker thread: HTTP only; everything it learns goes back over ``events``."""
    if stop.is_set():
        return
    try:
        row = call(
            client,
            job,
            stream=stream,
            stop=stop,
            on_delta=(lambda piece: events.put(("delta", index, piece))) if stream else None,
            retry=retry,
        )
    except Exception as exc:  # noqa: BLE001 - a bug in one row must not lose the others; it becomes that row's error
        row = make_row(job.model, job.prompt, status="error", error=describe(exc), extra=job.extra)
    events.put(("done", index, row))


def _next(events: Events) -> Event:
    """The next event, or an ``idle`` one after a quiet moment.

    A helper rather than ``continue`` inside ``except queue.Empty``: on CPython 3.11 a Ctrl-C
    arriving at that backward jump escaped the enclosing ``except KeyboardInterrupt``.
    """
    try:
        return events.get(timeout=_IDLE_S)
    except queue.Empty:
        return "idle", -1, None


def run_jobs(
    client: AnswerSource,
    jobs: Sequence[Job],
    *,
    concurrency: int,
    stream: bool = False,
    on_delta: Callable[[int, str], object] | None = None,
    on_done: Callable[[int, Row], object] | None = None,
    on_idle: Callable[[], object] | None = None,
    display_limit: int = 50,
    retry: RowRetry | None = None,
) -> tuple[Rows, bool]:
    """Run every job with at most ``concurrency`` in flight; return ``(Rows, interrupted)``.

    ``retry`` repeats a row that failed for a passing reason (see :mod:`._rerun`)."""
    rows: list[Row | None] = [None] * len(jobs)
    partial: list[list[str]] = [[] for _ in jobs]  # streamed text of each job, as the main thread saw it
    events: Events = queue.SimpleQueue()
    stop = threading.Event()
    workers = max(1, min(concurrency, len(jobs) or 1))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="freddy-batch")
    pending = enumerate(jobs)

    def feed(count: int) -> None:
        # Jobs are submitted as others finish: a future per row up front costs memory on 10k rows.
        for index, job in itertools.islice(pending, count):
            pool.submit(_work, client, job, index, events, stop, stream, retry)

    feed(2 * workers)
    interrupted = False
    try:
        _collect(events, rows, partial, feed, on_delta, on_done, on_idle)
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
    pool.shutdown(wait=not interrupted, cancel_futures=True)
    _fill_unfinished(rows, jobs, partial)
    return Rows(cast("list[Row]", rows), display_limit=display_limit), interrupted  # every slot filled


def _collect(
    events: Events,
    rows: list[Row | None],
    partial: list[list[str]],
    feed: Callable[[int], None],
    on_delta: Callable[[int, str], object] | None,
    on_done: Callable[[int, Row], object] | None,
    on_idle: Callable[[], object] | None,
) -> None:
    """Wait on the queue until every job has its row, handing each event to its hook."""
    remaining = len(rows)
    while remaining:
        kind, index, payload = _next(events)
        if kind == "done":
            rows[index], remaining = payload, remaining - 1
            feed(1)
            if on_done is not None:
                on_done(index, payload)
        elif kind == "delta":
            partial[index].append(payload)
            if on_delta is not None:
                on_delta(index, payload)
        elif kind == "idle" and on_idle is not None:
            on_idle()


def _fill_unfinished(rows: list[Row | None], jobs: Sequence[Job], partial: list[list[str]]) -> None:
    """A job that never finished (Ctrl-C) is still a row, so rows keep matching the input; it
    keeps the text that had streamed in."""
    for index, job in enumerate(jobs):
        if rows[index] is None:
            rows[index] = make_row(
                job.model,
                job.prompt,
                status="cancelled",
                error="not finished: interrupted by the user",
                text="".join(partial[index]) or None,
                extra=job.extra,
                warning=job.warning,
            )
