"""The HTML table of a list of rows: a short preview a person can read, never the data itself.

A batch row has 17 columns, ids and whole answers among them; shown as they are, a 6-row batch
fills a screen per row. So the table picks what a person reads first (the input columns, model,
status, a one-line excerpt of the answer, latency, tokens), cuts text to one line with an
ellipsis, puts a failed row's error where its answer would be, and scrolls inside a bounded
height. The value keeps every column and every character; this module only draws.

Colours come from JupyterLab's CSS variables (with fallbacks for other front ends), so the
table follows the light and dark themes. Pure: no IPython, no pandas.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ._results import ROW_COLUMNS

# Columns of a call row that the table does not show as their own column: ids, the prompt (the
# input columns say what was asked), fields folded into another cell (error, tokens) and details.
_CALL_HIDDEN = frozenset({*ROW_COLUMNS, "data"})
# What `%freddy models` shows first; other catalog fields stay in the value.
_CATALOG_COLUMNS = ("key", "name", "provider", "capabilities", "availability_status", "context_window")
MAX_INPUT_COLUMNS = 4
# The input columns share one width budget, so the answer keeps most of the row however many
# there are: the inputs are the user's own data, the answer is what they came to read.
_INPUT_EM = {1: 14, 2: 10, 3: 8, 4: 7}  # the most each of n input columns takes, in em
_NARROW_EM = {1: 8, 2: 6, 3: 4, 4: 4}  # the same in a notebook narrower than 760 px
_CHARS = 160  # a cell never carries more text than this into the page (CSS cuts it to the width)


def _input_widths(ems: Mapping[int, int]) -> str:
    return "\n".join(f".freddy-table table.freddy-in{n} .freddy-input{{max-width:{em}em}}" for n, em in ems.items())


# Scoped to the table's wrapper; two classes beat JupyterLab's `.jp-RenderedHTMLCommon td`
# (right-aligned, padded) so the layout is the same in every front end.
_STYLE = """<style>
.freddy-table{max-height:22em;overflow:auto;max-width:100%;margin:0;container-type:inline-size}
.freddy-table table.freddy-rows{border-collapse:collapse;table-layout:auto;width:100%;margin:0;
 font-size:var(--jp-ui-font-size1,13px);color:var(--jp-ui-font-color1,inherit)}
.freddy-table table.freddy-rows th,.freddy-table table.freddy-rows td{text-align:left;padding:2px 8px 2px 0;
 white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:8em;border:none;vertical-align:top;
 border-bottom:1px solid var(--jp-border-color2,#e0e0e0);background:transparent}
.freddy-table table.freddy-rows thead th{position:sticky;top:0;font-weight:600;
 background:var(--jp-layout-color0,#fff);color:var(--jp-ui-font-color1,inherit)}
/* the answer takes the width the other columns leave, and is cut there with an ellipsis */
.freddy-table table.freddy-rows td.freddy-excerpt{width:100%;max-width:0;min-width:6em}
.freddy-table table.freddy-rows td.freddy-num,.freddy-table table.freddy-rows th.freddy-num{text-align:right;
 font-variant-numeric:tabular-nums}
.freddy-table table.freddy-rows td.freddy-index{color:var(--jp-ui-font-color2,#616161)}
.freddy-table table.freddy-rows tr.freddy-failed td.freddy-error{color:var(--jp-error-color1,#b00020)}
/* no zebra stripes: one-line rows read well with rules, and a stripe would lower the error's contrast */
.freddy-table table.freddy-rows tbody tr,.freddy-table table.freddy-rows tbody tr:hover{background:transparent}
%INPUT_WIDTHS%
/* a narrow notebook (a side panel open on a small screen) keeps the answer in view: the inputs
   narrow further and the numbers give way; the value and each answer's footer still hold them */
@container (max-width: 760px){%NARROW_WIDTHS%
 .freddy-table table.freddy-rows .freddy-num{display:none}}
.freddy-note{margin:4px 0 0;font-size:var(--jp-ui-font-size1,13px);color:var(--jp-ui-font-color2,#616161)}
</style>"""
_STYLE = _STYLE.replace("%INPUT_WIDTHS%", _input_widths(_INPUT_EM)).replace(
    "%NARROW_WIDTHS%", _input_widths(_NARROW_EM)
)


def table_html(rows: Sequence[Mapping[str, Any]], limit: int) -> str:
    """The first ``limit`` rows as a compact table, then a line saying how many there are."""
    shown = rows[:limit]
    calls = any("prompt" in row for row in rows)
    inputs, left_out = _input_columns(rows) if calls else ([], [])
    columns = _call_columns(rows, inputs) if calls else _other_columns(rows)
    numeric = {"latency", "tokens", "context_window"}
    head = "<th></th>" + "".join(f"<th{_classes(c, numeric, inputs)}>{html.escape(c)}</th>" for c in columns)
    body = []
    for index, row in enumerate(shown):
        failed = calls and row.get("status") not in ("ok", None)
        cells = "".join(_td(column, row, numeric, inputs) for column in columns)
        attrs = " class='freddy-failed'" if failed else ""
        body.append(f"<tr{attrs}><td class='freddy-index'>{index}</td>{cells}</tr>")
    summary = _summary(rows, calls, limit)
    if left_out:
        summary += f" · not shown: {', '.join(left_out)}"
    return (
        f"{_STYLE}<div class='freddy-table'><table class='freddy-rows freddy-in{len(inputs)}'>"
        f"<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div><p class='freddy-note'>{html.escape(summary)}</p>"
    )


def summary_line(rows: Sequence[Mapping[str, Any]]) -> str:
    """``6 rows · 1 failed``: what a switched-off table still says."""
    return _summary(rows, any("prompt" in row for row in rows), len(rows))


def _summary(rows: Sequence[Mapping[str, Any]], calls: bool, limit: int) -> str:
    """``6 rows · 1 failed``, or ``Showing the first 10 of 60 rows · 3 failed · ...`` when cut."""
    cut = len(rows) > limit
    parts = [f"Showing the first {limit} of {len(rows)} rows" if cut else f"{len(rows)} row{'s' * (len(rows) != 1)}"]
    failed = sum(row.get("status") not in ("ok", None) for row in rows) if calls else 0
    if failed:
        parts.append(f"{failed} failed")
    if cut:
        parts.append("the value holds all of them (FreddyMagics.display_limit)")
    return " · ".join(parts)


def _hidden_input(name: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Ids, and columns whose values are long (a whole document is no preview)."""
    if name == "id" or name.endswith("_id"):
        return True
    return all(isinstance(row.get(name), str) and len(row[name]) > 200 for row in rows if row.get(name) is not None)


def _columns_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, None]:
    """Every column of ``rows``, in the order first seen (a dict keeps it, and answers ``in`` fast)."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return seen


def _input_columns(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The input columns shown, and those left out for room (the value still holds them)."""
    seen = _columns_of(rows)
    inputs = [c for c in seen if c not in _CALL_HIDDEN and not _hidden_input(c, rows)]
    return inputs[:MAX_INPUT_COLUMNS], inputs[MAX_INPUT_COLUMNS:]


def _call_columns(rows: Sequence[Mapping[str, Any]], inputs: list[str]) -> list[str]:
    columns = [*inputs, "model", "status", "latency", "tokens"]
    if len({row.get("source") for row in rows}) > 1:
        columns.append("source")
    return [*columns, "answer"]  # last: it takes the width that is left, and is cut there


def _other_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen = _columns_of(rows)
    known = [c for c in _CATALOG_COLUMNS if c in seen]
    if known:
        return known
    return [c for c in seen if not _hidden_input(c, rows)][:MAX_INPUT_COLUMNS]


def _classes(column: str, numeric: set[str], inputs: list[str], extra: Sequence[str] = ()) -> str:
    css = [*extra, *["freddy-num"] * (column in numeric), *["freddy-input"] * (column in inputs)]
    return f" class='{' '.join(css)}'" if css else ""


def _td(column: str, row: Mapping[str, Any], numeric: set[str], inputs: list[str]) -> str:
    value, title, css = _value(column, row), "", []
    if column == "answer":
        css.append("freddy-excerpt")
        failed = row.get("status") not in ("ok", None)
        if failed:
            css.append("freddy-error")
        full = str(row.get("error") if failed else row.get("text") or "")
        title = _one_line(full, _CHARS * 2)
    elif column == "status" and row.get("status") not in ("ok", None):
        css.append("freddy-error")
    attrs = _classes(column, numeric, inputs, css) + (f" title='{html.escape(title)}'" if title else "")
    return f"<td{attrs}>{html.escape(value)}</td>"


def _value(column: str, row: Mapping[str, Any]) -> str:
    if column == "answer":
        failed = row.get("status") not in ("ok", None)
        text = row.get("error") if failed else row.get("text")
        return _one_line(text or "", _CHARS)
    if column == "latency":
        latency = row.get("latency_s")
        return f"{latency:.2f} s" if isinstance(latency, (int, float)) else ""
    if column == "tokens":
        return tokens_text(row)
    value = row.get(column)
    return "" if value is None else _one_line(value, _CHARS)


def tokens_text(row: Mapping[str, Any]) -> str:
    """``12 → 80`` (input → output); a count the API did not give is "?", never 0."""
    given, produced = row.get("input_tokens"), row.get("output_tokens")
    if given is None and produced is None:
        return "" if row.get("status") not in ("ok", None) else "unknown"
    return f"{'?' if given is None else given} → {'?' if produced is None else produced}"


def _one_line(text: object, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
