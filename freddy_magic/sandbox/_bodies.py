"""Request bodies: size cap, content type, JSON parsing and typed field access -> 422 envelopes.

Bad input must end in the documented envelope, never in a crash, a hang or a traceback, so
every way a body can be wrong (too big, not JSON, not an object, NaN, nesting bombs, wrong
field types) is turned into an :class:`~.envelope.ApiError` here, in one place.
"""

from __future__ import annotations

import json
import math

from werkzeug.exceptions import ClientDisconnected

from ._envelope import ApiError, invalid

MAX_BODY_BYTES = 2 * 1024 * 1024


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def read_json(request, *, required=True, cap=MAX_BODY_BYTES):
    """The body as a dict; ``None`` when absent and not ``required``."""
    length = request.content_length
    if length is not None and length > cap:
        raise _too_large(cap)
    try:
        data = request.stream.read(cap + 1)
    except (OSError, ClientDisconnected):
        data = None
    if data is None:
        raise ApiError(
            400,
            "MALFORMED_REQUEST",
            "The request body could not be read.",
            "Malformed chunked encoding or body shorter than Content-Length",
        )
    if len(data) > cap:
        raise _too_large(cap)
    if not data.strip():
        if required:
            raise invalid(None, "Request body is required", "VALIDATION_ERROR", kind="missing")
        return None
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise invalid(None, "Content-Type must be application/json", "VALIDATION_ERROR", kind="content_type")
    try:
        body = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        body = ValueError
    if body is ValueError:
        raise invalid(None, "Request body is not valid JSON", "VALIDATION_ERROR", kind="json_invalid")
    if not isinstance(body, dict):
        raise invalid(None, "Request body must be a JSON object", "VALIDATION_ERROR", kind="model_type")
    if b"\\u" in data and not _is_unicode(body):
        problem = "Request body holds a lone UTF-16 surrogate, which is not text"
        raise invalid(None, problem, "VALIDATION_ERROR", kind="string_unicode")
    return body


def _is_unicode(body):
    """False when a ``\\ud800``-style escape left half a character in the body. A pydantic-validated
    API refuses such a string (``string_unicode``) rather than store or answer it."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_large(cap):
    return ApiError(
        413,
        "REQUEST_TOO_LARGE",
        "The request is too large.",
        f"Request body exceeds the {cap} byte limit",
        details={"max_bytes": cap},
    )


def reject_unknown(body, allowed, prefix=""):
    for name in body:
        if name not in allowed:
            raise invalid(prefix + name, f"Unknown field '{prefix + name}'", "VALIDATION_ERROR", kind="extra_forbidden")


def get_str(body, name, *, required=False, max_len=None, field=None):
    field = field or name
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(field, f"Field '{field}' is required", "VALIDATION_ERROR", kind="missing")
        return None
    if not isinstance(value, str):
        raise invalid(field, f"Field '{field}' must be a string", "VALIDATION_ERROR", kind="string_type")
    if max_len is not None and len(value) > max_len:
        raise invalid(field, f"Field '{field}' must be at most {max_len} characters", kind="string_too_long")
    return value


def get_bool(body, name, default=None):
    value = body.get(name, default)
    if value is None or isinstance(value, bool):
        return value
    raise invalid(name, f"Field '{name}' must be a boolean", "VALIDATION_ERROR", kind="bool_type")


def get_number(body, name, lo, hi):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(name, f"Field '{name}' must be a number", "VALIDATION_ERROR", kind="float_type")
    if not lo <= value <= hi:
        raise invalid(name, f"Field '{name}' must be between {lo} and {hi}", kind="range")
    return float(value)


def get_int(body, name, minimum):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, f"Field '{name}' must be an integer", "VALIDATION_ERROR", kind="int_type")
    if value < minimum:
        raise invalid(name, f"Field '{name}' must be at least {minimum}", kind="greater_than_equal")
    return value


def get_list(body, name, *, max_items=None, field=None):
    field = field or name
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid(field, f"Field '{field}' must be an array", "VALIDATION_ERROR", kind="list_type")
    if max_items is not None and len(value) > max_items:
        raise invalid(field, f"Field '{field}' allows at most {max_items} items", kind="too_long")
    return value


def get_object(body, name, *, field=None):
    field = field or name
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(field, f"Field '{field}' must be an object", "VALIDATION_ERROR", kind="dict_type")
    return value


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def query_bool(args, name, default):
    """FastAPI's lenient boolean query parsing; anything else is a 422."""
    raw = args.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ApiError(
        422,
        "VALIDATION_ERROR",
        f"Query parameter '{name}' must be a boolean",
        details={
            "field": name,
            "errors": [{"loc": ["query", name], "msg": "must be a boolean", "type": "bool_parsing"}],
        },
    )


def query_int(args, name, default, lo, hi):
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            f"Query parameter '{name}' must be an integer between {lo} and {hi}",
            details={"field": name, "errors": [{"loc": ["query", name], "msg": "out of range", "type": "int_parsing"}]},
        )
    return value
