"""FreddyClient's public calls: what they send, what they return, and what they never show.

Scripted answers (``responses``) pin the exact request; the real loopback sandbox covers real
tokens, sign-in through the emailed code, threads and many threads at once. How attempts are
repeated is in test_sender.py, error messages in test_apierrors.py, the wire in test_transport.py.
"""

import gc
import json
import logging
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses
from hypothesis import given, settings

from freddy_magic import _redaction
from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._errors import (
    APIError,
    AuthError,
    ConfigError,
    FreddyError,
    NotAuthenticated,
    ResponseFormatError,
)
from freddy_magic._payloads import LoginChallenge
from freddy_magic._redaction import RedactingFilter
from freddy_magic.sandbox import Fault
from freddy_magic.testing import find_canary

from .clients import BASE, KEY, OK, RESP, client_for, key_client, signed_in
from .fakes import FakeClock, Sleeper, run_together
from .hostile import HostileServer, Reply, forward
from .json_values import HTTP_EXAMPLES, answers
from .shown import text_views

REFRESH = "/v1/auth/refresh"
RESPONSE = "/v1/model/response"


def _tokens_of(cred):
    headers = {}
    cred.authorize(headers)
    return headers["Authorization"].split(" ", 1)[1], cred.session_token()


# what is sent ----------------------------------------------------------------------------------
def test_create_response_sends_the_key_and_validated_body(scripted, clock, sleeper):
    scripted.post(RESP, json=OK)
    done = key_client(clock, sleeper).create_response("hi", model="gpt-4o", temperature=0.2, max_output_tokens=50)
    assert (done.text, done.thread_id, done.response_id, done.input_tokens) == ("hello", "thread_1", "resp_1", 3)
    sent = scripted.calls[0].request
    assert sent.headers["api-key"] == KEY and "Authorization" not in sent.headers
    assert b'"max_output_synapses": 50' in sent.body and b'"model": "gpt-4o"' in sent.body
    kwargs = sent.req_kwargs
    assert kwargs["timeout"][0] == 10.0 and kwargs["verify"] is True


def test_request_preview_redacts_and_sends_nothing(scripted, clock, sleeper):
    preview = key_client(clock, sleeper, organization_id="org_1").request_preview("hi", model="gpt-4o")
    assert KEY not in str(preview) and preview["headers"]["api-key"].startswith("[REDACTED:fp=")
    assert preview["json"]["organization_id"] == "org_1" and preview["url"] == RESP
    assert len(scripted.calls) == 0


def test_no_credential_is_not_authenticated(scripted):
    with pytest.raises(NotAuthenticated, match=r"pass credential=Credential\.api_key"):
        FreddyClient(BASE).create_response("hi")
    assert len(scripted.calls) == 0


def test_login_verify_installs_a_refreshing_bearer(scripted, clock, sleeper):
    scripted.post(BASE + "/v1/auth/login", json={"success": True, "email_key": "ek-1", "email": "a@b.c"})
    scripted.post(
        BASE + "/v1/auth/verify",
        json={"access_token": "access-token-abc-123456", "refresh_token": "refresh-token-abc-123456", "expires_in": 60},
    )
    client = FreddyClient(BASE, clock=clock, sleep=sleeper)
    challenge = client.login("a@b.c", "pass-word-123")
    cred = client.verify(challenge, "1234")
    assert client.credential is cred and cred.method == "bearer" and cred.can_refresh
    assert b'"verification_code": 1234' in scripted.calls[1].request.body
    with pytest.raises(ConfigError, match="4-digit"):
        client.verify(challenge, "12a4")


# against the sandbox ---------------------------------------------------------------------------
def test_api_key_round_trip_plain_and_streamed(shared_sandbox):
    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    done = client.create_response("What is a token bucket?", model="gpt-4o")
    assert done.text.startswith("[sandbox gpt-4o]") and done.thread_id
    assert done.output_tokens > 0 if shared_sandbox.dialect == "classic" else done.output_tokens is None
    with client.stream_response("What is a token bucket?", model="gpt-4o") as stream:
        pieces = list(stream.text_deltas())
    assert len(pieces) > 1 and stream.completion.text == "".join(pieces) == done.text
    assert stream.completion.ttft_s is not None and stream.thread_id == stream.completion.thread_id
    assert client.is_sandbox


def test_login_verify_refresh_and_logout_via_the_outbox(shared_sandbox):
    client = signed_in(shared_sandbox)
    cred = client.credential
    assert cred.method == "bearer" and cred.can_refresh
    assert client.me()["email"] == shared_sandbox.email
    stale = Credential.bearer(*_tokens_of(cred))
    client.logout()
    assert client.credential is None and repr(cred) == "<Credential cleared>"
    other = FreddyClient(shared_sandbox.url, stale)  # the revoked refresh token must not work any more
    with pytest.raises(AuthError):
        stale.refresh_after_401(0)
    other.close()


def test_bare_bearer_token_works_without_refresh(shared_sandbox):
    access, _ = _tokens_of(signed_in(shared_sandbox).credential)
    client = FreddyClient(shared_sandbox.url, Credential.bearer(access))
    assert client.create_response("hi").text
    assert not client.credential.can_refresh


def test_threads_messages_and_cancel(shared_sandbox):
    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    done = client.create_response("remember this")
    page = client.messages(done.thread_id, order="asc")
    assert [m["role"] for m in page.data] == ["user", "assistant"] and page.has_more is False
    assert done.thread_id in [t["id"] for t in client.threads().data]
    with pytest.raises(APIError) as info:  # no stream is running on that thread
        client.cancel(done.thread_id)
    assert info.value.status == 404


@pytest.mark.security
def test_i12_logout_forgets_everything(shared_sandbox):
    client = signed_in(shared_sandbox)
    headers = {}
    client.credential.authorize(headers)
    token = headers["Authorization"].split(" ", 1)[1]
    client.logout()
    with pytest.raises(NotAuthenticated):
        client.create_response("hi")
    assert _redaction.redact(token) == token or "[REDACTED" not in _redaction.redact(token).replace(
        "[REDACTED:jwt]", ""
    )
    assert token not in _redaction._live
    gc.collect()
    holders = [r for r in gc.get_referrers(token) if r is not headers and r is not locals()]
    from_package = [r for r in holders if type(r).__module__.startswith("freddy_magic")]
    assert from_package == [], "a freddy_magic object still holds the old token"
    client.close()


@pytest.mark.security
def test_n1_n2_single_flight_against_the_sandbox(sandbox):
    """50 threads, a token inside its mandatory window, rotating refresh tokens: one refresh,
    no reuse of a spent refresh token, no failed request."""
    clock = FakeClock()
    client = signed_in(sandbox, clock=clock)
    clock.advance(10**5)  # far past expiry on the client's clock: everyone needs a fresh token
    _results, errors = run_together(50, client.models)
    assert errors == [], errors[:3]
    assert sandbox.calls(REFRESH) == 1
    client.close()


@pytest.mark.slow
def test_one_second_tokens_across_a_run_of_calls_lose_nothing(sandbox):
    sandbox.set_token_lifetime(1.0)
    sandbox.set_latency(per_request=0.05)
    client = signed_in(sandbox)
    cred = client.credential
    start = time.monotonic()
    texts = [client.create_response(f"question {i}").text for i in range(60)]
    elapsed = time.monotonic() - start
    assert len(texts) == 60 and all(t.startswith("[sandbox") for t in texts)
    assert elapsed > 2.5  # several lifetimes passed
    assert cred.refreshes >= 2 and sandbox.calls(REFRESH) == cred.refreshes


@pytest.mark.slow
def test_sixteen_threads_on_an_expiring_token_one_refresh_per_expiry(sandbox):
    sandbox.set_token_lifetime(1.0)
    sandbox.set_latency(per_request=0.1)
    client = signed_in(sandbox)
    cred = client.credential
    failures, done, start_gate = [], [], threading.Barrier(16)
    start = time.monotonic()

    def worker(n):
        start_gate.wait()
        for i in range(30):
            try:
                client.create_response(f"thread {n} call {i}")
                done.append(1)
            except FreddyError as exc:
                failures.append(exc)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(worker, range(16)))
    elapsed = time.monotonic() - start
    refreshes = sandbox.calls(REFRESH)
    assert failures == [] and len(done) == 16 * 30
    # A token is replaced once at 80 % of its 1 s life: one refresh per expiry, never a herd.
    assert elapsed > 2.0 and 1 <= refreshes <= elapsed / 0.8 + 1
    assert refreshes == cred.refreshes


# what is never shown ---------------------------------------------------------------------------
@pytest.mark.security
def test_d1_client_views_and_pickling(shared_sandbox):
    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    client.validate()
    for obj in (client, client.credential, client.rate_limit, client.stats):
        assert find_canary(text_views(obj), shared_sandbox.api_key) == []
    with pytest.raises(TypeError):
        pickle.dumps(client)
    client.logout()
    assert find_canary(text_views(client), shared_sandbox.api_key) == []
    client.close()


@pytest.mark.security
def test_d1_results_and_streams_hold_no_secret(shared_sandbox):
    key = shared_sandbox.api_key
    client = client_for(shared_sandbox.url, key)
    completion = client.create_response("hello")
    with client.stream_response("hello") as stream:
        deltas = list(stream.text_deltas())
        views = text_views(stream)
    assert deltas
    assert (
        find_canary([*text_views(completion), repr(completion.raw), *views, *text_views(stream.completion)], key) == []
    )
    blob = pickle.dumps(completion)  # plain data: picklable, and clean
    assert find_canary(blob, key) == []
    client.close()


@pytest.mark.security
def test_d1_login_challenge_and_bearer_client(shared_sandbox):
    client = FreddyClient(shared_sandbox.url)
    challenge = client.login(shared_sandbox.email, shared_sandbox.password)
    code = str([m["code"] for m in shared_sandbox.outbox() if m["email_key"] == challenge.email_key][-1])
    cred = client.verify(challenge, code)
    views = [*text_views(challenge), *text_views(cred), *text_views(client)]
    assert find_canary(views, shared_sandbox.password) == []
    assert all(code not in v for v in text_views(cred))
    assert "eyJ" not in "".join(views), "a JWT-shaped token is shown"
    client.close()


@pytest.mark.security
def test_d1_errors_show_no_secret(canary, shared_sandbox):
    client = client_for(shared_sandbox.url, canary.value)
    with pytest.raises(FreddyError) as info:
        client.validate()
    err = info.value
    assert find_canary([*text_views(err), repr(err.args)], canary.value) == []
    assert err.__context__ is None and err.__cause__ is None
    client.close()


def test_debug_log_has_method_path_status_but_no_headers_or_bodies(scripted, clock, sleeper, caplog):
    scripted.post(RESP, status=429, headers={"Retry-After": "1"})
    scripted.post(RESP, json=OK)
    with caplog.at_level(logging.DEBUG, logger="freddy_magic"):
        key_client(clock, sleeper).create_response("secret prompt text")
    text = caplog.text
    assert "POST /v1/model/response -> 429" in text and "retry 1" in text
    assert KEY not in text and "secret prompt" not in text and "hello" not in text


def test_on_wait_hears_every_pause_with_its_reason_before_it_is_slept(scripted, clock, sleeper):
    heard = []
    client = key_client(clock, sleeper, on_wait=lambda seconds, why: heard.append((seconds, why, len(sleeper.calls))))
    scripted.post(RESP, status=429, headers={"Retry-After": "2"})
    scripted.post(RESP, json=OK)
    client.create_response("hello")
    scripted.get(BASE + "/v1/models", status=503)
    scripted.get(BASE + "/v1/models", json={"models": [], "total_count": 0})
    client.models()
    reasons = [why for _, why, _ in heard]
    assert reasons[0] == "rate limit" and heard[0][0] == pytest.approx(2, abs=0.01), heard  # the 429's Retry-After
    assert reasons.count("retry") == 1, heard  # the 503, repeated once after a jittered backoff
    assert [slept for _, _, slept in heard] == list(range(len(heard))), "each pause is heard before it is slept"
    assert [seconds for seconds, _, _ in heard] == sleeper.calls


def test_creating_a_client_attaches_the_redacting_filter_to_transport_loggers():
    FreddyClient(BASE)
    for name in ("freddy_magic", "urllib3", "urllib3.connectionpool"):
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)


@pytest.mark.security
def test_e1_debug_logs_clean_through_auth_refresh_401_429_and_stream(sandbox, debug_logs, sleeper):
    api = client_for(sandbox.url, sandbox.api_key, sleep=sleeper)
    api.create_response("hello")
    sandbox.faults.add(
        Fault(method="POST", path="/v1/model/response", kind="status", status=429, retry_after=1, times=1)
    )
    api.create_response("hello again")
    with api.stream_response("stream please") as stream:
        assert "".join(stream.text_deltas())
    wrong = client_for(sandbox.url, sandbox.extra_keys["expired"])
    with pytest.raises(AuthError):
        wrong.models()
    user = signed_in(sandbox, sleep=sleeper)
    sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="status", status=401, times=1))
    user.create_response("after a 401")
    assert user.credential.refreshes == 1
    for c in (api, wrong, user):
        c.close()
    secrets = [sandbox.api_key, sandbox.extra_keys["expired"], sandbox.password]
    assert any(r["name"].startswith("urllib3") for r in debug_logs), "transport DEBUG logging was not captured"
    assert find_canary(debug_logs, secrets) == []
    assert not any("eyJ" in r["message"] + r["args"] + r["msg"] for r in debug_logs), "a JWT reached a log record"


@pytest.mark.security
def test_e4_no_request_url_ever_carries_a_secret(shared_sandbox):
    with HostileServer(lambda seen: forward(seen, shared_sandbox.url)) as api:
        client = client_for(api.url, shared_sandbox.api_key)
        client.models()
        completion = client.create_response("hi")
        if completion.thread_id:
            client.messages(completion.thread_id, limit=5)
        client.threads()
        client.close()
        paths = [s.path for s in api.seen]
    assert paths and find_canary(paths, shared_sandbox.api_key) == []
    assert not any("key" in p.lower() or "token" in p.lower() for p in paths), paths


# every reader of a server answer, fuzzed ---------------------------------------------------------
def _objects(result):
    return isinstance(result, list) and all(isinstance(item, dict) for item in result)


def _page(result):
    text = (type(None), str)
    return _objects(result.data) and isinstance(result.first_id, text) and isinstance(result.last_id, text)


READERS = {
    "me": ("GET", "/v1/user/me", lambda c: c.me(), lambda r: isinstance(r, dict)),
    "organizations": ("GET", "/v1/organizations", lambda c: c.organizations(), _objects),
    "models": ("GET", "/v1/models", lambda c: c.models(), _objects),
    "threads": ("GET", "/v1/threads", lambda c: c.threads(), _page),
    "messages": ("GET", "/v1/threads/thread_1/messages", lambda c: c.messages("thread_1"), _page),
    "login": (
        "POST",
        "/v1/auth/login",
        lambda c: c.login("ada@example.com", "a-long-password"),
        lambda r: isinstance(r.email_key, str) and isinstance(r.email, (type(None), str)),
    ),
    "verify": (
        "POST",
        "/v1/auth/verify",
        lambda c: c.verify(LoginChallenge("ek_1"), "1234"),
        lambda r: isinstance(r, Credential) and r.method == "bearer",
    ),
    "response": ("POST", "/v1/model/response", lambda c: c.create_response("hi"), lambda r: isinstance(r.text, str)),
    "validate": ("GET", "/v1/auth/validate", lambda c: c.validate(), lambda r: True),
}


@pytest.mark.slow
@pytest.mark.security
@pytest.mark.parametrize("reader", sorted(READERS))
@settings(max_examples=HTTP_EXAMPLES)
@given(body=answers())
def test_k2_every_reader_takes_any_json_and_returns_documented_types_or_a_format_error(reader, body):
    method, path, call, documented = READERS[reader]
    with responses.RequestsMock() as server:
        server.add(method, BASE + path, body=json.dumps(body), content_type="application/json")
        client = key_client(FakeClock(), Sleeper())
        try:
            result = call(client)
        except ResponseFormatError:
            return
        finally:
            client.close()
    assert documented(result), f"{reader} returned {result!r}"


def test_exchange_answers_errors_unread_after_the_usual_refresh_and_replay(shared_sandbox):
    client = signed_in(shared_sandbox)
    shared_sandbox.faults.add(Fault(method="GET", path="/v1/models", status=401, code="TOKEN_EXPIRED"))
    resp, deadline = client.exchange("GET", "/v1/models")
    assert resp.status_code == 200 and client.credential.refreshes == 1 and "models" in resp.json()
    refused, _ = client.exchange("POST", "/v1/model/response", body={"inputs": []})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "INVALID_FIELD_VALUE"
    assert deadline > time.monotonic()
    client.close()


# real-API shapes: stream auth errors, refresh tokens, no invented model ------------------------
REVOKED_ACCESS = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfcmV2b2tlZCJ9.c2lnbmF0dXJlLW5vdC12YWxpZA"


def test_a_rejected_token_on_a_stream_is_refreshed_and_the_stream_asked_again(sandbox):
    """The classic sandbox answers 401; the current one a 200 stream whose first event is the auth
    error, as the real streaming path may. Either way: one refresh, one replay, nothing shown twice."""
    _, refresh = _tokens_of(signed_in(sandbox).credential)
    client = FreddyClient(sandbox.url, Credential.bearer(REVOKED_ACCESS, refresh, expires_in=3600))
    before = sandbox.calls(RESPONSE, "POST")
    with client.stream_response("Hello again", model="gpt-4o") as stream:
        pieces = list(stream.text_deltas())
    assert "".join(pieces) == stream.completion.text and pieces[0].startswith("[sandbox gpt-4o]")
    assert client.credential.refreshes == 1 and stream.completion.retries == 1
    assert sandbox.calls(RESPONSE, "POST") == before + 2


def test_a_rejected_token_without_refresh_fails_the_stream_as_an_auth_error(sandbox):
    client = FreddyClient(sandbox.url, Credential.bearer(REVOKED_ACCESS))
    with pytest.raises(AuthError), client.stream_response("Hello", model="gpt-4o") as stream:
        list(stream.text_deltas())


def test_resume_from_a_refresh_token_gives_a_renewing_session(shared_sandbox):
    _, refresh = _tokens_of(signed_in(shared_sandbox).credential)
    client = FreddyClient(shared_sandbox.url)
    cred = client.resume(refresh)
    assert client.credential is cred and cred.method == "bearer" and cred.can_refresh
    assert client.me()["email"] == shared_sandbox.email
    assert client.create_response("hi", model="gpt-4o").text.startswith("[sandbox gpt-4o]")


@pytest.mark.security
def test_resume_with_a_bad_refresh_token_is_an_auth_error(shared_sandbox, canary):
    client = FreddyClient(shared_sandbox.url)
    with pytest.raises(AuthError) as caught:
        client.resume(canary.value)
    canary.assert_absent(str(caught.value), repr(caught.value))
    assert client.credential is None


def test_no_model_means_none_is_sent_and_the_server_default_answers(shared_sandbox):
    from freddy_magic.sandbox._dialects import pick

    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    assert "model" not in client.request_preview("hi")["json"]
    done = client.create_response("hi")
    assert done.model is None, "the answer does not say which model: nothing is made up"
    assert done.text.startswith(f"[sandbox {pick(shared_sandbox.dialect).default_model}]")


def test_both_key_headers_are_shown_redacted_in_the_preview(shared_sandbox):
    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    headers = client.request_preview("hi")["headers"]
    assert headers["X-API-Key"] == headers["api-key"] == f"[REDACTED:{client.credential.fingerprint}]"


@pytest.mark.security
def test_a_stream_replayed_after_a_rejected_token_is_not_refreshed_twice(shared_sandbox):
    """First a 200 stream whose first event rejects the token, then a 401 for the replay: one
    refresh in all, and the 401 is the answer (the security contract's single 401 retry)."""
    _, refresh = _tokens_of(signed_in(shared_sandbox).credential)
    rejected = b'data: {"event":"response.error","error":{"code":"TOKEN_EXPIRED","status":401}}\n\ndata: [DONE]\n\n'
    envelope = b'{"success":false,"error":{"code":"TOKEN_EXPIRED","message":"expired","status":401}}'

    def script(seen):
        answers = sum(1 for s in api.seen if s.path == RESPONSE)
        if seen.path == RESPONSE and answers == 1:
            return Reply(200, {"Content-Type": "text/event-stream"}, rejected)
        if seen.path == RESPONSE:
            return Reply(401, {"Content-Type": "application/json"}, envelope)
        return forward(seen, shared_sandbox.url)

    with HostileServer(script) as api:
        client = FreddyClient(api.url, Credential.bearer(REVOKED_ACCESS, refresh, expires_in=3600))
        with pytest.raises(AuthError), client.stream_response("hi", model="gpt-4o") as stream:
            list(stream.text_deltas())
        assert [s.path for s in api.seen] == [RESPONSE, REFRESH, RESPONSE]
        assert client.credential.refreshes == 1
