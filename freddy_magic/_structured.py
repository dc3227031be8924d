"""Structured answers: the ``--fields`` spec, the instruction that asks for it, the reading of
an answer into checked, coerced values, and :class:`Shape`, which puts that reading into a row
(a plain dict) and asks again while it is invalid. No IPython, no HTTP: the caller passes the
function that asks again.

The Freddy API takes ``output_mode: "json"`` but has no JSON-schema mode yet, so the keys and
types travel as text: :func:`instruction` appends one paragraph to the system instructions. Its
format is the contract the sandbox's fake models read (``sandbox/_jsonmode.py``), so it is fixed
here, in one place::

    Answer with one JSON object and nothing else: no Markdown fence, no text before or after it.
    Its keys, each with the JSON type of its value:
    - "sentiment": string
    - "score": number
    - "note": string (optional: leave the key out when there is nothing to give)

one ``- "<key>": <type>`` line per field, the type one of ``string``, ``integer``, ``number``,
``boolean``, ``array``, ``object``, and `` (optional...`` after the type of a ``?`` field. Without
``--fields`` the paragraph is the first sentence with "one JSON value" in place of "one JSON object".

Reading an answer (:func:`read`) is strict on purpose. The whole answer must be JSON, or JSON in
a Markdown fence (the first fence; text around it is ignored), or JSON that ends the answer after
some prose ("Here it is: {...}"). Nothing else is guessed: no trailing text after bare JSON, no
repaired quotes or commas, no ``NaN``. The coercions are few and lossless: a number for a ``str``
field becomes its text; a whole number (``3`` or ``3.0``, or the text ``"3"``) for ``int``; a
number or numeric text for ``float``; ``true``/``false`` (or that text) for ``bool``; ``list``
and ``dict`` take only an array and an object. A ``?`` field may be missing or null (None); any
other field missing, null or of another type makes the answer invalid, with a one-line reason
naming the field. Keys the model adds beyond the fields are kept in the parsed object only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError
from ._redaction import redact

if TYPE_CHECKING:
    import threading

    from ._results import Row

#: ``--fields`` type -> the JSON type named in the instruction.
TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array", "dict": "object"}
DATA_COLUMN = "data"
RETRIES_COLUMN = "retries_invalid"
_OPTIONAL_NOTE = " (optional: leave the key out when there is nothing to give)"
_ONE = "Answer with one JSON {what} and nothing else: no Markdown fence, no text before or after it."
_KEYS = "Its keys, each with the JSON type of its value:"
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n`]*\n(.*?)```", re.S)  # no backtracking over ``` runs
_INT_TEXT = re.compile(r"[-+]?[0-9]{1,300}", re.ASCII)
_FLOAT_TEXT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
_SHOWN_CHARS = 40  # of a value quoted in a reason


@dataclass(frozen=True)
class Field:
    """One ``--fields`` entry: a column name, its type (a key of :data:`TYPES`), may it be missing."""

    name: str
    type: str
    optional: bool = False


@dataclass(frozen=True)
class Reading:
    """What an answer held: the parsed JSON (``data``), the fields' coerced ``values``, and the
    ``problem`` (one line) when the answer is invalid, in which case ``values`` is empty."""

    data: Any = None
    values: dict[str, Any] | None = None
    problem: str | None = None


def parse_fields(spec: str) -> tuple[Field, ...]:
    """``"sentiment:str, score:float, note?:str"`` -> fields; ConfigError names what is wrong.
    The ``?`` of a field that may be missing goes after the name or after the type (``note:str?``).

    An entry that is malformed is named by its position, not repeated: a magic line is echoed
    only where it is known to be a field name.
    """
    entries = [entry.strip() for entry in spec.split(",")]
    if not any(entries):
        raise ConfigError('--fields needs at least one name:type, e.g. --fields "sentiment:str, score:float"')
    fields: list[Field] = []
    for position, entry in enumerate(entries, start=1):
        name, colon, kind = (part.strip() for part in entry.partition(":"))
        optional = name.endswith("?") or kind.endswith("?")
        name, kind = name.removesuffix("?").strip(), kind.removesuffix("?").strip()
        if not colon or not name.isidentifier() or len(name) > 64:
            raise ConfigError(
                f"--fields entry {position} must be name:type with a name of letters, digits and _ "
                '(add ? after the name for a field that may be missing: "note?:str")'
            )
        if kind not in TYPES:
            raise ConfigError(f"--fields entry {position} ({name}) needs a type, one of {', '.join(TYPES)}")
        if any(field.name == name for field in fields):
            raise ConfigError(f"--fields names {name} twice")
        fields.append(Field(name, kind, optional))
    return tuple(fields)


def instruction(fields: tuple[Field, ...] | None) -> str:
    """The paragraph that asks for JSON (and for ``fields``), in the format of the module docstring."""
    if not fields:
        return _ONE.format(what="value")
    lines = [_ONE.format(what="object"), _KEYS]
    for field in fields:
        lines.append(f'- "{field.name}": {TYPES[field.type]}{_OPTIONAL_NOTE if field.optional else ""}')
    return "\n".join(lines)


def columns(fields: tuple[Field, ...] | None) -> tuple[str, ...]:
    """The columns a structured answer adds to a row: the parsed object, then each field."""
    return (DATA_COLUMN, *(field.name for field in fields or ()))


def check_clashes(fields: tuple[Field, ...] | None, taken: set[str], what: str) -> None:
    """ConfigError when a field (or the ``data`` column) would overwrite a column of ``taken``."""
    if any(field.name == DATA_COLUMN for field in fields or ()):
        raise ConfigError(
            f"--fields {DATA_COLUMN} clashes with the row column {DATA_COLUMN}, which holds the whole answer: "
            "rename the field"
        )
    for name in columns(fields):
        if name in taken:
            raise ConfigError(
                f"--fields {name} clashes with the {what} column {name}: rename the field or the column"
                if name != DATA_COLUMN
                else f"--json adds a column named {DATA_COLUMN}, and {what} already has one: rename that column"
            )


# -- reading answers ---------------------------------------------------------------------------


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:_SHOWN_CHARS]} is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_refuse_constant)


def _decode_at(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON value starting at ``start`` and where it ends, or None."""
    try:
        return _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None


def _problem(text: str) -> str:
    """Why ``text`` is not JSON, in one line."""
    try:
        _DECODER.decode(text)
    except RecursionError:
        return "the answer is not JSON (nested too deeply)"
    except ValueError as exc:
        return f"the answer is not JSON ({str(exc).splitlines()[0][:80]})"
    return "the answer is not JSON"


def extract(text: str) -> tuple[Any, str | None]:
    """``(value, None)`` for an answer that is JSON, fenced JSON or prose then JSON (see the
    module docstring), else ``(None, reason)``."""
    body = text.strip()
    whole = _decode_at(body, 0) if body else None
    if whole is not None and whole[1] == len(body):
        return whole[0], None
    fence = _FENCE.search(text)
    if fence is not None and fence.group(1).lower() in ("", "json"):
        inner = fence.group(2).strip()
        found = _decode_at(inner, 0) if inner else None
        if found is not None and found[1] == len(inner):
            return found[0], None
        return None, _problem(inner).replace("the answer is", "the fenced block is")
    if body and body[-1] in "]}":
        opener = "[" if body[-1] == "]" else "{"
        start = body.find(opener, 1)
        while start != -1:
            found = _decode_at(body, start)
            if found is not None and found[1] == len(body):
                return found[0], None
            start = body.find(opener, start + 1)
    if not body:
        return None, "the answer is empty, not JSON"
    first = min((at for at in (body.find("{"), body.find("[")) if at != -1), default=0)
    return None, _problem(body[first:])  # what is wrong where the JSON seems to start


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _coerce(value: Any, kind: str) -> tuple[Any, bool]:
    """``(coerced, True)``, or ``(None, False)`` when ``value`` does not fit ``kind``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str":
        if isinstance(value, str):
            return value, True
        return (json.dumps(value), True) if number else (None, False)
    if kind == "int":
        if number and (isinstance(value, int) or value.is_integer()):
            return int(value), True
        if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
            return int(value.strip()), True
        return None, False
    if kind == "float":
        text = str(value).strip() if number or isinstance(value, str) else ""
        parsed = float(text) if _FLOAT_TEXT.fullmatch(text) else math.inf  # float(10**400) would raise
        return (parsed, True) if math.isfinite(parsed) else (None, False)
    if kind == "bool":
        if isinstance(value, bool):
            return value, True
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", True
        return None, False
    wanted = list if kind == "list" else dict
    return (value, True) if isinstance(value, wanted) else (None, False)


def read(text: str, fields: tuple[Field, ...] | None) -> Reading:
    """Parse ``text`` and, with ``fields``, check and coerce each one (see the module docstring)."""
    data, problem = extract(text)
    if problem is not None:
        return Reading(problem=problem)
    if not fields:
        return Reading(data=data, values={})
    if not isinstance(data, dict):
        kind = "a JSON array" if isinstance(data, list) else f"the JSON value {_shown(data)}"
        return Reading(data=data, problem=f"the answer is {kind}, not an object with the fields")
    values: dict[str, Any] = {}
    for field in fields:
        if field.name not in data or data[field.name] is None:
            if field.optional:
                values[field.name] = None
                continue
            gone = "missing" if field.name not in data else "null"
            return Reading(data=data, problem=f"field {field.name} is {gone}")
        value, fits = _coerce(data[field.name], field.type)
        if not fits:
            return Reading(
                data=data,
                problem=f"field {field.name}: expected {TYPES[field.type]}, got {_shown(data[field.name])}",
            )
        values[field.name] = value
    return Reading(data=data, values=values)


# -- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What a ``--json`` cell asks of every answer: the ``fields`` (None: any JSON) and how often
    an invalid answer is asked again (``retries``; None when ``--retries-invalid`` was not given,
    and then the row has no column for it)."""

    fields: tuple[Field, ...] | None = None
    retries: int | None = None

    def apply(self, row: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """Add the structured columns to ``row``; an ``ok`` answer that does not read becomes
        ``status="invalid"`` with the reason in ``error``, its text kept. Other rows get None."""
        if row.get("status") != "ok":
            row.update(dict.fromkeys(columns(self.fields)))
            return row
        reading = read(row.get("text") or "", self.fields)
        row[DATA_COLUMN] = reading.data
        for field in self.fields or ():
            row[field.name] = reading.values[field.name] if reading.values is not None else None
        if reading.problem is not None:
            cut = (
                "; the answer stopped at the output limit (--max-tokens)"
                if row.get("stop_reason") == "max_tokens"
                else ""
            )
            row["status"], row["error"] = "invalid", redact(reading.problem + cut)
        return row

    def settle(self, row: Row, again: Callable[[Row], Row], stop: threading.Event | None = None) -> Row:
        """``row`` read; while it is invalid, ask ``again(invalid_row)`` up to ``retries`` times
        (not once ``stop`` is set). The last answer is the row; it says how often it was asked again."""
        self.apply(row)
        asked = 0
        while row["status"] == "invalid" and asked < (self.retries or 0) and not (stop is not None and stop.is_set()):
            asked += 1
            row = again(row)
            self.apply(row)
        if self.retries is not None:
            row[RETRIES_COLUMN] = asked
            if row["status"] == "invalid" and asked:
                row["error"] = f"{row['error']} (asked {asked + 1} times)"
        return row
