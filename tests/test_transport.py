"""Where a key may be sent (§4.M, §4.P, T-C5): HTTPS except loopback, no userinfo, TLS always
verified, no .netrc or proxy variables, and redirects never followed.

"Refused before any socket" is checked by recording every socket connect the process attempts;
"the redirect target received nothing" is checked on a second server that counts requests.
"""

import socket
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic._auth import Credential
from freddy_magic._errors import ConfigError, ConnectionFailed, FreddyError, ResponseFormatError
from freddy_magic.testing import find_canary

from .hostile import HostileServer, Reply, forward


@pytest.fixture
def connects(monkeypatch):
    """Every address the process tries to connect a socket to."""
    seen = []
    real = socket.socket.connect

    def connect(self, address):
        seen.append(address)
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def _client(url, secret, **kw):
    from freddy_magic._client import FreddyClient

    return FreddyClient(url, Credential.api_key(secret), **kw)


@pytest.mark.parametrize("url", ["http://api.example.com", "http://10.0.0.8:8080", "http://[2001:db8::1]/",
                                 "HTTP://api.freddy.aitronos.com", "http://127.0.0.1.nip.io"])
def test_m1_plain_http_to_a_remote_host_is_refused_before_any_socket(url, canary, connects):
    with pytest.raises(ConfigError) as info:
        client = _client(url, canary.value)
        client.validate()
    assert connects == []
    assert "https" in str(info.value)
    assert find_canary(str(info.value), canary.value) == []


@pytest.mark.parametrize("url", ["https://user:{c}@api.example.com", "https://{c}@api.example.com",
                                 "https://api.example.com/v1?api_key={c}", "https://api.example.com/#{c}"])
def test_m1_userinfo_query_and_fragment_are_refused_without_echo(url, canary, connects):
    with pytest.raises(ConfigError) as info:
        _client(url.format(c=canary.value), canary.value).validate()
    assert connects == []
    assert find_canary([str(info.value), repr(info.value)], canary.value) == []


def test_m2_loopback_http_is_allowed(sandbox):
    for url in (sandbox.url, sandbox.url.replace("127.0.0.1", "localhost")):
        client = _client(url, sandbox.api_key)
        assert client.validate() is not None
        client.close()


@settings(max_examples=100)
@given(scheme=st.sampled_from(["http", "https", "ftp", "HTTP", "", "javascript"]),
       host=st.one_of(st.sampled_from(["127.0.0.1", "127.9.9.9", "[::1]", "localhost", "api.example.com",
                                       "0.0.0.0", "[::ffff:10.0.0.1]", "10.1.2.3", "evil.com"]),
                      st.text(alphabet=string.ascii_lowercase + string.digits + ".-", min_size=1, max_size=20)),
       userinfo=st.sampled_from(["", "u@", "u:p@", ":{c}@"]),
       tail=st.sampled_from(["", "/", "/v1", "?k={c}", "#{c}", ":99999", ":abc"]))
def test_c5_base_url_validator_fuzz(scheme, host, userinfo, tail):
    from freddy_magic._transport import _is_loopback, check_base_url

    secret = "fm-canary-" + "5" * 32
    url = f"{scheme}://{userinfo}{host}{tail}".format(c=secret)
    try:
        normalised = check_base_url(url)
    except ConfigError as exc:
        assert find_canary(str(exc), secret) == []
        assert "u:p@" not in str(exc)
        return
    assert normalised.startswith(("http://", "https://"))
    assert "@" not in normalised and "?" not in normalised and "#" not in normalised
    if normalised.startswith("http://"):
        assert _is_loopback(host.strip("[]")), f"plain http accepted for {host}"


def test_m3_no_switch_turns_tls_verification_off():
    import inspect

    from freddy_magic._client import FreddyClient

    params = inspect.signature(FreddyClient).parameters
    assert not {"verify", "insecure", "verify_ssl", "ssl_verify"} & set(params)
    client = FreddyClient("https://api.example.com")
    session = getattr(client, "_session", None) or getattr(client, "session", None)
    assert session is not None and session.verify is True and session.trust_env is False
    client.close()


def test_m4_j8_self_signed_certificate_rejected_once_and_never_retried(self_signed, canary, sleeper):
    with HostileServer(Reply(200, body=b"{}"), tls=self_signed) as server:
        client = _client(server.url, canary.value, sleep=sleeper)
        with pytest.raises(ConnectionFailed) as info:
            client.validate()
        client.close()
    assert server.seen == []  # the handshake failed: no request was ever readable by the server
    assert sleeper.calls == [], "a TLS failure was retried"
    message = str(info.value)
    assert "TLS" in message or "certificate" in message.lower()
    assert "127.0.0.1" in message and find_canary(message, canary.value) == []


def test_netrc_and_proxy_variables_are_ignored(tmp_path, monkeypatch, canary, sandbox):
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login someone password {canary.value}\n")
    netrc.chmod(0o600)
    with HostileServer(Reply(502, body=b"proxy")) as proxy:
        monkeypatch.setenv("NETRC", str(netrc))
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        with HostileServer(lambda seen: forward(seen, sandbox.url)) as api:
            client = _client(api.url, sandbox.api_key)
            client.validate()
            client.close()
            assert api.seen and all("Authorization" not in s.headers for s in api.seen)
        assert proxy.seen == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_p1_redirect_to_another_origin_is_not_followed(status, canary):
    with HostileServer(Reply(200, body=b'{"is_valid": true}')) as elsewhere:
        location = elsewhere.url + f"/steal?key={canary.value}"
        with HostileServer(Reply(status, headers={"Location": location}, body=b"")) as api:
            client = _client(api.url, canary.value)
            with pytest.raises(FreddyError) as info:
                client.validate()
            client.close()
        assert elsewhere.seen == [], "the redirect target received a request"
        assert api.count() == 1
    message = str(info.value)
    assert isinstance(info.value, ResponseFormatError)
    assert elsewhere.url in message and "/steal" not in message
    assert find_canary(message, canary.value) == []


def test_p1_redirect_on_the_post_that_carries_the_prompt_is_not_followed(canary):
    with HostileServer(Reply(200, body=b"{}")) as elsewhere:
        with HostileServer(Reply(307, headers={"Location": elsewhere.url + "/v1/model/response"}, body=b"")) as api:
            client = _client(api.url, canary.value)
            with pytest.raises(FreddyError):
                client.create_response("a prompt that must not travel")
            client.close()
        assert elsewhere.seen == []


def test_p2_same_origin_redirect_is_not_followed_either(canary):
    def script(seen):
        if seen.path.startswith("/moved"):
            return Reply(200, body=b'{"is_valid": true}')
        return Reply(302, headers={"Location": "/moved?secret=" + canary.value}, body=b"")

    with HostileServer(script) as api:
        client = _client(api.url, canary.value)
        with pytest.raises(ResponseFormatError) as info:
            client.validate()
        client.close()
        assert api.count("/moved") == 0
    assert find_canary(str(info.value), canary.value) == []
