"""Turn an error answer into one readable, redacted line and the right ``FreddyError``.

Three body shapes occur: the documented envelope
(``error.code/message/system_message/status/trace_id``), FastAPI's ``detail`` (a string, or a
list of ``{loc, msg, type}``), and non-JSON pages from proxies (an HTML 502). 401 and 403 are
told apart by ``error.code`` and carry the troubleshooting advice of the API's authentication
page, because "401" alone does not say what went wrong. The advice is neutral (what the server
said and what it means), since scripts use the client too; the notebook adds its own remedy.
Any JSON value is accepted in any field (a list as ``code``, a number as ``loc``): an error body is
read into the right error class, never into an exception of its own.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from . import _redaction
from ._errors import APIError, AuthError, PermissionDenied, RateLimited

_ADVICE = {
    "INVALID_API_KEY": "Invalid API key: verify the key is correct and not expired",
    "API_KEY_EXPIRED": "Invalid API key: the key has expired; create a new one in Freddy Hub",
    "API_KEY_PAUSED": "Invalid API key: the key is paused; resume it in Freddy Hub or use another key",
    "API_KEY_DEACTIVATED": "Invalid API key: the key was deactivated; use another key",
    "AUTHENTICATION_REQUIRED": ("Missing authentication: the request carried no valid api-key or Authorization header"),
    "TOKEN_EXPIRED": "Your session has expired: sign in again",
    "TOKEN_INVALID": "Your session is invalid: sign in again",
    "TOKEN_MISSING_SUBJECT": "Your session is invalid: sign in again",
    "INVALID_CREDENTIALS": "Invalid email, username, or password",
    "INSUFFICIENT_PERMISSIONS": (
        "Insufficient permissions: check that your key or account has access to this endpoint"
    ),
    "ORGANIZATION_ACCESS_DENIED": (
        "Insufficient permissions: you don't have access to this organization; check organization_id"
    ),
    "ACCESS_DENIED": "Insufficient permissions: check that your key has access to this resource",
    "AMBIGUOUS_ORGANIZATION": ("This key or account belongs to several organizations: choose one with organization_id"),
}
_REJECTED = {  # a 401 without a known code, by what the request carried
    "api-key": "Authentication failed: the server rejected the API key (invalid, expired or revoked)",
    "bearer": "Your session was rejected: the access token is invalid or expired; sign in again",
    None: "Authentication failed: the server did not accept this request without credentials",
}
_SUSPENDED = (
    "Account suspended or disabled: contact support (Freddy Hub) if your account "
    "or organization membership was disabled"
)
SUSPENDED_CODES = {
    "NO_ORGANIZATION_MEMBERSHIP",
    "ACCOUNT_DISABLED",
    "ACCOUNT_SUSPENDED",
    "ACCOUNT_DEACTIVATED",
    "USER_DEACTIVATED",
    "USER_INACTIVE",
}
_SUSPENDED_WORDS = re.compile(r"deactivated|suspended|disabled|removed from all organizations", re.I)
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
EXCERPT = 200


def one_line(text: object, limit: int = EXCERPT) -> str:
    """Collapse ``text`` to one redacted line of at most ``limit`` characters."""
    text = _SPACE.sub(" ", _CONTROL.sub(" ", str(text))).strip()
    text = _redaction.redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse(body, content_type):
    """(envelope dict or None, readable text) from an error body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    data = None
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
    if isinstance(data, dict):
        return data, None
    if "html" in (content_type or "").lower() or text.lstrip().startswith("<"):
        title = _TITLE.search(text)
        text = html.unescape(title.group(1) if title else _TAGS.sub(" ", text))
    return None, text


def _detail_text(detail):
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict):
                where = item.get("loc")
                loc = ".".join(str(p) for p in where if p != "body") if isinstance(where, list) else ""
                msg = item.get("msg", "invalid")
                parts.append(f"{loc}: {msg}" if loc else str(msg))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return json.dumps(detail)[:EXCERPT] if detail is not None else ""


def _scalar(value: object, limit: int = 80) -> str | None:
    """A code or trace id as one short line of text; None for a missing, empty or structured value."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        return None
    return one_line(value, limit)


def _fields(data):
    """(code, message, trace_id, details) from an envelope or a FastAPI/legacy body."""
    err = data.get("error")
    if isinstance(err, dict):
        message = err.get("message") or err.get("system_message") or ""
        system = err.get("system_message")
        if system and system != message:
            message = f"{message} ({system})" if message else system
        return _scalar(err.get("code")), message, _scalar(err.get("trace_id")), err.get("details")
    if "detail" in data:
        return None, _detail_text(data["detail"]), None, None
    message = err if isinstance(err, str) else data.get("message", "")
    return _scalar(data.get("code")), str(message or ""), _scalar(data.get("trace_id")), None


def error_from_response(status, headers, body, *, method, path, auth_method=None, retry_after=None):
    """The FreddyError for an error answer; the message is one redacted line."""
    data, text = _parse(body, headers.get("Content-Type"))
    if data is not None:
        code, server, trace_id, details = _fields(data)
    else:
        code, server, trace_id, details = None, text, None, None
    server = one_line(server or "")
    tag = f"HTTP {status}" + (f" {code}" if code else "") + (f", trace_id={one_line(trace_id, 80)}" if trace_id else "")
    kw = {"status": status, "code": code, "trace_id": trace_id}
    if status == 401:
        advice = _ADVICE.get(code or "") or (_SUSPENDED if _SUSPENDED_WORDS.search(server) else None)
        if advice is None:
            advice = _REJECTED.get(auth_method, _REJECTED["api-key"])
        return AuthError(_join(advice, server, tag), **kw)
    if status == 403:
        if code in SUSPENDED_CODES or (code not in _ADVICE and _SUSPENDED_WORDS.search(server)):
            advice = _SUSPENDED
        else:
            advice = _ADVICE.get(code or "") or (
                "Insufficient permissions: check that your key has access to this endpoint"
            )
        return PermissionDenied(_join(advice, server, tag), **kw)
    wait = retry_after
    if wait is None and isinstance(details, dict):
        wait = details.get("retry_after")
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait < float("inf"):
        wait = None
    if status == 429:
        when = f"; retry in {wait:.0f} s" if wait is not None else ""
        return RateLimited(_join(f"Rate limited{when}", server, tag), retry_after=wait, **kw)
    what = f"{method} {path} failed"
    error = APIError(_join(what, server, tag), **kw)
    error.retry_after = wait
    return error


def _join(advice, server, tag):
    server_part = f" — server said: {server}" if server and server not in advice else ""
    return _redaction.redact(f"{advice}{server_part} [{tag}]")


def error_from_event(data: Any) -> RateLimited | AuthError | PermissionDenied | APIError:
    """The FreddyError for a ``response.error`` / ``response.failed`` stream event."""
    data = data if isinstance(data, dict) else {}
    err = data.get("error") if isinstance(data.get("error"), dict) else data
    code = _scalar(err.get("code"))
    message = one_line(err.get("message") or err.get("system_message") or "the stream reported an error")
    status = err.get("status") if type(err.get("status")) is int else None
    low = f"{code} {message}".lower()
    if status == 429 or ("rate" in low and "limit" in low):
        return RateLimited(_redaction.redact(f"Rate limited during the stream: {message}"), code=code, status=429)
    if status == 401 or (code and str(code).startswith(("TOKEN_", "INVALID_API_KEY", "API_KEY_"))):
        advice = _ADVICE.get(code or "", "Authentication failed during the stream: the credential was rejected")
        return AuthError(_join(advice, message, "stream"), code=code, status=401)
    if status == 403:
        return PermissionDenied(
            _join(_ADVICE.get(code or "", "Insufficient permissions"), message, "stream"), code=code, status=403
        )
    return APIError(
        _redaction.redact(f"The model reported an error during the stream: {message}"), code=code, status=status
    )
