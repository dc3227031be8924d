"""FreddyClient's policy layer against scripted answers (``responses``): status handling,
refresh-and-replay, Retry-After, redirects, URL and header policy, error messages.

The same behaviour against the real loopback sandbox is in test_client_sandbox.py.
"""

import http.client
import logging

import pytest
import requests

from freddy_magic._auth import Credential
from freddy_magic._redaction import RedactingFilter
from freddy_magic._client import FreddyClient
from freddy_magic._errors import (APIError, AuthError, ConfigError, ConnectionFailed,
                                 NotAuthenticated, PermissionDenied, RateLimited,
                                 ResponseFormatError)

BASE = "https://api.example.test"
RESP = BASE + "/v1/model/response"
REFRESH = BASE + "/v1/auth/refresh"
KEY = "ak_unit_client_0123456789abcdef"
OK = {"success": True, "thread_id": "thread_1", "response": [{"type": "text", "text": "hello"}],
      "response_id": "resp_1", "stop_reason": "end_turn",
      "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}


def envelope(status, code, message="m"):
    return {"success": False, "error": {"code": code, "message": message, "status": status,
                                        "system_message": "sys", "trace_id": "req_abc123"}}


def key_client(clock, sleeper, **kw):
    return FreddyClient(BASE, Credential.api_key(KEY), clock=clock, sleep=sleeper, **kw)


def bearer_client(clock, sleeper):
    client = FreddyClient(BASE, clock=clock, sleep=sleeper)
    client.credential = Credential.bearer("access-token-old-abcdef", "refresh-token-abcdef123",
                                          expires_in=3600, clock=clock)
    return client


def count(scripted, url):
    return sum(1 for call in scripted.calls if call.request.url.split("?")[0] == url)


def test_create_response_sends_the_key_and_validated_body(scripted, clock, sleeper):
    scripted.post(RESP, json=OK)
    done = key_client(clock, sleeper).create_response("hi", model="gpt-4o", temperature=0.2,
                                                       max_output_tokens=50)
    assert (done.text, done.thread_id, done.response_id, done.input_tokens) == ("hello", "thread_1", "resp_1", 3)
    sent = scripted.calls[0].request
    assert sent.headers["api-key"] == KEY and "Authorization" not in sent.headers
    assert b'"max_output_synapses": 50' in sent.body and b'"model": "gpt-4o"' in sent.body
    kwargs = sent.req_kwargs
    assert kwargs["timeout"][0] == 10.0 and kwargs["verify"] is True


def test_401_then_200_is_one_refresh_and_one_replay_with_the_new_token(scripted, clock, sleeper):
    scripted.post(RESP, status=401, json=envelope(401, "TOKEN_EXPIRED"))
    scripted.post(RESP, json=OK)
    scripted.post(REFRESH, json={"access_token": "access-token-new-abcdef", "expires_in": 3600})
    client = bearer_client(clock, sleeper)
    assert client.create_response("hi").text == "hello"
    assert [c.request.url for c in scripted.calls] == [RESP, REFRESH, RESP]
    assert scripted.calls[1].request.headers.get("Authorization") is None
    assert scripted.calls[2].request.headers["Authorization"] == "Bearer access-token-new-abcdef"
    assert client.stats["refreshes"] == 1


def test_401_twice_is_auth_error_after_exactly_one_refresh(scripted, clock, sleeper):
    scripted.post(RESP, status=401, json=envelope(401, "TOKEN_INVALID"))
    scripted.post(REFRESH, json={"access_token": "access-token-new-abcdef"})
    with pytest.raises(AuthError) as info:
        bearer_client(clock, sleeper).create_response("hi")
    assert count(scripted, RESP) == 2 and count(scripted, REFRESH) == 1
    assert "sign in again" in str(info.value) and info.value.__context__ is None


@pytest.mark.parametrize("status, code", [(401, "TOKEN_INVALID"), (400, "invalid_grant"),
                                          (404, "USER_NOT_FOUND"), (422, "VALIDATION_ERROR")])
def test_refresh_refused_is_auth_error_without_replay(scripted, clock, sleeper, status, code):
    scripted.post(RESP, status=401, json=envelope(401, "TOKEN_EXPIRED"))
    scripted.post(REFRESH, status=status, json=envelope(status, code, "Invalid refresh token"))
    with pytest.raises(AuthError, match="sign in again"):
        bearer_client(clock, sleeper).create_response("hi")
    assert count(scripted, RESP) == 1 and count(scripted, REFRESH) == 1


def test_refresh_5xx_is_retried_then_reported(scripted, clock, sleeper):
    scripted.post(RESP, status=401, json=envelope(401, "TOKEN_EXPIRED"))
    scripted.post(REFRESH, status=500, json=envelope(500, "INTERNAL_ERROR"))
    with pytest.raises(APIError) as info:
        bearer_client(clock, sleeper).create_response("hi")
    assert info.value.status == 500 and count(scripted, REFRESH) == 3 and len(sleeper.calls) == 2


def test_403_is_never_refreshed_or_retried(scripted, clock, sleeper):
    scripted.post(RESP, status=403, json=envelope(403, "ORGANIZATION_ACCESS_DENIED"))
    with pytest.raises(PermissionDenied) as info:
        bearer_client(clock, sleeper).create_response("hi")
    assert len(scripted.calls) == 1 and sleeper.calls == []
    assert "don't have access to this organization" in str(info.value)


def test_api_key_401_is_not_retried_and_carries_the_troubleshooting_advice(scripted, clock, sleeper):
    scripted.post(RESP, status=401, json=envelope(401, "INVALID_API_KEY", "Your API key is invalid"))
    with pytest.raises(AuthError) as info:
        key_client(clock, sleeper).create_response("hi")
    assert len(scripted.calls) == 1
    text = str(info.value)
    assert "Invalid API key" in text and "not expired" in text and "trace_id=req_abc123" in text


@pytest.mark.parametrize("status, code, cls, words", [
    (401, "API_KEY_EXPIRED", AuthError, "has expired"),
    (401, "API_KEY_PAUSED", AuthError, "paused"),
    (401, "API_KEY_DEACTIVATED", AuthError, "deactivated"),
    (401, "AUTHENTICATION_REQUIRED", AuthError, "Missing authentication"),
    (401, "TOKEN_EXPIRED", AuthError, "session has expired"),
    (403, "INSUFFICIENT_PERMISSIONS", PermissionDenied, "Insufficient permissions"),
    (403, "NO_ORGANIZATION_MEMBERSHIP", PermissionDenied, "Account suspended or disabled"),
    (422, "INVALID_FIELD_VALUE", APIError, "INVALID_FIELD_VALUE"),
])
def test_error_codes_map_to_classes_and_advice(scripted, clock, sleeper, status, code, cls, words):
    scripted.post(RESP, status=status, json=envelope(status, code))
    with pytest.raises(cls) as info:
        key_client(clock, sleeper).create_response("hi")
    assert words in str(info.value) and info.value.status == status and info.value.code == code


def test_403_deactivated_account_message(scripted, clock, sleeper):
    scripted.post(RESP, status=403, json={"detail": "Your account has been deactivated"})
    with pytest.raises(PermissionDenied, match="Account suspended or disabled"):
        key_client(clock, sleeper).create_response("hi")


def test_fastapi_detail_list_and_html_502_become_one_readable_line(scripted, clock, sleeper):
    scripted.post(RESP, status=422, json={"detail": [{"loc": ["body", "temperature"],
                                                "msg": "Input should be less than or equal to 1",
                                                "type": "less_than_equal"}]})
    with pytest.raises(APIError, match="temperature: Input should be less than or equal to 1"):
        key_client(clock, sleeper).create_response("hi")
    page = "<html><head><title>502 Bad Gateway</title></head><body>\n<h1>Bad\nGateway</h1></body></html>"
    scripted.replace("POST", RESP, status=502, body=page, content_type="text/html")
    with pytest.raises(APIError) as info:
        key_client(clock, sleeper).create_response("hi")
    assert "502 Bad Gateway" in str(info.value) and "\n" not in str(info.value)
    assert "<" not in str(info.value) and len(scripted.calls) == 2  # POST 502 is not retried


def test_hostile_server_echoing_headers_is_redacted(scripted, clock, sleeper):
    scripted.post(RESP, status=500, body=f"debug: api-key: {KEY} Authorization: Bearer abc.def.ghi")
    with pytest.raises(APIError) as info:
        key_client(clock, sleeper).create_response("hi")
    assert KEY not in str(info.value) and "abc.def.ghi" not in str(info.value)


def test_429_retry_after_2_waits_2_seconds_on_the_injected_sleeper(scripted, clock, sleeper):
    scripted.post(RESP, status=429, json=envelope(429, "RATE_LIMIT_EXCEEDED"), headers={"Retry-After": "2"})
    scripted.post(RESP, json=OK)
    done = key_client(clock, sleeper).create_response("hi")
    assert done.retries == 1 and len(scripted.calls) == 2
    assert sleeper.calls == [pytest.approx(2.0)]


def test_retry_after_ms_wins_and_http_date_is_understood(scripted, clock, sleeper):
    scripted.post(RESP, status=429, headers={"Retry-After": "1", "retry-after-ms": "250"})
    scripted.post(RESP, status=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    scripted.post(RESP, json=OK)
    key_client(clock, sleeper).create_response("hi")
    assert sleeper.calls[0] == pytest.approx(0.25)
    assert len(sleeper.calls) == 2 and 0 <= sleeper.calls[1] <= 1.0  # past date: backoff instead


def test_retry_after_over_the_cap_fails_fast(scripted, clock, sleeper):
    scripted.post(RESP, status=429, json=envelope(429, "RATE_LIMIT_EXCEEDED"), headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited) as info:
        key_client(clock, sleeper).create_response("hi")
    assert info.value.retry_after == 3600 and sleeper.calls == [] and len(scripted.calls) == 1


def test_429_attempts_are_bounded(scripted, clock, sleeper):
    scripted.post(RESP, status=429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimited):
        key_client(clock, sleeper, max_retries=2).create_response("hi")
    assert len(scripted.calls) == 3


def test_idempotent_get_retries_5xx_but_post_does_not(scripted, clock, sleeper):
    scripted.get(BASE + "/v1/models", status=503)
    scripted.get(BASE + "/v1/models", json={"models": [{"key": "ftg-3.0"}], "total_count": 1})
    assert key_client(clock, sleeper).models() == [{"key": "ftg-3.0"}]
    assert count(scripted, BASE + "/v1/models") == 2
    scripted.post(RESP, status=503, json=envelope(503, "SERVICE_UNAVAILABLE"))
    with pytest.raises(APIError):
        key_client(clock, sleeper).create_response("hi")
    assert count(scripted, RESP) == 1


def test_connection_error_is_sanitised_and_raised_without_context(scripted, clock, sleeper):
    scripted.post(RESP, body=requests.exceptions.ConnectionError(f"boom with {KEY} inside"))
    with pytest.raises(ConnectionFailed) as info:
        key_client(clock, sleeper).create_response("hi")
    assert KEY not in str(info.value) and "api.example.test" in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_errors_naming_only_the_target_origin(scripted, clock, sleeper, status):
    scripted.post(RESP, status=status, headers={"Location": "https://evil.example.net:8443/steal?k=1"})
    with pytest.raises(ResponseFormatError) as info:
        key_client(clock, sleeper).create_response("hi")
    assert "https://evil.example.net:8443" in str(info.value) and "steal" not in str(info.value)
    assert len(scripted.calls) == 1


@pytest.mark.parametrize("url, words", [
    ("http://api.example.com", "plain http"), ("https://user:pw@api.example.com", "user name"),
    ("https://api.example.com/?api-key=x", "query"), ("ftp://api.example.com", "https://"),
    ("https://", "https://"), ("https://api.example.com:99999", "https://"),
])
def test_base_url_policy(url, words):
    with pytest.raises(ConfigError, match=words):
        FreddyClient(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://[::1]:9000/", "http://localhost:1/v1"])
def test_loopback_http_is_allowed(url):
    client = FreddyClient(url)
    assert client.base_url.startswith("http://") and not client.base_url.endswith(("/", "/v1"))


def test_sending_is_refused_while_wire_debugging_is_on(scripted, clock, sleeper, monkeypatch):
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    scripted.post(RESP, json=OK)
    with pytest.raises(ConfigError, match="wire debugging"):
        key_client(clock, sleeper).create_response("hi")
    assert len(scripted.calls) == 0


@pytest.mark.parametrize("params, name", [
    ({"temperature": 1.5}, "temperature"), ({"temperature": True}, "temperature"),
    ({"top_p": -0.1}, "top_p"), ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"max_output_tokens": 2.5}, "max_output_tokens"), ({"instructions": "x" * 5001}, "instructions"),
    ({"model": "GPT 4o!"}, "model"), ({"thread_id": "../../admin"}, "thread_id"),
    ({"reasoning": "extreme"}, "reasoning"),
])
def test_parameters_are_validated_before_sending(scripted, clock, sleeper, params, name):
    with pytest.raises(ConfigError, match=name):
        key_client(clock, sleeper).create_response("hi", **params)
    assert len(scripted.calls) == 0


@pytest.mark.parametrize("inputs", ["", "   ", [], [{"role": "user", "content": ""}], [{"content": "x"}]])
def test_empty_inputs_are_refused(inputs, clock, sleeper):
    with pytest.raises(ConfigError, match="inputs"):
        key_client(clock, sleeper).create_response(inputs)


def test_no_credential_is_not_authenticated(scripted):
    with pytest.raises(NotAuthenticated, match="%freddy_auth"):
        FreddyClient(BASE).create_response("hi")


def test_non_json_success_and_oversized_body(scripted, clock, sleeper):
    scripted.post(RESP, body="<html>oops</html>", content_type="text/html")
    with pytest.raises(ResponseFormatError, match="not valid JSON"):
        key_client(clock, sleeper).create_response("hi")
    scripted.replace("POST", RESP, json={"response": [{"type": "text", "text": "x" * 3_000_000}]})
    with pytest.raises(ResponseFormatError, match="larger than 1 MB"):
        key_client(clock, sleeper, max_body=1024 * 1024).create_response("hi")


def test_half_a_json_body_is_a_format_error(scripted, clock, sleeper):
    whole = '{"success": true, "response": [{"type": "text", "text": "hello"}]}'
    scripted.post(RESP, body=whole[: len(whole) // 2], content_type="application/json")
    with pytest.raises(ResponseFormatError, match="not valid JSON"):
        key_client(clock, sleeper).create_response("hi")


def test_stream_request_answered_with_json_is_a_format_error(scripted, clock, sleeper):
    scripted.post(RESP, json=OK)
    with pytest.raises(ResponseFormatError, match="event stream"):
        key_client(clock, sleeper).stream_response("hi")


def test_request_preview_redacts_and_sends_nothing(scripted, clock, sleeper):
    preview = key_client(clock, sleeper, organization_id="org_1").request_preview("hi", model="gpt-4o")
    assert KEY not in str(preview) and preview["headers"]["api-key"].startswith("[REDACTED:fp=")
    assert preview["json"]["organization_id"] == "org_1" and preview["url"] == RESP
    assert len(scripted.calls) == 0


def test_debug_log_has_method_path_status_but_no_headers_or_bodies(scripted, clock, sleeper, caplog):
    scripted.post(RESP, status=429, headers={"Retry-After": "1"})
    scripted.post(RESP, json=OK)
    with caplog.at_level(logging.DEBUG, logger="freddy_magic"):
        key_client(clock, sleeper).create_response("secret prompt text")
    text = caplog.text
    assert "POST /v1/model/response -> 429" in text and "retry 1" in text
    assert KEY not in text and "secret prompt" not in text and "hello" not in text


def test_login_verify_installs_a_refreshing_bearer(scripted, clock, sleeper):
    scripted.post(BASE + "/v1/auth/login", json={"success": True, "email_key": "ek-1", "email": "a@b.c"})
    scripted.post(BASE + "/v1/auth/verify", json={"access_token": "access-token-abc-123456",
                                            "refresh_token": "refresh-token-abc-123456",
                                            "expires_in": 60})
    client = FreddyClient(BASE, clock=clock, sleep=sleeper)
    challenge = client.login("a@b.c", "pass-word-123")
    cred = client.verify(challenge, "1234")
    assert client.credential is cred and cred.method == "bearer" and cred.can_refresh
    assert b'"verification_code": 1234' in scripted.calls[1].request.body
    with pytest.raises(ConfigError, match="4-digit"):
        client.verify(challenge, "12a4")


def _frame_values(exc):
    tb = exc.__traceback__
    while tb is not None:
        yield from tb.tb_frame.f_locals.values()
        tb = tb.tb_next


@pytest.mark.parametrize("answer", [
    {"body": requests.exceptions.ConnectionError("reset")},
    {"status": 401, "json": envelope(401, "INVALID_API_KEY")},
    {"status": 429, "headers": {"Retry-After": "999"}},
])
def test_no_traceback_frame_holds_the_key(scripted, clock, sleeper, answer):
    """%xmode Verbose prints every frame's locals: none may contain the key."""
    scripted.post(RESP, **answer)
    with pytest.raises((ConnectionFailed, AuthError, RateLimited)) as info:
        key_client(clock, sleeper).create_response("hi")
    assert info.value.__context__ is None
    assert not any(KEY in repr(value) for value in _frame_values(info.value))


def test_creating_a_client_attaches_the_redacting_filter_to_transport_loggers():
    FreddyClient(BASE)
    for name in ("freddy_magic", "urllib3", "urllib3.connectionpool"):
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)
