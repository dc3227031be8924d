"""The send loop: the one place that decides whether an attempt is repeated.

Order of decisions for each answer: success; redirect (an error, never followed); 401 with a
refreshable token (renew once, replay once); 429 (wait through the shared limiter, so every
thread of a batch pauses, not just the one that was refused); the caller's extra retryable
statuses (only the token endpoint has any); otherwise an error built from the body. Connect
failures and idempotent GET failures were already retried inside urllib3 (transport.py).
The header dict with the secret exists only inside :meth:`Sender._attempt`.
"""

from __future__ import annotations

import json
import logging
import threading

from ._apierrors import error_from_response, one_line
from ._errors import FreddyError, NotAuthenticated, ResponseFormatError, Timeout
from ._ratelimit import backoff_delay, parse_retry_after
from ._transport import origin, read_body, refuse_wire_debug, transport_failure

__all__ = ["Sender", "NO_AUTH"]

ERROR_BODY_CAP = 1024 * 1024
NO_AUTH = ("No credential: pass credential=Credential.api_key(...) to FreddyClient, or set "
           "client.credential")
_log = logging.getLogger("freddy_magic")


class Sender:
    """Sends requests for one client; holds no credential of its own."""

    def __init__(self, base, session, limiter, timeouts, clock, sleep, max_retries,
                 max_retry_after, verify, max_body):
        self.base, self.session, self.limiter, self.timeouts = base, session, limiter, timeouts
        self.clock, self.sleep, self.verify = clock, sleep, verify
        self.max_retries, self.max_retry_after = max_retries, max_retry_after
        self.max_body = max_body
        self.counts = {"requests": 0, "retries": 0}
        self._count_lock = threading.Lock()

    def _count(self, name, n=1):
        with self._count_lock:
            self.counts[name] += n

    def call(self, method, path, **kw):
        """Send and return the decoded JSON answer."""
        resp, _, started = self.send(method, path, **kw)
        return self.json(resp, started + (kw.get("total") or self.timeouts.total))

    def json(self, resp, deadline):
        body = read_body(resp, self.max_body, deadline, self.clock)
        failure = None
        try:
            return json.loads(body) if body else {}
        except ValueError:
            kind = resp.headers.get("Content-Type") or "no content type"
            failure = ResponseFormatError(f"The server's answer is not valid JSON ({one_line(kind, 60)}): "
                                          f"{one_line(body[:2048].decode('utf-8', 'replace'))}")
        raise failure

    def send(self, method, path, *, cred=None, auth=True, body=None, params=None, stream=False,
             retry_statuses=frozenset(), total=None):
        """Send with the retry/replay policy; returns (response, retries, start time)."""
        if auth and cred is None:
            raise NotAuthenticated(NO_AUTH)
        if not auth:
            cred = None
        clock = self.clock
        total = total or self.timeouts.total
        started = clock()
        deadline = started + total
        url = self.base + path
        retries, replayed = 0, False
        while True:
            refuse_wire_debug()
            if clock() >= deadline:
                raise Timeout(f"{method} {path}: the call's overall deadline of {total:.0f} s passed")
            resp, gen, sent_at = self._attempt(method, url, body, params, cred, stream, deadline)
            status = resp.status_code
            retries += _hidden_retries(resp)
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("%s %s -> %d in %.1f ms", method, path, status, (clock() - sent_at) * 1000)
            if status < 300:
                if retries:
                    self._count("retries", retries)
                return resp, retries, started
            if status < 400:
                resp.close()
                raise ResponseFormatError(f"The server answered {method} {path} with a redirect to "
                                          f"{origin(resp.headers.get('Location'), url)}; redirects are "
                                          "not followed so credentials are never forwarded")
            if status == 401 and not replayed and cred is not None and cred.can_refresh:
                self._drain(resp)
                _log.debug("%s %s: 401, refreshing the token and replaying once", method, path)
                cred.refresh_after_401(gen)
                replayed, retries = True, retries + 1
                continue
            wait = self._retry_wait(resp, retries, retry_statuses, deadline)
            if wait is None:
                break
            self._drain(resp)
            retries += 1
            _log.debug("%s %s: HTTP %d, retry %d in %.2f s", method, path, status, retries, wait)
            if status != 429:
                self.sleep(wait)
        self._count("retries", retries)
        data = read_body(resp, ERROR_BODY_CAP, deadline, clock)
        raise error_from_response(status, resp.headers, data, method=method, path=path,
                                  auth_method=cred.method if cred is not None else None,
                                  retry_after=parse_retry_after(resp.headers))

    def _drain(self, resp):
        """Read a small error body before a retry so the keep-alive connection can be reused."""
        try:
            read_body(resp, 65536, None, self.clock)
        except FreddyError:  # too large or broken: the connection is closed instead, which is fine
            pass
        resp.close()

    def _retry_wait(self, resp, retries, retry_statuses, deadline):
        """Seconds to wait before the next attempt, or None when this answer is final."""
        status = resp.status_code
        if status != 429 and status not in retry_statuses:
            return None
        wait = parse_retry_after(resp.headers)
        if status == 429:
            # Handled here rather than by urllib3's Retry: the wait must go through the shared
            # limiter (all threads pause), fit the call's deadline, and be reported in
            # RateLimited(retry_after=...) when it is over the cap; Retry can do none of these.
            if wait is not None and wait > self.max_retry_after:
                return None
            wait = wait if wait is not None else backoff_delay(retries + 1)
            self.limiter.throttled(wait)
        elif wait is None or wait > self.max_retry_after:
            wait = backoff_delay(retries + 1)
        if retries >= self.max_retries or self.clock() + wait >= deadline:
            return None
        return wait

    def _attempt(self, method, url, body, params, cred, stream, deadline):
        """One request through the limiter.

        The header dict carrying the secret lives only inside the ``try`` and is dropped before
        anything is raised, so no traceback frame (``%xmode Verbose`` prints locals) holds it.
        """
        self.limiter.acquire(deadline)
        t = self.timeouts
        failure = gen = resp = None
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        try:
            if cred is not None:
                gen = cred.authorize(headers)
            sent_at = self.clock()
            remaining = max(deadline - sent_at, 0.001)
            timeout = (min(t.connect, remaining), min(t.stream_idle if stream else t.read, remaining))
            self._count("requests")
            resp = self.session.request(method, url, params=params, json=body, headers=headers,
                                        timeout=timeout, allow_redirects=False, stream=True,
                                        verify=self.verify)
        except FreddyError as exc:  # from authorize: expired bare token, failed refresh
            failure = exc
        except Exception as exc:  # the transport boundary: only the class name survives
            failure = transport_failure(exc, method, url, sent_maybe=method != "GET")
        finally:
            headers = None
        if failure is not None:
            self.limiter.release()
            raise failure if isinstance(failure, FreddyError) else failure[0](failure[1])
        # The prepared request holds the auth header; an answer kept by a caller must not.
        resp.request = None
        self.limiter.observe(resp.headers, sent_at)
        self.limiter.release()
        return resp, gen, sent_at


def _hidden_retries(resp):
    """Retries urllib3 made inside the adapter (connect errors, idempotent 5xx)."""
    retry = getattr(resp.raw, "retries", None)
    return len(retry.history) if retry is not None and retry.history else 0
