"""The credential holder on its own: intake checks, hygiene, and the refresh state machine.

Time is a fake clock and the token endpoint a counting refresher (tests/fakes.py), so "exactly one
refresh" is a count, not a timing accident, and threads are released by conditions, not sleeps.
The HTTP side of refresh is in test_sender.py.
"""

import copy
import logging
import pickle
import threading
import warnings

import pytest
from hypothesis import given, settings

from freddy_magic import _redaction
from freddy_magic._auth import Credential
from freddy_magic._errors import AuthError, ConfigError, FreddyError, NotAuthenticated
from freddy_magic.testing import find_canary

from .fakes import FakeClock, FakeRefresher, make_jwt, run_together
from .hostile import HostileServer, Reply
from .json_values import PARSER_EXAMPLES, answers
from .shown import text_views, verbose_traceback

KEY = "ak_unit_0123456789abcdefghij"


def _bearer(clock, refresher, lifetime=100.0, refresh="refresh-token-abcdef123"):
    return Credential.bearer("access-token-0000-abcdef", refresh, expires_in=lifetime, refresher=refresher, clock=clock)


def _authorization(cred):
    headers = {}
    cred.authorize(headers)
    return headers["Authorization"]


# intake and hygiene ----------------------------------------------------------------------------
def test_api_key_header_and_repr_show_only_the_fingerprint():
    cred = Credential.api_key("  " + KEY + "\t")
    headers = {}
    cred.authorize(headers)
    assert headers == {"X-API-Key": KEY, "api-key": KEY}  # the SDK's header and the seed page's
    fp = _redaction.fingerprint(KEY)
    assert cred.fingerprint == fp and cred.method == "api-key"
    for text in (repr(cred), str(cred), f"{cred}", f"{cred:>60}", "%s" % cred):
        assert KEY not in text and fp in text
    assert repr(cred) == f"<Credential api-key {fp}>"
    assert not hasattr(cred, "__dict__")
    assert cred.expires_in() is None and not cred.can_refresh


@pytest.mark.parametrize(
    "bad, words",
    [
        (KEY + "\n", "control character"),
        ("ak_ab\rcdefghij", "control character"),
        ("ak_abc defghij", "space"),
        ("ak_abcdéfghij", "non-ASCII"),
        ("s0rt", "too short"),
        ("x" * 1025, "too long"),
        ("   ", "empty"),
        (None, "text"),
    ],
)
def test_bad_keys_are_refused_with_the_reason_and_without_echo(bad, words):
    with pytest.raises(ConfigError) as info:
        Credential.api_key(bad)
    assert words in str(info.value)
    if isinstance(bad, str) and bad.strip():
        assert bad.strip()[:8] not in str(info.value)
    assert info.value.__context__ is None


@pytest.mark.security
@pytest.mark.parametrize(
    "bad",
    ["{c}\n", "{c}\r\n", "\x00{c}", "{c}\x7f", "{c}\u200b", "\u0430{c}"],
    ids=["LF", "CRLF", "NUL", "DEL", "zero-width", "cyrillic-a"],
)
def test_f1_malformed_keys_are_rejected_without_echo_even_in_a_verbose_traceback(canary, bad):
    with pytest.raises(ConfigError) as info:
        Credential.api_key(bad.format(c=canary.value))
    err = info.value
    assert find_canary([str(err), repr(err), repr(err.args), verbose_traceback(err)], canary.value) == []
    assert err.__context__ is None


@pytest.mark.security
def test_f1_surrounding_space_is_stripped_before_sending(canary):
    from freddy_magic._client import FreddyClient

    with HostileServer(Reply(200, body=b'{"is_valid": true, "error": null}')) as api:
        client = FreddyClient(api.url, Credential.api_key(" \t" + canary.value + " \t"))
        try:
            client.validate()
        except FreddyError:  # the shape may not satisfy validate(); the header is what matters
            pass
        client.close()
        sent = [s.headers.get("api-key") for s in api.seen]
    assert sent and set(sent) == {canary.value}


def _credentials(secret):
    """(label, credential) in each state a user can reach."""
    clock = FakeClock()

    def refresher(refresh_token):
        return {"access_token": secret + "-acc2", "refresh_token": secret + "-ref2", "expires_in": 600}

    bearer = Credential.bearer(
        secret + "-acc", refresh_token=secret + "-ref", expires_in=600, refresher=refresher, clock=clock
    )
    renewed = Credential.bearer(
        secret + "-acc", refresh_token=secret + "-ref", expires_in=600, refresher=refresher, clock=clock
    )
    clock.advance(590)  # inside the mandatory window: the next use refreshes
    renewed.authorize({})
    expired = Credential.bearer(secret + "-acc", expires_in=10, clock=clock)
    clock.advance(60)
    cleared = Credential.api_key(secret)
    cleared.clear()
    return [
        ("api-key", Credential.api_key(secret)),
        ("bearer", bearer),
        ("refreshed", renewed),
        ("expired", expired),
        ("cleared", cleared),
    ]


@pytest.mark.security
def test_d1_credential_views_show_only_a_fingerprint(canary):
    for label, cred in _credentials(canary.value):
        views = text_views(cred)
        assert find_canary(views, canary.value) == [], label
        assert views[0].startswith("<") and ("fp=" in views[0] or "cleared" in views[0]), label
        assert not hasattr(cred, "__dict__"), label


@pytest.mark.security
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_d5_credential_refuses_pickling_naming_only_the_type(canary, protocol):
    for label, cred in _credentials(canary.value):
        with pytest.raises(TypeError) as info:
            pickle.dumps(cred, protocol=protocol)
        assert "Credential" in str(info.value), label
        assert find_canary([str(info.value), repr(info.value)], canary.value) == [], label
        with pytest.raises(TypeError):
            pickle.dumps({"inside": [cred]}, protocol=protocol)


@pytest.mark.security
def test_d5_copies_are_the_same_object(canary):
    for label, cred in _credentials(canary.value):
        assert copy.copy(cred) is cred and copy.deepcopy(cred) is cred, label
        holder = copy.deepcopy({"c": [cred]})
        assert holder["c"][0] is cred


@pytest.mark.security
def test_d5_dill_cannot_serialise_the_secret(canary):
    dill = pytest.importorskip("dill", reason="dill not installed: pickle protocols cover the same path")
    cred = Credential.api_key(canary.value)
    try:
        blob = dill.dumps(cred)
    except TypeError:
        return
    assert find_canary(blob, canary.value) == []


def test_secrets_are_registered_for_redaction_and_forgotten_on_clear():
    key = "plain-unit-secret-value-42"  # no key-like prefix, so only the registry can catch it
    cred = Credential.api_key(key)
    assert key not in _redaction.redact(f"server echoed {key}")
    cred.clear()
    assert key in _redaction.redact(f"server echoed {key}")
    assert repr(cred) == "<Credential cleared>"
    with pytest.raises(NotAuthenticated):
        cred.authorize({})


# the refresh schedule --------------------------------------------------------------------------
@pytest.mark.security
def test_i6_no_refresh_before_the_advisory_window_then_exactly_one():
    clock, refresher = FakeClock(), FakeRefresher(expires_in=100.0)
    cred = _bearer(clock, refresher)
    for step in (0, 20, 40, 79):  # the advisory window starts at 80 % of a 100 s lifetime
        clock.now = 1000.0 + step
        assert _authorization(cred) == "Bearer access-token-0000-abcdef"
    assert refresher.calls == 0
    clock.advance(2)
    for _ in range(5):
        assert _authorization(cred) == "Bearer access-token-0001-abcdef"
    assert refresher.calls == 1 and cred.refreshes == 1
    assert 99 < cred.expires_in() <= 100


@pytest.mark.security
@pytest.mark.parametrize("lifetime", [1.0, 60.0, 300.0, 3600.0, 1814400.0])
def test_i8_tokens_of_any_lifetime_refresh_once_each_before_expiry_and_never_loop(lifetime):
    clock, refresher = FakeClock(), FakeRefresher(expires_in=lifetime)
    cred = _bearer(clock, refresher, lifetime)
    steps = 200
    for _ in range(steps):  # five lifetimes pass
        clock.advance(lifetime * 5 / steps)
        cred.authorize({})
        assert cred.expires_in() > 0, f"used an expired token at t={clock.now - 1000:.2f}"
    assert 5 <= refresher.calls <= 7  # each token is replaced once, well before it expires


@pytest.mark.security
def test_i9_opaque_or_malformed_tokens_have_no_schedule_and_never_refresh_proactively():
    clock, refresher = FakeClock(), FakeRefresher()
    for token in ("opaque-token-abcdefgh", "eyJhbGciOi.not-a-jwt.at-all", "eyJ" + "x" * 40):
        cred = Credential.bearer(token, refresh_token="refresh-token-abcdefgh", refresher=refresher, clock=clock)
        clock.advance(10**6)
        cred.authorize({})
        assert cred.expires_in() is None
    assert refresher.calls == 0


@pytest.mark.security
def test_i11_wall_clock_jumps_do_not_start_a_refresh_storm():
    clock, refresher, wall = FakeClock(), FakeRefresher(expires_in=3600.0), FakeClock(start=1.8e9)
    cred = Credential.bearer(
        "access-token-0000-abcdef",
        refresh_token="refresh-token-abcdefgh",
        expires_in=3600,
        refresher=refresher,
        clock=clock,
        wall=wall,
    )
    for jump in (7200, -7200, 7200 * 10):
        wall.advance(jump)
        cred.authorize({})
    assert refresher.calls == 0


def test_jwt_exp_is_used_when_the_server_gives_no_expires_in():
    cred = Credential.bearer(
        make_jwt(lifetime=600), "refresh-token-abcdef123", refresher=FakeRefresher(), clock=FakeClock()
    )
    assert 590 < cred.expires_in() <= 600


def test_advisory_failure_keeps_the_old_token_mandatory_failure_raises(caplog):
    clock, refresher = FakeClock(), FakeRefresher()
    cred = _bearer(clock, refresher)
    refresher.fail_with = AuthError("refresh refused")
    clock.advance(85)
    with caplog.at_level(logging.WARNING, logger="freddy_magic"):
        assert _authorization(cred).endswith("access-token-0000-abcdef")
    assert "refresh failed" in caplog.text
    clock.advance(10)  # mandatory window (last 10 %)
    with pytest.raises(AuthError):
        cred.authorize({})


@pytest.mark.security
def test_e5_bare_bearer_warns_once_before_expiry_and_fails_clearly_after_without_the_token():
    clock = FakeClock()
    token = "fm-canary-" + "8d" * 16
    cred = Credential.bearer(token, expires_in=100, clock=clock)
    assert not cred.can_refresh
    assert cred.refresh_after_401(0) is False
    clock.advance(85)
    with pytest.warns(UserWarning, match="cannot be refreshed") as caught:
        cred.authorize({})
    assert find_canary([str(w.message) for w in caught], token) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cred.authorize({})  # warned once per token, not per call
    clock.advance(20)
    with pytest.raises(AuthError, match="expired") as info:
        cred.authorize({})
    assert find_canary(str(info.value), token) == []


# refreshes after a 401, and the registry -------------------------------------------------------
def test_reactive_refresh_reuses_a_token_another_thread_already_fetched():
    refresher = FakeRefresher()
    cred = _bearer(FakeClock(), refresher)
    stale_gen = cred.authorize({})
    assert cred.refresh_after_401(stale_gen) is True
    assert cred.refresh_after_401(stale_gen) is True  # a second request that carried the old token
    assert refresher.calls == 1


def test_refresh_that_is_definitively_refused_is_not_retried_by_every_thread():
    refresher = FakeRefresher()
    cred = _bearer(FakeClock(), refresher)
    refresher.fail_with = AuthError("invalid refresh token")
    for _ in range(3):
        with pytest.raises(AuthError):
            cred.refresh_after_401(0)
    assert refresher.calls == 1


def test_refreshed_tokens_replace_old_ones_in_the_redaction_registry():
    cred = _bearer(FakeClock(), FakeRefresher())
    assert "access-token-0000-abcdef" not in _redaction.redact("x access-token-0000-abcdef")
    cred.refresh_after_401(0)
    assert "access-token-0001-abcdef" not in _redaction.redact("x access-token-0001-abcdef")
    assert "access-token-0000-abcdef" in _redaction.redact("x access-token-0000-abcdef")
    assert "refresh-token-abcdef123" not in _redaction.redact("refresh-token-abcdef123")
    cred.clear()


def test_refresh_answer_with_a_hostile_token_is_refused_without_echo():
    cred = _bearer(FakeClock(), lambda rt: {"access_token": "evil-token-abc\r\nX-Injected: 1"})
    with pytest.raises(AuthError, match="malformed token") as info:
        cred.refresh_after_401(0)
    assert "evil" not in str(info.value) and info.value.__context__ is None


# concurrency -----------------------------------------------------------------------------------
@pytest.mark.security
def test_n1_single_flight_refresh_under_50_threads():
    """Every thread is inside ``authorize`` with the old token before the one refresh may end,
    so each of them must either do the refresh or wait for it: one refresh, one new token."""
    clock, gate = FakeClock(), threading.Event()
    refresher = FakeRefresher(expires_in=3600.0, gate=gate)
    cred = _bearer(clock, refresher, lifetime=3600.0)
    clock.advance(3590)  # mandatory window: everyone must wait for the one refresh
    threads, already = 50, clock.readers
    release = threading.Thread(target=lambda: clock.wait_for_readers(already + threads) and gate.set())
    release.start()
    results, errors = run_together(threads, lambda: _authorization(cred))
    release.join(timeout=30)
    assert gate.is_set(), "not every thread reached authorize"
    assert errors == [] and refresher.calls == 1
    assert results == ["Bearer access-token-0001-abcdef"] * threads


@pytest.mark.security
def test_n3_advisory_window_does_not_block_other_threads():
    clock, gate = FakeClock(), threading.Event()
    refresher = FakeRefresher(expires_in=3600.0, gate=gate)
    cred = _bearer(clock, refresher, lifetime=3600.0)
    clock.advance(3400)  # advisory, not mandatory: the token is still valid for 200 s
    slow = threading.Thread(target=cred.authorize, args=({},))
    slow.start()
    assert refresher.entered.wait(30), "the advisory refresh never started"
    results, errors = run_together(20, lambda: _authorization(cred))  # the refresh is still held open
    gate.set()
    slow.join(timeout=30)
    assert errors == [] and results == ["Bearer access-token-0000-abcdef"] * 20
    assert _authorization(cred) == "Bearer access-token-0001-abcdef" and refresher.calls == 1


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=PARSER_EXAMPLES)
@given(payload=answers())
def test_k2_a_token_answer_of_any_json_renews_or_is_an_auth_error(payload):
    """The refresh endpoint's answer, whatever JSON it is: a renewed credential with a usable token,
    or AuthError (sign in again), and the old token kept until then."""
    clock = FakeClock()
    cred = Credential.bearer(
        "access-token-old-abcdef", "refresh-token-abcdef123", expires_in=3600, refresher=lambda _t: payload, clock=clock
    )
    try:
        _check_renewal(cred)
    finally:
        # A fuzzed token ("TOKEN_EXPIRED", say) must not stay registered for redaction: later
        # tests would see that word redacted wherever a server says it.
        cred.clear()


def _check_renewal(cred):
    try:
        renewed = cred.refresh_after_401(0)
    except AuthError:
        headers = {}
        cred.authorize(headers)
        assert headers["Authorization"] == "Bearer access-token-old-abcdef"
        return
    headers = {}
    assert renewed and cred.refreshes == 1
    cred.authorize(headers)
    assert isinstance(headers["Authorization"], str) and headers["Authorization"].startswith("Bearer ")


def test_refresh_now_hands_over_the_answer_before_applying_it():
    seen = []
    cred = Credential.bearer(
        "access-one-abcdef",
        refresh_token="refresh-one-abcdef",
        expires_in=3600,
        refresher=lambda token: {"access_token": "access-two-abcdef", "expires_in": 3600},
        clock=FakeClock(),
    )
    cred.refresh_now(lambda payload: seen.append((payload, cred.refreshes)))
    assert seen == [({"access_token": "access-two-abcdef", "expires_in": 3600}, 0)] and cred.refreshes == 1
    headers = {}
    cred.authorize(headers)
    assert headers["Authorization"] == "Bearer access-two-abcdef"
    for cannot in (Credential.api_key("k" * 24), Credential.bearer("access-only-abcdef")):
        with pytest.raises(NotAuthenticated, match="cannot be renewed"):
            cannot.refresh_now(seen.append)
    assert len(seen) == 1
