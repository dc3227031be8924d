"""The shape of a JSON value (field names and JSON types, never a value), and checks against one.

``%freddy check`` shows a user what the server answered, in a form they can paste into a bug
report: no secret, no answer text, no id. Everything it reports about an answer goes through
:func:`shape`, and every difference from an expectation is worded by :func:`compare` from the
expectation's own field names and type names. A generic schema validator would not do: its
messages quote the offending value. Field names the server chose are shown only when they look
like field names, so a key that happens to be a secret (or any other text) is never echoed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._redaction import looks_like_secret, redact

MAX_DEPTH = 8
MAX_FIELDS = 40
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def type_name(value: object) -> str:
    """The JSON type of ``value``: null, bool, int, float, str, object or array."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return "not JSON"


def field_name(name: object) -> str:
    """A server's field name as shown in a report: itself when it looks like one, else ``<name>``.

    A name that looks like a key or token, or holds a live secret, is never shown.
    """
    if isinstance(name, str) and _NAME.fullmatch(name) and not looks_like_secret(name) and redact(name) == name:
        return name
    return "<name>"


def shape(value: object, depth: int = MAX_DEPTH) -> str:
    """``{models: [{id: str, badge?: str or null}], total_count: int}``: names and types only.

    The items of an array are merged into one shape; a field missing from some items gets a
    ``?`` and a field whose type varies lists each type.
    """
    return _merged([value], depth)


def _merged(values: list[object], depth: int) -> str:
    kinds: dict[str, list[object]] = {}
    for value in values:
        kinds.setdefault(type_name(value), []).append(value)
    parts = []
    for kind, group in kinds.items():
        if kind == "object":
            parts.append(_object(group, depth))
        elif kind == "array":
            items = [item for array in group for item in array]  # type: ignore[attr-defined]
            parts.append("[]" if not items else "[…]" if depth <= 0 else f"[{_merged(items, depth - 1)}]")
        else:
            parts.append(kind)
    return " or ".join(parts)


def _object(objects: list[object], depth: int) -> str:
    if depth <= 0:
        return "{…}"
    fields: dict[str, list[object]] = {}
    for obj in objects:
        for name, value in obj.items():  # type: ignore[attr-defined]
            fields.setdefault(field_name(name), []).append(value)
    shown = list(fields.items())[:MAX_FIELDS]
    parts = [
        f"{name}{'?' if len(values) < len(objects) else ''}: {_merged(values, depth - 1)}" for name, values in shown
    ]
    if len(fields) > MAX_FIELDS:
        parts.append(f"+{len(fields) - MAX_FIELDS} more")
    return "{" + ", ".join(parts) + "}"


# -- expectations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    """An object with these fields; fields not named here are allowed and not checked."""

    fields: dict[str, Field]


@dataclass(frozen=True)
class Arr:
    """An array whose every item matches ``item``."""

    item: Spec


#: A JSON type name (``str``, ``int``, ``float``, ``number``, ``bool``, ``object``, ``array``,
#: ``any``), an :class:`Obj` or an :class:`Arr`.
Spec = str | Obj | Arr


@dataclass(frozen=True)
class Field:
    """One expected field. Absent: a difference when ``required``; tolerated (with the note
    ``tolerated``) when the documentation allows it; ignored when optional. A present field is
    always checked against ``spec``; ``null`` only passes when ``nullable``."""

    spec: Spec
    required: bool = True
    nullable: bool = False
    tolerated: str | None = None


@dataclass
class Findings:
    """What a comparison found: differences (the check fails) and tolerated deviations."""

    differs: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)

    def extend(self, other: Findings) -> None:
        self.differs += other.differs
        self.tolerated += other.tolerated


def describe(spec: Spec, depth: int = MAX_DEPTH) -> str:
    """The expectation in the same notation as :func:`shape`; optional fields are left out."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Arr):
        return f"[{describe(spec.item, depth - 1)}]"
    parts = []
    for name, expected in spec.fields.items():
        if not expected.required and expected.tolerated is None:
            continue
        mark = "?" if expected.tolerated is not None else ""
        kind = describe(expected.spec, depth - 1) + (" or null" if expected.nullable else "")
        parts.append(f"{name}{mark}: {kind}")
    return "{" + ", ".join(parts) + "}"


def compare(spec: Spec, value: object, path: str = "") -> Findings:
    """How ``value`` departs from ``spec``, worded from ``spec`` alone (never from the value)."""
    found = Findings()
    where = path or "the answer"
    if isinstance(spec, Obj):
        if not isinstance(value, Mapping):
            found.differs.append(f"{where}: {type_name(value)}, expected object")
            return found
        for name, expected in spec.fields.items():
            found.extend(_field(expected, value, name, f"{path}.{name}" if path else name))
    elif isinstance(spec, Arr):
        if type_name(value) != "array":
            found.differs.append(f"{where}: {type_name(value)}, expected array")
            return found
        for item in value:  # type: ignore[attr-defined]
            item_found = compare(spec.item, item, f"{path}[]")
            found.differs += [d for d in item_found.differs if d not in found.differs]
            found.tolerated += [t for t in item_found.tolerated if t not in found.tolerated]
    elif not _is(spec, value):
        found.differs.append(f"{where}: {type_name(value)}, expected {spec}")
    return found


def _field(expected: Field, parent: Mapping[str, object], name: str, path: str) -> Findings:
    found = Findings()
    if name not in parent:
        if expected.tolerated is not None:
            found.tolerated.append(expected.tolerated)
        elif expected.required:
            found.differs.append(f"{path}: absent")
        return found
    value = parent[name]
    if value is None and expected.nullable:
        return found
    return compare(expected.spec, value, path)


def _is(kind: str, value: object) -> bool:
    actual = type_name(value)
    if kind == "any":
        return True
    if kind == "number":
        return actual in ("int", "float")
    return actual == kind
