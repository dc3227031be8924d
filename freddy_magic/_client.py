"""FreddyClient: every call a notebook makes to the Freddy API goes through here.

One ``requests.Session`` per client, the transport policy of :mod:`._transport`, the credential
state machine of :mod:`._auth`, the shared limiter of :mod:`._ratelimit`, the retry rules of
:mod:`._retry` and the send loop of :mod:`._sender` that applies them. This module is the
endpoint surface: which path, which body, which result object. Usable from plain Python; it
imports nothing from IPython.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import requests

from . import _redaction
from ._apierrors import one_line
from ._auth import Credential, intake
from ._body import read_body
from ._errors import APIError, AuthError, ConfigError, FreddyError, ResponseFormatError
from ._hosts import unchosen_host_hint
from ._payloads import (
    DEFAULT_BASE_URL,
    Completion,
    LoginChallenge,
    Page,
    build_response_body,
    check_id,
    completion_from_json,
    json_object,
    json_objects,
    optional_text,
)
from ._ratelimit import RateLimiter, RateLimitStatus
from ._retry import MAX_RETRY_AFTER, RetryPolicy
from ._sender import ERROR_BODY_CAP, Sender
from ._sse import MAX_LINE
from ._stream import ResponseStream
from ._transport import MAX_BODY, Timeouts, check_base_url, make_session

RESPONSES = "/v1/model/response"


class FreddyClient:
    """A client for one base URL and (at most) one credential; thread-safe for concurrent calls."""

    def __init__(
        self,
        base_url: str | None = None,
        credential: Credential | None = None,
        *,
        organization_id: str | None = None,
        timeouts: Timeouts | Mapping[str, float | None] | float | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float, str], object] | None = None,
        max_retries: int = 2,
        max_retry_after: float = MAX_RETRY_AFTER,
        ca_bundle: str | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        self._base = check_base_url(DEFAULT_BASE_URL if base_url is None else base_url)
        self._sleep, self._on_wait = sleep, on_wait
        self._policy = RetryPolicy(
            max_retries=max_retries, max_retry_after=max_retry_after, sleep=partial(self._pause, why="retry")
        )
        if ca_bundle is not None and not isinstance(ca_bundle, str):
            raise ConfigError("ca_bundle must be the path of a CA bundle file (verification stays on)")
        self.organization_id = None if organization_id is None else check_id(organization_id, "organization_id")
        self._timeouts = Timeouts.coerce(timeouts)
        self._clock = clock
        self._session = make_session(session)
        self._limiter = RateLimiter(clock=clock, sleep=partial(self._pause, why="rate limit"))
        # TLS verification is always on; a CA bundle path only changes which roots are trusted.
        self._sender = Sender(
            self._base, self._session, self._limiter, self._timeouts, clock, self._policy, ca_bundle or True, max_body
        )
        if base_url is None:  # the default host, not the caller's choice: a failure names the other one
            self._sender.connect_hint = unchosen_host_hint(self._base)
        self._credential: Credential | None = None
        self._sandbox: bool | None = None
        self.credential = credential
        _redaction.install_log_filters()

    def _pause(self, seconds: float, why: str) -> None:
        """Every wait of a call goes through here: ``why`` is ``"rate limit"`` (a request slot, or
        the wait a 429 asked for) or ``"retry"`` (after a passing failure); ``on_wait`` hears of it
        first, so a notebook can say what it waits for."""
        if self._on_wait is not None:
            self._on_wait(seconds, why)
        self._sleep(seconds)

    def __repr__(self) -> str:
        return f"<FreddyClient {self._base} {self._credential!r}>"

    # -- state ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def credential(self) -> Credential | None:
        return self._credential

    @credential.setter
    def credential(self, credential: Credential | None) -> None:
        if credential is not None and not isinstance(credential, Credential):
            raise ConfigError("credential must be a freddy_magic.Credential (or None)")
        if credential is not None:
            credential.bind_refresher(self._refresh_tokens)
        self._credential = credential

    @property
    def timeouts(self) -> Timeouts:
        return self._timeouts

    @timeouts.setter
    def timeouts(self, timeouts: Timeouts | Mapping[str, float | None] | float | None) -> None:
        """New timeouts for the calls that start from now on (calls in flight keep theirs)."""
        self._timeouts = self._sender.timeouts = Timeouts.coerce(timeouts)

    @property
    def rate_limit(self) -> RateLimitStatus | None:
        return self._limiter.status

    @property
    def stats(self) -> dict[str, int]:
        cred = self._credential
        return {**self._sender.counts, "refreshes": cred.refreshes if cred is not None else 0}

    @property
    def is_sandbox(self) -> bool:
        """True when the server identifies itself as the local sandbox (asked once, then cached).

        A status line must never mistake sandbox output for a real model, and must not fail
        because of this question either: an unreachable server counts as "not known to be".
        """
        if self._sandbox is None:
            try:
                resp, _, _ = self._sender.send("GET", "/v1/health/", auth=False, total=self._timeouts.token)
                body = read_body(resp, ERROR_BODY_CAP, None, self._clock)
            except FreddyError:
                return False
            self._sandbox = resp.headers.get("X-Freddy-Sandbox") == "1" or b'"sandbox"' in body
        return self._sandbox

    # -- auth -------------------------------------------------------------------------------

    def login(self, email_or_username: str, password: str) -> LoginChallenge:
        """Step one of the email-code login; the server emails a 4-digit code."""
        if not isinstance(email_or_username, str) or not email_or_username.strip():
            raise ConfigError("email_or_username must not be empty")
        if not isinstance(password, str) or not password:
            raise ConfigError("password must not be empty")
        password = _redaction.Masked(password)  # shown as a fingerprint in any traceback
        _redaction.register(password)
        try:
            data = self._call(
                "POST",
                "/v1/auth/login",
                auth=False,
                body={"email_or_username": email_or_username.strip(), "password": password},
            )
        finally:
            _redaction.forget(password)
        data = json_object(data, "login")
        email_key = optional_text(data, "email_key")
        if email_key is None:
            raise ResponseFormatError("The login answer has no email_key")
        email = data.get("email")
        return LoginChallenge(email_key=email_key, email=email if isinstance(email, str) else None)

    def verify(self, challenge: LoginChallenge, code: str | int) -> Credential:
        """Step two: exchange the emailed code for tokens; installs and returns the credential."""
        if not isinstance(challenge, LoginChallenge):
            raise ConfigError("verify() needs the LoginChallenge returned by login()")
        code = str(code).strip()
        if not (code.isdigit() and len(code) == 4):
            raise ConfigError("code must be the 4-digit number from the email")
        answer = self._call(
            "POST",
            "/v1/auth/verify",
            auth=False,
            total=self._timeouts.token,
            body={"email_key": challenge.email_key, "verification_code": int(code)},
        )
        return self._install_tokens(answer, "verify")

    def resume(self, refresh_token: str) -> Credential:
        """A signed-in session from a refresh token alone (CI, scheduled notebooks: no emailed
        code). The token is exchanged for an access token at once, so a bad one fails here; the
        credential then renews itself like one from :meth:`verify`. Installs and returns it."""
        problem = None
        try:
            refresh_token = intake(refresh_token, "The refresh token")
        except ConfigError as exc:  # re-raised below from a frame that no longer holds the token
            problem, refresh_token = exc.message, ""
        if problem is not None:
            raise ConfigError(problem)
        _redaction.register(refresh_token)  # before it travels: any echo of it is redacted
        return self._install_tokens(self._refresh_tokens(refresh_token), "refresh", refresh_token)

    def _install_tokens(self, answer: Any, what: str, refresh_token: str | None = None) -> Credential:
        """Install and return the bearer credential a token answer (``verify``, ``refresh``)
        carries; ``refresh_token`` stays in use when the answer brings no new one."""
        data = json_object(answer, what)
        access = optional_text(data, "access_token", "token")
        if access is None:
            raise ResponseFormatError(f"The {what} answer has no access token")
        problem = None
        try:
            cred = Credential.bearer(
                access,
                optional_text(data, "refresh_token", "refreshToken") or refresh_token,
                expires_in=data.get("expires_in"),
                refresher=self._refresh_tokens,
                clock=self._clock,
            )
        except ConfigError as exc:  # a token no header can carry: the server's answer is at fault
            problem = exc.message
        if problem is not None:
            raise ResponseFormatError(f"The {what} answer carries a malformed token: {problem}")
        self.credential = cred
        return cred

    def _refresh_tokens(self, refresh_token: str) -> Any:
        """The refresher handed to bearer credentials: POST /v1/auth/refresh, no auth header.

        A 4xx (invalid_grant, revoked, expired, user gone) means only a new sign-in helps, so it
        becomes AuthError. A 5xx (repeated first, per ``policy.token_statuses``) or a transport
        failure stays what it is: the old token may still work.
        """
        try:
            return self._call(
                "POST",
                "/v1/auth/refresh",
                auth=False,
                total=self._timeouts.token,
                body={"refresh_token": refresh_token},
                retry_statuses=self._policy.token_statuses,
            )
        except APIError as exc:
            if exc.status is None or not 400 <= exc.status < 500:
                raise
            failure = AuthError(
                f"Your session could not be renewed ({exc}): sign in again",
                status=exc.status,
                code=exc.code,
                trace_id=exc.trace_id,
            )
        # Raised outside the except, so the APIError does not ride along as __context__ (a
        # second, confusing traceback under the one that says what to do).
        raise failure

    def logout(self) -> None:
        """Revoke the session server-side where the API allows it, then forget the credential."""
        cred, self._credential = self._credential, None
        if cred is None:
            return
        try:
            if cred.method == "bearer" and cred.session_token():
                self._sender.call(
                    "POST",
                    "/v1/auth/logout",
                    cred=cred,
                    total=self._timeouts.token,
                    body={"refresh_token": cred.session_token()},
                )
        finally:  # forgetting locally must happen regardless, even on Ctrl-C
            cred.clear()

    def close(self) -> None:
        self._session.close()

    # -- read-only endpoints ----------------------------------------------------------------

    def validate(self) -> Any:
        return self._call("GET", "/v1/auth/validate")

    def me(self) -> dict[str, Any]:
        return json_object(self._call("GET", "/v1/user/me"), "user profile")

    def organizations(self) -> list[dict[str, Any]]:
        return json_objects(self._call("GET", "/v1/organizations"), "organizations", "organizations")

    def models(
        self, include_details: bool = False, include_deprecated: bool = False, **flags: bool
    ) -> list[dict[str, Any]]:
        flags.update(include_details=include_details, include_deprecated=include_deprecated)
        params = {k: "true" if v else "false" for k, v in flags.items() if isinstance(v, bool)}
        if len(params) != len(flags):
            raise ConfigError("models() flags must be True or False")
        return json_objects(self._call("GET", "/v1/models", params=params), "models", "models")

    def threads(self, **query: Any) -> Page:
        """One page of threads; ``query`` takes the API's filters (limit, order, after, ...)."""
        params = {
            k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in query.items() if v is not None
        }
        return _page(self._call("GET", "/v1/threads", params=params or None))

    def messages(
        self, thread_id: str, limit: int = 20, order: str = "desc", after: str | None = None, before: str | None = None
    ) -> Page:
        check_id(thread_id, "thread_id")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ConfigError("limit must be a whole number from 1 to 100")
        if order not in ("asc", "desc"):
            raise ConfigError("order must be 'asc' or 'desc'")
        query = {"limit": limit, "order": order}
        for name, value in (("after", after), ("before", before)):
            if value is not None:
                query[name] = check_id(value, name)
        return _page(self._call("GET", f"/v1/threads/{thread_id}/messages", params=query))

    def cancel(self, thread_id: str) -> Any:
        return self._call("POST", f"{RESPONSES}/{check_id(thread_id, 'thread_id')}/cancel")

    # -- responses --------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self._sender.call(method, path, cred=self._credential, **kw)

    def _body(self, inputs: str | Sequence[dict[str, Any]], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        if params.get("organization_id") is None:
            params["organization_id"] = self.organization_id
        return build_response_body(inputs, stream=stream, **params)

    def create_response(self, inputs: str | Sequence[dict[str, Any]], **params: Any) -> Completion:
        """One answer, not streamed. Parameters: see :func:`.payloads.build_response_body`."""
        body = self._body(inputs, params, False)
        resp, retries, started = self._sender.send("POST", RESPONSES, cred=self._credential, body=body)
        payload = self._sender.json(resp, started + self._timeouts.total)
        return completion_from_json(
            payload, model=body.get("model"), retries=retries, latency_s=self._clock() - started
        )

    def stream_response(self, inputs: str | Sequence[dict[str, Any]], **params: Any) -> ResponseStream:
        """A :class:`ResponseStream`; HTTP errors raise here, before any text is delivered.

        The streaming path may report a rejected token as the first event of a 200 stream
        instead of a 401; a refreshable session then refreshes and asks once more, as it
        would after a 401, since nothing has been shown yet.
        """
        body = self._body(inputs, params, True)
        cred = self._credential
        if cred is None or not cred.can_refresh:
            return self._open_stream(body, 0)
        gen = cred.generation
        stream = self._open_stream(body, 0)
        failure = stream.opening_auth_failure()
        if failure is None:
            return stream
        if not cred.refresh_after_401(gen):
            raise failure
        return self._open_stream(body, stream.retries + 1)

    def _open_stream(self, body: dict[str, Any], replays: int) -> ResponseStream:
        resp, retries, started = self._sender.send(
            "POST", RESPONSES, cred=self._credential, body=body, stream=True, replayed=replays > 0
        )
        kind = resp.headers.get("Content-Type", "")
        if "text/event-stream" not in kind:
            resp.close()
            raise ResponseFormatError(f"Expected an event stream, got {one_line(kind, 60) or 'no content type'}")
        return ResponseStream(
            resp,
            model=body.get("model"),
            started=started,
            clock=self._clock,
            deadline=started + self._timeouts.total,
            idle_timeout=self._timeouts.stream_idle,
            retries=retries + replays,
            max_line=MAX_LINE,
        )

    def request_preview(
        self, inputs: str | Sequence[dict[str, Any]], *, stream: bool = False, **params: Any
    ) -> dict[str, Any]:
        """What would be sent, with secrets redacted; sends nothing (for ``--dry-run``)."""
        body = self._body(inputs, params, stream)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
        cred = self._credential
        if cred is not None and cred.method == "api-key":
            headers["X-API-Key"] = headers["api-key"] = f"[REDACTED:{cred.fingerprint}]"
        elif cred is not None:
            headers["Authorization"] = f"Bearer [REDACTED:{cred.fingerprint}]"
        return {"method": "POST", "url": self._base + RESPONSES, "headers": headers, "json": body}

    def exchange(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None, stream: bool = False
    ) -> tuple[requests.Response, float]:
        """One request under this client's whole policy (credential, refresh, retries, limiter),
        answered with the unread response and its deadline whatever the status: the live check
        reports what the server sent, not what the client makes of it. The caller closes it."""
        resp, _, started = self._sender.send(
            method, path, cred=self._credential, body=body, params=params, stream=stream, answer_errors=True
        )
        return resp, started + self._timeouts.total


def _page(data: Any) -> Page:
    if not isinstance(data, dict):
        raise ResponseFormatError("Expected a list object with 'data'")
    return Page(
        data=json_objects(data, "data", "list") if data.get("data") is not None else [],
        has_more=data.get("has_more") is True,
        first_id=optional_text(data, "first_id"),
        last_id=optional_text(data, "last_id"),
    )
