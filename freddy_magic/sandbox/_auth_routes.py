"""The login flow : login -> emailed 4-digit code -> verify -> tokens.

The "email" goes to a sandbox-only outbox (``GET /sandbox/outbox``) and to the log, so a
student or a test can complete the real two-step flow without a mail server. Status codes
follow the backend spec: unknown ``email_key`` 404, wrong or expired code 401, reuse 409,
a code that is not 4 digits 422; login failures are one generic 401 (anti-enumeration).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import uuid

from ._bodies import get_object, get_str, read_json
from ._envelope import ApiError, invalid, json_response, timestamp

CODE_LIFETIME = 300.0
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
log = logging.getLogger("freddy_magic")


class LoginDesk:
    """Pending verification codes and the outbox they were "sent" to."""

    def __init__(self, clock):
        self._clock = clock
        self._pending = {}  # email_key -> {"user", "code", "sent_at", "used", "device"}
        self._outbox = []
        self._lock = threading.Lock()

    def send_code(self, user, device):
        email_key = str(uuid.uuid4())
        code = 1000 + secrets.randbelow(9000)
        now = self._clock()
        with self._lock:
            self._pending[email_key] = {"user": user, "code": code, "sent_at": now, "used": False, "device": device}
            self._outbox.append({"to": user.email, "code": code, "email_key": email_key, "sent_at": timestamp(now)})
        log.info("sandbox: verification code %04d for %s (email_key %s)", code, user.email, email_key)
        return email_key

    def outbox(self, to=None):
        with self._lock:
            return [dict(m) for m in self._outbox if to is None or m["to"] == to]

    def redeem(self, email_key, code):
        now = self._clock()
        with self._lock:
            entry = self._pending.get(email_key)
            if entry is None:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "Verification request not found.", "Unknown email_key")
            if entry["used"]:
                raise ApiError(
                    409,
                    "VERIFICATION_CODE_ALREADY_USED",
                    "This code was already used.",
                    "Verification code already used",
                )
            if now - entry["sent_at"] > CODE_LIFETIME:
                raise ApiError(
                    401, "VERIFICATION_CODE_EXPIRED", "Your verification code has expired.", "Verification code expired"
                )
            if entry["code"] != code:
                raise ApiError(
                    401, "INVALID_VERIFICATION_CODE", "Invalid verification code", "Verification code does not match"
                )
            entry["used"] = True
            return entry["user"], entry["device"]


def _credentials(world, request):
    """The user named by a login body, or the generic 401 / the 403 for a removed account."""
    body = read_json(request, required=False) or {}
    if "email_or_username" not in body and "email" in body:
        raise invalid("email_or_username", "Field 'email_or_username' is required", "VALIDATION_ERROR", kind="missing")
    login = body.get("email_or_username")
    password = body.get("password")
    device = get_object(body, "device_information") or get_object(body, "device_info") or {}
    if isinstance(login, str) and "@" in login and not _EMAIL.match(login.strip()):
        raise invalid("email_or_username", "Invalid email format", "INVALID_EMAIL_FORMAT")
    user = world.directory.find_user(login) if isinstance(login, str) else None
    if user is None or not isinstance(password, str) or not secrets.compare_digest(password, user.password):
        raise ApiError(401, "INVALID_CREDENTIALS", "Invalid email, username, or password.", "Invalid credentials")
    if not user.active or not user.org_ids:
        raise ApiError(
            403,
            "NO_ORGANIZATION_MEMBERSHIP",
            "Your account has been deactivated.",
            "User is inactive or has no active organization membership",
        )
    return user, device


def login(world, call):
    user, device = _credentials(world, call.request)
    email_key = world.login.send_code(user, device)
    return json_response(
        {
            "success": True,
            "message": "Login credentials verified. Please check your email for verification code.",
            "email_key": email_key,
            "email": user.email,
            "requires_verification": True,
            "next_step": "email_verification",
            "type": "login",
            "user": {"id": user.id, "email": user.email, "username": user.username},
            "device_info": None,
        }
    )


def _token_answer(world, user, device):
    device_id = device.get("device_id") if isinstance(device.get("device_id"), str) else None
    device_id = device_id or "device-" + uuid.uuid4().hex[:12]
    access, refresh = world.tokens.issue(user, device_id)
    user.last_login = world.clock()
    return json_response(
        {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": world.tokens.expires_in(),
            "device_id": device_id,
            "user": {"id": user.id, "email": user.email, "verified": True, "current_organization_id": user.org_ids[0]},
        }
    )


def verify(world, call):
    body = read_json(call.request)
    email_key = get_str(body, "email_key", required=True)
    code = body.get("verification_code")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code.strip())
    if isinstance(code, bool) or not isinstance(code, int):
        raise invalid(
            "verification_code", "Field 'verification_code' must be an integer", "VALIDATION_ERROR", kind="int_type"
        )
    if not 1000 <= code <= 9999:
        raise invalid("verification_code", "Verification code must be 4 digits")
    user, device = world.login.redeem(email_key, code)
    return _token_answer(world, user, device)


def dev_login(world, call):
    user, device = _credentials(world, call.request)
    return _token_answer(world, user, device)


def _refresh_claims(world, token):
    """Claims of a live refresh token, or the 401 the backend gives for it."""
    failure: ApiError | None = None
    try:
        claims = world.tokens.decode(token)
    except ApiError as exc:
        failure = exc
    if failure is not None:
        failure.message = "Invalid refresh token" if failure.code != "TOKEN_EXPIRED" else failure.message
        raise failure
    record = world.tokens.refresh_record(claims)
    if claims.get("type") != "refresh" or record is None:
        raise ApiError(401, "TOKEN_INVALID", "Invalid refresh token", "Refresh token not recognised")
    if record["revoked"]:
        raise ApiError(401, "TOKEN_INVALID", "Invalid refresh token", "Refresh token has been revoked")
    return claims, record


def refresh(world, call):
    body = read_json(call.request)
    token = get_str(body, "refresh_token", required=True)
    if not token or any(c.isspace() for c in token):
        raise invalid("refresh_token", "Field 'refresh_token' must be a non-empty token without whitespace")
    claims, record = _refresh_claims(world, token)
    user = world.directory.users.get(claims["sub"])
    if user is None or not user.active:
        raise ApiError(404, "RESOURCE_NOT_FOUND", "User not found.", "User of this refresh token is gone or inactive")
    return json_response(
        {
            "access_token": world.tokens.access_for(user),
            "refresh_token": token,
            "token_type": "bearer",
            "expires_in": world.tokens.expires_in(),
            "device_id": record["device_id"],
        }
    )


def logout(world, call):
    principal = call.principal
    if principal.kind != "user":
        raise ApiError(
            401,
            "AUTHENTICATION_REQUIRED",
            "Logout needs a signed-in user session.",
            "Logout requires a Bearer access token, not an API key",
        )
    body = read_json(call.request, required=False) or {}
    token = get_str(body, "refresh_token")
    if token:
        try:
            claims, _ = _refresh_claims(world, token)
        except ApiError:
            claims = None
        if claims is None or claims["sub"] != principal.user.id:
            raise invalid("refresh_token", "Refresh token not found, not yours, revoked or expired")
        world.tokens.revoke(principal.user.id, claims["jti"])
    else:
        world.tokens.revoke(principal.user.id)
    return json_response({"message": "Successfully logged out", "logged_out_at": world.stamp(world.clock())})


def validate(world, call):
    return json_response({"is_valid": True, "error": None, "requires_reconnect": None})


def auth_mode(world, call):
    return json_response(
        {
            "authentication_mode": "email_verification",
            "dev_login_enabled": True,
            "dev_prefill_email": world.directory.user.email,
            "dev_prefill_password": world.directory.user.password,
        }
    )


def outbox(world, call):
    return json_response(world.login.outbox(call.request.args.get("to")))
