"""Transport policy: which URLs a key may be sent to, how, and for how long.

HTTPS except on loopback, no user name or query in the base URL, TLS always verified, no
``.netrc`` or proxy variables, redirects never followed, wire debugging refused, every wait
bounded, every body capped, every transport exception turned into our own error with nothing
secret in its message or in any frame's locals. "Refused before any socket" is checked by
recording every socket connect the process attempts; "the redirect target received nothing"
on a second server that counts requests.
"""

import http.client
import socket
import string
import tracemalloc

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._errors import (
    AuthError,
    ConfigError,
    ConnectionFailed,
    FreddyError,
    RateLimited,
    ResponseFormatError,
    StreamInterrupted,
    Timeout,
)
from freddy_magic._transport import Timeouts
from freddy_magic.sandbox import Fault
from freddy_magic.testing import find_canary

from .clients import (
    KEY,
    RESP,
    SHORT_TIMEOUTS,
    client_for,
    envelope,
    key_client,
    outcome,
    timed,
)
from .hostile import HostileServer, Reply, forward
from .shown import frame_locals, verbose_traceback


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


# where a key may go ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://10.0.0.8:8080",
        "http://[2001:db8::1]/",
        "HTTP://api.freddy.aitronos.com",
        "http://127.0.0.1.nip.io",
    ],
)
@pytest.mark.security
def test_m1_plain_http_to_a_remote_host_is_refused_before_any_socket(url, canary, connects):
    with pytest.raises(ConfigError) as info:
        client = client_for(url, canary.value)
        client.validate()
    assert connects == []
    assert "https" in str(info.value)
    assert find_canary(str(info.value), canary.value) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://user:{c}@api.example.com",
        "https://{c}@api.example.com",
        "https://api.example.com/v1?api_key={c}",
        "https://api.example.com/#{c}",
    ],
)
@pytest.mark.security
def test_m1_userinfo_query_and_fragment_are_refused_without_echo(url, canary, connects):
    with pytest.raises(ConfigError) as info:
        client_for(url.format(c=canary.value), canary.value).validate()
    assert connects == []
    assert find_canary([str(info.value), repr(info.value)], canary.value) == []


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://api.example.com", "plain http"),
        ("https://user:pw@api.example.com", "user name"),
        ("https://api.example.com/?api-key=x", "query"),
        ("ftp://api.example.com", "https://"),
        ("https://", "https://"),
        ("https://api.example.com:99999", "https://"),
    ],
)
def test_base_url_policy_names_the_problem(url, words):
    with pytest.raises(ConfigError, match=words):
        FreddyClient(url)


@pytest.mark.security
def test_m2_loopback_http_is_allowed(shared_sandbox):
    for url in (shared_sandbox.url, shared_sandbox.url.replace("127.0.0.1", "localhost")):
        client = client_for(url, shared_sandbox.api_key)
        assert client.validate() is not None
        client.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://[::1]:9000/", "http://localhost:1/v1"])
def test_loopback_base_url_is_normalised(url):
    client = FreddyClient(url)
    assert client.base_url.startswith("http://") and not client.base_url.endswith(("/", "/v1"))


@settings(max_examples=100)
@given(
    scheme=st.sampled_from(["http", "https", "ftp", "HTTP", "", "javascript"]),
    host=st.one_of(
        st.sampled_from(
            [
                "127.0.0.1",
                "127.9.9.9",
                "[::1]",
                "localhost",
                "api.example.com",
                "0.0.0.0",
                "[::ffff:10.0.0.1]",
                "10.1.2.3",
                "evil.com",
            ]
        ),
        st.text(alphabet=string.ascii_lowercase + string.digits + ".-", min_size=1, max_size=20),
    ),
    userinfo=st.sampled_from(["", "u@", "u:p@", ":{c}@"]),
    tail=st.sampled_from(["", "/", "/v1", "?k={c}", "#{c}", ":99999", ":abc"]),
)
@pytest.mark.security
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


@pytest.mark.security
def test_m3_no_switch_turns_tls_verification_off():
    import inspect

    params = inspect.signature(FreddyClient).parameters
    assert not {"verify", "insecure", "verify_ssl", "ssl_verify"} & set(params)
    client = FreddyClient("https://api.example.com")
    session = getattr(client, "_session", None) or getattr(client, "session", None)
    assert session is not None and session.verify is True and session.trust_env is False
    client.close()


@pytest.mark.security
def test_m4_j8_self_signed_certificate_rejected_once_and_never_retried(self_signed, canary, sleeper):
    with HostileServer(Reply(200, body=b"{}"), tls=self_signed) as server:
        client = client_for(server.url, canary.value, sleep=sleeper)
        with pytest.raises(ConnectionFailed) as info:
            client.validate()
        client.close()
    assert server.seen == []  # the handshake failed: no request was ever readable by the server
    assert sleeper.calls == [], "a TLS failure was retried"
    message = str(info.value)
    assert "TLS" in message or "certificate" in message.lower()
    assert "127.0.0.1" in message and find_canary(message, canary.value) == []


@pytest.mark.security
def test_netrc_and_proxy_variables_are_ignored(tmp_path, monkeypatch, canary, shared_sandbox):
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login someone password {canary.value}\n")
    netrc.chmod(0o600)
    with HostileServer(Reply(502, body=b"proxy")) as proxy:
        monkeypatch.setenv("NETRC", str(netrc))
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        with HostileServer(lambda seen: forward(seen, shared_sandbox.url)) as api:
            client = client_for(api.url, shared_sandbox.api_key)
            client.validate()
            client.close()
            assert api.seen and all("Authorization" not in s.headers for s in api.seen)
        assert proxy.seen == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.security
def test_p1_redirect_to_another_origin_is_not_followed(status, canary):
    with HostileServer(Reply(200, body=b'{"is_valid": true}')) as elsewhere:
        location = elsewhere.url + f"/steal?key={canary.value}"
        with HostileServer(Reply(status, headers={"Location": location}, body=b"")) as api:
            client = client_for(api.url, canary.value)
            with pytest.raises(FreddyError) as info:
                client.validate()
            client.close()
        assert elsewhere.seen == [], "the redirect target received a request"
        assert api.count() == 1
    message = str(info.value)
    assert isinstance(info.value, ResponseFormatError)
    assert elsewhere.url in message and "/steal" not in message
    assert find_canary(message, canary.value) == []


@pytest.mark.security
def test_p1_redirect_on_the_post_that_carries_the_prompt_is_not_followed(canary):
    with HostileServer(Reply(200, body=b"{}")) as elsewhere:
        with HostileServer(Reply(307, headers={"Location": elsewhere.url + "/v1/model/response"}, body=b"")) as api:
            client = client_for(api.url, canary.value)
            with pytest.raises(FreddyError):
                client.create_response("a prompt that must not travel")
            client.close()
        assert elsewhere.seen == []


@pytest.mark.security
def test_p2_same_origin_redirect_is_not_followed_either(canary):
    def script(seen):
        if seen.path.startswith("/moved"):
            return Reply(200, body=b'{"is_valid": true}')
        return Reply(302, headers={"Location": "/moved?secret=" + canary.value}, body=b"")

    with HostileServer(script) as api:
        client = client_for(api.url, canary.value)
        with pytest.raises(ResponseFormatError) as info:
            client.validate()
        client.close()
        assert api.count("/moved") == 0
    assert find_canary(str(info.value), canary.value) == []


# wire debugging --------------------------------------------------------------------------------
@pytest.mark.security
def test_e3_wire_debug_is_refused_and_prints_nothing(shared_sandbox, capfd, monkeypatch):
    """http.client's wire debugging is print(), which no log filter sees: sending is refused."""
    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    before = shared_sandbox.calls("/v1/models")
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    with pytest.raises(ConfigError, match="wire debugging") as info:
        client.models()
    out, err = capfd.readouterr()
    assert "send:" not in out + err and shared_sandbox.api_key not in out + err
    assert shared_sandbox.calls("/v1/models") == before
    assert "debuglevel" in str(info.value)
    monkeypatch.undo()
    assert client.models()  # reset: requests go through again
    client.close()


# every wait is bounded -------------------------------------------------------------------------
@pytest.mark.security
def test_l2_slow_headers_time_out_at_the_read_timeout(sandbox):
    sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="slow", delay=4.0, times=None))
    client = client_for(sandbox.url, sandbox.api_key, timeouts={"read": 0.5, "total": 3.0}, max_retries=0)
    error, took = timed(lambda: client.create_response("hi"))
    assert isinstance(error, Timeout) and took < 2.5, (error, took)
    client.close()


@pytest.mark.slow
@pytest.mark.security
def test_l3_slowloris_body_hits_the_overall_deadline():
    """One byte every 0.5 s never trips a 1 s read timeout; only the overall deadline ends it."""
    trickle = [b"{"] + [x for _ in range(40) for x in (0.5, b" ")]
    with HostileServer(Reply(200, {"Content-Type": "application/json"}, trickle)) as api:
        client = client_for(api.url, "fm-canary-" + "1" * 32, timeouts={"read": 1.0, "total": 2.0}, max_retries=0)
        error, took = timed(lambda: client.create_response("hi"))
        client.close()
    assert isinstance(error, Timeout), error
    assert took < 4.0, f"the 2 s deadline took {took:.1f} s"


@pytest.mark.security
def test_l6_unresolvable_host_is_a_clear_error(sleeper):
    client = client_for(
        "https://no-such-host.invalid", "fm-canary-" + "2" * 32, sleep=sleeper, timeouts={"connect": 3.0, "total": 10.0}
    )
    error, took = timed(lambda: client.validate())
    client.close()
    assert isinstance(error, ConnectionFailed), error
    assert "no-such-host.invalid" in str(error) and took < 15


# every body is capped --------------------------------------------------------------------------
def _endless(chunk, count):
    for _ in range(count):
        yield chunk


@pytest.mark.parametrize(
    "given, idle",
    [
        (None, 120.0),
        ({"read": 2.0}, 2.0),
        (3.0, 3.0),
        ({"read": 2.0, "stream_idle": 9.0}, 9.0),
        (Timeouts(read=4.0), 4.0),
    ],
)
def test_the_read_timeout_also_bounds_silence_inside_a_stream(given, idle):
    assert Timeouts.coerce(given).stream_idle == idle


@pytest.mark.security
@pytest.mark.parametrize("kind", ["json-200MB", "sse-10MB-line", pytest.param("sse-endless", marks=pytest.mark.slow)])
def test_k5_huge_bodies_are_capped_with_bounded_memory(kind):
    if kind == "json-200MB":
        reply = Reply(200, {"Content-Type": "application/json"}, _endless(b" " * (1 << 20), 200))
        call = lambda c: c.create_response("hi")
    elif kind == "sse-10MB-line":
        reply = Reply(
            200,
            {"Content-Type": "text/event-stream"},
            [b'event: response.content_delta\ndata: {"delta": "', *_endless(b"a" * (1 << 20), 10), b'"}\n\n'],
        )
        call = lambda c: list(c.stream_response("hi").text_deltas())
    else:
        delta = b'event: response.content_delta\ndata: {"delta": "more "}\n\n'
        reply = Reply(200, {"Content-Type": "text/event-stream"}, _endless(delta * 2000, 100000))
        call = lambda c: list(c.stream_response("hi").text_deltas())
    with HostileServer(reply) as api:
        client = client_for(api.url, "fm-canary-" + "4" * 32, max_retries=0, timeouts=SHORT_TIMEOUTS)
        tracemalloc.start()
        try:
            _result, error = outcome(client, call)
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        client.close()
    assert error is not None, "an oversized answer was accepted"
    assert isinstance(error, (ResponseFormatError, StreamInterrupted)) or "deadline" in str(error)
    assert peak < 64 * (1 << 20), f"peak memory {peak >> 20} MB while reading a capped body"


@pytest.mark.security
def test_k7_odd_response_headers_do_not_break_parsing(shared_sandbox, canary):
    def script(seen):
        reply = forward(seen, shared_sandbox.url)
        headers = dict(reply.headers)
        headers.update({"X-Long": "v" * 60000, "X-Echo": f"api-key={canary.value}", "X-Unicode": "caf\u00e9"})
        return Reply(reply.status, headers, reply.body)

    with HostileServer(script) as api:
        client = client_for(api.url, shared_sandbox.api_key, timeouts=SHORT_TIMEOUTS)
        _result, error = outcome(client, lambda c: c.create_response("hi"))
        client.close()
    assert error is None or find_canary(str(error), canary.value) == []


# transport exceptions --------------------------------------------------------------------------
def test_connection_error_is_sanitised_and_raised_without_context(scripted, clock, sleeper):
    scripted.post(RESP, body=requests.exceptions.ConnectionError(f"boom with {KEY} inside"))
    with pytest.raises(ConnectionFailed) as info:
        key_client(clock, sleeper).create_response("hi")
    assert KEY not in str(info.value) and "api.example.test" in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.exceptions.ConnectionError("reset")},
        {"status": 401, "json": envelope(401, "INVALID_API_KEY")},
        {"status": 429, "headers": {"Retry-After": "999"}},
    ],
)
def test_no_traceback_frame_holds_the_key(scripted, clock, sleeper, answer):
    """%xmode Verbose prints every frame's locals: none may contain the key."""
    scripted.post(RESP, **answer)
    with pytest.raises((ConnectionFailed, AuthError, RateLimited)) as info:
        key_client(clock, sleeper).create_response("hi")
    assert info.value.__context__ is None
    assert not any(KEY in local for local in frame_locals(info.value))


class Raising(requests.adapters.BaseAdapter):
    """A transport that fails the way requests does: the URL and the headers in the message."""

    def __init__(self, exc):
        super().__init__()
        self.exc = exc

    def send(self, request, **kw):
        headers = dict(request.headers)  # a library frame holding the headers, as urllib3's do
        raise self.exc(f"failed for {request.url} with headers {headers}")

    def close(self):
        pass


FAMILIES = [
    requests.exceptions.InvalidHeader,
    requests.exceptions.ConnectionError,
    requests.exceptions.ReadTimeout,
    requests.exceptions.ConnectTimeout,
    requests.exceptions.SSLError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ValueError,
    RuntimeError,
    OSError,
]


@pytest.mark.security
@pytest.mark.parametrize("family", FAMILIES, ids=[f.__name__ for f in FAMILIES])
def test_f2_f3_f4_transport_exceptions_are_sanitised(canary, family):
    session = requests.Session()
    client = FreddyClient("http://127.0.0.1:9", Credential.api_key(canary.value), session=session, max_retries=0)
    session.mount("http://127.0.0.1:9", Raising(family))
    with pytest.raises(Exception) as info:
        client.create_response("hi")
    err = info.value
    client.close()
    assert isinstance(err, FreddyError), f"{family.__name__} escaped as {type(err).__name__}"
    assert err.__context__ is None and err.__cause__ is None, "a library exception is chained"
    assert not getattr(err, "__notes__", None)
    views = [str(err), repr(err), repr(err.args), verbose_traceback(err), *frame_locals(err)]
    assert find_canary(views, canary.value) == [], f"{family.__name__}: secret in message or frame locals"
