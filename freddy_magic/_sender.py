"""The send loop: the one place that decides whether an attempt is repeated.

Each attempt ends in an answer or a transport failure, and the loop asks the client's
:class:`~._retry.RetryPolicy` about it. For a failure: repeat it if it happened in the connect
phase, or if it may have been processed but the method is idempotent. For an answer, in order:
success; redirect (an error, never followed); 401 with a refreshable token (renew once, replay
once); 429 (wait through the shared limiter, so every thread of a batch pauses, not just the one
that was refused); 502/503/504 for idempotent methods and the caller's extra statuses (only the
token endpoint has any); otherwise an error built from the body. The adapter underneath makes no
retries of its own, so the counts here are exact. The header dict with the secret exists only
inside :meth:`Sender._attempt`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests

from ._apierrors import error_from_response, one_line
from ._auth import Credential
from ._body import read_body
from ._errors import FreddyError, NotAuthenticated, ResponseFormatError, Timeout
from ._ratelimit import RateLimiter
from ._retry import Phase, RetryPolicy
from ._safe_text import loads
from ._transport import Timeouts, TransportFailure, origin, refuse_wire_debug, transport_failure

ERROR_BODY_CAP = 1024 * 1024
NO_AUTH = "No credential: pass credential=Credential.api_key(...) to FreddyClient, or set client.credential"
_log = logging.getLogger("freddy_magic")


class Sender:
    """Sends requests for one client; holds no credential of its own."""

    def __init__(
        self,
        base: str,
        session: requests.Session,
        limiter: RateLimiter,
        timeouts: Timeouts,
        clock: Callable[[], float],
        policy: RetryPolicy,
        verify: bool | str,
        max_body: int,
    ) -> None:
        self.base, self.session, self.limiter, self.timeouts = base, session, limiter, timeouts
        self.clock, self.policy, self.verify = clock, policy, verify
        self.max_body = max_body
        self.counts = {"requests": 0, "retries": 0}
        #: Added to a failure to connect (see :mod:`._hosts`); None when the user chose the host.
        self.connect_hint: str | None = None
        self._count_lock = threading.Lock()

    def _count(self, name: str, n: int = 1) -> None:
        with self._count_lock:
            self.counts[name] += n

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """Send and return the decoded JSON answer."""
        resp, _, started = self.send(method, path, **kw)
        return self.json(resp, started + (kw.get("total") or self.timeouts.total))

    def json(self, resp: requests.Response, deadline: float) -> Any:
        """The decoded JSON of a plain answer (an empty body is ``{}``)."""
        body = read_body(resp, self.max_body, deadline, self.clock, self.timeouts.read)
        try:
            return loads(body) if body else {}
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested deeper than Python recurses
            pass  # raised below, outside the except: the decode error holds the whole body (.doc)
        kind = resp.headers.get("Content-Type") or "no content type"
        raise ResponseFormatError(
            f"The server's answer is not valid JSON ({one_line(kind, 60)}): "
            f"{one_line(body[:2048].decode('utf-8', 'replace'))}"
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        cred: Credential | None = None,
        auth: bool = True,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        retry_statuses: frozenset[int] = frozenset(),
        total: float | None = None,
        answer_errors: bool = False,
        replayed: bool = False,
    ) -> tuple[requests.Response, int, float]:
        """Send with the retry/replay policy; returns (response, retries, start time).

        ``retry_statuses`` are repeated whatever the method (the token endpoint passes
        ``policy.token_statuses``). With ``answer_errors`` a final error answer is returned
        unread instead of raised (the live check reports its shape). ``replayed`` says this call
        already is the one replay after a rejected token, so a 401 now is final: one refresh per
        call, never two.
        """
        cred = _credential_for(auth, cred)
        clock, policy = self.clock, self.policy
        total = total or self.timeouts.total
        started = clock()
        deadline = started + total
        url = self.base + path
        retries = 0
        while True:
            refuse_wire_debug()
            if clock() >= deadline:
                raise Timeout(f"{method} {path}: the call's overall deadline of {total:.0f} s passed")
            outcome = self._attempt(method, url, body, params, cred, stream, deadline)
            if isinstance(outcome, TransportFailure):
                retries = self._after_failure(outcome, method, path, retries, deadline)
                continue
            resp, gen, sent_at = outcome
            status = resp.status_code
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("%s %s -> %d in %.1f ms", method, path, status, (clock() - sent_at) * 1000)
            if status < 300:
                return resp, retries, started
            if status < 400:
                resp.close()
                raise _redirect_error(resp, method, path, url)
            if status == 401 and not replayed and cred is not None and cred.can_refresh:
                self._drain(resp, deadline)
                _log.debug("%s %s: 401, refreshing the token and replaying once", method, path)
                cred.refresh_after_401(gen)
                replayed, retries = True, self._retrying(retries)
                continue
            decision = policy.after_status(method, status, resp.headers, retries, deadline - clock(), retry_statuses)
            if decision.shared:
                self.limiter.throttled(decision.wait)
            if not decision.retry:
                break
            self._drain(resp, deadline)
            retries = self._retrying(retries)
            _log.debug("%s %s: HTTP %d, retry %d in %.2f s", method, path, status, retries, decision.wait)
            if not decision.shared:  # a shared wait is served by the limiter's next acquire
                policy.sleep(decision.wait)
        if answer_errors:
            return resp, retries, started
        data = read_body(resp, ERROR_BODY_CAP, deadline, clock)
        raise error_from_response(
            status,
            resp.headers,
            data,
            method=method,
            path=path,
            auth_method=cred.method if cred is not None else None,
            retry_after=policy.retry_after(resp.headers),
        )

    def _after_failure(self, failure: TransportFailure, method: str, path: str, retries: int, deadline: float) -> int:
        """Wait before repeating an attempt that got no answer, or raise its error when final."""
        decision = self.policy.after_failure(method, failure.phase, retries, deadline - self.clock())
        if not decision.retry:
            if self.connect_hint and failure.phase is Phase.CONNECT:
                failure = failure._replace(message=failure.message + self.connect_hint)
            raise failure.error()
        retries = self._retrying(retries)
        _log.debug(
            "%s %s: %s-phase failure, retry %d in %.2f s", method, path, failure.phase.value, retries, decision.wait
        )
        self.policy.sleep(decision.wait)
        return retries

    def _retrying(self, retries: int) -> int:
        """Count one more retry, for this call and for the client's stats."""
        self._count("retries")
        return retries + 1

    def _drain(self, resp: requests.Response, deadline: float) -> None:
        """Read a small error body before a retry so the keep-alive connection can be reused."""
        with contextlib.suppress(FreddyError):  # too large or broken: the connection is closed instead
            read_body(resp, 65536, deadline, self.clock)
        resp.close()

    def _attempt(
        self,
        method: str,
        url: str,
        body: Any,
        params: Mapping[str, Any] | None,
        cred: Credential | None,
        stream: bool,
        deadline: float,
    ) -> tuple[requests.Response, int, float] | TransportFailure:
        """One request through the limiter: (response, token generation (0 without a credential),
        send time), or the :class:`TransportFailure` for the caller to decide on and raise.

        The header dict carrying the secret lives only inside the ``try`` and is dropped before
        anything leaves this frame, so no traceback frame (``%xmode Verbose`` prints locals)
        holds it; the library exception is reduced to a TransportFailure and never re-raised.
        Ctrl-C is treated the same way: a fresh ``KeyboardInterrupt`` is raised from here, after
        the ``except``, so the frames of requests, urllib3 and http.client (whose locals hold the
        headers and the encoded body) do not ride along. The limiter's slot is released either way.
        """
        self.limiter.acquire(deadline)  # gives its own reservation back if it fails or is interrupted
        t = self.timeouts
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        try:
            gen = cred.authorize(headers) if cred is not None else 0
            sent_at = self.clock()
            remaining = max(deadline - sent_at, 0.001)
            timeout = (min(t.connect, remaining), min(t.stream_idle if stream else t.read, remaining))
            self._count("requests")
            resp = self.session.request(
                method,
                url,
                params=params,
                json=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                verify=self.verify,
            )
        except FreddyError:  # from authorize (expired bare token, failed refresh): already ours
            raise
        except KeyboardInterrupt:
            pass  # raised again below, without the transport's frames
        except Exception as exc:  # noqa: BLE001 - the transport boundary: only the class name survives
            return transport_failure(exc, method, url, self.policy.is_idempotent(method))
        else:
            # The prepared request holds the auth header; an answer kept by a caller must not.
            resp.request = None  # type: ignore[assignment]
            self.limiter.observe(resp.headers, sent_at)
            return resp, gen, sent_at
        finally:
            del headers
            self.limiter.release()
        raise KeyboardInterrupt  # only Ctrl-C gets here


def _redirect_error(resp: requests.Response, method: str, path: str, url: str) -> ResponseFormatError:
    return ResponseFormatError(
        f"The server answered {method} {path} with a redirect to "
        f"{origin(resp.headers.get('Location'), url)}; redirects are "
        "not followed so credentials are never forwarded"
    )


def _credential_for(auth: bool, cred: Credential | None) -> Credential | None:
    """The credential to send: none for the unauthenticated routes, and a clear error when missing."""
    if not auth:
        return None
    if cred is None:
        raise NotAuthenticated(NO_AUTH)
    return cred
