"""Who may call the sandbox: demo organizations, users, API keys, JWTs, and the auth check.

Mirrors the backend's middleware: an ``api-key``/``x-api-key`` header is tried
first (an empty one counts as absent), then ``Authorization: Bearer <access JWT>`` with a
case-sensitive ``Bearer``. Tokens are real HS256 JWTs with ``iat``/``nbf``/``exp``/``jti``/
``type``/``sub`` so clients that decode ``exp`` behave as against the real API; expiry is
judged by the sandbox clock (a seam tests can advance) rather than PyJWT's wall clock.
"""

from __future__ import annotations

import secrets
import string
import threading
import uuid
from dataclasses import dataclass

import jwt

from ._envelope import ApiError

REFRESH_LIFETIME = 30 * 24 * 3600.0
DEMO_PASSWORD = "sandbox-demo"
_ALNUM = string.ascii_letters + string.digits


def new_id(prefix):
    return prefix + uuid.uuid4().hex


@dataclass
class Org:
    id: str
    name: str
    created_at: float

    def as_json(self, owner_id, stamp):
        return {
            "id": self.id,
            "name": self.name,
            "type": "organization",
            "description": "Local Freddy sandbox organization (fake data)",
            "domain": "sandbox.local",
            "domains": ["sandbox.local"],
            "website": None,
            "industry": "education",
            "company_size": "1-10",
            "logo_image": None,
            "image_url": None,
            "is_active": True,
            "owner_id": owner_id,
            "api_usage_limit": 100.0,
            "total_usage_limit": 500.0,
            "storage_free_bytes_allowance": 0,
            "pricing_tier_id": None,
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.created_at),
            "users_added_from_domains": 0,
        }


@dataclass
class User:
    id: str
    email: str
    username: str
    full_name: str
    password: str
    org_ids: list
    active: bool = True
    created_at: float = 0.0
    last_login: float | None = None

    def profile(self, stamp):
        first, _, last = self.full_name.partition(" ")
        return {
            "id": self.id,
            "email": self.email,
            "username": self.username,
            "full_name": self.full_name,
            "first_name": first,
            "last_name": last or None,
            "birthday": None,
            "profile_image": None,
            "timezone": "UTC",
            "country_id": None,
            "post_code": None,
            "gender": None,
            "is_active": self.active,
            "last_verified": stamp(self.created_at),
            "last_login": stamp(self.last_login) if self.last_login else None,
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.created_at),
            "current_organization_id": self.org_ids[0] if self.org_ids else None,
        }


@dataclass
class Principal:
    """The authenticated caller: an organization API key or a user's access token."""

    kind: str  # "api_key" | "user"
    user: User
    org_ids: list
    api_key: str | None = None

    @property
    def bucket(self):
        return f"key:{self.api_key}" if self.kind == "api_key" else f"user:{self.user.id}"


def _api_key():
    return "ak_" + "".join(secrets.choice(_ALNUM) for _ in range(40))


class Directory:
    """Demo data: an organization with a user and an API key, a teacher in two organizations,
    a deactivated user, and a foreign organization nobody here belongs to."""

    def __init__(self, clock):
        now = clock()
        self.org = Org(new_id("org_"), "Sandbox Academy", now)
        self.second_org = Org(new_id("org_"), "Sandbox Summer School", now)
        self.foreign_org = Org(new_id("org_"), "Someone Else's Org", now)
        self.orgs = {o.id: o for o in (self.org, self.second_org, self.foreign_org)}
        self.user = User(
            new_id("usr_"),
            "demo@sandbox.freddy.local",
            "demo",
            "Demo Student",
            DEMO_PASSWORD,
            [self.org.id],
            created_at=now,
        )
        self.teacher = User(
            new_id("usr_"),
            "teacher@sandbox.freddy.local",
            "teacher",
            "Demo Teacher",
            DEMO_PASSWORD,
            [self.org.id, self.second_org.id],
            created_at=now,
        )
        self.deactivated = User(
            new_id("usr_"),
            "deactivated@sandbox.freddy.local",
            "deactivated",
            "Former Student",
            DEMO_PASSWORD,
            [],
            active=False,
            created_at=now,
        )
        self.users = {u.id: u for u in (self.user, self.teacher, self.deactivated)}
        self.api_key = _api_key()
        self.extra_keys = {state: _api_key() for state in ("expired", "paused", "deactivated")}
        self._key_state = {self.api_key: "active", **{k: s for s, k in self.extra_keys.items()}}

    def find_user(self, login):
        wanted = login.strip().lower()
        for user in self.users.values():
            if wanted in (user.email.lower(), user.username.lower()):
                return user
        return None

    def principal_for_key(self, key):
        state = self._key_state.get(key)
        if state is None:
            raise _unauthorized("INVALID_API_KEY", "Your API key is invalid.", "API key not found")
        if state != "active":
            code = "API_KEY_" + state.upper()
            raise _unauthorized(code, f"Your API key is {state}.", f"API key is {state}")
        return Principal("api_key", self.user, [self.org.id], api_key=key)


def _unauthorized(code, message, system_message):
    return ApiError(401, code, message, system_message)


class Tokens:
    """Issues and checks access/refresh JWTs; refresh tokens are also tracked server-side."""

    def __init__(self, clock, lifetime):
        self._secret = secrets.token_bytes(32)
        self._clock = clock
        self.lifetime = float(lifetime)
        self._refresh = {}  # jti -> {"user_id", "device_id", "exp", "revoked"}
        self._lock = threading.Lock()

    def _encode(self, user, kind, lifetime):
        now = round(self._clock(), 3)
        exp = now + lifetime
        claims = {
            "sub": user.id,
            "type": kind,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": int(exp) if float(exp).is_integer() else round(exp, 3),
            "env": "sandbox",
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), claims

    def issue(self, user, device_id):
        """A fresh access + refresh token pair (verify, dev-login)."""
        access, _ = self._encode(user, "access", self.lifetime)
        refresh, claims = self._encode(user, "refresh", REFRESH_LIFETIME)
        with self._lock:
            self._refresh[claims["jti"]] = {
                "user_id": user.id,
                "device_id": device_id,
                "exp": claims["exp"],
                "revoked": False,
            }
        return access, refresh

    def access_for(self, user):
        return self._encode(user, "access", self.lifetime)[0]

    def expires_in(self):
        return int(self.lifetime) if self.lifetime.is_integer() else self.lifetime

    def decode(self, token):
        """Claims of a token signed by this sandbox; raises TOKEN_INVALID/TOKEN_EXPIRED/TOKEN_MISSING_SUBJECT."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            claims = None
        if claims is None or not isinstance(claims.get("exp"), (int, float)):
            raise _unauthorized("TOKEN_INVALID", "Your session is invalid.", "Token signature or format is invalid")
        if not claims.get("sub"):
            raise _unauthorized("TOKEN_MISSING_SUBJECT", "Your session is invalid.", "Token has no subject")
        if self._clock() >= claims["exp"]:
            raise _unauthorized("TOKEN_EXPIRED", "Your session has expired.", "Token has expired")
        return claims

    def refresh_record(self, claims):
        with self._lock:
            return self._refresh.get(claims.get("jti"))

    def revoke(self, user_id, jti=None):
        """Revoke one refresh token (by jti) or all of a user's; returns how many were live."""
        count = 0
        with self._lock:
            for key, record in self._refresh.items():
                if record["user_id"] == user_id and (jti is None or key == jti) and not record["revoked"]:
                    record["revoked"] = True
                    count += 1
        return count


def authenticate(headers, directory, tokens):
    """The caller of a protected route, or the 401 the real middleware would give."""
    key = (headers.get("x-api-key") or headers.get("api-key") or "").strip()
    key_error = None
    if key:
        try:
            return directory.principal_for_key(key)
        except ApiError as exc:
            key_error = exc
    authorization = headers.get("Authorization")
    if authorization is None:
        if key_error is not None:
            raise key_error
        raise _unauthorized(
            "AUTHENTICATION_REQUIRED",
            "Authentication required. Please provide a valid API key.",
            "Missing or invalid authorization header",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme != "Bearer" or not token.strip():
        raise _unauthorized(
            "AUTHENTICATION_REQUIRED",
            "Authentication required. Please sign in to continue.",
            "Missing or invalid authorization header",
        )
    claims = tokens.decode(token.strip())
    user = directory.users.get(claims["sub"])
    if claims.get("type") != "access" or user is None or not user.active:
        raise _unauthorized("TOKEN_INVALID", "Your session is invalid.", "Not a valid access token")
    return Principal("user", user, list(user.org_ids))
