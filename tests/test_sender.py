"""The send loop: which attempts are repeated, refreshed, replayed or given up, and how often.

Server-facing cases count requests per route on the sandbox (``sandbox.calls``), so "one refresh
and one replay" is a count.
"""

import pytest

from freddy_magic._auth import Credential
from freddy_magic._errors import AuthError, FreddyError, PermissionDenied

RESPONSE = "/v1/model/response"
REFRESH = "/v1/auth/refresh"


def _client(sb, cred=None, **kw):
    from freddy_magic._client import FreddyClient

    return FreddyClient(sb.url, cred, **kw)


def _logged_in(sb, **kw):
    client = _client(sb, **kw)
    challenge = client.login(sb.email, sb.password)
    client.verify(challenge, sb.outbox()[-1]["code"])
    return client


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


