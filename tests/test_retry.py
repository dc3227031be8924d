"""The retry policy on its own (pure decisions), then as the send loop applies it.

The first half asks :class:`RetryPolicy` directly: which failure or status is repeated for which
method, how long it waits, when the budget or the deadline says stop. The second half drives a
client through scripted answers (``responses``) and the loopback sandbox and checks that the
attempts the server sees, the waits the injected ``sleep`` records and the counts the client
reports all agree, with no retry hidden in the HTTP adapter.
"""

import random

import pytest
import requests
import urllib3

from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._errors import APIError, ConfigError, ConnectionFailed, RateLimited, Timeout
from freddy_magic._retry import NEVER_RETRIED, Decision, Phase, RetryPolicy
from freddy_magic._transport import transport_failure

BASE = "https://api.example.test"
RESP = BASE + "/v1/model/response"
MODELS = BASE + "/v1/models"
REFRESH = BASE + "/v1/auth/refresh"
KEY = "ak_retry_policy_0123456789abcdef"
OK = {"success": True, "response": [{"type": "text", "text": "hello"}]}
LOTS = 1e9  # time left before the deadline, when the deadline is not what a test is about


def policy(**kw):
    kw.setdefault("rng", lambda: 0.5)
    return RetryPolicy(**kw)


# -- decisions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, phase, retried",
    [
        ("POST", Phase.CONNECT, True),
        ("GET", Phase.CONNECT, True),
        ("POST", Phase.SENT, False),
        ("GET", Phase.SENT, True),
        ("POST", Phase.FATAL, False),
        ("GET", Phase.FATAL, False),
    ],
)
def test_failures_repeat_only_when_nothing_was_sent_or_the_method_is_idempotent(method, phase, retried):
    assert policy().after_failure(method, phase, retries=0, time_left=LOTS).retry is retried


@pytest.mark.parametrize(
    "method, status, retried",
    [
        ("GET", 502, True),
        ("GET", 503, True),
        ("GET", 504, True),
        ("GET", 500, False),
        ("POST", 502, False),
        ("POST", 503, False),
        ("POST", 500, False),
        ("POST", 429, True),
        ("GET", 429, True),
        ("GET", 401, False),
        ("GET", 403, False),
        ("POST", 400, False),
        ("GET", 404, False),
    ],
)
def test_statuses_repeat_per_method(method, status, retried):
    assert policy().after_status(method, status, {}, retries=0, time_left=LOTS).retry is retried


def test_a_call_can_add_statuses_but_never_401_or_403():
    p = policy()
    assert p.after_status("POST", 500, {}, 0, LOTS, p.token_statuses).retry
    for status in NEVER_RETRIED:
        assert not p.after_status("GET", status, {}, 0, LOTS, frozenset({status})).retry
    with pytest.raises(ConfigError, match="401 or 403"):
        RetryPolicy(token_statuses=frozenset({500, 403}))


def test_the_budget_counts_every_kind_of_retry():
    p = policy(max_retries=2)
    assert p.after_failure("POST", Phase.CONNECT, retries=1, time_left=LOTS).retry
    assert not p.after_failure("POST", Phase.CONNECT, retries=2, time_left=LOTS).retry
    assert not p.after_status("GET", 503, {}, retries=2, time_left=LOTS).retry
    assert not policy(max_retries=0).after_status("POST", 429, {}, retries=0, time_left=LOTS).retry


def test_no_retry_whose_wait_would_outlast_the_deadline():
    p = policy()
    assert p.after_status("GET", 503, {"Retry-After": "5"}, 0, time_left=6).retry
    assert not p.after_status("GET", 503, {"Retry-After": "5"}, 0, time_left=5).retry


def test_429_waits_are_shared_even_when_this_call_gives_up():
    p = policy(max_retries=1)
    assert p.after_status("POST", 429, {"Retry-After": "3"}, 0, LOTS) == Decision(True, 3.0, shared=True)
    assert p.after_status("POST", 429, {"Retry-After": "3"}, 1, LOTS) == Decision(False, 3.0, shared=True)
    assert p.after_status("GET", 503, {"Retry-After": "3"}, 0, LOTS) == Decision(True, 3.0, shared=False)


def test_a_429_over_the_cap_fails_fast_but_a_503_over_the_cap_backs_off():
    p = policy(max_retry_after=60)
    assert p.after_status("POST", 429, {"Retry-After": "61"}, 0, LOTS) == Decision(False)
    assert p.after_status("GET", 503, {"Retry-After": "3600"}, 0, LOTS) == Decision(True, 0.25)
    assert p.retry_after({"Retry-After": "3600"}) == 3600  # reported uncapped in RateLimited


def test_backoff_uses_the_injected_rng_with_full_jitter():
    draws = iter([1.0, 1.0, 1.0, 0.0])
    p = RetryPolicy(rng=lambda: next(draws), backoff_base=0.5, backoff_cap=8.0)
    assert [p.backoff(n) for n in (1, 2, 6)] == [0.5, 1.0, 8.0]
    assert p.backoff(3) == 0.0
    rng = random.Random(3)
    spread = [RetryPolicy(rng=rng.random).backoff(2) for _ in range(500)]
    assert all(0 <= s <= 1.0 for s in spread) and len(set(spread)) == 500


def test_http_date_retry_after_reads_the_injected_wall_clock():
    p = RetryPolicy(wall=lambda: 1445412450.0)  # 30 s before the date below
    assert p.retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == pytest.approx(30.0)


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"max_retries": True}, "max_retries"),
        ({"max_retries": 11}, "max_retries"),
        ({"max_retries": 1.0}, "max_retries"),
        ({"max_retry_after": -1}, "max_retry_after"),
        ({"max_retry_after": float("nan")}, "max_retry_after"),
        ({"max_retry_after": float("inf")}, "max_retry_after"),
        ({"max_retry_after": "60"}, "max_retry_after"),
        ({"backoff_cap": -0.1}, "backoff_cap"),
    ],
)
def test_settings_are_validated(kw, words):
    with pytest.raises(ConfigError, match=words):
        RetryPolicy(**kw)
    if "backoff_cap" not in kw:
        with pytest.raises(ConfigError, match=words):
            FreddyClient(BASE, **kw)


def test_the_policy_is_an_immutable_value():
    p = RetryPolicy(max_retry_after=5)
    assert p.max_retry_after == 5.0 and isinstance(p.max_retry_after, float)
    with pytest.raises(AttributeError):
        p.max_retries = 5
    assert RetryPolicy() == RetryPolicy(rng=lambda: 0.0, sleep=lambda s: None)  # seams do not count


# -- what a library exception says about how far the attempt got ------------------------------


def _refused():
    reason = urllib3.exceptions.NewConnectionError(None, "refused")
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


@pytest.mark.parametrize(
    "exc, kind, phase",
    [
        (_refused(), ConnectionFailed, Phase.CONNECT),
        (requests.exceptions.ConnectTimeout(), Timeout, Phase.CONNECT),
        (requests.exceptions.ConnectionError("reset"), ConnectionFailed, Phase.SENT),
        (requests.exceptions.ReadTimeout(), Timeout, Phase.SENT),
        (requests.exceptions.SSLError(), ConnectionFailed, Phase.FATAL),
        (requests.exceptions.InvalidHeader("bad"), ConfigError, Phase.FATAL),
        (requests.exceptions.ChunkedEncodingError(), ConnectionFailed, Phase.FATAL),
        (RuntimeError("adapter bug"), ConnectionFailed, Phase.FATAL),
    ],
    ids=["refused", "connect-timeout", "reset", "read-timeout", "tls", "bad-header", "chunked", "other"],
)
def test_transport_failures_are_classified_by_phase(exc, kind, phase):
    failure = transport_failure(exc, "POST", RESP, repeatable=False)
    assert (failure.kind, failure.phase) == (kind, phase)
    error = failure.error()
    assert isinstance(error, kind) and error.__context__ is None
    assert kind is ConfigError or "api.example.test" in str(error)


def test_only_a_lost_post_says_it_was_not_retried():
    lost = requests.exceptions.ConnectionError("reset")
    assert "not retried" in transport_failure(lost, "POST", RESP, repeatable=False).message
    assert "not retried" not in transport_failure(lost, "GET", MODELS, repeatable=True).message


# -- the send loop applies it ------------------------------------------------------------------


def key_client(sleeps, **kw):
    return FreddyClient(BASE, Credential.api_key(KEY), sleep=sleeps.append, **kw)


def test_the_adapter_makes_no_retries_of_its_own():
    client = FreddyClient(BASE)
    for prefix in ("https://", "http://"):
        retry = client._session.get_adapter(prefix + "api.example.test").max_retries
        assert retry.total == 0 and retry.read is False
    client.close()


def test_get_read_errors_and_5xx_are_repeated_with_exact_counts(scripted):
    sleeps = []
    scripted.get(MODELS, body=requests.exceptions.ConnectionError("reset"))
    scripted.get(MODELS, status=502)
    scripted.get(MODELS, json={"models": [{"key": "ftg-3.0"}]})
    client = key_client(sleeps)
    assert client.models() == [{"key": "ftg-3.0"}]
    assert len(scripted.calls) == 3 and len(sleeps) == 2
    assert client.stats["requests"] == 3 and client.stats["retries"] == 2


def test_post_connect_failure_is_repeated_but_a_read_error_is_not(scripted):
    sleeps = []
    scripted.post(RESP, body=requests.exceptions.ConnectTimeout())
    scripted.post(RESP, json=OK)
    done = key_client(sleeps).create_response("hi")
    assert done.retries == 1 and len(scripted.calls) == 2 and len(sleeps) == 1
    scripted.replace("POST", RESP, body=requests.exceptions.ReadTimeout())
    with pytest.raises(Timeout) as info:
        key_client(sleeps).create_response("hi")
    assert len(scripted.calls) == 3 and len(sleeps) == 1 and info.value.__context__ is None


def test_tls_failure_is_never_repeated(scripted):
    sleeps = []
    scripted.get(MODELS, body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(ConnectionFailed, match="TLS"):
        key_client(sleeps).models()
    assert len(scripted.calls) == 1 and sleeps == []


def test_connect_failures_stop_at_the_budget_and_report_it(scripted):
    sleeps = []
    scripted.post(RESP, body=requests.exceptions.ConnectTimeout())
    client = key_client(sleeps, max_retries=1)
    with pytest.raises(Timeout, match="connect"):
        client.create_response("hi")
    assert len(scripted.calls) == 2 and len(sleeps) == 1 and client.stats["retries"] == 1


def test_the_token_endpoint_repeats_its_5xx_through_the_policy(scripted):
    sleeps = []
    scripted.post(RESP, status=401, json={"error": {"code": "TOKEN_EXPIRED"}})
    scripted.post(REFRESH, status=502)
    scripted.post(REFRESH, json={"access_token": "access-token-new-abcdef", "expires_in": 3600})
    scripted.post(RESP, json=OK)
    client = FreddyClient(BASE, sleep=sleeps.append)
    client.credential = Credential.bearer("access-token-old-abcdef", "refresh-token-abcdef123", expires_in=3600)
    assert client.create_response("hi").retries == 1  # the replay
    assert [c.request.url for c in scripted.calls] == [RESP, REFRESH, REFRESH, RESP] and len(sleeps) == 1


def test_a_retry_that_would_pass_the_deadline_is_not_made(scripted):
    sleeps = []
    scripted.get(MODELS, status=503, headers={"Retry-After": "30"})
    with pytest.raises(APIError):
        key_client(sleeps, timeouts={"total": 10}).models()
    assert len(scripted.calls) == 1 and sleeps == []


def test_a_final_429_still_holds_back_the_other_threads(scripted):
    sleeps = []
    scripted.post(RESP, status=429, headers={"Retry-After": "2"})
    client = key_client(sleeps, max_retries=0)
    with pytest.raises(RateLimited):
        client.create_response("hi")
    scripted.replace("POST", RESP, json=OK)
    client.create_response("hi")
    assert sleeps == [pytest.approx(2.0, abs=0.1)]  # the limiter made the next call wait


def test_real_sockets_get_503_and_reset_are_counted_exactly():
    from freddy_magic.sandbox import Fault, Sandbox

    sleeps = []
    with Sandbox(rate_limit=None) as sb:
        client = FreddyClient(sb.url, Credential.api_key(sb.api_key), sleep=sleeps.append)
        sb.faults.add(Fault(method="GET", path="/v1/models", kind="status", status=503, times=1))
        sb.faults.add(Fault(method="GET", path="/v1/models", kind="reset", times=1))
        assert client.models()
        assert sb.calls("/v1/models") == 3 and len(sleeps) == 2
        assert client.stats["requests"] == 3 and client.stats["retries"] == 2
        client.close()
