"""Batches that finish: ``--over`` repeats rows that failed for a passing reason, and
``--only-failed`` re-runs just the failed rows of an earlier result.

The client never repeats a POST that may have reached the server: an LLM call costs money and
could be answered twice, and a plain script must not get that surprise. A notebook batch is
different: the user asked for an answer on every row, and a row lost to a 503 or a dropped
connection is a hole in their table. So ``--over`` repeats such a row itself, up to
``FreddyMagics.max_retries`` times, after the wait a 503 asks for or else a jittered backoff,
and counts the repeats in the row's ``retries``. Only failures that say nothing about the
request are repeated: an error status of 5xx, a connection lost or refused, a read timeout (in
a batch nothing is streamed, so no text was shown). A 4xx, a TLS failure or a call that ran out
its overall deadline is final. The price is that a row whose request the server did process
before the connection dropped may be billed twice; the README says so.

``%%freddy --over rows --only-failed`` takes the result of an earlier ``--over`` run instead of
the input table. Each row that is not ``ok`` is sent again with its own model and its prompt
rebuilt from the cell and the row's input columns; the answers are merged back in place, so the
result lines up with the input table as before, and the rows that were fine are kept as they were.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._calls import Job, fill_placeholders
from ._errors import APIError, ConfigError, FreddyError, TransportError
from ._results import ROW_COLUMNS, SERVER_DEFAULT, Row, Rows
from ._retry import MAX_RETRY_AFTER, Phase, backoff_delay

if TYPE_CHECKING:
    from argparse import Namespace

_PASSING_PHASES = frozenset({Phase.CONNECT.value, Phase.SENT.value})
_RESULT_COLUMNS = ("model", "prompt", "status")


def transient(error: FreddyError) -> bool:
    """True for a failure that repeating the same request may cure (see the module docstring)."""
    if isinstance(error, TransportError):
        return error.code in _PASSING_PHASES
    return isinstance(error, APIError) and error.status is not None and error.status >= 500


@dataclass(frozen=True)
class RowRetry:
    """How a batch row is repeated: at most ``budget`` times, after the wait the server asked
    for (``Retry-After`` on a 503, up to ``max_wait``), else a jittered backoff.

    ``rng`` is the jitter's seam (tests fix it); waits end at once when the batch stops.
    """

    budget: int
    rng: Callable[[], float] = field(default=random.random, repr=False)
    max_wait: float = MAX_RETRY_AFTER  # as the client's own: a longer ask gets the backoff

    def again(self, error: FreddyError, retried: int, stop: threading.Event | None) -> bool:
        """Whether to repeat after ``error``, having repeated ``retried`` times; waits first."""
        if retried >= self.budget or not transient(error):
            return False
        asked = getattr(error, "retry_after", None)
        wait = asked if asked is not None and asked <= self.max_wait else backoff_delay(retried + 1, self.rng)
        if stop is None:
            time.sleep(wait)
            return True
        return not stop.wait(wait)


def check_options(args: Namespace) -> None:
    """``--only-failed`` needs ``--over`` naming an earlier result; each row keeps its own model."""
    if args.over is None:
        raise ConfigError("--only-failed re-runs rows of an earlier result: name it with --over, e.g. --over rows")
    if args.model:
        raise ConfigError("--only-failed re-runs each failed row with its own model: leave out -m")


@dataclass
class Rerun:
    """The failed rows of an earlier result, the jobs that re-run them, and the merge back."""

    name: str
    earlier: list[Row]
    positions: list[int]
    jobs: list[Job]

    def merge(self, rows: Rows) -> Rows:
        """The earlier rows with each re-run one replaced in place, as one result."""
        merged = list(self.earlier)
        for position, row in zip(self.positions, rows):
            merged[position] = row
        return Rows(merged, display_limit=rows.display_limit)


def plan(
    name: str, cell: str, namespace: Mapping[str, Any], params: dict[str, Any], made: Collection[str] = ()
) -> Rerun:
    """The jobs for the rows of ``namespace[name]`` whose status is not ``ok``; ``made`` are columns
    the earlier run added besides :data:`ROW_COLUMNS` (a ``--json`` answer's), not inputs."""
    earlier = _earlier_rows(namespace, name)
    template = cell.strip("\n")
    if not template.strip():
        raise ConfigError("The cell is empty: repeat the prompt of the earlier run below %%freddy")
    positions, jobs = [], []
    for position, row in enumerate(earlier):
        if row.get("status") == "ok":
            continue
        inputs = {key: value for key, value in _inputs(row).items() if key not in made}
        prompt = fill_placeholders(template, {**namespace, **inputs})
        positions.append(position)
        model = None if row["model"] in (None, SERVER_DEFAULT) else str(row["model"])
        jobs.append(Job(model, prompt, dict(params), inputs))
    return Rerun(name, earlier, positions, jobs)


def _earlier_rows(namespace: Mapping[str, Any], name: str) -> list[Row]:
    if name not in namespace:
        raise ConfigError(f"--over {name}: no variable of that name in the notebook")
    value = namespace[name]
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        records = value.to_dict("records")
    elif isinstance(value, (list, tuple)) and all(isinstance(item, dict) for item in value):
        records = list(value)
    else:
        records = []
    if not records or not all(all(column in record for column in _RESULT_COLUMNS) for record in records):
        raise ConfigError(
            f"--only-failed: {name} is not the result of an earlier %%freddy --over run "
            "(its rows need model, prompt and status columns)"
        )
    return [record if isinstance(record, Row) else Row(record) for record in records]


def _inputs(row: Mapping[str, Any]) -> dict[str, Any]:
    """The input columns a result row carries: everything but the result, ``input_x`` back to ``x``."""
    inputs = {}
    for key, value in row.items():
        if key.startswith("input_") and key[6:] in ROW_COLUMNS:
            inputs[key[6:]] = value
        elif key not in ROW_COLUMNS:
            inputs[key] = value
    return inputs
