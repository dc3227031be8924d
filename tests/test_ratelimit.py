"""Retry-After parsing, jittered backoff and the client-side limiter, on a fake clock.

The batch-level goal (a 50/1s sandbox, 200 rows at concurrency 8, 0 failed rows) is checked
against the real sandbox at the end.
"""

import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate

import pytest

from freddy_magic._errors import FreddyError, RateLimited
from freddy_magic._ratelimit import RateLimiter, RateLimitStatus
from freddy_magic._retry import BACKOFF_CAP, backoff_delay, parse_retry_after

from .clients import client_for
from .fakes import FakeClock, Sleeper


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "120", "Retry-After": "1"}, 0.12),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "-1"}, None),
        ({}, None),
        ({"X-RateLimit-Retry-After": "0"}, None),
        ({"X-RateLimit-Retry-After": "4"}, 4.0),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date():
    headers = {"Retry-After": formatdate(1_000_030, usegmt=True)}
    assert parse_retry_after(headers, wall=lambda: 1_000_000.0) == pytest.approx(30.0)


@pytest.mark.security
def test_j4_backoff_is_full_jitter_bounded_and_spread():
    rng = random.Random(7)
    for n in (1, 2, 3, 10):
        samples = [backoff_delay(n, rng.random) for _ in range(1000)]
        bound = min(BACKOFF_CAP, 0.5 * 2 ** (n - 1))
        assert all(0 <= s <= bound for s in samples)
        assert max(samples) > 0.9 * bound and min(samples) < 0.1 * bound
        assert len({round(s, 6) for s in samples}) > 900
    for attempt in range(6):  # the default source of randomness jitters too
        samples = [backoff_delay(attempt) for _ in range(1000)]
        assert all(0 <= s <= BACKOFF_CAP for s in samples)
        assert len({round(s, 6) for s in samples}) > 900, "backoff is not randomised"
        assert statistics.pstdev(samples) > 0.05


def limited(remaining, limit=50, reset=None):
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset if reset is not None else 2_000_001),
    }


def test_limiter_spends_reported_tokens_then_paces():
    clock = FakeClock()
    sleeper = Sleeper(clock)
    limiter = RateLimiter(clock=clock, sleep=sleeper, wall=lambda: 2_000_000.0)
    limiter.acquire()
    limiter.observe(limited(3))
    limiter.release()
    assert limiter.status == RateLimitStatus(50, 3, 2_000_001.0)
    for _ in range(3):
        limiter.acquire()
        limiter.release()
    assert sleeper.calls == []
    for _ in range(4):
        limiter.acquire()
        limiter.release()
    # Reset says the bucket refills 46 tokens within 1 s: the rate is at least 46/s
    assert sleeper.calls == [pytest.approx(1 / 46)] * 4


def test_unknown_server_means_no_pacing():
    sleeper = Sleeper()
    limiter = RateLimiter(clock=FakeClock(), sleep=sleeper)
    for _ in range(100):
        limiter.acquire()
        limiter.observe({})
        limiter.release()
    assert sleeper.calls == [] and limiter.status is None


def test_a_429_pauses_every_later_request():
    clock = FakeClock()
    sleeper = Sleeper(clock)
    limiter = RateLimiter(clock=clock, sleep=sleeper)
    limiter.throttled(2.0)
    limiter.acquire()
    limiter.release()
    assert sleeper.calls == [pytest.approx(2.0)]
    limiter.acquire()
    assert sleeper.total > 2.0  # the next slot is spaced after the first


def test_slot_past_the_deadline_is_rate_limited_not_a_long_sleep():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=Sleeper(clock))
    limiter.throttled(30.0)
    with pytest.raises(RateLimited) as info:
        limiter.acquire(deadline=clock() + 5)
    assert info.value.retry_after == pytest.approx(30.0)


def test_rate_is_learnt_as_a_lower_bound_and_capped_by_a_429():
    clock = FakeClock()
    wall = [2_000_000.0]
    limiter = RateLimiter(clock=clock, sleep=Sleeper(clock), wall=lambda: wall[0])
    # a true rate of 50/s; Reset is when the bucket is full again, rounded up to whole seconds
    for remaining, now, reset in ((40, 0.3, 2_000_001), (10, 0.5, 2_000_002), (0, 0.9, 2_000_002)):
        wall[0] = 2_000_000.0 + now
        limiter.acquire()
        limiter.observe(limited(remaining, reset=reset))
        limiter.release()
    assert 40 <= limiter._rate <= 50
    learnt = limiter._rate
    limiter.throttled(0.02)
    assert limiter._rate == pytest.approx(learnt * 0.9)
    limiter.acquire()
    limiter.observe(limited(10, reset=2_000_002))  # a high bound cannot lift it over the cap
    limiter.release()
    assert limiter._rate <= learnt * 0.9 + 1e-9


def test_mirror_follows_the_server_when_tokens_come_back():
    clock = FakeClock()
    sleeper = Sleeper(clock)
    limiter = RateLimiter(clock=clock, sleep=sleeper, wall=lambda: 2_000_000.0)
    limiter.acquire()
    limiter.observe(limited(0))
    limiter.release()
    limiter.acquire()
    limiter.observe(limited(30))  # the bucket refilled while we were idle
    limiter.release()
    sleeper.calls.clear()
    for _ in range(30):
        limiter.acquire()
        limiter.release()
    assert sleeper.calls == []


@pytest.mark.security
def test_j10_ctrl_c_while_waiting_for_a_slot_gives_the_slot_back():
    """12 Ctrl-C presses while requests wait for a slot of a 10/1s bucket: afterwards the next
    request waits exactly as long as on a limiter that never saw them (a leaked slot per press
    used to make every later request wait longer, until the client was replaced)."""

    def drained(sleep):
        clock = FakeClock()
        limiter = RateLimiter(clock=clock, sleep=sleep, wall=lambda: 2_000_000.0)
        limiter.acquire()
        limiter.observe(limited(0, limit=10, reset=2_000_001))
        limiter.release()
        return limiter, clock

    def press(_seconds):
        raise KeyboardInterrupt

    interrupted, _ = drained(Sleeper(on_sleep=press))
    for _ in range(12):
        with pytest.raises(KeyboardInterrupt):
            interrupted.acquire()  # as the sender does: no release for a wait that never got its slot
    untouched, _ = drained(Sleeper())
    waits = []
    for limiter in (interrupted, untouched):
        limiter._sleep = Sleeper()
        limiter.acquire()
        limiter.release()
        waits.append(limiter._sleep.calls)
    assert waits[0] == waits[1] == [pytest.approx(1 / 9)]
    assert interrupted._outstanding == 0


def test_a_wait_past_the_deadline_gives_the_slot_back_too():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=Sleeper(clock))
    limiter.throttled(30.0)
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.acquire(deadline=clock() + 5)
    assert limiter._outstanding == 0
    with pytest.raises(RateLimited) as info:
        limiter.acquire(deadline=clock() + 5)
    assert info.value.retry_after == pytest.approx(30.0), "refused waits piled up on the next one"


@pytest.mark.slow
def test_rate_limited_batch_loses_no_rows(sandbox):
    """200 rows at concurrency 8 against a 50/1s limit: the client slows down, nothing fails."""
    sandbox.set_rate_limit("50/1s")
    client = client_for(sandbox.url, sandbox.api_key)

    def row(i):
        try:
            return client.create_response(f"row {i}").text
        except FreddyError as exc:
            return exc

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(row, range(200)))
    elapsed = time.monotonic() - start
    assert [r for r in results if isinstance(r, Exception)] == []
    assert client.rate_limit is not None and client.rate_limit.limit == 50
    print(
        f"\n200 rows at concurrency 8 on 50/1s: {elapsed:.2f} s, {200 / elapsed:.1f} req/s, "
        f"{client.stats['retries']} retries"
    )
