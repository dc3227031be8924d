"""The send loop: which attempts are repeated, refreshed, replayed or given up, and how often.

Waits go through the client's injected ``sleep`` (a recorder), so each test asserts the exact
waits the client chose and none waits for real. Server-facing cases count the requests each
route received (``sandbox.calls``, a hostile server's ``seen``), so "one refresh and one replay"
is a count.
"""

import json
import re
import socket
import time
from email.utils import formatdate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._errors import (
    APIError,
    AuthError,
    ConnectionFailed,
    FreddyError,
    PermissionDenied,
    RateLimited,
)
from freddy_magic.sandbox import Fault
from freddy_magic.testing import find_canary

from .clients import (
    OK,
    REFRESH,
    RESP,
    bearer_client,
    client_for,
    count,
    envelope,
    key_client,
    outcome,
    signed_in,
    timed,
)
from .fakes import Sleeper
from .hostile import HostileServer, Reply, forward
from .shown import frame_locals, verbose_traceback

RESPONSE = "/v1/model/response"


def _then_forward(sandbox, first):
    """A script answering ``first`` once, then forwarding everything to the sandbox."""
    state = {"n": 0}

    def script(seen):
        state["n"] += 1
        return first if state["n"] == 1 else forward(seen, sandbox.url)

    return script


# 401 and 403 -----------------------------------------------------------------------------------
@pytest.mark.security
@pytest.mark.parametrize(
    "key_name, words",
    [
        ("expired", "has expired"),
        ("paused", "paused"),
        ("deactivated", "deactivated"),
    ],
)
def test_i1_api_key_401_is_not_retried(sandbox, key_name, words):
    client = client_for(sandbox.url, sandbox.extra_keys[key_name])
    with pytest.raises(AuthError, match=words):
        client.create_response("hi")
    assert sandbox.calls(RESPONSE) == 1
    client.close()


def test_401_then_200_replays_with_the_new_token_after_a_refresh_without_the_old_one(scripted, clock, sleeper):
    scripted.post(RESP, status=401, json=envelope(401, "TOKEN_EXPIRED"))
    scripted.post(RESP, json=OK)
    scripted.post(REFRESH, json={"access_token": "access-token-new-abcdef", "expires_in": 3600})
    client = bearer_client(clock, sleeper)
    assert client.create_response("hi").text == "hello"
    assert [c.request.url for c in scripted.calls] == [RESP, REFRESH, RESP]
    assert scripted.calls[1].request.headers.get("Authorization") is None
    assert scripted.calls[2].request.headers["Authorization"] == "Bearer access-token-new-abcdef"
    assert client.stats["refreshes"] == 1


@pytest.mark.security
def test_i2_bearer_401_refreshes_once_and_replays_once(sandbox):
    client = signed_in(sandbox)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, times=1))
    completion = client.create_response("hi")
    assert completion.text
    assert (sandbox.calls(RESPONSE), sandbox.calls("/v1/auth/refresh")) == (2, 1)
    assert client.credential.refreshes == 1
    client.close()


@pytest.mark.security
def test_i3_bearer_401_after_refresh_stops(sandbox):
    client = signed_in(sandbox, max_retries=5)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, times=None))
    with pytest.raises(AuthError) as info:
        client.create_response("hi")
    assert "sign in again" in str(info.value) and info.value.__context__ is None
    assert (sandbox.calls(RESPONSE), sandbox.calls("/v1/auth/refresh")) == (2, 1)
    with pytest.raises(AuthError):  # and the next call does not start another refresh loop
        client.create_response("hi")
    assert sandbox.calls("/v1/auth/refresh") <= 2 and sandbox.calls(RESPONSE) <= 4
    client.close()


@pytest.mark.parametrize(
    "status, code", [(401, "TOKEN_INVALID"), (400, "invalid_grant"), (404, "USER_NOT_FOUND"), (422, "VALIDATION_ERROR")]
)
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


@pytest.mark.security
@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 400, "code": "invalid_grant"},
        {"kind": "status", "status": 401},
        {"kind": "status", "status": 500},
        {"kind": "html"},
        {"kind": "reset"},
    ],
    ids=["400-invalid_grant", "401", "500", "html", "reset"],
)
def test_i4_refresh_endpoint_failures_end_in_one_clean_error(sandbox, fault, sleeper):
    client = signed_in(sandbox, sleep=sleeper)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, times=None))
    sandbox.faults.add(Fault(method="POST", path="/v1/auth/refresh", times=None, **fault))
    with pytest.raises(FreddyError) as info:
        client.create_response("hi")
    assert sandbox.calls("/v1/auth/refresh") <= 3, "the refresh endpoint was hammered"
    assert sandbox.calls(RESPONSE) <= 2
    if fault.get("status") in (400, 401):
        assert isinstance(info.value, AuthError) and sandbox.calls("/v1/auth/refresh") == 1
    assert "eyJ" not in str(info.value) and info.value.__context__ is None
    client.close()


@pytest.mark.security
def test_i5_403_never_refreshes_or_retries(sandbox, sleeper):
    client = signed_in(sandbox, sleep=sleeper)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=403, times=None))
    with pytest.raises(PermissionDenied):
        client.create_response("hi")
    assert (sandbox.calls(RESPONSE), sandbox.calls("/v1/auth/refresh"), sleeper.calls) == (1, 0, [])
    client.close()


# 429 -------------------------------------------------------------------------------------------
@pytest.mark.security
def test_j1_retry_after_seconds_is_honoured(sandbox, sleeper):
    sandbox.faults.add(
        Fault(
            method="POST", path=RESPONSE, kind="status", status=429, code="RATE_LIMIT_EXCEEDED", retry_after=2, times=1
        )
    )
    client = client_for(sandbox.url, sandbox.api_key, sleep=sleeper)
    done = client.create_response("hi")
    assert done.text and done.retries == 1
    assert sandbox.calls(RESPONSE) == 2
    assert len(sleeper.calls) == 1 and 1.5 <= sleeper.calls[0] <= 3.0
    client.close()


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


@pytest.mark.security
@pytest.mark.parametrize(
    "headers,low,high",
    [
        (lambda: {"retry-after-ms": "1500"}, 1.4, 2.5),
        (lambda: {"Retry-After": formatdate(time.time() + 3, usegmt=True)}, 1.0, 4.5),  # made when the test runs
        (lambda: {"Retry-After": "-5"}, 0.0, 8.0),
        (lambda: {"Retry-After": "soon"}, 0.0, 8.0),
        (lambda: {"Retry-After": "nan"}, 0.0, 8.0),
    ],
    ids=["ms", "http-date", "negative", "garbage", "nan"],
)
def test_j2_retry_after_formats_and_garbage(shared_sandbox, headers, low, high, sleeper):
    reply = Reply(
        429,
        headers={"Content-Type": "application/json", **headers()},
        body=b'{"success": false, "error": {"code": "RATE_LIMIT_EXCEEDED", "message": "slow down"}}',
    )
    with HostileServer(_then_forward(shared_sandbox, reply)) as api:
        client = client_for(api.url, shared_sandbox.api_key, sleep=sleeper)
        assert client.create_response("hi").text
        client.close()
        assert api.count(RESPONSE) == 2
    assert len(sleeper.calls) == 1 and low <= sleeper.calls[0] <= high, sleeper.calls


@pytest.mark.security
def test_j3_retry_after_over_the_cap_fails_fast(sandbox, sleeper):
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=429, retry_after=3600, times=None))
    client = client_for(sandbox.url, sandbox.api_key, sleep=sleeper)
    with pytest.raises(RateLimited) as info:
        client.create_response("hi")
    assert info.value.retry_after == pytest.approx(3600, abs=1)
    assert sleeper.calls == [] and sandbox.calls(RESPONSE) == 1
    client.close()


def test_429_attempts_are_bounded(scripted, clock, sleeper):
    scripted.post(RESP, status=429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimited):
        key_client(clock, sleeper, max_retries=2).create_response("hi")
    assert len(scripted.calls) == 3


@pytest.mark.security
def test_j10_keyboard_interrupt_during_backoff_cancels_cleanly(sandbox):
    pressed = []

    def interrupt(_seconds):  # Ctrl-C once, during the first wait; later waits pass
        if not pressed:
            pressed.append(True)
            raise KeyboardInterrupt

    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=429, retry_after=1, times=1))
    client = client_for(sandbox.url, sandbox.api_key, sleep=Sleeper(on_sleep=interrupt))
    with pytest.raises(KeyboardInterrupt):
        client.create_response("hi")
    assert sandbox.calls(RESPONSE) == 1
    assert client.create_response("hi").text  # state intact: the next call works
    client.close()


def _interrupted(ctrl_c, sandbox, method, path, call):
    """``call()`` with Ctrl-C pressed while a slow fault holds its request; the KeyboardInterrupt."""
    sandbox.faults.add(Fault(method=method, path=path, kind="slow", delay=60.0, times=1))
    before = sandbox.calls(path, method)
    pressed = ctrl_c(lambda: sandbox.wait_for_calls(path, before + 1, method))
    with pytest.raises(KeyboardInterrupt) as caught:
        call()
    assert pressed, "the request never reached the sandbox"
    return caught.value


@pytest.mark.security
def test_j10_f4_ctrl_c_during_a_request_releases_its_slot_and_leaves_the_transport_frames_behind(
    sandbox, ctrl_c, canary
):
    """Used as a library (no magic boundary), Ctrl-C still surfaces as a fresh KeyboardInterrupt
    raised by the send loop: no frame of requests, urllib3 or http.client (whose locals hold the
    headers) is on its traceback, and no frame shows the key."""
    client = client_for(sandbox.url, sandbox.api_key)
    stopped = _interrupted(ctrl_c, sandbox, "GET", "/v1/models", client.models)
    assert stopped.__context__ is None and stopped.__cause__ is None
    files = []
    tb = stopped.__traceback__
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    assert not any(f"/{lib}/" in f for f in files for lib in ("requests", "urllib3", "http")), files
    assert find_canary([verbose_traceback(stopped), *frame_locals(stopped)], sandbox.api_key) == []
    assert client._limiter._outstanding == 0
    assert client.models(), "the client does not work after the interrupt"


@pytest.mark.security
def test_i12_ctrl_c_during_a_library_logout_forgets_and_shows_no_token(sandbox, ctrl_c):
    client = signed_in(sandbox)
    credential = client.credential
    stopped = _interrupted(ctrl_c, sandbox, "POST", "/v1/auth/logout", client.logout)
    assert repr(credential) == "<Credential cleared>" and client.credential is None
    shown = "\n".join([verbose_traceback(stopped), *frame_locals(stopped)])
    assert not re.search(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.", shown), "a token is in the traceback"
    assert sandbox.password not in shown


# 5xx, resets and refused connections -----------------------------------------------------------
def test_status_faults_map_to_errors_and_post_is_not_retried(sandbox):
    client = client_for(sandbox.url, sandbox.api_key)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=503, times=1))
    with pytest.raises(APIError) as info:
        client.create_response("hi")
    assert info.value.status == 503 and sandbox.calls(RESPONSE) == 1
    sandbox.faults.add(
        Fault(method="POST", path=RESPONSE, kind="status", status=403, code="INSUFFICIENT_PERMISSIONS", times=1)
    )
    with pytest.raises(PermissionDenied, match="Insufficient permissions"):
        client.create_response("hi")
    assert sandbox.calls(RESPONSE) == 2


def test_get_is_retried_after_503_and_reset(sandbox, sleeper):
    client = client_for(sandbox.url, sandbox.api_key, sleep=sleeper)
    sandbox.faults.add(Fault(method="GET", path="/v1/models", kind="status", status=503, times=1))
    assert client.models()
    sandbox.faults.add(Fault(method="GET", path="/v1/models", kind="reset", times=1))
    assert client.models()
    assert sandbox.calls("/v1/models") == 4 and len(sleeper.calls) == 2


@pytest.mark.security
def test_j4_constant_503_gives_at_most_two_retries_within_budget(sandbox, sleeper):
    sandbox.faults.add(Fault(method="GET", path="/v1/models", kind="status", status=503, times=None))
    client = client_for(sandbox.url, sandbox.api_key, sleep=sleeper)
    with pytest.raises(FreddyError):
        client.models()
    assert sandbox.calls("/v1/models") <= 3
    assert len(sleeper.calls) <= 2 and sum(sleeper.calls) <= 90 and all(s <= 8.0 for s in sleeper.calls)
    client.close()


@pytest.mark.security
def test_j5_l1_post_reset_after_send_is_not_retried_and_fails_at_once(sandbox, sleeper):
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="reset", times=None))
    client = client_for(sandbox.url, sandbox.api_key, sleep=sleeper)
    error, took = timed(lambda: client.create_response("hi"))
    assert isinstance(error, ConnectionFailed) and "may have been processed" in str(error)
    assert error.__context__ is None
    assert sandbox.calls(RESPONSE) == 1 and sleeper.calls == [] and took < 5
    client.close()


@pytest.mark.security
@pytest.mark.parametrize(
    "method,path,call",
    [
        ("GET", "/v1/models", lambda c: c.models()),
        ("POST", RESPONSE, lambda c: c.create_response("hi")),
    ],
    ids=["GET", "POST"],
)
def test_l5_5xx_sequence_attempts_match_the_policy(shared_sandbox, method, path, call, sleeper):
    statuses = iter([500, 502, 503, 504])

    def script(seen):
        if seen.path.split("?")[0] == path:
            status = next(statuses, None)
            if status is not None:
                return Reply(status, {"Content-Type": "text/plain"}, b"down")
        return forward(seen, shared_sandbox.url)

    with HostileServer(script) as api:
        client = client_for(api.url, shared_sandbox.api_key, sleep=sleeper)
        error, _took = timed(lambda: call(client))
        client.close()
        attempts = api.count(path)
    assert attempts <= 3, f"{method}: {attempts} attempts for a max_retries=2 client"
    assert error is not None  # 4 failures in a row exceed 3 attempts
    if method == "POST":  # 500 is never safe to replay; 502/503/504 only with an idempotency key
        assert attempts == 1 or all(s.headers.get("Idempotency-Key") for s in api.seen if s.path == path)


@pytest.mark.security
def test_j6_a_retried_post_reuses_one_idempotency_key(shared_sandbox, sleeper):
    reply = Reply(502, headers={"Content-Type": "text/plain"}, body=b"bad gateway")
    with HostileServer(_then_forward(shared_sandbox, reply)) as api:
        client = client_for(api.url, shared_sandbox.api_key, sleep=sleeper)
        try:
            client.create_response("hi")
        except FreddyError:  # not retrying a POST on 502 is also within policy
            pass
        client.close()
        posts = [s for s in api.seen if s.path == RESPONSE]
    if len(posts) > 1:
        keys = {s.headers.get("Idempotency-Key") for s in posts}
        assert len(keys) == 1 and None not in keys, "a POST was replayed without one shared Idempotency-Key"
    assert len(posts) <= 3


def test_connect_refused_is_retried_even_for_post_then_fails_cleanly(sleeper):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = FreddyClient(f"http://127.0.0.1:{port}", Credential.api_key("ak_unused_0123456789"), sleep=sleeper)
    with pytest.raises(ConnectionFailed, match="Could not connect") as info:
        client.create_response("hi")
    assert len(sleeper.calls) == 2  # the request never left: safe to retry, twice
    assert info.value.__context__ is None


# any answer at all -----------------------------------------------------------------------------
STATUSES = [200, 201, 204, 301, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504]
BODIES = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda d: json.dumps(d).encode(),
        st.dictionaries(
            st.sampled_from(["response", "error", "detail", "success", "message", "code", "text"]),
            st.one_of(st.none(), st.integers(), st.text(max_size=30), st.lists(st.text(max_size=5), max_size=3)),
            max_size=4,
        ),
    ),
)


@pytest.fixture(scope="module")
def fuzz_server():
    """One hostile server for every example; each example scripts it afresh."""
    with HostileServer() as server:
        yield server


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=120)
@given(
    script=st.lists(
        st.tuples(
            st.sampled_from(STATUSES),
            BODIES,
            st.sampled_from(["application/json", "text/html", "text/event-stream", ""]),
            st.sampled_from([{}, {"Retry-After": "0"}, {"Retry-After": "99999"}, {"retry-after-ms": "1"}]),
        ),
        min_size=1,
        max_size=4,
    ),
    stream=st.booleans(),
)
def test_k8_response_fuzz_always_ends_in_a_defined_outcome(fuzz_server, script, stream):
    secret = "fm-canary-" + "7c" * 16
    fuzz_server.reset(
        [
            Reply(status, {"Content-Type": ctype, **extra} if ctype else dict(extra), body + secret.encode())
            for status, body, ctype, extra in script
        ]
    )
    sleeps = []
    client = client_for(fuzz_server.url, secret, sleep=sleeps.append)

    def call(c):
        if stream:
            with c.stream_response("hi") as s:
                return "".join(s.text_deltas())
        return c.create_response("hi").text

    _result, error = outcome(client, call)
    client.close()
    attempts = fuzz_server.count()
    assert attempts <= 4, f"{attempts} attempts"
    assert sum(sleeps) <= 90
    if error is not None:
        assert find_canary([str(error), repr(error)], secret) == []
