"""The one credential holder: an API key or bearer tokens, kept where nothing prints them.

The security contract: one object with ``__slots__``, a
repr that shows only a fingerprint, no pickling, copies that are the same object, and an auth
state machine that refreshes before expiry and at most once after a 401. The HTTP call that
renews a token is injected as ``refresher`` (the client provides it), so this module never
imports the client and can be driven by a fake clock and a fake refresher in tests.

Deadlines live on the monotonic clock: a wall-clock jump must not start a refresh storm, and the
server's ``expires_in`` is preferred to the JWT ``exp`` because a skewed local clock would make a
fresh token look expired.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from . import _redaction
from ._errors import AuthError, ConfigError, NotAuthenticated
from ._expiry import Schedule, jwt_lifetime
from ._redaction import Masked

_log = logging.getLogger("freddy_magic")

_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SECRET_LENGTH = 1024
#: ``refresher(refresh_token) -> dict``: the token endpoint's JSON answer.
Refresher = Callable[[str], Any]
_AUTH_HOW = "set a new Credential on the client (client.credential = ...)"


def _clean(value: object, what: str) -> str:
    """Normalise a secret at intake; errors name ``what`` and never the value (rule 6)."""
    problem = None
    if not isinstance(value, str):
        problem = f"{what} must be text"
    else:
        value = value.strip(" \t")
        if not value:
            problem = f"{what} is empty"
        elif _CONTROL.search(value):
            problem = (
                f"{what} contains a control character such as a line break "
                "(often a copy-paste artefact); paste it again"
            )
        elif not _PRINTABLE.fullmatch(value):
            problem = f"{what} contains a space or a non-ASCII character; keys and tokens never do"
        elif len(value) < _redaction.MIN_SECRET_LENGTH:
            problem = f"{what} is too short (under {_redaction.MIN_SECRET_LENGTH} characters)"
        elif len(value) > MAX_SECRET_LENGTH:
            problem = f"{what} is too long (over {MAX_SECRET_LENGTH} characters)"
    if problem or not isinstance(value, str):
        del value  # the error's traceback keeps this frame: it must not keep the secret
        raise ConfigError(problem or f"{what} must be text")
    return Masked(value)  # its repr is a fingerprint, in every frame it travels through


def intake(value: object, what: str) -> str:
    """A secret checked and masked as every credential's is; ConfigError names ``what`` only."""
    return _clean(value, what)


class Credential:
    """An API key or bearer tokens. Build with :meth:`api_key` or :meth:`bearer`."""

    __slots__ = (
        "__weakref__",
        "_clock",
        "_dead_gen",
        "_fp",
        "_lock",
        "_method",
        "_refresh_token",
        "_refresher",
        "_refreshes",
        "_state",
        "_wall",
        "_warned_gen",
    )

    def __init__(
        self,
        _method: str | None = None,
        *,
        _clock: Callable[[], float] = time.monotonic,
        _wall: Callable[[], float] = time.time,
    ) -> None:
        self._method = _method
        self._state: Schedule | None = None
        self._refresh_token: str | None = None
        self._refresher: Refresher | None = None
        self._clock = _clock
        self._wall = _wall
        self._lock = threading.Lock()
        self._refreshes = 0
        self._fp = "fp=none"
        self._dead_gen: int | None = None
        self._warned_gen: int | None = None

    @classmethod
    def api_key(cls, key: str) -> Credential:
        """An organisation API key, sent as the ``X-API-Key`` and ``api-key`` headers on every request."""
        problem: str | None = None
        try:
            key = _clean(key, "The API key")
        except ConfigError as exc:  # re-raised below from a frame that no longer holds the key
            problem, key = exc.message, ""
        if problem is not None:
            raise ConfigError(problem)
        cred = cls("api-key")
        cred._fp = _redaction.fingerprint(key)
        _redaction.register(key)
        cred._state = Schedule(key, 0, 0.0, None)
        return cred

    @classmethod
    def bearer(
        cls,
        access: str,
        refresh_token: str | None = None,
        expires_in: float | None = None,
        refresher: Refresher | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> Credential:
        """Bearer tokens; refreshable when both ``refresh_token`` and ``refresher`` are given.

        ``refresher(refresh_token) -> dict`` returns the token endpoint's JSON
        (``access_token``/``token``, optional ``refresh_token``, optional ``expires_in``).
        """
        access = _clean(access, "The access token")
        if refresh_token is not None:
            refresh_token = _clean(refresh_token, "The refresh token")
        cred = cls("bearer", _clock=clock, _wall=wall)
        cred._refresh_token = refresh_token
        cred._refresher = refresher
        cred._fp = _redaction.fingerprint(refresh_token or access)
        _redaction.register(refresh_token)
        cred._install(access, expires_in, gen=0)
        return cred

    # -- what callers may read ---------------------------------------------------------------

    @property
    def method(self) -> str | None:
        return self._method

    @property
    def fingerprint(self) -> str:
        return self._fp

    @property
    def refreshes(self) -> int:
        return self._refreshes

    @property
    def generation(self) -> int:
        """Which token is current (0 for the first, one more per refresh): what a caller passes
        to :meth:`refresh_after_401` for a request it sent with that token."""
        state = self._state
        return state.gen if state is not None else -1

    @property
    def can_refresh(self) -> bool:
        return bool(self._refresh_token and self._refresher and self._state is not None)

    def expires_in(self) -> float | None:
        """Seconds until the current token expires, or None when unknown or never."""
        state = self._state
        if state is None or state.deadline is None:
            return None
        return state.deadline - self._clock()

    def __repr__(self) -> str:
        if self._state is None:
            return "<Credential cleared>"
        extra = " refreshable" if self.can_refresh else ""
        return f"<Credential {self._method} {self._fp}{extra}>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("Credential objects cannot be pickled or stored")

    def __reduce__(self) -> NoReturn:
        raise TypeError("Credential objects cannot be pickled or stored")

    def __copy__(self) -> Credential:
        return self

    def __deepcopy__(self, memo: object) -> Credential:
        return self

    # -- used by the client ------------------------------------------------------------------

    def bind_refresher(self, refresher: Refresher) -> None:
        """Give a bearer credential that has a refresh token a way to use it (if it has none)."""
        if self._method == "bearer" and self._refresher is None:
            self._refresher = refresher

    def session_token(self) -> str | None:
        """The refresh token, for the logout call that revokes it server-side; None if absent."""
        return self._refresh_token

    def authorize(self, headers: dict[str, str]) -> int:
        """Put the auth header into ``headers``; return the token generation that was used.

        Refreshes first when the token is near expiry. The generation lets a 401 handler tell
        whether another thread already replaced the token this request carried.
        """
        state = self._state
        if state is None:
            raise NotAuthenticated(f"Not authenticated (the credential was cleared): {_AUTH_HOW}")
        if self._method == "api-key":
            # The SDK and the newest docs send X-API-Key, the seed page api-key; the server reads either.
            headers["X-API-Key"] = headers["api-key"] = state.token
            return state.gen
        if state.refresh_at is not None and self._clock() >= state.refresh_at:
            state = self._before_expiry(state)
        headers["Authorization"] = Masked("Bearer " + state.token)
        return state.gen

    def refresh_after_401(self, gen: int) -> bool:
        """Renew after a 401 on a request sent with generation ``gen``; False if impossible."""
        if not self.can_refresh:
            return False
        self._refresh(gen)
        return True

    def refresh_now(self, observe: Callable[[object], None]) -> None:
        """Renew the token at once, whatever its expiry, handing the token endpoint's answer to
        ``observe`` before it is applied (the live check reports its shape, then relies on it)."""
        with self._lock:
            state, refresher = self._state, self._refresher
            if state is None or refresher is None or not self._refresh_token:
                raise NotAuthenticated(f"Not authenticated (the credential cannot be renewed): {_AUTH_HOW}")
            payload = refresher(self._refresh_token)
            observe(payload)
            self._apply(payload, state)

    def clear(self) -> None:
        """Forget every secret (logout, replacement, unload)."""
        with self._lock:
            state, self._state = self._state, None
            if state is not None:
                _redaction.forget(state.token)
            if self._refresh_token:
                _redaction.forget(self._refresh_token)
            self._refresh_token = None
            self._refresher = None

    # -- the state machine -------------------------------------------------------------------

    def _install(self, access: str, expires_in: object, gen: int) -> None:
        now = self._clock()
        lifetime = None
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0:
            lifetime = float(expires_in)
            jwt_left = jwt_lifetime(access, self._wall)
            if jwt_left is not None and jwt_left <= 0:
                _log.warning(
                    "The new token's exp is already past by the local clock; the local "
                    "clock may be wrong. Using the server's expires_in (%.0f s).",
                    lifetime,
                )
        else:
            lifetime = jwt_lifetime(access, self._wall)
            if lifetime is not None and lifetime <= 0 and self._refresher is not None:
                _log.warning(
                    "The token's exp is already past by the local clock; refreshing only after the server rejects it."
                )
                lifetime = None
        old = self._state
        _redaction.register(access)
        self._state = Schedule(Masked(access), gen, now, lifetime)
        if old is not None and old.token != access:
            _redaction.forget(old.token)

    def _before_expiry(self, state: Schedule) -> Schedule:
        now = self._clock()
        if state.mandatory_at is None or state.deadline is None:  # a token that never expires
            return state
        if not self.can_refresh:
            return self._bare_expiry(state, state.deadline, now)
        if now >= state.mandatory_at:
            self._refresh(state.gen)
            return self._state or state
        # Advisory window (botocore's model): one thread refreshes, the others keep using the
        # still-valid token instead of queueing behind the network call.
        if not self._lock.acquire(blocking=False):
            return state
        try:
            if self._state is state:
                self._refresh_locked(state, advisory=True)
        finally:
            self._lock.release()
        return self._state or state

    def _bare_expiry(self, state: Schedule, deadline: float, now: float) -> Schedule:
        if now >= deadline:
            raise AuthError(
                "The bearer token has expired and cannot be refreshed (no refresh "
                "token): sign in again, or set a Credential with a fresh token",
                code="TOKEN_EXPIRED",
            )
        if self._warned_gen != state.gen:
            self._warned_gen = state.gen
            message = (
                f"The bearer token expires in {deadline - now:.0f} s and cannot be "
                "refreshed; tokens from a sign-in (login, then verify) renew automatically"
            )
            _log.warning(message)
            warnings.warn(message, stacklevel=4)
        return state

    def _refresh(self, gen: int) -> None:
        """Single flight: whoever holds the lock refreshes; later arrivals reuse the result."""
        with self._lock:
            state = self._state
            if state is None:
                raise NotAuthenticated(f"Not authenticated (the credential was cleared): {_AUTH_HOW}")
            if state.gen != gen:
                return
            if self._dead_gen == gen:
                raise AuthError("Your session expired and could not be renewed: sign in again", code="TOKEN_EXPIRED")
            self._refresh_locked(state, advisory=False)

    def _refresh_locked(self, state: Schedule, advisory: bool) -> None:
        refresher, refresh_token = self._refresher, self._refresh_token
        if refresher is None or refresh_token is None:
            raise NotAuthenticated(f"Not authenticated (the credential cannot be renewed): {_AUTH_HOW}")
        failure: Exception | None = None
        try:
            payload = refresher(refresh_token)
        except AuthError as exc:
            self._dead_gen = state.gen
            failure = exc
        except Exception as exc:  # noqa: BLE001 - transient (network, 5xx): the old token may still work
            failure = exc
        if failure is not None:
            if advisory:
                _log.warning("Token refresh failed (%s); retrying closer to expiry", type(failure).__name__)
                self._state = state.postponed((self._clock() + (state.mandatory_at or 0.0)) / 2)
                return
            raise failure
        self._apply(payload, state)

    def _apply(self, payload: object, state: Schedule) -> None:
        if not isinstance(payload, dict):
            payload = {}
        access = payload.get("access_token") or payload.get("token")
        if not access or not isinstance(access, str):
            raise AuthError("The token endpoint answered without an access token: sign in again")
        new_refresh = payload.get("refresh_token") or payload.get("refreshToken")
        if not isinstance(new_refresh, str) or new_refresh == self._refresh_token:
            new_refresh = None  # none, or not text: the current refresh token stays
        problem = None
        try:
            access = _clean(access, "The refreshed access token")
            new_refresh = None if not new_refresh else _clean(new_refresh, "The refreshed refresh token")
        except ConfigError as exc:
            problem = exc.message
        if problem is not None:
            raise AuthError(f"The token endpoint answered with a malformed token ({problem}): sign in again")
        if new_refresh:
            _redaction.register(new_refresh)
            old, self._refresh_token = self._refresh_token, new_refresh
            _redaction.forget(old)
        self._install(access, payload.get("expires_in"), gen=state.gen + 1)
        self._refreshes += 1
        _log.debug("token refreshed (generation %d)", state.gen + 1)
