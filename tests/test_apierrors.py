"""Error answers become one readable, redacted line and the right FreddyError.

Whatever a server says (the API's envelope, FastAPI's detail list, a proxy's HTML page, a hostile
echo of our own request headers), the user reads one line with advice, never a secret, and gets
an error class to catch.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic._apierrors import error_from_event, error_from_response
from freddy_magic._errors import APIError, AuthError, FreddyError, PermissionDenied
from freddy_magic.sandbox import Fault
from freddy_magic.testing import find_canary

from .clients import RESP, SHORT_TIMEOUTS, client_for, envelope, key_client, outcome
from .hostile import HostileServer, Reply
from .json_values import PARSER_EXAMPLES, answers


@pytest.mark.parametrize(
    "status, code, cls, words",
    [
        (401, "API_KEY_EXPIRED", AuthError, "has expired"),
        (401, "API_KEY_PAUSED", AuthError, "paused"),
        (401, "API_KEY_DEACTIVATED", AuthError, "deactivated"),
        (401, "AUTHENTICATION_REQUIRED", AuthError, "Missing authentication"),
        (401, "TOKEN_EXPIRED", AuthError, "session has expired"),
        (403, "INSUFFICIENT_PERMISSIONS", PermissionDenied, "Insufficient permissions"),
        (403, "NO_ORGANIZATION_MEMBERSHIP", PermissionDenied, "Account suspended or disabled"),
        (403, "ORGANIZATION_ACCESS_DENIED", PermissionDenied, "don't have access to this organization"),
        (422, "INVALID_FIELD_VALUE", APIError, "INVALID_FIELD_VALUE"),
    ],
)
def test_error_codes_map_to_classes_and_advice(scripted, clock, sleeper, status, code, cls, words):
    scripted.post(RESP, status=status, json=envelope(status, code))
    with pytest.raises(cls) as info:
        key_client(clock, sleeper).create_response("hi")
    assert words in str(info.value) and info.value.status == status and info.value.code == code


def test_invalid_api_key_carries_the_troubleshooting_advice(scripted, clock, sleeper):
    scripted.post(RESP, status=401, json=envelope(401, "INVALID_API_KEY", "Your API key is invalid"))
    with pytest.raises(AuthError) as info:
        key_client(clock, sleeper).create_response("hi")
    assert len(scripted.calls) == 1
    text = str(info.value)
    assert "Invalid API key" in text and "not expired" in text and "trace_id=req_abc123" in text


def test_403_deactivated_account_message(scripted, clock, sleeper):
    scripted.post(RESP, status=403, json={"detail": "Your account has been deactivated"})
    with pytest.raises(PermissionDenied, match="Account suspended or disabled"):
        key_client(clock, sleeper).create_response("hi")


def test_fastapi_detail_list_and_html_502_become_one_readable_line(scripted, clock, sleeper):
    scripted.post(
        RESP,
        status=422,
        json={
            "detail": [
                {
                    "loc": ["body", "temperature"],
                    "msg": "Input should be less than or equal to 1",
                    "type": "less_than_equal",
                }
            ]
        },
    )
    with pytest.raises(APIError, match="temperature: Input should be less than or equal to 1"):
        key_client(clock, sleeper).create_response("hi")
    page = "<html><head><title>502 Bad Gateway</title></head><body>\n<h1>Bad\nGateway</h1></body></html>"
    scripted.replace("POST", RESP, status=502, body=page, content_type="text/html")
    with pytest.raises(APIError) as info:
        key_client(clock, sleeper).create_response("hi")
    assert "502 Bad Gateway" in str(info.value) and "\n" not in str(info.value)
    assert "<" not in str(info.value) and len(scripted.calls) == 2  # POST 502 is not retried


def test_echo_and_html_faults_are_redacted_one_liners(shared_sandbox):
    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    shared_sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="echo", times=1))
    with pytest.raises(APIError) as info:
        client.create_response("hi")
    assert shared_sandbox.api_key not in str(info.value) and info.value.status == 500
    shared_sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="html", times=1))
    with pytest.raises(APIError) as info:
        client.create_response("hi")
    assert info.value.status == 502 and "\n" not in str(info.value) and "<" not in str(info.value)


def test_a_503_carries_the_wait_it_asked_for(shared_sandbox):
    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    shared_sandbox.faults.add(
        Fault(method="POST", path="/v1/model/response", kind="status", status=503, retry_after=2, times=1)
    )
    with pytest.raises(APIError) as info:
        client.create_response("hi")  # a POST is not repeated by the client: the error reaches the caller
    assert info.value.status == 503 and info.value.retry_after == 2
    shared_sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="status", status=503, times=1))
    with pytest.raises(APIError) as info:
        client.create_response("hi")
    assert info.value.retry_after is None


@pytest.mark.security
def test_f7_error_body_echoing_our_headers_is_redacted_and_short(canary):
    """Our key is redacted by value; a bearer token we never registered by its position."""
    echo = json.dumps(
        {
            "detail": f"bad request; you sent api-key: {canary.value}; Authorization: Bearer {canary.value}"
            " and Authorization: Bearer abc.def.ghi" + " pad" * 2000
        }
    ).encode()
    with HostileServer(Reply(400, body=echo)) as api:
        client = client_for(api.url, canary.value, timeouts=SHORT_TIMEOUTS)
        _result, error = outcome(client, lambda c: c.create_response("hi"))
        client.close()
    assert error is not None and error.status == 400
    assert find_canary([str(error), repr(error), repr(error.args)], canary.value) == []
    assert "abc.def.ghi" not in str(error)
    assert len(str(error)) <= 2100


@pytest.fixture(scope="module")
def echo_server():
    """One hostile server for every example; each example scripts it afresh."""
    with HostileServer() as server:
        yield server


@pytest.mark.security
@settings(max_examples=60)
@given(pad=st.integers(0, 2200), ctype=st.sampled_from(["text/plain", "text/html", "application/json"]))
def test_f7_echoed_key_straddling_the_excerpt_cut_is_not_half_shown(echo_server, pad, ctype):
    """Truncating before redacting leaves the head of a key that no longer matches by value."""
    secret = "fm-canary-" + "6b" * 16
    echo_server.reset(
        Reply(500, headers={"Content-Type": ctype}, body=("x" * pad + "echo " + secret + " tail").encode())
    )
    client = client_for(echo_server.url, secret, max_retries=0, timeouts=SHORT_TIMEOUTS)
    _result, error = outcome(client, lambda c: c.create_response("hi"))
    client.close()
    assert error is not None
    assert find_canary(str(error), secret) == [], str(error)[-200:]


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=PARSER_EXAMPLES)
@given(body=answers(), status=st.sampled_from([400, 401, 403, 404, 409, 422, 429, 500, 502, 503]))
def test_k2_an_error_body_of_any_json_becomes_one_typed_error(body, status):
    error = error_from_response(
        status, {"Content-Type": "application/json"}, json.dumps(body).encode(), method="POST", path="/v1/x"
    )
    assert isinstance(error, FreddyError) and error.status == status
    assert isinstance(str(error), str) and "\n" not in str(error)
    assert error.code is None or isinstance(error.code, str)
    assert error.trace_id is None or isinstance(error.trace_id, str)


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=PARSER_EXAMPLES)
@given(data=answers())
def test_k2_a_stream_error_event_of_any_json_becomes_one_typed_error(data):
    error = error_from_event(data)
    assert isinstance(error, FreddyError) and "\n" not in str(error)
    assert error.code is None or isinstance(error.code, str)
    assert error.status is None or type(error.status) is int
