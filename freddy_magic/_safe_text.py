"""Text that can cross the wire: no lone surrogates, ever, in what is sent, shown or logged.

Python strings may hold lone UTF-16 surrogates (``'\\ud83d'``, half an emoji), from a JSON escape,
a file read with ``surrogateescape`` or a DataFrame built from a broken CSV. Nothing can encode
them as UTF-8: the request body, the display message jupyter_client serialises and every later
``%freddy log`` that holds the row would fail with an encoding error wall. So text is made safe
once, where it enters: a cell's prompt, instructions and input columns before a request is
built, and every JSON answer as it is decoded. A surrogate pair is joined into the character it
stands for; a lone surrogate becomes U+FFFD (the replacement character), and the caller says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPED_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def wire_safe(text: str) -> tuple[str, int]:
    """``(text fit for UTF-8, number of lone surrogates replaced)``; pairs become their character."""
    if not _SURROGATE.search(text):
        return text, 0
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return joined, joined.count(REPLACEMENT) - text.count(REPLACEMENT)


def safe(text: str) -> str:
    """``text`` fit for UTF-8 (see :func:`wire_safe`), for places that need no count."""
    return wire_safe(text)[0]


def safe_value(value: Any) -> Any:
    """A decoded JSON value with every string (keys too) made wire-safe; other values as they are."""
    if isinstance(value, str):
        return safe(value)
    if isinstance(value, list):
        return [safe_value(item) for item in value]
    if isinstance(value, dict):
        return {safe(key) if isinstance(key, str) else key: safe_value(item) for key, item in value.items()}
    return value


def loads(data: bytes | str) -> Any:
    """``json.loads`` whose strings are wire-safe.

    Only a ``\\uD800``-``\\uDFFF`` escape can put a surrogate into decoded JSON (raw surrogate
    bytes are not valid UTF-8 and fail to decode), so a body without one is not walked.
    """
    value = json.loads(data)
    if isinstance(data, str):
        risky = bool(_ESCAPED_SURROGATE.search(data) or _SURROGATE.search(data))
    else:
        risky = bool(_ESCAPED_SURROGATE_BYTES.search(data))
    return safe_value(value) if risky else value
