"""Error envelopes and JSON responses exactly as the Freddy API shapes them.

Every handler raises :class:`ApiError`; the dispatcher turns it into the documented envelope, so
no code path can answer with a stack trace or an ad-hoc shape. FastAPI's own 404/405 bodies are
the one documented exception and have their own helper.
"""

from __future__ import annotations

import json
import time
import uuid

from werkzeug.wrappers import Response

_TYPES = {
    400: "client_error",
    401: "authentication_error",
    403: "authorization_error",
    404: "client_error",
    405: "client_error",
    409: "client_error",
    413: "client_error",
    415: "validation_error",
    422: "validation_error",
    429: "rate_limit_error",
}

SANDBOX_HEADER = ("X-Freddy-Sandbox", "1")


class ApiError(Exception):
    """An error answer: status, machine code, user message and the technical ``system_message``."""

    def __init__(self, status, code, message, system_message=None, *, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.system_message = system_message or message
        self.details = details
        self.headers = dict(headers or {})


def invalid(field, message, code="INVALID_FIELD_VALUE", *, kind="value_error"):
    """A 422 naming the offending field, with a FastAPI-like ``errors`` list clients may parse."""
    loc = ["body", *str(field).split(".")] if field else ["body"]
    details = {"field": field, "errors": [{"loc": loc, "msg": message, "type": kind}]}
    return ApiError(422, code, message, details=details)


def timestamp(now=None):
    """ISO-8601 UTC with a ``Z``, second precision, as the API's examples show."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))


def dumps(payload):
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(payload, status=200, headers=None):
    response = Response(dumps(payload), status=status, mimetype="application/json")
    if headers:
        response.headers.extend(headers)
    return response


def error_payload(status, code, message, system_message=None, details=None):
    error = {
        "code": code,
        "message": message,
        "system_message": system_message or message,
        "type": _TYPES.get(status, "server_error"),
        "status": status,
    }
    if details is not None:
        error["details"] = details
    error["trace_id"] = str(uuid.uuid4())
    error["timestamp"] = timestamp()
    return {"success": False, "error": error}


def error_response(err: ApiError):
    payload = error_payload(err.status, err.code, err.message, err.system_message, err.details)
    return json_response(payload, err.status, err.headers)


def fastapi_detail(status, detail, headers=None):
    """The framework's bare ``{"detail": ...}`` body, used for unknown routes and wrong methods."""
    return json_response({"detail": detail}, status, headers)
