"""``%%freddy``: from parsed options and a cell to displayed answers and returned rows.

One model streams on the main thread (no thread hop between the first SSE byte and the first
display update). Several models, or ``--over`` rows, go through :mod:`._batch`. A single failed
call fails the cell (one-line ``UsageError``, so papermill and CI notice); in a batch a failed
row is just a row with status ``"error"``, and only a batch in which every row failed fails
the cell. An ``--over`` row that failed for a passing reason is repeated, and ``--only-failed``
re-runs the failed rows of an earlier result (both in :mod:`._rerun`). ``--dry-run`` builds the
exact requests and sends nothing.

Ctrl-C keeps what finished (rows, the partial answer) in ``-o``, in ``%freddy log`` and on screen,
then fails the cell with one line saying so: a "Run All" must stop where the user stopped it,
not carry on into the next cell's paid calls. What the cell hands over (names, columns, text)
is checked by :mod:`._inputs` before anything is sent. ``--json``/``--fields`` add
``output_mode: "json"`` and the keys the model is to answer with to every request, and each
answer is read into columns (:mod:`._structured`); a field named like a column is refused first.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from . import _rerun as rerun
from . import _structured as structured
from ._batch import run_jobs
from ._boundary import Interrupted
from ._calls import Job, call, describe, fill_placeholders
from ._display import AnswerView, NotSent, ProgressView
from ._errors import ConfigError, FreddyError
from ._inputs import check_columns, fit_for_wire, refuse_ipython_name
from ._payloads import MAX_INSTRUCTIONS
from ._results import ROW_COLUMNS, SERVER_DEFAULT, Rows, make_row

if TYPE_CHECKING:
    from argparse import Namespace

    from traitlets import Int

    from ._magics import FreddyMagics
    from ._replay import AnswerSource
    from ._results import Row
    from ._session import Session
    from ._structured import Shape

    Preview = dict[str, Any]


def _identifier(name: str, option: str) -> str:
    """A plausible variable name, or an error that does not repeat it (it may be a pasted secret)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(f"{option} needs a Python variable name (letters, digits and _)")
    return name


def check_options(
    args: Namespace, default_model: str, concurrency_trait: Int, reserved: Collection[str] = ()
) -> list[str | None]:
    """Validate option combinations before anything is evaluated or sent; return the models.

    ``--concurrency`` is bounded by the ``FreddyMagics.concurrency`` trait itself, so the
    configured default and the per-cell override can never disagree about what is allowed.
    ``reserved`` are names IPython keeps for itself (``In``, ``Out``, ``get_ipython``...).
    """
    chosen = args.model or default_model
    # No model anywhere: the request carries none and the server's default answers.
    models: list[str | None] = [m.strip() for m in chosen.split(",")] if chosen else [None]
    if not all(models) and chosen:
        raise ConfigError("-m takes model keys separated by commas, e.g. -m ftg-3.0,gpt-4o")
    for value, option in ((args.output, "-o"), (args.over, "--over")):
        if value is not None:
            _identifier(value, option)
    refuse_ipython_name(args.output, reserved)
    low, high = concurrency_trait.min, concurrency_trait.max
    if args.concurrency is not None and not low <= args.concurrency <= high:
        raise ConfigError(f"--concurrency must be between {low} and {high}")
    if args.concurrency is not None and args.over is None and len(models) == 1:
        raise ConfigError("--concurrency applies to --over or to several models (-m a,b); this cell sends one request")
    if args.chat and (len(models) > 1 or args.over):
        raise ConfigError("--chat continues one conversation: use it with one model and without --over")
    if args.over and args.format != "markdown":
        raise ConfigError("--format sets how an answer is shown in the cell; --over shows its rows as a table")
    if args.only_failed:
        rerun.check_options(args)
    if args.retries_invalid is not None:
        _check_retries_invalid(args)
    return models


def _check_retries_invalid(args: Namespace) -> None:
    if not (args.json or args.fields is not None):
        raise ConfigError("--retries-invalid re-asks answers that are not the JSON asked for: add --json or --fields")
    if not 0 <= args.retries_invalid <= MAX_RETRIES_INVALID:
        raise ConfigError(f"--retries-invalid must be between 0 and {MAX_RETRIES_INVALID}")
    if args.chat:
        raise ConfigError("--retries-invalid would ask again inside the --chat conversation: leave out one of them")


MAX_RETRIES_INVALID = 10


def _shape(args: Namespace) -> Shape | None:
    """What ``--json``/``--fields``/``--retries-invalid`` ask of every answer (None: plain text)."""
    if not args.json and args.fields is None:
        return None
    return structured.Shape(
        structured.parse_fields(args.fields) if args.fields is not None else None, args.retries_invalid
    )


def _params(args: Namespace, thread_id: str | None, shape: Shape | None = None) -> dict[str, Any]:
    instructions = args.system
    if shape is not None:
        asked = structured.instruction(shape.fields)
        instructions = f"{args.system}\n\n{asked}" if args.system else asked
        if len(instructions) > MAX_INSTRUCTIONS:
            raise ConfigError(
                f"-s and the instruction --json adds ({len(asked)} characters) exceed the API's "
                f"{MAX_INSTRUCTIONS}-character limit on instructions: shorten -s or use fewer --fields"
            )
    params = {
        "temperature": args.temperature,
        "max_output_tokens": args.max_tokens,
        "instructions": instructions,
        "thread_id": thread_id,
        "output_mode": "json" if shape is not None else None,
    }
    return {key: value for key, value in params.items() if value is not None}


def _shape_jobs(jobs: list[Job], shape: Shape | None) -> None:
    """Give every job the shape, after checking that no field would overwrite a column."""
    if shape is None:
        return
    structured.check_clashes(shape.fields, {*ROW_COLUMNS, structured.RETRIES_COLUMN}, "row")
    inputs = {f"input_{key}" if key in ROW_COLUMNS else str(key) for job in jobs for key in job.extra}
    structured.check_clashes(shape.fields, inputs, "input")
    for job in jobs:
        job.shape = shape


def over_records(namespace: Mapping[str, Any], name: str) -> list[dict[Any, Any]]:
    """The ``--over`` input as a list of dicts: a DataFrame (by duck type) or a list of dicts.

    Column names keep their type (``0`` stays ``0`` in the rows); two columns whose names read
    the same (``x`` twice, or ``0`` and ``"0"``) are refused, since ``{x}`` could not say which
    one it means and a DataFrame's ``to_dict`` would silently drop one.
    """
    if name not in namespace:
        raise ConfigError("--over names no variable of this notebook (run the cell that defines it first)")
    value = namespace[name]
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        check_columns(list(value.columns))
        records = value.to_dict("records")
    elif isinstance(value, (list, tuple)) and all(isinstance(item, dict) for item in value):
        records = [dict(item) for item in value]
        for record in records:
            check_columns(record)
    else:
        raise ConfigError(f"--over expects a DataFrame or a list of dicts, got {type(value).__name__}")
    if not records:
        raise ConfigError("--over was given a variable with no rows")
    return records


def build_jobs(
    args: Namespace,
    cell: str,
    namespace: Mapping[str, Any],
    models: list[str | None],
    thread_id: str | None,
    shape: Shape | None = None,
) -> list[Job]:
    """One job per model, or per model and ``--over`` row; placeholders are filled here, so a
    bad ``{expr}`` fails the cell before anything is sent."""
    template = cell.strip("\n")
    if not template.strip():
        raise ConfigError("The cell is empty: write the prompt on the lines below %%freddy")
    params = _params(args, thread_id, shape)
    if args.over is None:
        prompt, fit_params, _, warning = fit_for_wire(fill_placeholders(template, namespace), params, {})
        return [Job(model, prompt, dict(fit_params), {}, warning) for model in models]
    jobs: list[Job] = []
    for record in over_records(namespace, args.over):
        filled = fill_placeholders(template, namespace, {str(key): item for key, item in record.items()}, args.over)
        prompt, fit_params, columns, warning = fit_for_wire(filled, params, record)
        jobs.extend(Job(model, prompt, dict(fit_params), columns, warning) for model in models)
    return jobs


def run_cell(magics: FreddyMagics, args: Namespace, cell: str) -> Row | Rows | Preview | list[Preview]:
    """Run a ``%%freddy`` cell: a row for one call, rows for several, previews for ``--dry-run``.

    After Ctrl-C the result is still stored (``-o``, the log) and shown, then the cell fails.
    """
    session = magics.session
    shell = magics.shell
    assert shell is not None, "magics run only inside the shell they are registered with"
    reserved = set(getattr(shell, "user_ns_hidden", ()))
    models = check_options(args, magics.model, type(magics).concurrency, reserved)
    thread_id = session.thread_id if args.chat else None
    shape = _shape(args)
    again = None
    if args.only_failed:
        made = (*structured.columns(shape.fields), structured.RETRIES_COLUMN) if shape is not None else ()
        again = rerun.plan(args.over, cell, shell.user_ns, _params(args, None, shape), made)
    jobs = again.jobs if again is not None else build_jobs(args, cell, shell.user_ns, models, thread_id, shape)
    _shape_jobs(jobs, shape)
    stream = magics.stream and not args.no_stream
    stopped: str | None = None
    if args.dry_run:
        result: Row | Rows | Preview | list[Preview] = dry_run(session, jobs, stream)
    elif again is not None:
        result, stopped = rerun_failed(magics, again, stream, args)
    else:
        answers = session.answers()
        try:
            if len(jobs) == 1 and args.over is None:
                result, stopped = run_single(magics, answers, jobs[0], stream, args)
            else:
                result, stopped = run_many(magics, answers, jobs, stream, args)
        finally:
            for note in answers.notes:
                magics.show_text(note)
    if args.output:
        shell.push({args.output: result})
    if stopped is not None:
        where = f"`{args.output}` and %freddy log" if args.output else "%freddy log (-o NAME keeps it in a variable)"
        raise Interrupted(f"Interrupted: {stopped} kept in {where}")
    return result


def dry_run(session: Session, jobs: list[Job], stream: bool) -> Preview | list[Preview]:
    """The exact request of every job, headers redacted by the client; nothing is sent."""
    temporary = session.client is None
    client = session.new_client(None) if session.client is None else session.client
    try:
        previews: list[Preview] = [
            NotSent(client.request_preview(job.prompt, stream=stream, model=job.model, **job.params)) for job in jobs
        ]
    finally:
        if temporary:
            client.close()
    return previews[0] if len(previews) == 1 else previews


def run_single(
    magics: FreddyMagics, client: AnswerSource, job: Job, stream: bool, args: Namespace
) -> tuple[Row, str | None]:
    """One call streamed on the main thread: ``(row, what an interrupt stopped, or None)``.

    Every outcome is logged, a bug included (then re-raised for the boundary's report); a failure
    fails the cell after that.
    """
    session = magics.session
    view = AnswerView(terminal=magics.terminal, fmt=args.format, model=job.model)
    view.open()
    session.on_wait, session.retries_before_call = view.waiting, _retries(client)
    try:
        row = call(client, job, stream=stream, on_delta=view.delta)
    except Exception as exc:
        view.abandon()
        session.log.append(make_row(job.model, job.prompt, status="error", error=describe(exc), extra=job.extra))
        raise
    finally:
        session.on_wait = None
    session.log.append(row)
    if row["status"] == "error" and not row.get("text"):
        view.abandon()
        raise _failure(row, row["error"])
    view.finish(row, error_below=row["status"] == "error")
    if args.chat and row.get("thread_id"):
        session.thread_id = row["thread_id"]
    if row["status"] == "error":
        raise _failure(row, f"{row['error']} (the partial answer is shown above and kept in %freddy log)")
    if row["status"] == "cancelled":
        if row.get("text"):
            return row, f"the partial answer ({len(row['text'])} characters) is shown above and"
        return row, "before the answer began; the cancelled call is"
    return row.mark_shown(row.summary() if magics.terminal else None), None


def _retries(client: AnswerSource) -> int:
    """The client's retries so far (a replayed recording has none)."""
    stats = getattr(client, "stats", None)
    return stats.get("retries", 0) if isinstance(stats, dict) else 0


def _failure(row: Row, message: str) -> FreddyError:
    """An error of the failed call's own class and code, so the boundary can add its remedy."""
    kind, code = row.failure or (FreddyError, None)
    return kind(message, code=code)


def rerun_failed(magics: FreddyMagics, again: rerun.Rerun, stream: bool, args: Namespace) -> tuple[Rows, str | None]:
    """``--only-failed``: the failed rows sent again and merged back in place."""
    if not again.jobs:
        magics.show_text(f"No failed rows in {again.name}: nothing was sent.")
        return Rows(again.earlier, display_limit=magics.display_limit), None
    answers = magics.session.answers()
    try:
        rows, stopped = run_many(magics, answers, again.jobs, stream, args)
    finally:
        for note in answers.notes:
            magics.show_text(note)
    return again.merge(rows), stopped


def run_many(
    magics: FreddyMagics, client: AnswerSource, jobs: list[Job], stream: bool, args: Namespace
) -> tuple[Rows, str | None]:
    """Several models or ``--over`` rows at once: ``(rows, what an interrupt stopped, or None)``;
    fails the cell only when every row failed."""
    over = args.over is not None
    presenter: _Progress | _Answers
    presenter = (
        _Progress(len(jobs), magics.terminal, magics.show, lambda: getattr(magics.session.client, "rate_limit", None))
        if over
        else _Answers(jobs, magics.terminal, args.format, stream)
    )
    concurrency = args.concurrency or (magics.concurrency if over else len(jobs))
    rows, interrupted = run_jobs(
        client,
        jobs,
        concurrency=concurrency,
        stream=stream and not over,
        display_limit=magics.display_limit,
        retry=rerun.RowRetry(magics.max_retries) if over else None,
        **presenter.hooks(),
    )
    magics.session.log.extend(rows)
    result = presenter.finish(rows, interrupted)
    if interrupted:
        finished = sum(row["status"] != "cancelled" for row in rows)
        return result, f"{finished} of {len(rows)} rows finished; all {len(rows)} rows are"
    if rows and all(row["status"] == "error" for row in rows):
        raise _failure(rows[0], f"All {len(rows)} requests failed; the first: {rows[0]['error']}")
    return result, None


class _Progress:
    """``--over``: one progress bar for all rows; the rows themselves are shown as a table (by
    the cell's result, or right away when Ctrl-C stopped the batch, since the cell then fails)."""

    def __init__(
        self, total: int, terminal: bool, show: Callable[[object], None], rate_limit: Callable[[], object]
    ) -> None:
        self.view = ProgressView(total, terminal=terminal, rate_limit=rate_limit)
        self.show = show

    def hooks(self) -> dict[str, Callable[..., object]]:
        return {"on_done": lambda index, row: self.view.step(row)}

    def finish(self, rows: Rows, interrupted: bool) -> Rows:
        finished = sum(row["status"] != "cancelled" for row in rows)
        self.view.finish(f" · interrupted: kept {finished} finished rows" if interrupted else "")
        if interrupted:
            self.show(rows)
        return rows


class _Answers:
    """``-m a,b,c``: one live answer per model, placed in the order the models were asked for."""

    def __init__(self, jobs: list[Job], terminal: bool, fmt: str, stream: bool) -> None:
        self.terminal = terminal
        self.views = [
            AnswerView(terminal=terminal, fmt=fmt, title=job.model or SERVER_DEFAULT, live=stream and not terminal)
            for job in jobs
        ]
        for view in self.views:
            view.open()

    def hooks(self) -> dict[str, Callable[..., object]]:
        views = self.views
        return {
            "on_delta": lambda index, piece: views[index].delta(piece),
            "on_done": lambda index, row: views[index].finish(row),
            "on_idle": self._flush,
        }

    def _flush(self) -> None:
        for view in self.views:
            view.flush()

    def finish(self, rows: Rows, interrupted: bool) -> Rows:
        if not interrupted:
            return rows.mark_shown(" | ".join(row.summary() for row in rows) if self.terminal else None)
        for view, row in zip(self.views, rows):  # unfinished answers keep their text, marked cancelled
            if row["status"] == "cancelled":
                view.finish(row)
        return rows
