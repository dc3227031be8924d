"""The one exception tree of freddy_magic.

Library code (auth, client, results, sandbox helpers) raises only these; the magics turn any
of them into a one-line ``UsageError`` so the cell fails without a traceback wall. Messages are
neutral, because the client also runs in plain scripts: they say what happened (and what the
server said), never which magic to run. The notebook adds that remedy at the magic boundary,
chosen by class and ``code``::

    FreddyError
    ├── ConfigError              bad base URL, bad parameter, malformed key (names the thing, never the value)
    ├── NotAuthenticated         no credential yet (or it was cleared)
    ├── AuthError                401: key or token rejected, expired, missing; refresh failed
    ├── PermissionDenied         403: never refreshed, never retried
    ├── RateLimited              429 whose wait is over the cap, or attempts exhausted; has retry_after
    ├── APIError                 any other error status: status, code, trace_id, retry_after
    ├── TransportError           the request never produced a usable HTTP answer
    │   ├── ConnectionFailed     DNS, refused, reset, TLS failure
    │   └── Timeout              connect/read timeout or the overall deadline
    ├── StreamInterrupted        a stream ended without response.completed; keeps partial_text
    └── ResponseFormatError      non-JSON, wrong shape, too large, an unexpected redirect

Every message is passed through :func:`freddy_magic._redaction.redact` by whoever builds it;
errors are raised outside ``except`` blocks so no library exception rides along as context.
"""

from __future__ import annotations


class FreddyError(Exception):
    """Base of every error freddy_magic raises on purpose.

    ``status``, ``code`` and ``trace_id`` come from the API's error answer when there is one, so
    a caller can act on the kind of failure without reading the message; ``code`` may also be a
    short local code for errors raised before anything was sent.
    """

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, trace_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.trace_id = trace_id

    def __str__(self) -> str:
        return self.message


class ConfigError(FreddyError):
    """A setting or parameter is invalid; raised before anything is sent."""


class NotAuthenticated(FreddyError):
    """No credential is set yet."""


class AuthError(FreddyError):
    """The server rejected the credential (401), or it could not be refreshed."""


class PermissionDenied(FreddyError):
    """The credential is valid but not allowed to do this (403)."""


class RateLimited(FreddyError):
    """Too many requests, and waiting was not possible within the configured bounds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, trace_id=trace_id)
        self.retry_after = retry_after


class APIError(FreddyError):
    """The API answered with an error status not covered by a more specific class;
    ``retry_after`` is the wait it asked for (``Retry-After`` on a 503), when it did."""

    retry_after: float | None = None


class TransportError(FreddyError):
    """No usable HTTP answer arrived."""


class ConnectionFailed(TransportError):
    """The connection could not be made or was lost."""


class Timeout(TransportError):
    """A timeout or the overall deadline expired."""


class StreamInterrupted(FreddyError):
    """A streamed answer stopped before ``response.completed``; ``partial_text`` keeps what arrived."""

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        status: int | None = None,
        code: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, trace_id=trace_id)
        self.partial_text = partial_text


class NotRecorded(FreddyError):
    """A replayed notebook asked for something its recording does not hold."""


class ResponseFormatError(FreddyError):
    """The server's answer could not be understood (or was too large, or a redirect)."""
