"""Server faults and slowness (§4.L): nothing hangs past its timeout, nothing finished is lost.

Each fault is injected in the sandbox (reset, slow, 5xx) or a hostile server (trickling
bytes, a stalled stream), and each call is timed against the client's configured limits.
"""

import time

import pytest

from freddy_magic._auth import Credential
from freddy_magic._errors import ConnectionFailed, FreddyError, StreamInterrupted, Timeout

from .hostile import HostileServer, Reply, forward

RESPONSE = "/v1/model/response"


def _client(url, key, **kw):
    from freddy_magic._client import FreddyClient

    return FreddyClient(url, Credential.api_key(key), **kw)


def _timed(call):
    start = time.monotonic()
    try:
        call()
    except FreddyError as exc:
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


def test_l1_reset_before_response(sandbox, sleeper):
    from freddy_magic.sandbox import Fault

    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="reset", times=None))
    client = _client(sandbox.url, sandbox.api_key, sleep=sleeper)
    error, took = _timed(lambda: client.create_response("hi"))
    assert isinstance(error, ConnectionFailed) and took < 5
    client.close()


def test_l2_slow_headers_time_out_at_the_read_timeout(sandbox):
    from freddy_magic.sandbox import Fault

    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="slow", delay=4.0, times=None))
    client = _client(sandbox.url, sandbox.api_key, timeouts={"read": 1.0, "total": 3.0}, max_retries=0)
    error, took = _timed(lambda: client.create_response("hi"))
    assert isinstance(error, Timeout) and took < 2.5, (error, took)
    client.close()


def test_l3_slowloris_body_hits_the_overall_deadline():
    """One byte every 0.5 s never trips a 1 s read timeout; only the overall deadline ends it."""
    trickle = [b"{"] + [x for _ in range(40) for x in (0.5, b" ")]
    with HostileServer(Reply(200, {"Content-Type": "application/json"}, trickle)) as api:
        client = _client(api.url, "fm-canary-" + "1" * 32, timeouts={"read": 1.0, "total": 2.0}, max_retries=0)
        error, took = _timed(lambda: client.create_response("hi"))
        client.close()
    assert isinstance(error, Timeout), error
    assert took < 4.0, f"the 2 s deadline took {took:.1f} s"


def test_l4_stream_idle_timeout_keeps_the_partial_text(sandbox):
    head = (b'event: response.created\ndata: {"status": "in_progress", "thread_id": "thread_1"}\n\n'
            b'event: response.content_delta\ndata: {"delta": "partial "}\n\n')
    reply = Reply(200, {"Content-Type": "text/event-stream"}, [head, 30.0, b""], chunked=True)
    with HostileServer(reply) as api:
        client = _client(api.url, sandbox.api_key, timeouts={"read": 1.0, "stream_idle": 1.0, "total": 5.0}, max_retries=0)
        got = []

        def run():
            with client.stream_response("hi") as stream:
                got.extend(stream.text_deltas())

        error, took = _timed(run)
        client.close()
    assert isinstance(error, (Timeout, StreamInterrupted)), error
    assert took < 3.5 and "".join(got) == "partial "
    if isinstance(error, StreamInterrupted):
        assert error.partial_text == "partial "


@pytest.mark.parametrize("method,path,call", [
    ("GET", "/v1/models", lambda c: c.models()),
    ("POST", RESPONSE, lambda c: c.create_response("hi")),
], ids=["GET", "POST"])
def test_l5_5xx_sequence_attempts_match_the_policy(sandbox, method, path, call, sleeper):
    statuses = iter([500, 502, 503, 504])

    def script(seen):
        if seen.path.split("?")[0] == path:
            status = next(statuses, None)
            if status is not None:
                return Reply(status, {"Content-Type": "text/plain"}, b"down")
        return forward(seen, sandbox.url)

    with HostileServer(script) as api:
        client = _client(api.url, sandbox.api_key, sleep=sleeper)
        error, _took = _timed(lambda: call(client))
        client.close()
        attempts = api.count(path)
    assert attempts <= 3, f"{method}: {attempts} attempts for a max_retries=2 client"
    assert error is not None  # 4 failures in a row exceed 3 attempts
    if method == "POST":  # 500 is never safe to replay; 502/503/504 only with an idempotency key
        assert attempts == 1 or all(s.headers.get("Idempotency-Key") for s in api.seen if s.path == path)


def test_l6_unresolvable_host_is_a_clear_error(sleeper):
    client = _client("https://no-such-host.invalid", "fm-canary-" + "2" * 32, sleep=sleeper,
                     timeouts={"connect": 3.0, "total": 10.0})
    error, took = _timed(lambda: client.validate())
    client.close()
    assert isinstance(error, ConnectionFailed), error
    assert "no-such-host.invalid" in str(error) and took < 15


@pytest.fixture
def magic_shell(sandbox, monkeypatch):
    """An in-process shell with the extension, authenticated to the sandbox by environment."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("FREDDY_API_KEY", sandbox.api_key)
    monkeypatch.setenv("FREDDY_BASE_URL", sandbox.url)
    ip = InteractiveShell.instance()
    ip.extension_manager.load_extension("freddy_magic")
    ip.run_line_magic("config", f"FreddyMagics.base_url = {sandbox.url!r}")
    ip.run_line_magic("freddy_auth", "--env")
    yield ip
    ip.extension_manager.unload_extension("freddy_magic")


@pytest.mark.parametrize("fault", [dict(kind="status", status=500, times=3), dict(kind="reset", times=2),
                                   dict(kind="status", status=503, times=2), dict(kind="slow", delay=3.0, times=2)],
                         ids=["500x3", "reset-x2", "503x2", "slow-x2"])
def test_l_over_keeps_every_finished_row_in_order(magic_shell, sandbox, fault):
    from freddy_magic.sandbox import Fault

    magic_shell.run_line_magic("config", "FreddyMagics.read_timeout = 1.0")
    magic_shell.run_line_magic("config", "FreddyMagics.total_timeout = 2.0")
    magic_shell.user_ns["topics"] = [{"topic": f"topic-{i}"} for i in range(8)]
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, **fault))
    start = time.monotonic()
    rows = magic_shell.run_cell_magic("freddy", "--over topics --concurrency 4 --no-stream -o got", "Tell me about {topic}")
    took = time.monotonic() - start
    rows = list(rows)
    assert [r["topic"] for r in rows] == [f"topic-{i}" for i in range(8)], "rows lost or reordered"
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) >= 8 - fault["times"], [(r["status"], r["error"]) for r in rows]
    assert all(r["text"] for r in ok)
    assert all(r["error"] and sandbox.api_key not in r["error"] for r in rows if r["status"] != "ok")
    assert took < 15, f"the batch took {took:.1f} s with a 2 s per-call deadline"
    assert list(magic_shell.user_ns["got"]) == rows
