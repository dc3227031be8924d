"""Logging (§4.E): DEBUG logs, ours and the transport's, never carry a secret, and wire-level
debugging (print(), which no filter sees) is refused rather than silently leaking.
"""

import http.client

import pytest

from freddy_magic._auth import Credential
from freddy_magic._errors import AuthError, ConfigError
from freddy_magic.testing import find_canary

from .hostile import HostileServer

RESPONSE = "/v1/model/response"
JWT_HEAD = "eyJ"


def _client(sb, cred=None, **kw):
    from freddy_magic._client import FreddyClient

    return FreddyClient(sb.url, cred, **kw)


def test_e1_debug_logs_clean_through_auth_refresh_401_429_and_stream(sandbox, debug_logs, sleeper):
    from freddy_magic.sandbox import Fault

    api = _client(sandbox, Credential.api_key(sandbox.api_key), sleep=sleeper)
    api.create_response("hello")
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=429, retry_after=1, times=1))
    api.create_response("hello again")
    with api.stream_response("stream please") as stream:
        assert "".join(stream.text_deltas())
    wrong = _client(sandbox, Credential.api_key(sandbox.extra_keys["expired"]))
    with pytest.raises(AuthError):
        wrong.models()
    user = _client(sandbox, sleep=sleeper)
    user.verify(user.login(sandbox.email, sandbox.password), sandbox.outbox()[-1]["code"])
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, times=1))
    user.create_response("after a 401")
    assert user.credential.refreshes == 1
    for c in (api, wrong, user):
        c.close()
    secrets = [sandbox.api_key, sandbox.extra_keys["expired"], sandbox.password]
    assert any(r["name"].startswith("urllib3") for r in debug_logs), "transport DEBUG logging was not captured"
    assert find_canary(debug_logs, secrets) == []
    assert not any(JWT_HEAD in r["message"] + r["args"] + r["msg"] for r in debug_logs), "a JWT reached a log record"


def test_e3_wire_debug_is_refused_and_prints_nothing(sandbox, capfd):
    client = _client(sandbox, Credential.api_key(sandbox.api_key))
    before = sandbox.calls("/v1/models")
    old = http.client.HTTPConnection.debuglevel
    http.client.HTTPConnection.debuglevel = 1
    try:
        with pytest.raises(ConfigError) as info:
            client.models()
    finally:
        http.client.HTTPConnection.debuglevel = old
    out, err = capfd.readouterr()
    assert "send:" not in out + err and sandbox.api_key not in out + err
    assert sandbox.calls("/v1/models") == before
    assert "debuglevel" in str(info.value)
    assert client.models()  # reset: requests go through again
    client.close()


def test_e4_no_request_url_ever_carries_a_secret(sandbox, canary):
    from .hostile import forward

    with HostileServer(lambda seen: forward(seen, sandbox.url)) as api:
        from freddy_magic._client import FreddyClient

        client = FreddyClient(api.url, Credential.api_key(sandbox.api_key))
        client.models()
        completion = client.create_response("hi")
        if completion.thread_id:
            client.messages(completion.thread_id, limit=5)
        client.threads()
        client.close()
        paths = [s.path for s in api.seen]
    assert paths and find_canary(paths, sandbox.api_key) == []
    assert not any("key" in p.lower() or "token" in p.lower() for p in paths), paths
