"""FreddyClient against the real loopback sandbox: real HTTP, real tokens, real faults.

Covers what scripted answers cannot: tokens that expire every second under many threads, the
sandbox's fault knobs mapped to our errors, truncated streams, the email-code login, and a
rate-limited batch that must lose no rows. Unit-level policy is in test_client_unit.py.
"""

import gc
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from freddy_magic import _redaction
from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._errors import (APIError, AuthError, ConnectionFailed, FreddyError, NotAuthenticated,
                                 PermissionDenied, StreamInterrupted, Timeout)
from freddy_magic.sandbox import Fault

from .fakes import FakeClock, Sleeper, run_together

RESP = "/v1/model/response"
REFRESH = "/v1/auth/refresh"


def key_client(sandbox, **kw):
    return FreddyClient(sandbox.url, Credential.api_key(sandbox.api_key), **kw)


def login(sandbox, client):
    challenge = client.login(sandbox.email, sandbox.password)
    code = [m["code"] for m in sandbox.outbox() if m["email_key"] == challenge.email_key][-1]
    return client.verify(challenge, code)


def test_api_key_round_trip_plain_and_streamed(sandbox):
    client = key_client(sandbox)
    done = client.create_response("What is a token bucket?", model="gpt-4o")
    assert done.text.startswith("[sandbox gpt-4o]") and done.thread_id and done.output_tokens > 0
    with client.stream_response("What is a token bucket?", model="gpt-4o") as stream:
        pieces = list(stream.text_deltas())
    assert len(pieces) > 1 and stream.completion.text == "".join(pieces) == done.text
    assert stream.completion.ttft_s is not None and stream.thread_id == stream.completion.thread_id
    assert client.is_sandbox


def test_login_verify_refresh_and_logout_via_the_outbox(sandbox):
    client = FreddyClient(sandbox.url)
    cred = login(sandbox, client)
    assert cred.method == "bearer" and cred.can_refresh
    assert client.me()["email"] == sandbox.email
    stale = Credential.bearer(*_tokens_of(cred))
    client.logout()
    assert client.credential is None and repr(cred) == "<Credential cleared>"
    other = FreddyClient(sandbox.url, stale)  # the revoked refresh token must not work any more
    with pytest.raises(AuthError):
        stale.refresh_after_401(0)
    other.close()


def _tokens_of(cred):
    headers = {}
    cred.authorize(headers)
    return headers["Authorization"].split(" ", 1)[1], cred.session_token()


@pytest.mark.slow
def test_one_second_tokens_across_a_run_of_calls_lose_nothing(sandbox):
    sandbox.set_token_lifetime(1.0)
    sandbox.set_latency(per_request=0.05)
    client = FreddyClient(sandbox.url)
    cred = login(sandbox, client)
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
    client = FreddyClient(sandbox.url)
    cred = login(sandbox, client)
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
    print(f"\n16 threads, {elapsed:.2f} s, 1 s tokens: {refreshes} refresh calls")


@pytest.mark.parametrize("key_name, words", [
    ("expired", "has expired"), ("paused", "paused"), ("deactivated", "deactivated"),
])
def test_lifecycle_keys_are_auth_errors_with_advice(sandbox, key_name, words):
    client = FreddyClient(sandbox.url, Credential.api_key(sandbox.extra_keys[key_name]))
    with pytest.raises(AuthError, match=words):
        client.create_response("hi")
    assert sandbox.calls(RESP) == 1


def test_status_faults_map_to_errors_and_post_is_not_retried(sandbox):
    client = key_client(sandbox)
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="status", status=503, times=1))
    with pytest.raises(APIError) as info:
        client.create_response("hi")
    assert info.value.status == 503 and sandbox.calls(RESP) == 1
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="status", status=403,
                        code="INSUFFICIENT_PERMISSIONS", times=1))
    with pytest.raises(PermissionDenied, match="Insufficient permissions"):
        client.create_response("hi")
    assert sandbox.calls(RESP) == 2


def test_get_is_retried_after_503_and_reset(sandbox):
    sleeper = Sleeper()
    client = key_client(sandbox, sleep=sleeper)
    sandbox.faults.add(Fault(method="GET", path="/v1/models", kind="status", status=503, times=1))
    assert client.models()
    sandbox.faults.add(Fault(method="GET", path="/v1/models", kind="reset", times=1))
    assert client.models()
    assert sandbox.calls("/v1/models") == 4 and len(sleeper.calls) == 2


def test_reset_on_post_is_connection_failed_without_retry(sandbox):
    client = key_client(sandbox)
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="reset", times=1))
    with pytest.raises(ConnectionFailed, match="may have been processed") as info:
        client.create_response("hi")
    assert sandbox.calls(RESP) == 1 and info.value.__context__ is None


def test_429_fault_waits_and_succeeds(sandbox):
    sleeper = Sleeper()
    client = key_client(sandbox, sleep=sleeper)
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="status", status=429,
                        code="RATE_LIMIT_EXCEEDED", retry_after=1, times=1))
    done = client.create_response("hi")
    assert done.retries == 1 and sandbox.calls(RESP) == 2
    assert sleeper.calls and 0.9 <= sleeper.calls[0] <= 1.0


def test_slow_answer_hits_the_read_timeout(sandbox):
    client = key_client(sandbox, timeouts={"read": 0.3})
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="slow", delay=1.5, times=1))
    with pytest.raises(Timeout):
        client.create_response("hi")


def test_echo_and_html_faults_are_redacted_one_liners(sandbox):
    client = key_client(sandbox)
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="echo", times=1))
    with pytest.raises(APIError) as info:
        client.create_response("hi")
    assert sandbox.api_key not in str(info.value) and info.value.status == 500
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="html", times=1))
    with pytest.raises(APIError) as info:
        client.create_response("hi")
    assert info.value.status == 502 and "\n" not in str(info.value) and "<" not in str(info.value)


def test_truncated_stream_keeps_its_partial_text(sandbox):
    client = key_client(sandbox)
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="truncate", after_deltas=3, times=1))
    got = []
    with pytest.raises(StreamInterrupted) as info:
        with client.stream_response("tell me a story") as stream:
            for piece in stream.text_deltas():
                got.append(piece)
    assert len(got) == 3 and info.value.partial_text == "".join(got)
    assert sandbox.calls(RESP) == 1


def test_error_event_mid_stream_raises_the_matching_error(sandbox):
    client = key_client(sandbox)
    sandbox.faults.add(Fault(method="POST", path=RESP, kind="status", status=500, after_deltas=2, times=1))
    with pytest.raises(APIError):
        with client.stream_response("hi") as stream:
            list(stream)


def test_bare_bearer_token_works_without_refresh(sandbox):
    access, _ = _tokens_of(login(sandbox, FreddyClient(sandbox.url)))
    client = FreddyClient(sandbox.url, Credential.bearer(access))
    assert client.create_response("hi").text
    assert not client.credential.can_refresh


@pytest.mark.slow
def test_rate_limited_batch_loses_no_rows(sandbox):
    sandbox.set_rate_limit("50/1s")
    client = key_client(sandbox)

    def row(i):
        try:
            return client.create_response(f"row {i}").text
        except FreddyError as exc:
            return exc

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(row, range(200)))
    elapsed = time.monotonic() - start
    failed = [r for r in results if isinstance(r, Exception)]
    assert failed == []
    assert client.rate_limit is not None and client.rate_limit.limit == 50
    print(f"\n200 rows at concurrency 8 on 50/1s: {elapsed:.2f} s, {200 / elapsed:.1f} req/s, "
          f"{client.stats['retries']} retries")


def test_threads_messages_and_cancel(sandbox):
    client = key_client(sandbox)
    done = client.create_response("remember this")
    page = client.messages(done.thread_id, order="asc")
    assert [m["role"] for m in page.data] == ["user", "assistant"] and page.has_more is False
    assert done.thread_id in [t["id"] for t in client.threads().data]
    with pytest.raises(APIError) as info:  # no stream is running on that thread
        client.cancel(done.thread_id)
    assert info.value.status == 404


def test_connect_refused_is_retried_even_for_post_then_fails_cleanly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeper = Sleeper()
    client = FreddyClient(f"http://127.0.0.1:{port}", Credential.api_key("ak_unused_0123456789"),
                          sleep=sleeper)
    with pytest.raises(ConnectionFailed, match="Could not connect") as info:
        client.create_response("hi")
    assert len(sleeper.calls) == 2  # the request never left: safe to retry, twice
    assert info.value.__context__ is None


def test_i12_logout_forgets_everything(sandbox):
    client = FreddyClient(sandbox.url)
    login(sandbox, client)
    cred = client.credential
    headers = {}
    cred.authorize(headers)
    token = headers["Authorization"].split(" ", 1)[1]
    client.logout()
    with pytest.raises(NotAuthenticated):
        client.create_response("hi")
    assert _redaction.redact(token) == token or "[REDACTED" not in _redaction.redact(token).replace("[REDACTED:jwt]", "")
    assert token not in _redaction._live
    gc.collect()
    holders = [r for r in gc.get_referrers(token) if r is not headers and r is not locals()]
    from_package = [r for r in holders if type(r).__module__.startswith("freddy_magic")]
    assert from_package == [], "a freddy_magic object still holds the old token"
    client.close()


def test_n1_n2_single_flight_against_the_sandbox(sandbox):
    """50 threads, a token inside its mandatory window, rotating refresh tokens: one refresh,
    no reuse of a spent refresh token, no failed request."""
    clock = FakeClock()
    client = FreddyClient(sandbox.url, clock=clock)
    login(sandbox, client)
    clock.advance(10**5)  # far past expiry on the client's clock: everyone needs a fresh token
    results, errors = run_together(50, client.models)
    assert errors == [], errors[:3]
    assert sandbox.calls(REFRESH) == 1
    client.close()
