"""The auth state machine (§4.I, §4.N): never a loop, never a refresh storm, never a retry on 403.

Server-facing cases use the sandbox and count requests per route (``sb.calls``); timing cases
drive the credential with a fake clock and a counting refresher, so "exactly one refresh" is a
count, not a timing accident.
"""

import gc
import threading

import pytest

from freddy_magic import _redaction
from freddy_magic._auth import Credential
from freddy_magic._errors import AuthError, FreddyError, NotAuthenticated, PermissionDenied

RESPONSE = "/v1/model/response"
REFRESH = "/v1/auth/refresh"


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


class Refresher:
    """Counts refreshes; each returns a new access token (and optionally blocks first)."""

    def __init__(self, lifetime=3600, gate=None):
        self.count = 0
        self.lifetime = lifetime
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, refresh_token):
        if self.gate is not None:
            self.gate()
        with self.lock:
            self.count += 1
            n = self.count
        return {"access_token": f"access-token-{n:04d}-abcdef", "expires_in": self.lifetime}


def _bearer(lifetime, refresher, clock):
    return Credential.bearer("access-token-0000-abcdef", refresh_token="refresh-token-abcdefgh",
                             expires_in=lifetime, refresher=refresher, clock=clock)


def _client(sb, cred=None, **kw):
    from freddy_magic._client import FreddyClient

    return FreddyClient(sb.url, cred, **kw)


def _logged_in(sb, **kw):
    client = _client(sb, **kw)
    challenge = client.login(sb.email, sb.password)
    client.verify(challenge, sb.outbox()[-1]["code"])
    return client


# server-facing -----------------------------------------------------------------------------
def test_i1_api_key_401_is_not_retried(sandbox):
    client = _client(sandbox, Credential.api_key(sandbox.extra_keys["expired"]))
    with pytest.raises(AuthError):
        client.create_response("hi")
    assert sandbox.calls(RESPONSE) == 1
    client.close()


def test_i2_bearer_401_refreshes_once_and_replays_once(sandbox):
    from freddy_magic.sandbox import Fault

    client = _logged_in(sandbox)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, times=1))
    completion = client.create_response("hi")
    assert completion.text
    assert (sandbox.calls(RESPONSE), sandbox.calls(REFRESH)) == (2, 1)
    assert client.credential.refreshes == 1
    client.close()


def test_i3_bearer_401_after_refresh_stops(sandbox):
    from freddy_magic.sandbox import Fault

    client = _logged_in(sandbox, max_retries=5)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, times=None))
    with pytest.raises(AuthError):
        client.create_response("hi")
    assert (sandbox.calls(RESPONSE), sandbox.calls(REFRESH)) == (2, 1)
    with pytest.raises(AuthError):  # and the next call does not start another refresh loop
        client.create_response("hi")
    assert sandbox.calls(REFRESH) <= 2 and sandbox.calls(RESPONSE) <= 4
    client.close()


@pytest.mark.parametrize("fault", [dict(kind="status", status=400, code="invalid_grant"), dict(kind="status", status=401),
                                   dict(kind="status", status=500), dict(kind="html"), dict(kind="reset")],
                         ids=["400-invalid_grant", "401", "500", "html", "reset"])
def test_i4_refresh_endpoint_failures_end_in_one_clean_error(sandbox, fault, sleeper):
    from freddy_magic.sandbox import Fault

    client = _logged_in(sandbox, sleep=sleeper)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, times=None))
    sandbox.faults.add(Fault(method="POST", path=REFRESH, times=None, **fault))
    with pytest.raises(FreddyError) as info:
        client.create_response("hi")
    assert sandbox.calls(REFRESH) <= 3, "the refresh endpoint was hammered"
    assert sandbox.calls(RESPONSE) <= 2
    if fault.get("status") in (400, 401):
        assert isinstance(info.value, AuthError) and sandbox.calls(REFRESH) == 1
    assert "eyJ" not in str(info.value) and info.value.__context__ is None
    client.close()


def test_i5_403_never_refreshes_or_retries(sandbox, sleeper):
    from freddy_magic.sandbox import Fault

    client = _logged_in(sandbox, sleep=sleeper)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=403, times=None))
    with pytest.raises(PermissionDenied):
        client.create_response("hi")
    assert (sandbox.calls(RESPONSE), sandbox.calls(REFRESH), sleeper.calls) == (1, 0, [])
    client.close()


def test_i12_logout_forgets_everything(sandbox):
    client = _logged_in(sandbox)
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


# timing, with a fake clock -----------------------------------------------------------------
def test_i6_no_refresh_before_the_advisory_window_then_exactly_one():
    clock, refresher = Clock(), Refresher()
    cred = _bearer(3600, refresher, clock)
    for t in (0, 600, 3000, 3290):
        clock.now = 1000 + t
        cred.authorize({})
    assert refresher.count == 0
    clock.now = 1000 + 3301  # inside min(300 s, 20 %) of expiry
    headers = {}
    cred.authorize(headers)
    cred.authorize({})
    assert refresher.count == 1 and headers["Authorization"].endswith("0001-abcdef")


@pytest.mark.parametrize("lifetime", [1.0, 60.0, 300.0, 3600.0])
def test_i8_short_lived_tokens_refresh_before_expiry_and_never_loop(lifetime):
    clock, refresher = Clock(), Refresher(lifetime=lifetime)
    cred = _bearer(lifetime, refresher, clock)
    steps = 200
    for i in range(steps):  # walk through three lifetimes
        clock.now = 1000 + 3 * lifetime * i / steps
        cred.authorize({})
        assert cred.expires_in() > 0, f"used an expired token at t={clock.now - 1000:.2f}"
    assert 2 <= refresher.count <= 4


def test_i9_opaque_or_malformed_tokens_never_refresh_proactively():
    clock, refresher = Clock(), Refresher()
    for token in ("opaque-token-abcdefgh", "eyJhbGciOi.broken.jwt-abcdef", "eyJ" + "x" * 40):
        cred = Credential.bearer(token, refresh_token="refresh-token-abcdefgh", refresher=refresher, clock=clock)
        clock.now += 10**6
        cred.authorize({})
        assert cred.expires_in() is None
    assert refresher.count == 0


def test_i11_wall_clock_jumps_do_not_start_a_refresh_storm():
    clock, refresher = Clock(), Refresher()
    wall = Clock(now=1.8e9)
    cred = Credential.bearer("access-token-0000-abcdef", refresh_token="refresh-token-abcdefgh", expires_in=3600,
                             refresher=refresher, clock=clock, wall=wall)
    for jump in (7200, -7200, 7200 * 10):
        wall.now += jump
        cred.authorize({})
    assert refresher.count == 0


# concurrency ---------------------------------------------------------------------------------
def _hammer(n, work):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        barrier.wait()
        try:
            results.append(work())
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_n1_single_flight_refresh_under_50_threads():
    clock = Clock()
    entered = threading.Event()
    refresher = Refresher(gate=lambda: (entered.set(), threading.Event().wait(0.2)))
    cred = _bearer(3600, refresher, clock)
    clock.now = 1000 + 3590  # mandatory window: everyone must wait for the one refresh

    def work():
        headers = {}
        cred.authorize(headers)
        return headers["Authorization"]

    results, errors = _hammer(50, work)
    assert errors == [] and refresher.count == 1
    assert set(results) == {"Bearer access-token-0001-abcdef"}


def test_n3_advisory_window_does_not_block_other_threads():
    clock = Clock()
    others_done = threading.Event()
    refresher = Refresher(gate=lambda: others_done.wait(10))
    cred = _bearer(3600, refresher, clock)
    clock.now = 1000 + 3400  # advisory, not mandatory
    first = threading.Thread(target=lambda: cred.authorize({}))
    first.start()

    def work():
        headers = {}
        cred.authorize(headers)
        return headers["Authorization"]

    results, errors = _hammer(20, work)
    others_done.set()
    first.join(timeout=10)
    assert errors == [] and set(results) == {"Bearer access-token-0000-abcdef"}
    assert refresher.count == 1


def test_n1_n2_single_flight_against_the_sandbox(sandbox):
    """50 threads, a token inside its mandatory window, rotating refresh tokens: one refresh,
    no reuse of a spent refresh token, no failed request."""
    clock = Clock()
    client = _logged_in(sandbox, clock=clock)
    clock.now += 10**5  # far past expiry on the client's clock: everyone needs a fresh token
    results, errors = _hammer(50, client.models)
    assert errors == [], errors[:3]
    assert sandbox.calls(REFRESH) == 1
    client.close()
