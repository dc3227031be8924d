"""Reading an answer's body: one loop for plain and streamed answers alike.

Chunks are handed on as they arrive (urllib3's ``read1`` returns whatever the socket has, without
waiting to fill a buffer), which is what lets the first streamed token show at once. The same
limits end both kinds of read, in the same way:

- a size cap (``ResponseFormatError``), so a broken or hostile server cannot fill memory;
- the call's overall deadline (``Timeout``), because a server trickling a byte at a time never
  trips a read timeout;
- silence longer than the idle timeout (``Timeout``); the socket's read timeout enforces it and
  the reader names it;
- a broken connection (``ConnectionFailed``) or an undecodable compressed body
  (``ResponseFormatError``).

Each ends by closing the connection and raising the error built by the reader's ``error``
factory, outside the ``except`` that caught the library's exception. A streamed answer passes a
factory that builds ``StreamInterrupted`` carrying the text received so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import requests
import urllib3

from ._errors import ConnectionFailed, FreddyError, ResponseFormatError, Timeout

CHUNK = 65536
ErrorFactory = Callable[[type[FreddyError], str], FreddyError]
_Problem = tuple[type[FreddyError], str]
_LIBRARY_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)
_TIMEOUTS = (TimeoutError, urllib3.exceptions.TimeoutError, requests.exceptions.Timeout)
_DEADLINE = "the call's overall deadline passed while the answer was arriving"


def plain_error(kind: type[FreddyError], reason: str) -> FreddyError:
    """The default factory: the reason as a sentence, in the error class it calls for."""
    return kind(reason[:1].upper() + reason[1:])


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n} bytes"


class BodyReader:
    """Iterate to get the body's chunks as they arrive; see the module docstring for the limits.

    ``deadline`` is on ``clock`` (None: no overall deadline); ``idle_timeout`` is the read
    timeout the request was sent with, used only to word the error when it expires.
    """

    __slots__ = ("_cap", "_clock", "_deadline", "_error", "_idle", "_response")

    def __init__(
        self,
        response: requests.Response,
        *,
        cap: int,
        deadline: float | None,
        clock: Callable[[], float],
        idle_timeout: float | None = None,
        error: ErrorFactory = plain_error,
    ) -> None:
        self._response = response
        self._cap = cap
        self._deadline = deadline
        self._clock = clock
        self._idle = idle_timeout
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        while True:
            chunk, problem = self._read()
            if problem is None:
                if not chunk:
                    return
                size += len(chunk)
                if size > self._cap:
                    problem = (
                        ResponseFormatError,
                        f"the answer exceeded the size limit (larger than {_size(self._cap)})",
                    )
                elif self._deadline is not None and self._clock() > self._deadline:
                    problem = Timeout, _DEADLINE
            if problem is not None:
                self._response.close()
                raise self._error(*problem)
            yield chunk

    def _read(self) -> tuple[bytes, _Problem | None]:
        """The next chunk (b"" at the end), or what went wrong, in our words only.

        The library exception stays inside this ``except``: its message can carry URLs, and as
        the ``__context__`` of our error its frames would ride into tracebacks.
        """
        try:
            return self._response.raw.read1(CHUNK, decode_content=True), None
        except _LIBRARY_ERRORS as exc:
            return b"", self._classify(exc)

    def _classify(self, exc: BaseException) -> _Problem:
        if isinstance(exc, urllib3.exceptions.DecodeError):
            return ResponseFormatError, "the answer's compressed body could not be decoded"
        if isinstance(exc, _TIMEOUTS):
            # The request's read timeout was shortened to fit the deadline when little was left,
            # so a timeout at or past the deadline is the deadline's doing.
            if self._deadline is not None and self._clock() >= self._deadline:
                return Timeout, _DEADLINE
            idle = f"for {self._idle:g} s" if self._idle is not None else "within the read timeout"
            return Timeout, f"no data arrived {idle} (the server went silent)"
        return ConnectionFailed, f"the connection was lost while the answer was arriving ({type(exc).__name__})"


def read_body(
    response: requests.Response,
    cap: int,
    deadline: float | None,
    clock: Callable[[], float],
    idle_timeout: float | None = None,
) -> bytes:
    """The whole (decoded) body of a plain answer, read through :class:`BodyReader`."""
    parts = list(BodyReader(response, cap=cap, deadline=deadline, clock=clock, idle_timeout=idle_timeout))
    return parts[0] if len(parts) == 1 else b"".join(parts)
