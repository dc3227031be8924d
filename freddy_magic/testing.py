"""Canary kit: prove that a notebook run leaks no secret (a pytest plugin for course authors).

A leak check is only as strong as its search. A secret that escapes rarely escapes verbatim: a
server echoes it URL-encoded, a JSON writer escapes it, Basic auth base64-encodes ``x:<key>``, a
Windows tool writes UTF-16, ``%whos`` prints a middle-snipped slice, SQLite splits a long row
across overflow pages. So the kit plants a fresh random canary and searches for every one of
those forms, in strings, bytes, files, whole directory trees, notebooks and SQLite databases.

Use it from pytest::

    pytest -p freddy_magic.testing            # or: pytest_plugins = ["freddy_magic.testing"]

    def test_my_course_notebook_leaks_nothing(freddy_canary, tmp_path):
        env = {"FREDDY_API_KEY": freddy_canary.value}
        ...  # run the notebook with that environment, save it into tmp_path
        freddy_canary.assert_absent(tmp_path)

or without the fixture: ``canary = make_canary()`` then ``assert_no_canary([path, text], canary)``.
This module imports pytest, so the package never imports it: only pytest loads it as a plugin.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union
from urllib.parse import quote, quote_plus

import pytest

__all__ = ["Canary", "Leak", "assert_no_canary", "canary_variants", "find_canary", "make_canary"]

PREFIX = "fm-canary-"  # marks a planted secret in any report; shared by every canary, so never searched alone
RANDOM_CHARS = 6  # 24 bits: two canaries share such a window about once in 16 million pairs
WINDOW = 12  # shortest slice that counts as a leak; shorter ones start matching ordinary text
_CONTEXT = 24

_planted_lock = threading.Lock()
_planted: list[str] = []  # every canary this process made: the default search set of assert_no_canary


#: What :func:`find_canary` searches: text, bytes, a path (file or directory), a message dict,
#: or a list or tuple of those.
Target = Union[str, bytes, "os.PathLike[str]", "dict[str, Any]", "list[Any]", "tuple[Any, ...]"]


def make_canary(prefix: str = PREFIX) -> str:
    """A fresh random secret: ``fm-canary-`` and 32 hex digits. Remembered for assert_no_canary."""
    value = prefix + secrets.token_hex(16)
    with _planted_lock:
        _planted.append(value)
    return value


def _base64_cores(raw: bytes, altchars: bytes | None = None) -> list[bytes]:
    """base64 of ``raw`` at each of the three byte alignments it can take inside a larger blob.

    Only the characters that depend on ``raw`` alone are kept, so the needle matches wherever
    the secret sits in an encoded header or body (``x:<key>`` shifts it by two bytes).
    """
    cores = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw, altchars=altchars)
        start = 4 if pad else 0
        tail = (pad + len(raw)) % 3
        end = len(encoded) - 4 if tail else len(encoded)
        cores.append(encoded[start:end])
    return cores


def canary_variants(canary: str, *, window: int = WINDOW) -> dict[str, bytes]:
    """Map a label to each byte string whose presence means the canary leaked."""
    raw = canary.encode("utf-8")
    found = {
        "raw": raw,
        "url-encoded": quote(canary, safe="").encode(),
        "url-encoded-plus": quote_plus(canary).encode(),
        "json-escaped": json.dumps(canary)[1:-1].encode(),
        "json-ascii-escaped": json.dumps(canary, ensure_ascii=True)[1:-1].encode(),
        "base64": base64.b64encode(raw),
        "base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
        "base64 of x:<canary>": base64.b64encode(b"x:" + raw),
        "utf-16-le": canary.encode("utf-16-le"),
        "hex": raw.hex().encode(),
    }
    for alignment, core in enumerate(_base64_cores(raw)):
        found[f"base64 at alignment {alignment}"] = core
    for alignment, core in enumerate(_base64_cores(raw, altchars=b"-_")):
        found[f"base64url at alignment {alignment}"] = core
    # A window must hold at least RANDOM_CHARS characters past the shared prefix: with fewer,
    # "fm-canary-" plus a digit or two would match one canary in 256 of another's.
    first = max(len(PREFIX) + RANDOM_CHARS - window, 0) if canary.startswith(PREFIX) else 0
    for start in range(first, max(len(canary) - window, first) + 1):
        piece = canary[start : start + window]
        found.setdefault(f"substring [{start}:{start + window}]", piece.encode("utf-8"))
    # Too-short needles match ordinary bytes; a secret shorter than the window is reported raw only.
    return {label: needle for label, needle in found.items() if needle and len(needle) >= min(window, len(raw))}


@dataclass(frozen=True)
class Leak:
    """One place a canary form was found: where, which form, at what offset, with context."""

    where: str
    variant: str
    offset: int
    context: str

    def __str__(self) -> str:
        return f"{self.where}: {self.variant} at offset {self.offset}: ...{self.context}..."


def _mask(blob: bytes, offset: int, length: int) -> str:
    """Context around a hit, with the hit itself masked so the report does not spread it."""
    before = blob[max(0, offset - _CONTEXT) : offset]
    after = blob[offset + length : offset + length + _CONTEXT]
    text = before + b"<CANARY>" + after
    return text.decode("utf-8", "backslashreplace")


def _scan_bytes(blob: bytes, where: str, variants: dict[str, bytes]) -> list[Leak]:
    leaks = []
    for label, needle in variants.items():
        offset = blob.find(needle)
        if offset >= 0:
            leaks.append(Leak(where, label, offset, _mask(blob, offset, len(needle))))
    return leaks


def _sqlite_text(path: Path) -> bytes:
    """Every cell of every table, so rows split across overflow pages are searched whole."""
    uri = Path(path).resolve().as_uri() + "?mode=ro&immutable=1"
    parts: list[str] = []
    try:
        connection = sqlite3.connect(uri, uri=True)
        try:
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for row in connection.execute(f'SELECT * FROM "{table}"'):
                    parts.extend(repr(cell) for cell in row)
        finally:
            connection.close()
    except sqlite3.Error as exc:  # a half-written database is still searched byte-wise
        parts.append(f"<unreadable sqlite: {type(exc).__name__}>")
    return "\n".join(parts).encode("utf-8", "surrogatepass")


def _scan_file(path: Path, variants: dict[str, bytes]) -> list[Leak]:
    try:
        blob = Path(path).read_bytes()
    except FileNotFoundError:  # deleted since it was listed: nothing is left to leak from
        return []
    except OSError as exc:
        return [Leak(str(path), f"unreadable: {type(exc).__name__}", -1, "")]
    leaks = _scan_bytes(blob, str(path), variants)
    if blob.startswith(b"SQLite format 3\0"):
        leaks += _scan_bytes(_sqlite_text(path), f"{path} (sqlite rows)", variants)
    return leaks


def _files(target: os.PathLike[str], ignore: set[Path]) -> Iterator[Path]:
    root = Path(target)
    if root.is_dir():
        for dirpath, _dirs, names in os.walk(root, followlinks=False):
            for name in sorted(names):
                path = Path(dirpath, name)
                if not path.is_symlink() and path.resolve() not in ignore:
                    yield path
    elif root.resolve() not in ignore:
        yield root


def find_canary(
    targets: Target, canary: str | Iterable[str] | None = None, *, ignore: Iterable[str | os.PathLike[str]] = ()
) -> list[Leak]:
    """Every :class:`Leak` of ``canary`` (default: every planted canary) in ``targets``.

    A target is a ``str`` or ``bytes`` blob, a ``pathlib.Path`` (a file, or a directory searched
    recursively; SQLite files are also searched row by row), or a list/tuple of those. Plain
    strings are blobs, not paths: pass ``Path`` objects for files. Dicts (a Jupyter message, a
    log record's fields) are searched as JSON and as repr. ``ignore`` lists paths that
    hold the secret on purpose (the ``.env`` a test planted it in).
    """
    if canary is None:
        with _planted_lock:
            canaries = list(_planted)
    else:
        canaries = [canary] if isinstance(canary, str) else list(canary)
    if not isinstance(targets, (list, tuple)):
        targets = [targets]
    skip = {Path(p).resolve() for p in ignore}
    leaks: list[Leak] = []
    for value in canaries:
        variants = canary_variants(value)
        for index, target in enumerate(targets):
            if isinstance(target, os.PathLike):
                for path in _files(target, skip):
                    leaks += _scan_file(path, variants)
            elif isinstance(target, bytes):
                leaks += _scan_bytes(target, f"blob #{index}", variants)
            elif isinstance(target, (dict, list, tuple)):  # a message or record: its JSON and its repr
                text = json.dumps(target, default=repr) + "\n" + repr(target)
                leaks += _scan_bytes(text.encode("utf-8", "surrogatepass"), f"object #{index}", variants)
            else:
                leaks += _scan_bytes(str(target).encode("utf-8", "surrogatepass"), f"text #{index}", variants)
    return leaks


def assert_no_canary(
    targets: Target, canary: str | Iterable[str] | None = None, *, ignore: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """Fail with every place found if any form of the canary appears in ``targets``."""
    leaks = find_canary(targets, canary, ignore=ignore)
    if leaks:
        listing = "\n  ".join(str(leak) for leak in leaks[:50])
        more = f"\n  ... and {len(leaks) - 50} more" if len(leaks) > 50 else ""
        raise AssertionError(f"canary leaked in {len(leaks)} place(s):\n  {listing}{more}")


class Canary:
    """A planted secret plus its search: ``value``, ``variants``, ``find()``, ``assert_absent()``."""

    __slots__ = ("value", "variants")

    def __init__(self, value: str | None = None) -> None:
        self.value = value or make_canary()
        self.variants = canary_variants(self.value)

    def __repr__(self) -> str:
        return f"<Canary {self.value[:12]}...>"

    def find(self, *targets: Target, ignore: Sequence[str | os.PathLike[str]] = ()) -> list[Leak]:
        return find_canary(list(targets), self.value, ignore=ignore)

    def assert_absent(self, *targets: Target, ignore: Sequence[str | os.PathLike[str]] = ()) -> None:
        assert_no_canary(list(targets), self.value, ignore=ignore)


@pytest.fixture
def freddy_canary() -> Canary:
    """A fresh :class:`Canary` per test."""
    return Canary()
