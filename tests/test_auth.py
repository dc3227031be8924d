"""The credential holder on its own: intake checks, hygiene, and the refresh state machine.

Driven by a fake clock and a fake refresher (tests/client_fixtures.py); the HTTP side of refresh
is covered in test_client_unit.py (responses) and test_client_sandbox.py (the real sandbox).
"""

import copy
import logging
import pickle
import threading
import warnings

import pytest

from freddy_magic import _redaction
from freddy_magic._auth import Credential
from freddy_magic._errors import AuthError, ConfigError, NotAuthenticated

from .fakes import FakeClock, FakeRefresher, make_jwt

KEY = "ak_unit_0123456789abcdefghij"


def test_api_key_header_and_repr_show_only_the_fingerprint():
    cred = Credential.api_key("  " + KEY + "\t")
    headers = {}
    cred.authorize(headers)
    assert headers == {"api-key": KEY}
    fp = _redaction.fingerprint(KEY)
    assert cred.fingerprint == fp and cred.method == "api-key"
    for text in (repr(cred), str(cred), f"{cred}", f"{cred:>60}", "%s" % cred):
        assert KEY not in text and fp in text
    assert repr(cred) == f"<Credential api-key {fp}>"
    assert not hasattr(cred, "__dict__")
    assert cred.expires_in() is None and not cred.can_refresh


@pytest.mark.parametrize("bad, words", [
    (KEY + "\n", "control character"), ("ak_ab\rcdefghij", "control character"),
    ("ak_abc defghij", "space"), ("ak_abcdéfghij", "non-ASCII"), ("s0rt", "too short"),
    ("x" * 1025, "too long"), ("   ", "empty"), (None, "text"),
])
def test_bad_keys_are_refused_without_echo(bad, words):
    with pytest.raises(ConfigError) as info:
        Credential.api_key(bad)
    assert words in str(info.value)
    if isinstance(bad, str) and bad.strip():
        assert bad.strip()[:8] not in str(info.value)
    assert info.value.__context__ is None


def test_pickle_refused_naming_only_the_type_and_copies_are_the_same_object():
    cred = Credential.api_key(KEY)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError) as info:
            pickle.dumps(cred, protocol=protocol)
        assert "Credential" in str(info.value) and KEY not in str(info.value)
    assert copy.copy(cred) is cred and copy.deepcopy({"c": cred})["c"] is cred


def test_secrets_are_registered_for_redaction_and_forgotten_on_clear():
    key = "plain-unit-secret-value-42"  # no key-like prefix, so only the registry can catch it
    cred = Credential.api_key(key)
    assert key not in _redaction.redact(f"server echoed {key}")
    cred.clear()
    assert key in _redaction.redact(f"server echoed {key}")
    assert repr(cred) == "<Credential cleared>"
    with pytest.raises(NotAuthenticated):
        cred.authorize({})


def _bearer(clock, refresher, lifetime=100.0, refresh="refresh-token-abcdef123"):
    return Credential.bearer("access-token-0000-abcdef", refresh, expires_in=lifetime,
                             refresher=refresher, clock=clock)


def test_proactive_refresh_happens_once_inside_the_window_and_uses_the_new_token():
    clock, refresher = FakeClock(), FakeRefresher(expires_in=100.0)
    cred = _bearer(clock, refresher)
    headers = {}
    clock.advance(79)  # advisory window starts at 80 % of a 100 s lifetime
    cred.authorize(headers)
    assert refresher.calls == 0 and headers["Authorization"] == "Bearer access-token-0000-abcdef"
    clock.advance(2)
    for _ in range(5):
        cred.authorize(headers)
    assert refresher.calls == 1 and cred.refreshes == 1
    assert headers["Authorization"] == "Bearer access-token-0001-abcdef"
    assert 99 < cred.expires_in() <= 100


@pytest.mark.parametrize("lifetime", [1.0, 60.0, 300.0, 3600.0, 1814400.0])
def test_margin_is_proportional_and_never_loops(lifetime):
    clock, refresher = FakeClock(), FakeRefresher(expires_in=lifetime)
    cred = _bearer(clock, refresher, lifetime)
    steps = 200
    for _ in range(steps):
        clock.advance(lifetime * 5 / steps)
        cred.authorize({})
    # five lifetimes pass; each token is replaced once, well before it expires
    assert 5 <= refresher.calls <= 7
    assert cred.expires_in() > 0


def test_wall_clock_does_not_matter_only_the_monotonic_deadline():
    clock, refresher = FakeClock(), FakeRefresher(expires_in=3600.0)
    wall = [1e9]
    cred = Credential.bearer("access-token-0000-abcdef", "refresh-token-abcdef123",
                             expires_in=3600, refresher=refresher, clock=clock, wall=lambda: wall[0])
    wall[0] += 7200  # a 2 h wall-clock jump
    cred.authorize({})
    assert refresher.calls == 0


def test_jwt_exp_is_used_when_the_server_gives_no_expires_in():
    clock, refresher = FakeClock(), FakeRefresher()
    cred = Credential.bearer(make_jwt(lifetime=600), "refresh-token-abcdef123",
                             refresher=refresher, clock=clock)
    assert 590 < cred.expires_in() <= 600


def test_opaque_token_has_no_schedule_and_malformed_jwt_does_not_raise():
    for token in ("opaque-token-abcdefgh", "eyJhbGciOi.not-a-jwt.at-all"):
        cred = Credential.bearer(token, clock=FakeClock())
        assert cred.expires_in() is None
        cred.authorize({})


def test_advisory_failure_keeps_the_old_token_mandatory_failure_raises(caplog):
    clock, refresher = FakeClock(), FakeRefresher()
    cred = _bearer(clock, refresher)
    refresher.fail_with = AuthError("refresh refused")
    clock.advance(85)
    headers = {}
    with caplog.at_level(logging.WARNING, logger="freddy_magic"):
        cred.authorize(headers)
    assert headers["Authorization"].endswith("access-token-0000-abcdef")
    assert "refresh failed" in caplog.text
    clock.advance(10)  # mandatory window (last 10 %)
    with pytest.raises(AuthError):
        cred.authorize({})


def test_reactive_refresh_reuses_a_token_another_thread_already_fetched():
    clock, refresher = FakeClock(), FakeRefresher()
    cred = _bearer(clock, refresher)
    stale_gen = cred.authorize({})
    assert cred.refresh_after_401(stale_gen) is True
    assert cred.refresh_after_401(stale_gen) is True  # a second request that carried the old token
    assert refresher.calls == 1


def test_single_flight_many_threads_one_refresh():
    clock, gate = FakeClock(), threading.Event()
    refresher = FakeRefresher(gate=gate)
    cred = _bearer(clock, refresher)
    clock.advance(95)  # mandatory window: everybody must wait for the new token
    seen, barrier = [], threading.Barrier(16)

    def worker():
        headers = {}
        barrier.wait()
        cred.authorize(headers)
        seen.append(headers["Authorization"])

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for th in threads:
        th.start()
    gate.set()
    for th in threads:
        th.join(10)
    assert refresher.calls == 1
    assert seen == ["Bearer access-token-0001-abcdef"] * 16


def test_advisory_refresh_does_not_block_other_threads():
    clock, gate = FakeClock(), threading.Event()
    refresher = FakeRefresher(gate=gate)
    cred = _bearer(clock, refresher)
    clock.advance(85)  # advisory window: the token is still valid for 15 s
    slow = threading.Thread(target=cred.authorize, args=({},))
    slow.start()
    assert refresher.entered.wait(5)
    headers = {}
    cred.authorize(headers)  # returns at once with the still-valid token
    assert headers["Authorization"].endswith("access-token-0000-abcdef")
    gate.set()
    slow.join(5)
    cred.authorize(headers)
    assert headers["Authorization"].endswith("access-token-0001-abcdef") and refresher.calls == 1


def test_bare_bearer_warns_before_expiry_and_fails_clearly_after():
    clock = FakeClock()
    cred = Credential.bearer("access-token-0000-abcdef", expires_in=100, clock=clock)
    assert not cred.can_refresh
    assert cred.refresh_after_401(0) is False
    clock.advance(85)
    with pytest.warns(UserWarning, match="cannot be refreshed"):
        cred.authorize({})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cred.authorize({})  # warned once per token, not per call
    clock.advance(20)
    with pytest.raises(AuthError, match="expired"):
        cred.authorize({})


def test_refresh_that_is_definitively_refused_is_not_retried_by_every_thread():
    clock, refresher = FakeClock(), FakeRefresher()
    cred = _bearer(clock, refresher)
    refresher.fail_with = AuthError("invalid refresh token")
    for _ in range(3):
        with pytest.raises(AuthError):
            cred.refresh_after_401(0)
    assert refresher.calls == 1


def test_refreshed_tokens_replace_old_ones_in_the_redaction_registry():
    clock, refresher = FakeClock(), FakeRefresher()
    cred = _bearer(clock, refresher)
    assert "access-token-0000-abcdef" not in _redaction.redact("x access-token-0000-abcdef")
    cred.refresh_after_401(0)
    assert "access-token-0001-abcdef" not in _redaction.redact("x access-token-0001-abcdef")
    assert "access-token-0000-abcdef" in _redaction.redact("x access-token-0000-abcdef")
    assert "refresh-token-abcdef123" not in _redaction.redact("refresh-token-abcdef123")
    cred.clear()


def test_refresh_answer_with_a_hostile_token_is_refused_without_echo():
    clock, refresher = FakeClock(), FakeRefresher()
    cred = _bearer(clock, lambda rt: {"access_token": "evil-token-abc\r\nX-Injected: 1"})
    with pytest.raises(ConfigError) as info:
        cred.refresh_after_401(0)
    assert "evil" not in str(info.value)
