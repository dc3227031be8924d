"""Sandbox authentication: header order, every documented 401, the email-code login, tokens."""

import threading
import time

import jwt
import pytest

from freddy_magic.sandbox import Sandbox

from .http_api import SandboxHTTP, bearer, error_of, sandbox_on_fake_clock


@pytest.fixture
def clocked():
    """``(clock, sandbox, http)``: one-second tokens on a clock the test moves."""
    with sandbox_on_fake_clock(token_lifetime=1.0) as parts:
        yield parts


@pytest.mark.parametrize("header", ["api-key", "x-api-key", "X-API-Key", "API-Key"])
def test_api_key_in_either_header_is_accepted(sandbox_http, shared_sandbox, header):
    r = sandbox_http.get("/v1/auth/validate", key=False, headers={header: shared_sandbox.api_key})
    assert r.status_code == 200
    assert r.json() == {"is_valid": True, "error": None, "requires_reconnect": None}


@pytest.mark.parametrize(
    "headers, code",
    [
        ({}, "AUTHENTICATION_REQUIRED"),
        ({"api-key": ""}, "AUTHENTICATION_REQUIRED"),
        ({"api-key": "ak_" + "x" * 40}, "INVALID_API_KEY"),
        ({"Authorization": "bearer abc.def.ghi"}, "AUTHENTICATION_REQUIRED"),
        ({"Authorization": "Bearer "}, "AUTHENTICATION_REQUIRED"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "AUTHENTICATION_REQUIRED"),
        ({"Authorization": "Bearer not-a-jwt"}, "TOKEN_INVALID"),
    ],
)
def test_each_missing_or_bad_credential_has_its_401(sandbox_http, headers, code):
    error = error_of(sandbox_http.get("/v1/models", key=False, headers=headers), 401, code)
    assert error["type"] == "authentication_error"


@pytest.mark.parametrize("state", ["expired", "paused", "deactivated"])
def test_key_lifecycle_states_have_their_codes(sandbox_http, shared_sandbox, state):
    r = sandbox_http.get("/v1/models", key=False, headers={"x-api-key": shared_sandbox.extra_keys[state]})
    error_of(r, 401, "API_KEY_" + state.upper())


def test_empty_api_key_is_ignored_so_the_bearer_decides(sandbox_http):
    access = sandbox_http.tokens()["access_token"]
    r = sandbox_http.get("/v1/user/me", key=False, headers={"x-api-key": "", **bearer(access)})
    assert r.status_code == 200 and r.json()["email"] == sandbox_http.sb.email


def test_api_key_is_tried_before_the_bearer(sandbox_http, shared_sandbox):
    r = sandbox_http.get(
        "/v1/auth/validate", key=False, headers={"api-key": shared_sandbox.api_key, **bearer("garbage")}
    )
    assert r.status_code == 200


def test_auth_is_checked_before_body_validation(sandbox_http):
    r = sandbox_http.post(
        "/v1/model/response", key=False, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    error_of(r, 401, "AUTHENTICATION_REQUIRED")


def test_refresh_token_is_not_accepted_as_bearer(sandbox_http):
    refresh = sandbox_http.tokens()["refresh_token"]
    error_of(sandbox_http.get("/v1/models", key=False, headers=bearer(refresh)), 401, "TOKEN_INVALID")


def test_token_signed_by_someone_else_is_invalid(sandbox_http, shared_sandbox):
    claims = {"sub": "usr_x", "type": "access", "exp": 9_999_999_999, "jti": "j"}
    forged = jwt.encode(claims, "a-different-secret-of-32-bytes!!", "HS256")
    error_of(sandbox_http.get("/v1/models", key=False, headers=bearer(forged)), 401, "TOKEN_INVALID")


def test_login_sends_a_code_to_the_outbox_and_verify_returns_tokens(sandbox_http, shared_sandbox):
    body = sandbox_http.login()
    assert body["success"] is True and body["requires_verification"] is True
    assert body["next_step"] == "email_verification" and body["email"] == shared_sandbox.email
    mail = [m for m in sandbox_http.get("/sandbox/outbox", key=False).json() if m["email_key"] == body["email_key"]]
    assert len(mail) == 1 and mail[0]["to"] == shared_sandbox.email and 1000 <= mail[0]["code"] <= 9999
    r = sandbox_http.post(
        "/v1/auth/verify", key=False, json={"email_key": body["email_key"], "verification_code": mail[0]["code"]}
    )
    assert r.status_code == 200
    tokens = r.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 3600
    assert tokens["user"]["current_organization_id"] == shared_sandbox.organization_id
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "nbf", "type", "sub", "jti"} <= set(claims)
    assert claims["type"] == "access" and claims["sub"] == tokens["user"]["id"]
    assert claims["exp"] - claims["iat"] == 3600
    me = sandbox_http.get("/v1/user/me", key=False, headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == claims["sub"]


def test_login_code_is_logged(sandbox_http, caplog):
    caplog.set_level("INFO", logger="freddy_magic")
    email_key = sandbox_http.login(sandbox_http.sb.username)["email_key"]
    code = next(m["code"] for m in sandbox_http.sb.outbox() if m["email_key"] == email_key)
    assert any(str(code) in rec.getMessage() and email_key in rec.getMessage() for rec in caplog.records)


def test_login_by_username_is_case_insensitive_and_trimmed(sandbox_http, shared_sandbox):
    assert sandbox_http.login("  " + shared_sandbox.email.upper() + " ")["email"] == shared_sandbox.email


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"email_or_username": "demo", "password": "wrong"}, 401, "INVALID_CREDENTIALS"),
        ({"email_or_username": "nobody@example.com", "password": "sandbox-demo"}, 401, "INVALID_CREDENTIALS"),
        ({"email_or_username": "demo"}, 401, "INVALID_CREDENTIALS"),
        ({"email": "demo@sandbox.freddy.local", "password": "sandbox-demo"}, 422, None),
        ({"email_or_username": "not@an@email", "password": "x"}, 422, "INVALID_EMAIL_FORMAT"),
    ],
)
def test_login_errors(sandbox_http, body, status, code):
    error_of(sandbox_http.post("/v1/auth/login", key=False, json=body), status, code)


def test_login_with_empty_body_is_401(sandbox_http):
    error_of(sandbox_http.post("/v1/auth/login", key=False), 401, "INVALID_CREDENTIALS")


def test_deactivated_account_gets_403(sandbox_http, shared_sandbox):
    r = sandbox_http.post(
        "/v1/auth/login",
        key=False,
        json={"email_or_username": shared_sandbox.deactivated_email, "password": shared_sandbox.password},
    )
    error = error_of(r, 403)
    assert "deactivated" in error["message"]


def test_verify_errors(sandbox_http):
    email_key = sandbox_http.login()["email_key"]
    code = next(m["code"] for m in sandbox_http.sb.outbox() if m["email_key"] == email_key)
    wrong = 1000 + (code - 1000 + 1) % 9000
    verify = lambda key, value: sandbox_http.post(
        "/v1/auth/verify",
        key=False,
        json={"email_key": key, "verification_code": value},
    )
    error_of(verify("00000000-0000-4000-8000-000000000000", 1234), 404)
    error_of(verify(email_key, 123), 422)
    error_of(verify(email_key, 0), 422)
    error_of(verify(email_key, "abcd"), 422)
    error_of(verify(email_key, wrong), 401, "INVALID_VERIFICATION_CODE")
    assert verify(email_key, code).status_code == 200
    error_of(verify(email_key, code), 409)


def test_verification_code_expires_after_five_minutes(clocked):
    clock, sandbox, client = clocked
    email_key = client.login()["email_key"]
    code = sandbox.outbox()[-1]["code"]
    clock.advance(301)
    r = client.post("/v1/auth/verify", key=False, json={"email_key": email_key, "verification_code": code})
    error_of(r, 401, "VERIFICATION_CODE_EXPIRED")


def test_access_token_expires_after_its_lifetime(clocked):
    clock, _, client = clocked
    tokens = client.tokens()
    assert tokens["expires_in"] == 1
    assert client.get("/v1/auth/validate", key=False, headers=bearer(tokens["access_token"])).status_code == 200
    clock.advance(0.5)
    assert client.get("/v1/auth/validate", key=False, headers=bearer(tokens["access_token"])).status_code == 200
    clock.advance(0.5)
    error_of(client.get("/v1/auth/validate", key=False, headers=bearer(tokens["access_token"])), 401, "TOKEN_EXPIRED")


def test_refresh_returns_new_access_and_same_refresh_token(clocked):
    clock, sandbox, client = clocked
    tokens = client.tokens()
    clock.advance(5)
    r = client.post("/v1/auth/refresh", key=False, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    body = r.json()
    assert body["refresh_token"] == tokens["refresh_token"] and body["token_type"] == "bearer"
    assert body["device_id"] == tokens["device_id"] and body["access_token"] != tokens["access_token"]
    assert client.get("/v1/models", key=False, headers=bearer(body["access_token"])).status_code == 200
    assert sandbox.calls("/v1/auth/refresh") == 1


def test_refresh_lifetime_knob_applies_while_running(clocked):
    _clock, sandbox, client = clocked
    tokens = client.tokens()
    sandbox.set_token_lifetime(120)
    r = client.post("/v1/auth/refresh", key=False, json={"refresh_token": tokens["refresh_token"]})
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120 and r.json()["expires_in"] == 120


@pytest.mark.parametrize("token", ["", "has space", "not-a-jwt"])
def test_refresh_rejects_bad_tokens(sandbox_http, token):
    r = sandbox_http.post("/v1/auth/refresh", key=False, json={"refresh_token": token})
    assert r.status_code in (401, 422)
    error_of(r, r.status_code)


def test_refresh_with_access_token_is_401(sandbox_http):
    access = sandbox_http.tokens()["access_token"]
    error_of(sandbox_http.post("/v1/auth/refresh", key=False, json={"refresh_token": access}), 401, "TOKEN_INVALID")


def test_expired_refresh_token_is_401(clocked):
    clock, _, client = clocked
    refresh = client.tokens()["refresh_token"]
    clock.advance(31 * 24 * 3600)
    error_of(client.post("/v1/auth/refresh", key=False, json={"refresh_token": refresh}), 401, "TOKEN_EXPIRED")


def test_logout_revokes_all_refresh_tokens(sandbox_http):
    first, second = sandbox_http.tokens(), sandbox_http.tokens()
    r = sandbox_http.post("/v1/auth/logout", key=False, headers=bearer(first["access_token"]))
    assert r.status_code == 200
    assert r.json()["message"] == "Successfully logged out" and r.json()["logged_out_at"].endswith("Z")
    for tokens in (first, second):
        r = sandbox_http.post("/v1/auth/refresh", key=False, json={"refresh_token": tokens["refresh_token"]})
        error_of(r, 401, "TOKEN_INVALID")


def test_logout_with_one_refresh_token_revokes_only_that_one(sandbox_http):
    first, second = sandbox_http.tokens(), sandbox_http.tokens()
    r = sandbox_http.post(
        "/v1/auth/logout",
        key=False,
        headers=bearer(first["access_token"]),
        json={"refresh_token": first["refresh_token"]},
    )
    assert r.status_code == 200
    error_of(sandbox_http.post("/v1/auth/refresh", key=False, json={"refresh_token": first["refresh_token"]}), 401)
    assert (
        sandbox_http.post("/v1/auth/refresh", key=False, json={"refresh_token": second["refresh_token"]}).status_code
        == 200
    )
    again = sandbox_http.post(
        "/v1/auth/logout",
        key=False,
        headers=bearer(first["access_token"]),
        json={"refresh_token": first["refresh_token"]},
    )
    error_of(again, 422)


def test_logout_needs_a_user_session(sandbox_http):
    error_of(sandbox_http.post("/v1/auth/logout"), 401)


def test_dev_login_returns_tokens_directly(sandbox_http, shared_sandbox):
    r = sandbox_http.post(
        "/v1/auth/dev-login",
        key=False,
        json={"email_or_username": shared_sandbox.username, "password": shared_sandbox.password},
    )
    assert r.status_code == 200
    assert sandbox_http.get("/v1/models", key=False, headers=bearer(r.json()["access_token"])).status_code == 200


def test_auth_mode_advertises_dev_login(sandbox_http, shared_sandbox):
    body = sandbox_http.get("/v1/config/auth-mode", key=False).json()
    assert body["dev_login_enabled"] is True and body["dev_prefill_email"] == shared_sandbox.email


def test_outbox_can_be_filtered_by_recipient(sandbox_http, shared_sandbox):
    sandbox_http.login()
    assert sandbox_http.get("/sandbox/outbox", key=False, params={"to": "someone@else"}).json() == []
    assert all(
        m["to"] == shared_sandbox.email
        for m in sandbox_http.get("/sandbox/outbox", key=False, params={"to": shared_sandbox.email}).json()
    )


@pytest.mark.slow
def test_one_second_lifetime_on_the_real_clock():
    """Without a fake clock the sandbox judges expiry by real time, so this test waits for it."""
    with Sandbox(rate_limit=None, token_lifetime=1.0) as sandbox, SandboxHTTP(sandbox) as client:
        tokens = client.tokens()
        exp = jwt.decode(tokens["access_token"], options={"verify_signature": False})["exp"]
        r = client.get("/v1/auth/validate", key=False, headers=bearer(tokens["access_token"]))
        if time.time() < exp:  # answered before the expiry (almost always): it must have been valid
            assert r.status_code == 200, r.text
        threading.Event().wait(max(0.0, exp - time.time()))  # the passing of real time is what is tested
        assert time.time() >= exp
        error_of(
            client.get("/v1/auth/validate", key=False, headers=bearer(tokens["access_token"])), 401, "TOKEN_EXPIRED"
        )
