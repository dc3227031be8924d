"""Results are data: every call becomes one flat row of scalars, ready for ``pd.DataFrame``.

Pure on purpose (no IPython, no pandas at import): rows must be usable from scripts, picklable,
and cheap to build for 200-row batches. The rich displays are ``_repr_*`` hooks that IPython
finds by name; the one hook that needs IPython imports it only when it runs.

A magic that already streamed an answer into the cell marks its result "shown" so the
displayhook does not print the same answer a second time; the value still lands in ``_`` and
``Out`` and displays normally the next time someone asks for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.lib.pretty import RepresentationPrinter
    from typing_extensions import Self

    from ._errors import FreddyError

    Bundle = dict[str, Any]

ROW_COLUMNS = (
    "model",
    "prompt",
    "text",
    "response_id",
    "thread_id",
    "stop_reason",
    "blocks",
    "status",
    "error",
    "warning",
    "latency_s",
    "ttft_s",
    "input_tokens",
    "output_tokens",
    "retries",
    "created_at",
    "source",
    "recorded_at",
)
_COMPLETION_FIELDS = (
    "text",
    "response_id",
    "thread_id",
    "stop_reason",
    "blocks",
    "input_tokens",
    "output_tokens",
    "retries",
    "latency_s",
    "ttft_s",
    "source",
    "recorded_at",
)
#: The ``model`` of a row whose request named none and whose answer did not say which answered.
SERVER_DEFAULT = "server default"


def now_iso() -> str:
    """The current time as an ISO-8601 UTC string, the ``created_at`` of a row."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def make_row(
    model: str | None,
    prompt: str,
    *,
    completion: object = None,
    status: str = "ok",
    error: str | None = None,
    text: str | None = None,
    created_at: str | None = None,
    latency_s: float | None = None,
    extra: Mapping[Any, Any] | None = None,
    failure: FreddyError | None = None,
    warning: str | None = None,
) -> Row:
    """One flat row: input columns (``extra``) first, then exactly :data:`ROW_COLUMNS`.

    An input column whose name collides with a result column is kept as ``input_<name>`` so
    neither side is silently overwritten. ``failure`` is the error behind a failed row: only its
    class and code are kept, beside the columns rather than in them, so the magic can still say
    how to fix it while the row stays the plain data it is documented to be. ``warning`` says
    what had to change for the call to be made (text that could not be sent as it was).
    """
    row = Row()
    for key, value in (extra or {}).items():
        row[f"input_{key}" if key in ROW_COLUMNS else key] = value
    result = dict.fromkeys(ROW_COLUMNS)
    if completion is not None:
        result.update({name: getattr(completion, name, None) for name in _COMPLETION_FIELDS})
        result["model"] = getattr(completion, "model", None) or model
    result.update(
        model=result["model"] or model or SERVER_DEFAULT,
        prompt=prompt,
        status=status,
        error=error,
        warning=warning,
        created_at=created_at or now_iso(),
    )
    if text is not None:
        result["text"] = text
    if latency_s is not None and result["latency_s"] is None:
        result["latency_s"] = round(latency_s, 4)
    row.update(result)
    if failure is not None:
        row._failure = (type(failure), getattr(failure, "code", None))
    return row


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """A dict of scalars from an API object: lists of scalars joined, nested values as JSON."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        flat[key] = value
    return flat


def model_rows(models: Iterable[Mapping[str, Any]]) -> Rows:
    """The model catalog as rows, ``key`` first because it is what ``-m`` takes."""
    rows = Rows()
    for model in models:
        flat = flatten(model)
        rows.append(Row({"key": flat.pop("key", None), **flat}))
    return rows


class _ShowOnce:
    """Mixin: skip exactly one display after the magic has shown the content itself.

    ``note`` replaces that one display where something must follow the output prompt (a
    terminal prints ``Out[n]:`` before asking the object to display itself).
    """

    __slots__ = ()
    _shown: bool | str

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> Bundle:
        raise NotImplementedError

    def mark_shown(self, note: str | None = None) -> Self:
        self._shown = note or True  # type: ignore[misc]  # each subclass declares the slot
        return self

    def _ipython_display_(self) -> None:
        from IPython.display import display

        shown, self._shown = getattr(self, "_shown", False), False  # type: ignore[misc]
        if isinstance(shown, str):
            display({"text/plain": shown}, raw=True)
        elif not shown:
            display(self._repr_mimebundle_(), raw=True)


class Row(_ShowOnce, dict):
    """One call's result: a plain ``dict`` of scalars that displays as its answer."""

    __slots__ = ("_failure", "_shown")
    _failure: tuple[type[FreddyError], str | None]

    @property
    def failure(self) -> tuple[type[FreddyError], str | None] | None:
        """``(error class, code)`` of the error behind a failed row, or None."""
        return getattr(self, "_failure", None)

    def summary(self) -> str:
        """One line of provenance: model, status, tokens, latency."""
        used = (self.get("input_tokens"), self.get("output_tokens"))
        # An answer without usage says so: a made-up 0 would read as a free call.
        tokens = "tokens unknown" if used == (None, None) else "+".join(_count(n) for n in used) + " tokens"
        latency = f"{self['latency_s']:.2f} s" if self.get("latency_s") is not None else ""
        return " · ".join(part for part in (self.get("model"), self.get("status"), tokens, latency) if part)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> Bundle:
        text = self.get("text")
        if text is None or "prompt" not in self:
            return {"text/plain": repr(dict(self)), "application/json": dict(self)}
        note = f"\n\n*{self['status']}: {self['error']}*" if self.get("error") else ""
        return {"text/markdown": f"{text}{note}", "text/plain": f"{text}{note}"}


class Rows(_ShowOnce, list):
    """Several rows, in input order; shown as a compact HTML table of the first ``display_limit``.

    ``display_limit=0`` turns the table off: the display is then one line saying how many rows
    there are. Whatever is shown, the value holds every row and every column.
    """

    __slots__ = ("_shown", "display_limit")

    def __init__(self, rows: Iterable[Row] = (), display_limit: int = 10) -> None:
        super().__init__(rows)
        self.display_limit = display_limit

    def _truncation_note(self) -> str:
        if len(self) <= self.display_limit or not self.display_limit:
            return ""
        return (
            f"Showing the first {self.display_limit} of {len(self)} rows "
            f"(FreddyMagics.display_limit); the value holds all of them."
        )

    def _repr_html_(self) -> str | None:
        if not self.display_limit:
            return None
        from ._tables import table_html

        return table_html(self, self.display_limit)

    def _repr_text(self) -> str:
        if not self:
            return "(no rows)"
        from ._tables import summary_line

        if not self.display_limit:
            return f"{summary_line(self)} (table off: FreddyMagics.display_limit = 0)"
        lines = []
        for index, row in enumerate(self[: self.display_limit]):
            label = row.get("model") or row.get("key") or ""
            status = row.get("status") or ""
            text = str(row.get("text") if "text" in row else row.get("name", ""))
            if status not in ("ok", "") and row.get("error"):
                text = str(row["error"])
            lines.append(f"[{index}] {label} {status}: {_one_line(text, 100)}".replace("  ", " "))
        note = self._truncation_note()
        return "\n".join(lines + ([note] if note else []))

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> Bundle:
        table = self._repr_html_()
        text = {"text/plain": self._repr_text()}
        return {"text/html": table, **text} if table is not None else text


class Status(dict):
    """Where the kernel is connected: plain data (fingerprints only), shown as a compact card."""

    def line(self) -> str:
        from ._statuscard import card_text

        return card_text(self)

    def _repr_markdown_(self) -> str:
        from ._statuscard import card_markdown

        return card_markdown(self)

    def _repr_html_(self) -> str:
        from ._statuscard import card_html

        return card_html(self)

    def _repr_pretty_(self, printer: RepresentationPrinter, cycle: bool) -> None:
        printer.text(self.line())


def _count(value: object) -> str:
    return "?" if value is None else str(value)


def _one_line(text: object, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
