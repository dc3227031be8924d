"""Sandbox bad-input envelopes, rate limiting, and the knobs (settable at start and while running)."""

import http.client
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from freddy_magic._errors import ConfigError
from freddy_magic.sandbox import Sandbox

from .http_api import SandboxHTTP, bearer, error_of, sandbox_on_fake_clock

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "data, headers",
    [
        (b"{not json", JSON),
        (b'{"inputs": [}', JSON),
        (b"\xff\xfe\x00garbage", JSON),
        (b'{"inputs": NaN}', JSON),
        (b"[" * 100_000 + b"]" * 100_000, JSON),
        (b'["a list"]', JSON),
        (b'"a string"', JSON),
        (b'{"inputs": [{"role": "user", "content": "hi"}]}', {"Content-Type": "text/plain"}),
        (b'{"inputs": [{"role": "user", "content": "hi"}]}', {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"", JSON),
    ],
)
def test_bad_bodies_get_422_envelopes(sandbox_http, data, headers):
    error = error_of(sandbox_http.post("/v1/model/response", data=data, headers=headers), 422)
    assert "Traceback" not in error["message"]


def test_oversized_body_is_413_and_the_connection_survives_for_the_next_client(sandbox_http):
    big = b'{"inputs": [{"role": "user", "content": "' + b"x" * (3 * 1024 * 1024) + b'"}]}'
    error = error_of(sandbox_http.post("/v1/model/response", data=big, headers=JSON), 413, "REQUEST_TOO_LARGE")
    assert error["details"]["max_bytes"] == 2 * 1024 * 1024
    assert sandbox_http.respond().status_code == 200


def test_chunked_request_bodies_are_read(sandbox_http):
    def chunks():
        yield b'{"inputs": [{"role": "user", '
        yield b'"content": "chunked hello"}]}'

    r = sandbox_http.post("/v1/model/response", data=chunks(), headers=JSON)
    assert r.status_code == 200 and "chunked hello" in r.json()["response"][0]["text"]


def test_unread_bodies_do_not_desync_keep_alive(sandbox_http):
    for _ in range(3):
        assert sandbox_http.post("/v1/models", data=b'{"x": 1}', headers=JSON).status_code == 405
        assert sandbox_http.post("/v1/model/response", key=False, json={"inputs": []}).status_code == 401
        assert sandbox_http.get("/v1/models").status_code == 200


def test_keep_alive_reuses_one_connection(shared_sandbox):
    host, port = shared_sandbox.url.split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    sockets = set()
    for path in ("/v1/models", "/v1/health/", "/v1/nope", "/v1/models"):
        conn.request("GET", path, headers={"api-key": shared_sandbox.api_key})
        response = conn.getresponse()
        assert response.getheader("Connection") != "close" and response.getheader("Content-Length")
        response.read()
        sockets.add(id(conn.sock))
    assert len(sockets) == 1
    conn.close()


def test_rate_limit_headers_and_429():
    with sandbox_on_fake_clock(rate_limit="3/60s") as (clock, _sandbox, client):
        remaining = []
        for _ in range(3):
            r = client.get("/v1/models")
            assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "3"
            assert r.headers["X-RateLimit-Retry-After"] == "0"
            remaining.append(r.headers["X-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        assert int(r.headers["X-RateLimit-Reset"]) == int(clock.now) + 60
        limited = client.get("/v1/models")
        error = error_of(limited, 429, "RATE_LIMIT_EXCEEDED")
        assert error["type"] == "rate_limit_error" and error["details"]["retry_after"] == 20
        assert limited.headers["Retry-After"] == "20" and limited.headers["retry-after-ms"] == "20000"
        assert limited.headers["X-RateLimit-Retry-After"] == "20"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        access = client.tokens()["access_token"]
        assert client.get("/v1/models", key=False, headers=bearer(access)).status_code == 200, "per-user bucket"
        clock.advance(20)
        assert client.get("/v1/models").status_code == 200
        assert client.get("/v1/models").status_code == 429


def test_rate_limit_knob_changes_while_running():
    with Sandbox(rate_limit="1/60s") as sandbox, SandboxHTTP(sandbox) as client:
        assert client.get("/v1/models").status_code == 200
        assert client.get("/v1/models").status_code == 429
        sandbox.set_rate_limit("50/1s")
        r = client.get("/v1/models")
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "50"
        sandbox.set_rate_limit(None)
        assert "X-RateLimit-Limit" not in client.get("/v1/models").headers
        with pytest.raises(ConfigError):
            sandbox.set_rate_limit("lots")


def test_public_routes_are_not_rate_limited():
    with Sandbox(rate_limit="1/60s") as sandbox, SandboxHTTP(sandbox) as client:
        for _ in range(3):
            assert client.get("/v1/health/", key=False).status_code == 200


def test_latency_knobs_are_settable_and_applied():
    with Sandbox(rate_limit=None, latency_per_request=0.5) as sandbox, SandboxHTTP(sandbox) as client:
        assert client.respond().elapsed.total_seconds() >= 0.5
        sandbox.latency_per_request = 0.0
        sandbox.set_latency(per_delta=0.005)
        assert sandbox.latency_per_delta == 0.005
        r = client.post("/v1/model/response", json={"inputs": [{"role": "user", "content": "hi"}], "stream": True})
        deltas = r.text.count("response.content_delta")
        assert r.elapsed.total_seconds() < 0.5 and deltas >= 3


def test_calls_counts_hits_per_path_and_method(shared_sandbox, sandbox_http):
    before = shared_sandbox.calls("/v1/auth/validate")
    sandbox_http.get("/v1/auth/validate")
    sandbox_http.request("POST", "/v1/auth/validate")
    assert shared_sandbox.calls("/v1/auth/validate") == before + 2
    assert shared_sandbox.calls("/v1/auth/validate", method="post") >= 1


def test_non_loopback_host_needs_allow_remote():
    with pytest.raises(ConfigError):
        Sandbox(host="0.0.0.0")


def test_bad_rate_limit_spec_is_a_config_error():
    with pytest.raises(ConfigError):
        Sandbox(rate_limit="100 per minute")


def test_stop_closes_keep_alive_connections():
    sandbox = Sandbox().start()
    client = SandboxHTTP(sandbox)
    assert client.get("/v1/health/", key=False).status_code == 200
    url = sandbox.url
    sandbox.stop()
    assert not sandbox.running
    with pytest.raises(Exception) as failure:
        client.session.get(url + "/v1/health/", timeout=5)
    assert "Connection" in type(failure.value).__name__
    client.close()
    sandbox.stop()  # idempotent


def test_start_sandbox_returns_a_running_instance():
    from freddy_magic.sandbox import start_sandbox

    sandbox = start_sandbox(rate_limit=None)
    try:
        assert SandboxHTTP(sandbox).get("/v1/health/", key=False).status_code == 200
        assert repr(sandbox).startswith("<Sandbox http://127.0.0.1:")
    finally:
        sandbox.stop()


def test_quiet_by_default_and_access_log_when_verbose(capfd):
    for verbose in (False, True):
        with Sandbox(rate_limit=None, verbose=verbose) as sandbox, SandboxHTTP(sandbox) as client:
            assert client.get("/v1/models").status_code == 200
        err = capfd.readouterr().err
        assert ("GET /v1/models 200" in err) is verbose


def _raw_exchange(sandbox, request_bytes):
    host, port = sandbox.url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_chunked_body_gets_an_envelope_not_a_crash(shared_sandbox):
    head = (
        f"POST /v1/model/response HTTP/1.1\r\nHost: x\r\napi-key: {shared_sandbox.api_key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    reply = _raw_exchange(shared_sandbox, head + b"zz\r\n{}\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") and b'"MALFORMED_REQUEST"' in reply and b"Connection: close" in reply


def test_body_shorter_than_content_length_gets_an_envelope(shared_sandbox):
    head = (
        f"POST /v1/model/response HTTP/1.1\r\nHost: x\r\napi-key: {shared_sandbox.api_key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    reply = _raw_exchange(shared_sandbox, head + b'{"inputs": [')
    assert reply.split(b" ")[1] in (b"400", b"422") and b'"success":false' in reply


def test_http_1_0_client_gets_an_answer_and_a_closed_connection(shared_sandbox):
    reply = _raw_exchange(shared_sandbox, b"GET /v1/health/ HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b'{"status":"ok","sandbox":true}')


def test_sixteen_concurrent_clients_all_succeed(shared_sandbox):
    def worker(_):
        client = SandboxHTTP(shared_sandbox)
        try:
            return [client.respond(f"Question {i}").status_code for i in range(10)]
        finally:
            client.close()

    with ThreadPoolExecutor(16) as pool:
        statuses = [s for batch in pool.map(worker, range(16)) for s in batch]
    assert statuses == [200] * 160
