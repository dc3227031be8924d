"""Transport policy: which URLs we talk to, how, and for how long.

HTTPS only except loopback, no userinfo or query in the base URL, TLS verification always on,
no ``.netrc`` or proxy variables (``trust_env=False``), redirects never followed, explicit
timeouts; the overall deadline and the body caps are enforced while reading (:mod:`._body`).
The mounted adapter makes no retries: each library failure is turned into a
:class:`TransportFailure` (our error class and words, and how far the attempt got), and the
sender's loop asks :class:`~._retry.RetryPolicy` whether to repeat it.
"""

from __future__ import annotations

import http.client
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import _redaction
from ._errors import ConfigError, ConnectionFailed, FreddyError, Timeout
from ._retry import Phase

MAX_BODY = 20 * 1024 * 1024
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` is the silence allowed between bytes, in a plain answer and in a stream
    alike; ``stream_idle`` overrides it for streams only when given; ``total`` bounds a whole call."""

    connect: float = 10.0
    read: float = 120.0
    total: float = 600.0
    stream_idle: float = None  # type: ignore[assignment]  # None until __post_init__: the read timeout
    token: float = 15.0

    def __post_init__(self) -> None:
        if self.stream_idle is None:
            object.__setattr__(self, "stream_idle", self.read)  # frozen: set as the dataclass __init__ does
        for name in ("connect", "read", "total", "stream_idle", "token"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"timeouts.{name} must be a positive number of seconds")

    @classmethod
    def coerce(cls, value: Timeouts | Mapping[str, float | None] | float | None) -> Timeouts:
        """A Timeouts from what a caller may pass: None (defaults), a dict of fields, or a number
        of seconds for the whole call (the read timeout then never exceeds it)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return cls(total=float(value), read=min(float(value), cls.read))
        if isinstance(value, dict):
            try:
                return cls(**{k: float(v) for k, v in value.items() if v is not None})
            except (TypeError, ValueError):
                pass
        raise ConfigError("timeouts must be a Timeouts, a dict of its fields, or a positive number of seconds")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Return the normalised base URL or raise ConfigError saying which rule it breaks."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("base_url must be a URL such as https://api.freddy.aitronos.com")
    parts: SplitResult | None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        parts = port = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("base_url must start with https:// and name a host")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "base_url must not contain a user name or password (user:pass@host): credentials never travel in URLs"
        )
    if parts.query or parts.fragment:
        raise ConfigError("base_url must not contain a query string or fragment: keys never travel in URLs")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"base_url uses plain http for {parts.hostname}: keys and tokens would "
            "cross the network unencrypted. Use https:// (http is allowed only "
            "for loopback hosts such as 127.0.0.1)"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return f"{parts.scheme}://{netloc}{path}"


def origin(url: str | None, base: str | None = None) -> str:
    """scheme://host[:port] of ``url`` (relative URLs resolve against ``base``); nothing more."""
    try:
        parts = urlsplit(url or "")
        if not parts.netloc and base:
            parts = urlsplit(base)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an unparseable location"
    return f"{parts.scheme or 'https'}://{host}{port}"


def make_session(session: requests.Session | None = None) -> requests.Session:
    """One Session per client: no environment trust, our adapter on both schemes.

    The adapter's ``Retry(0, read=False)`` makes urllib3 raise at the first failure instead of
    retrying inside ``send``: a retry it made there would be invisible to the sender's policy,
    its counts, its deadline and its shared limiter.
    """
    session = session if session is not None else requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(max_retries=Retry(total=0, read=False), pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def refuse_wire_debug() -> None:
    """http.client wire debugging prints raw request headers with print(): no filter sees it."""
    if http.client.HTTPConnection.debuglevel > 0 or urllib3.connection.HTTPConnection.debuglevel > 0:
        raise ConfigError(
            "Refusing to send: http.client wire debugging is on "
            "(HTTPConnection.debuglevel > 0) and would print the api-key or "
            "Authorization header to the output. Set "
            "http.client.HTTPConnection.debuglevel = 0 and use "
            "logging.getLogger('freddy_magic').setLevel('DEBUG') instead"
        )


class TransportFailure(NamedTuple):
    """What is kept of a library exception: our error class, our words, how far the attempt got.

    The exception itself is not kept: its message and frames may hold URLs and header values.
    """

    kind: type[FreddyError]
    message: str
    phase: Phase

    def error(self) -> FreddyError:
        """The error to raise; its ``code`` is the phase, so a layer above the client (a batch
        repeating a row) can tell a dropped connection from a TLS failure without its text."""
        return self.kind(self.message, code=self.phase.value)


def transport_failure(exc: BaseException, method: str, url: str, repeatable: bool) -> TransportFailure:
    """The :class:`TransportFailure` for a requests/urllib3 exception; the caller raises it.

    Only the exception's class and our own words are used: library messages carry URLs and,
    for header errors, header values. ``repeatable`` (the method may be repeated after it may
    have been processed) decides whether a lost connection says it was not retried.
    """
    where = origin(url)
    kind = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportFailure(
            ConnectionFailed,
            f"TLS verification failed for {where} ({kind}); the certificate was not trusted, so nothing was sent",
            Phase.FATAL,
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportFailure(Timeout, f"Could not connect to {where} within the connect timeout", Phase.CONNECT)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransportFailure(Timeout, f"{method} to {where} timed out waiting for the answer", Phase.SENT)
    if isinstance(exc, (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL)) or (
        isinstance(exc, ValueError) and not isinstance(exc, requests.RequestException)
    ):
        return TransportFailure(
            ConfigError,
            f"The request could not be built: the HTTP library rejected a header, the URL or a JSON value ({kind})",
            Phase.FATAL,
        )
    lost = _connect_phase(exc)
    if lost:
        return TransportFailure(ConnectionFailed, f"Could not connect to {where} ({lost})", Phase.CONNECT)
    tail = "" if repeatable else "; it may have been processed, so it was not retried"
    message = _redaction.redact(f"The connection to {where} was lost during {method} ({kind}){tail}")
    # Only a connection error (a reset, a dropped keep-alive) is a network hiccup worth repeating
    # for an idempotent method; anything else an adapter raises, repeating will not fix.
    phase = Phase.SENT if isinstance(exc, requests.exceptions.ConnectionError) else Phase.FATAL
    return TransportFailure(ConnectionFailed, message, phase)


def _connect_phase(exc: BaseException) -> str | None:
    """Why the connection was never made, if the exception's chain says so (DNS, refused)."""
    seen = exc
    for _ in range(6):
        if isinstance(seen, urllib3.exceptions.NameResolutionError):
            return "the host name could not be resolved"
        if isinstance(seen, urllib3.exceptions.NewConnectionError):
            return "connection refused or unreachable"
        nxt = getattr(seen, "reason", None) or (seen.args[0] if getattr(seen, "args", None) else None)
        if not isinstance(nxt, BaseException):
            return None
        seen = nxt
    return None
