"""What one loaded extension holds: the client (and with it the one credential), an in-kernel
sandbox if one was started, the chat thread, and the log of every call.

It lives on the ``FreddyMagics`` instance, never in module globals, so a fresh shell or a
``%reload_ext`` is a fresh world and unloading can forget everything in one place. A new
credential is validated against the API on a *new* client before it replaces the old one: a
mistyped key must not disconnect a working session.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._boundary import Interrupted
from ._errors import ConfigError, FreddyError, NotAuthenticated
from ._interrupts import shielded
from ._organization import Organization, find_organization
from ._remedies import CONNECT, NO_LOGIN_PENDING
from ._results import Rows, Status
from ._sources import REFRESH_NAME
from ._statuscard import human_duration

if TYPE_CHECKING:
    from ._auth import Credential
    from ._client import FreddyClient
    from ._magics import FreddyMagics
    from ._payloads import LoginChallenge
    from ._ratelimit import RateLimitStatus
    from ._recording import Recorder, Recording
    from ._replay import Answers
    from .sandbox import Sandbox


class Session:
    """Connection state and the calls log of one ``FreddyMagics`` instance."""

    def __init__(self, settings: FreddyMagics) -> None:
        self.settings = settings  # the FreddyMagics instance: base_url, organization_id, timeouts
        self.client: FreddyClient | None = None
        self.sandbox: Sandbox | None = None
        self.source: str | None = None
        self.thread_id: str | None = None
        self.log = Rows()
        # The cell's waiting line, told of each pause of the call it shows (see ``_waiting``).
        self.on_wait: Callable[[float, str], object] | None = None
        self.retries_before_call = 0
        # Where requests go and its name, found at connect; the id is never recorded (see answers).
        self.organization = Organization()
        self.replay: Recording | None = None  # answers come from this recording (see connect_replay)
        self.recorder: Recorder | None = None  # answered calls are appended here (see start_recording)
        self.reuse: Recording | None = None  # recording with reuse: what is already there is served
        self._pending_login: tuple[FreddyClient, LoginChallenge] | None = None

    # -- connecting --------------------------------------------------------------------------

    def new_client(self, credential: Credential | None, base_url: str | None = None) -> FreddyClient:
        """A client with this extension's settings (read now, so ``%config`` changes apply)."""
        from ._client import FreddyClient

        s = self.settings
        made: list[FreddyClient] = []
        client = FreddyClient(
            base_url or _chosen_base_url(s.base_url),
            credential,
            organization_id=s.organization_id or None,
            timeouts=self.timeouts(),
            max_retries=s.max_retries,
            on_wait=lambda seconds, why: self._waiting(seconds, why, made[0] if made else None),
        )
        made.append(client)
        return client

    def _waiting(self, seconds: float, why: str, client: FreddyClient | None) -> None:
        """A pause of a client (a request slot, a retry after a 429 or a passing failure), said in
        the cell when the call waiting is on the main thread (a batch's workers are summed up by
        its progress line instead)."""
        notify = self.on_wait
        if notify is not None and client is not None and threading.current_thread() is threading.main_thread():
            notify(seconds, _why_waiting(client, self.retries_before_call, why == "rate limit"))

    def timeouts(self) -> dict[str, float]:
        s = self.settings
        return {"connect": s.connect_timeout, "read": s.read_timeout, "total": s.total_timeout}

    def apply_timeouts(self) -> None:
        """``%config FreddyMagics.read_timeout = ...`` reaches the connected client at once."""
        if self.client is not None:
            self.client.timeouts = self.timeouts()

    def _install(self, client: FreddyClient, source: str) -> Status:
        """Validate ``client`` and make it current; on any failure, Ctrl-C included, forget it and
        keep the old one.

        Everything the status line needs from the server is asked before the swap, so an
        interrupt anywhere leaves the previous connection exactly as it was; the swap itself is
        shielded, so no Ctrl-C can leave half of it done.
        """
        try:
            client.validate()
            organization = find_organization(client)
            sandbox = client.is_sandbox  # asked (and cached by the client) now, not after the swap
        except BaseException:
            _discard(client)
            raise
        with shielded():
            old, self.client, self.source = self.client, client, source
            self.organization, self.replay = organization, None
            if old is not None and old is not client:
                _discard(old)
            if self.sandbox is not None and not (sandbox and _same_url(client.base_url, self.sandbox.url)):
                self._stop_sandbox()  # the in-kernel sandbox only lives while it is the connection
            self.thread_id = None
        return self.status(brief=True)

    def connect_key(self, key: str, source: str) -> Status:
        """Connect with an API key (from the widget, getpass, env, .env or Colab)."""
        from ._auth import Credential

        credential = Credential.api_key(key)
        try:
            client = self.new_client(credential)
        except BaseException:  # e.g. a bad FreddyMagics.base_url, or Ctrl-C: the key must not linger
            credential.clear()
            raise
        return self._install(client, source)

    def connect_bearer(self, token: str, source: str) -> Status:
        """Connect with a bearer access token the user already holds (a JWT in the environment).

        It cannot be renewed, so the status says when it expires, and the credential warns
        again as that time nears."""
        from ._auth import Credential

        credential = Credential.bearer(token)
        try:
            client = self.new_client(credential)
        except BaseException:
            credential.clear()
            raise
        status = self._install(client, f"{source} (a bearer token; it cannot be renewed)")
        left = credential.expires_in()
        if left is not None:
            status["notice"] = (
                f"This token expires in {human_duration(left)} and cannot be renewed: set {REFRESH_NAME} "
                "for a session that renews itself, or sign in with %freddy_auth --login."
            )
        return status

    def connect_refresh(self, refresh_token: str, source: str) -> Status:
        """Resume a signed-in session from a refresh token (CI, scheduled notebooks: no code)."""
        client = self.new_client(None)
        try:
            client.resume(refresh_token)
        except BaseException:  # Ctrl-C included: a half-made session holds nothing
            _discard(client)
            raise
        return self._install(client, f"{source} (bearer tokens from a refresh token, refreshed automatically)")

    def connect_sandbox(self, started_by: str = "%freddy_auth --sandbox") -> Status:
        """Start (or reuse) the in-kernel sandbox and connect to it with its demo key;
        ``started_by`` is what the status says asked for it."""
        from ._auth import Credential

        pace = self.settings.sandbox_pace
        if self.sandbox is None:
            from .sandbox import start_sandbox

            self.sandbox = start_sandbox(pace=pace)
        else:
            self.sandbox.pace = pace
        client = self.new_client(Credential.api_key(self.sandbox.api_key), base_url=self.sandbox.url)
        status = self._install(client, f"the in-kernel sandbox (started by {started_by})")
        status["notice"] = "For testing and teaching: connect a real key for real model output."
        return status

    def connect_replay(self, path: str, fallback: bool) -> Status:
        """Answer from a recording, with no network; ``fallback``: what it lacks, the sandbox answers.

        Replacing the connection like any other source: the old client is dropped (and its
        credential cleared), since a replaying kernel must not also hold a live key.
        """
        from ._recording import Recording

        if self.recorder is not None:
            raise ConfigError("This kernel is recording: run %freddy record --stop before replaying")
        recording = Recording.load(path)
        if fallback:
            self.connect_sandbox()
        else:
            self.forget()
        with shielded():
            self.replay, self.source = recording, f"the recording {recording.path}"
        status = self.status(brief=True)
        if recording.skipped:
            status["notice"] = f"{len(recording.skipped)} line(s) skipped: " + "; ".join(recording.skipped[:3])
        return status

    def start_recording(self, path: str, reuse: bool) -> Status:
        """Append every answered call to ``path``; ``reuse`` serves what it already holds first."""
        from ._recording import Recorder, Recording

        if self.replay is not None:
            raise ConfigError("This kernel replays a recording: there is nothing live to record")
        reused = Recording.load(path, missing_ok=True) if reuse else None
        self.stop_recording()
        self.recorder, self.reuse = Recorder(path), reused
        held = f"; {reused.count} recorded answers are reused, the rest sent and recorded" if reused else ""
        return Status(title="Recording", to=str(self.recorder.path), state="every answered call is appended" + held)

    def stop_recording(self) -> Status:
        recorder, self.recorder, self.reuse = self.recorder, None, None
        if recorder is None:
            return Status(title="Recording", state="not recording")
        recorder.close()
        return Status(title="Recording stopped", to=str(recorder.path), answers=recorder.written)

    def answers(self) -> Answers:
        """Where this cell's answers come from: the client, the recording, or both."""
        from ._replay import Answers

        if self.client is None and self.replay is None:
            raise NotAuthenticated("Not authenticated")
        client = self.client
        return Answers(
            client,
            sandbox=client is not None and self._on_sandbox(client),
            recording=self.replay or self.reuse,
            recorder=self.recorder,
            forbidden=(self.organization.id, self.settings.organization_id),
            speed=self.settings.replay_speed,
        )

    def _on_sandbox(self, client: FreddyClient) -> bool:
        return bool(
            getattr(client, "is_sandbox", False)
            or (self.sandbox is not None and _same_url(client.base_url, self.sandbox.url))
        )

    def login_base_url(self) -> str | None:
        """Sign in against the running sandbox if there is one, else the configured API."""
        return self.sandbox.url if self.sandbox is not None else None

    def begin_login(self, user: str, password: str) -> str:
        """Step 1 of ``--login``: returns the message to show above the code field."""
        client = self.new_client(None, base_url=self.login_base_url())
        try:
            challenge = client.login(user, password)
        except BaseException:  # Ctrl-C included: a half-made sign-in holds nothing
            _discard(client)
            raise
        self._pending_login = (client, challenge)
        where = getattr(challenge, "email", None) or "your email address"
        return f"A 4-digit code was sent to {where}. Type it below and press Enter."

    def finish_login(self, code: str) -> Status:
        """Step 2 of ``--login``: verify the emailed code; the client installs refreshing tokens."""
        if self._pending_login is None:
            raise NotAuthenticated(
                "No sign-in in progress (it was cancelled or replaced by a newer one)", code=NO_LOGIN_PENDING
            )
        client, challenge = self._pending_login
        client.verify(challenge, code)
        self._pending_login = None
        return self._install(client, "email/password sign-in (bearer tokens, refreshed automatically)")

    def cancel_login(self) -> None:
        """Drop a sign-in stopped between its two steps (the prompt's Cancel)."""
        pending, self._pending_login = self._pending_login, None
        if pending is not None:
            _discard(pending[0])

    # -- reading -----------------------------------------------------------------------------

    def require_client(self) -> FreddyClient:
        """The connected client; not being connected is the remedy table's most common case."""
        if self.client is None and self.replay is not None:
            raise NotAuthenticated("This kernel replays a recording and has no server to ask: this needs a connection")
        if self.client is None:
            raise NotAuthenticated("Not authenticated")
        return self.client

    def _organization_fields(self, client: FreddyClient) -> dict[str, str]:
        """The organization requests go to, and the configured one when ``%config`` changed it
        since connecting: the client keeps the id it was made with, so the new one (whose name
        was never asked) applies from the next ``%freddy_auth``."""
        fields = {"organization": self.organization.shown()}
        configured = self.settings.organization_id or None
        if configured != client.organization_id:
            fields["organization_next"] = configured or "chosen by the server"
        return fields

    def status(self, brief: bool = False) -> Status:
        """The connection as data: fingerprint only, never a secret."""
        if self.replay is not None:
            return self._replay_status(brief)
        if self.client is None:
            return Status(title="Freddy", state="not connected", how=CONNECT)
        client, cred = self.client, self.client.credential
        in_kernel = self.sandbox is not None and _same_url(client.base_url, self.sandbox.url)
        status = Status(
            title="Connected" if brief else "Freddy status",
            method="the sandbox's demo key" if in_kernel else getattr(cred, "method", None),
            key=getattr(cred, "fingerprint", None),
            base_url=client.base_url,
            **self._organization_fields(client),
            source=self.source,
            sandbox=self._on_sandbox(client),
        )
        if self.recorder is not None:
            status["recording_to"] = str(self.recorder.path)
        if brief:
            return status
        expires = cred.expires_in() if cred is not None else None
        status["token_expires"] = "never (API key)" if expires is None else f"in {human_duration(expires)}"
        status["refreshes"] = getattr(cred, "refreshes", 0)
        limit = getattr(client, "rate_limit", None)
        status["rate_limit"] = _rate_limit_text(limit)
        return status

    def _replay_status(self, brief: bool) -> Status:
        assert self.replay is not None, "called only while replaying"
        about = self.replay.summary()
        origin = "the built-in sandbox: FAKE answers" if about["sandbox"] else ", ".join(about["hosts"]) or "unknown"
        return Status(
            title="Connected" if brief else "Freddy status",
            method="replay (no network, no key)",
            source=self.source,
            answers=about["answers"],
            recorded=about["recorded"],
            recorded_from=origin,
            not_recorded="answered by the sandbox, labelled" if self.client is not None else "a one-line error",
            replay="answers recorded earlier, none is sent anywhere",
        )

    # -- forgetting --------------------------------------------------------------------------

    def logout(self) -> Status:
        """Revoke server-side where possible, then forget every credential and the sandbox.

        Forgetting happens whatever the revoke did, Ctrl-C included: an interrupted logout still
        forgets, then fails the cell saying so.
        """
        failure, interrupted = None, False
        if self.client is not None:
            try:
                self.client.logout()
            except FreddyError as exc:  # forgetting locally must happen even if revoking failed
                failure = str(exc)
            except KeyboardInterrupt:
                interrupted = True
        self.forget()
        if interrupted:
            raise Interrupted(
                "Interrupted: the server-side revoke did not finish, but every credential was forgotten in this kernel"
            )
        note = f" (server-side revoke failed: {failure})" if failure is not None else ""
        return Status(title="Logged out", state="every credential forgotten in this kernel" + note)

    def forget(self) -> None:
        """Drop the clients (clearing their credentials), the pending sign-in and the sandbox;
        shielded, so a Ctrl-C cannot leave a credential half forgotten."""
        with shielded():
            if self.client is not None:
                _discard(self.client)
            if self._pending_login is not None:
                _discard(self._pending_login[0])
            self.client = self._pending_login = self.source = self.thread_id = None
            self.organization = Organization()
            self.replay = None
            self._stop_sandbox()
            self.stop_recording()

    def _stop_sandbox(self) -> None:
        sandbox, self.sandbox = self.sandbox, None
        if sandbox is not None:
            sandbox.stop()


def _chosen_base_url(configured: str) -> str | None:
    """The configured base URL, or None when it is the built-in default nobody set (the client
    then names the other official host if the default cannot be reached)."""
    from ._hosts import BASE_URL_ENV
    from ._payloads import DEFAULT_BASE_URL

    if os.environ.get(BASE_URL_ENV) or configured.rstrip("/") != DEFAULT_BASE_URL:
        return configured
    return None


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _discard(client: FreddyClient) -> None:
    """Clear the client's credential before closing it: a dropped client must hold no secret."""
    credential = client.credential
    if credential is not None:
        credential.clear()
    client.close()


def _rate_limit_text(limit: RateLimitStatus | None) -> str:
    if limit is None:
        return "not reported yet (no request made, or the server sends no X-RateLimit-* headers)"
    reset = getattr(limit, "reset_at", None)
    when = f", full again at {time.strftime('%H:%M:%S', time.localtime(reset))}" if reset else ""
    return f"{limit.remaining}/{limit.limit} remaining{when}"


def _why_waiting(client: FreddyClient, retries_before: int, limiter: bool) -> str:
    """Why a call pauses: refused for the rate (a 429) and retried, paced to the rate limit before
    its first send, or retried after a passing failure."""
    retried = client.stats.get("retries", 0) > retries_before
    if limiter:
        return "rate limited, retrying" if retried else "rate limit reached, sending"
    return "the last attempt failed, retrying"
