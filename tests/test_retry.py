"""Rate limits, backoff and idempotency (§4.J): waits are bounded, POSTs are not blindly replayed.

Sleeps go through the client's injected ``sleep``, so each test asserts the exact waits the
client chose, and no test waits for real.
"""

import random
import statistics
import time
from email.utils import formatdate

import pytest

from freddy_magic._auth import Credential
from freddy_magic._errors import ConnectionFailed, FreddyError, RateLimited

from .fakes import Sleeper
from .hostile import HostileServer, Reply, forward

RESPONSE = "/v1/model/response"


def _client(url, key, **kw):
    from freddy_magic._client import FreddyClient

    return FreddyClient(url, Credential.api_key(key), **kw)


def test_j1_retry_after_seconds_is_honoured(sandbox, sleeper):
    from freddy_magic.sandbox import Fault

    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=429, retry_after=2, times=1))
    client = _client(sandbox.url, sandbox.api_key, sleep=sleeper)
    assert client.create_response("hi").text
    assert sandbox.calls(RESPONSE) == 2
    assert len(sleeper.calls) == 1 and 1.5 <= sleeper.calls[0] <= 3.0
    client.close()


def _then_forward(sandbox, first):
    state = {"n": 0}

    def script(seen):
        state["n"] += 1
        return first if state["n"] == 1 else forward(seen, sandbox.url)

    return script


@pytest.mark.parametrize("headers,low,high", [
    (lambda: {"retry-after-ms": "1500"}, 1.4, 2.5),
    (lambda: {"Retry-After": formatdate(time.time() + 3, usegmt=True)}, 1.0, 4.5),  # made when the test runs
    (lambda: {"Retry-After": "-5"}, 0.0, 8.0),
    (lambda: {"Retry-After": "soon"}, 0.0, 8.0),
    (lambda: {"Retry-After": "nan"}, 0.0, 8.0),
], ids=["ms", "http-date", "negative", "garbage", "nan"])
def test_j2_retry_after_formats_and_garbage(sandbox, headers, low, high, sleeper):
    headers = headers()
    reply = Reply(429, headers={"Content-Type": "application/json", **headers},
                  body=b'{"success": false, "error": {"code": "RATE_LIMIT_EXCEEDED", "message": "slow down"}}')
    with HostileServer(_then_forward(sandbox, reply)) as api:
        client = _client(api.url, sandbox.api_key, sleep=sleeper)
        assert client.create_response("hi").text
        client.close()
        assert api.count(RESPONSE) == 2
    assert len(sleeper.calls) == 1 and low <= sleeper.calls[0] <= high, sleeper.calls


def test_j3_retry_after_over_the_cap_fails_fast(sandbox, sleeper):
    from freddy_magic.sandbox import Fault

    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=429, retry_after=3600, times=None))
    client = _client(sandbox.url, sandbox.api_key, sleep=sleeper)
    with pytest.raises(RateLimited) as info:
        client.create_response("hi")
    assert info.value.retry_after == pytest.approx(3600, abs=1)
    assert sleeper.calls == [] and sandbox.calls(RESPONSE) == 1
    client.close()


def test_j4_backoff_is_bounded_jittered_and_spread():
    from freddy_magic._ratelimit import BACKOFF_CAP, backoff_delay

    for attempt in range(6):
        values = []
        for seed in range(1000):
            random.seed(seed)
            values.append(backoff_delay(attempt))
        assert all(0 <= v <= BACKOFF_CAP for v in values)
        assert len({round(v, 6) for v in values}) > 900, "backoff is not randomised"
        assert statistics.pstdev(values) > 0.05


def test_j4_constant_503_gives_at_most_two_retries_within_budget(sandbox, sleeper):
    from freddy_magic.sandbox import Fault

    sandbox.faults.add(Fault(method="GET", path="/v1/models", kind="status", status=503, times=None))
    client = _client(sandbox.url, sandbox.api_key, sleep=sleeper)
    with pytest.raises(FreddyError):
        client.models()
    assert sandbox.calls("/v1/models") <= 3
    assert len(sleeper.calls) <= 2 and sum(sleeper.calls) <= 90 and all(s <= 8.0 for s in sleeper.calls)
    client.close()


def test_j5_post_reset_after_send_is_not_retried(sandbox, sleeper):
    from freddy_magic.sandbox import Fault

    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="reset", times=1))
    client = _client(sandbox.url, sandbox.api_key, sleep=sleeper)
    with pytest.raises(ConnectionFailed) as info:
        client.create_response("hi")
    assert sandbox.calls(RESPONSE) == 1
    assert "processed" in str(info.value) or "not retried" in str(info.value)
    client.close()


def test_j6_a_retried_post_reuses_one_idempotency_key(sandbox, sleeper):
    reply = Reply(502, headers={"Content-Type": "text/plain"}, body=b"bad gateway")
    with HostileServer(_then_forward(sandbox, reply)) as api:
        client = _client(api.url, sandbox.api_key, sleep=sleeper)
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


def test_j10_keyboard_interrupt_during_backoff_cancels_cleanly(sandbox):
    from freddy_magic.sandbox import Fault

    pressed = []

    def interrupt(_seconds):  # Ctrl-C once, during the first wait; later waits pass
        if not pressed:
            pressed.append(True)
            raise KeyboardInterrupt

    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=429, retry_after=1, times=1))
    client = _client(sandbox.url, sandbox.api_key, sleep=Sleeper(on_sleep=interrupt))
    with pytest.raises(KeyboardInterrupt):
        client.create_response("hi")
    assert sandbox.calls(RESPONSE) == 1
    assert client.create_response("hi").text  # state intact: the next call works
    client.close()
