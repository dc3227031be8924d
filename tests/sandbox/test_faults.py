"""Sandbox fault injection: each kind, matching by path and method, and how many times it fires."""

import time

import pytest
import requests

from freddy_magic.sandbox import Fault, Sandbox

from .http_api import SandboxHTTP, error_of, sse_events

STREAM = {"inputs": [{"role": "user", "content": "Tell me about faults"}], "stream": True}


def test_status_fault_fires_the_given_number_of_times(shared_sandbox, sandbox_http):
    before = shared_sandbox.calls("/v1/model/response")
    shared_sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="status", status=503, times=2))
    for _ in range(2):
        error = error_of(sandbox_http.respond(), 503, "SERVICE_UNAVAILABLE")
        assert error["type"] == "server_error"
    assert sandbox_http.respond().status_code == 200
    assert shared_sandbox.calls("/v1/model/response") == before + 3


def test_status_fault_with_code_and_retry_after(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/models", status=429, code="RATE_LIMIT_EXCEEDED", retry_after=2))
    r = sandbox_http.get("/v1/models")
    error = error_of(r, 429, "RATE_LIMIT_EXCEEDED")
    assert r.headers["Retry-After"] == "2" and error["details"]["retry_after"] == 2


def test_fault_matches_method_and_exact_path(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(method="GET", path="/v1/models", status=500, times=None))
    assert sandbox_http.get("/v1/models", params={"include_details": "true"}).status_code == 500
    assert sandbox_http.get("/v1/models").status_code == 500
    assert sandbox_http.request("POST", "/v1/models").status_code == 405
    assert sandbox_http.get("/v1/organizations").status_code == 200
    shared_sandbox.faults.clear()
    assert sandbox_http.get("/v1/models").status_code == 200


def test_reset_fault_drops_the_connection_without_an_answer(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/models", kind="reset"))
    with pytest.raises(requests.ConnectionError):
        sandbox_http.get("/v1/models")
    assert sandbox_http.get("/v1/models").status_code == 200


def test_slow_fault_delays_the_answer(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/models", kind="slow", delay=0.3))
    started = time.perf_counter()
    assert sandbox_http.get("/v1/models").status_code == 200
    assert time.perf_counter() - started >= 0.3
    with pytest.raises(requests.Timeout):
        shared_sandbox.faults.add(Fault(path="/v1/models", kind="slow", delay=2.0))
        sandbox_http.get("/v1/models", timeout=0.2)


def test_truncate_fault_cuts_the_stream_before_completed(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/model/response", kind="truncate", after_deltas=2))
    with sandbox_http.post("/v1/model/response", json=STREAM, stream=True) as r:
        raw = b"".join(r.raw.stream(64, decode_content=False))
    names = [n for n, _ in sse_events(raw)]
    assert names == ["response.created", "response.content_delta", "response.content_delta"]
    full = [n for n, _ in sse_events(sandbox_http.post("/v1/model/response", json=STREAM).content)]
    assert full[-1] == "response.completed"


def test_truncate_fault_on_a_json_answer_cuts_the_body(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/models", kind="truncate"))
    r = sandbox_http.get("/v1/models")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_status_fault_after_deltas_becomes_a_response_error_event(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/model/response", kind="status", status=429, after_deltas=1))
    events = sse_events(sandbox_http.post("/v1/model/response", json=STREAM).content)
    assert [n for n, _ in events] == ["response.created", "response.content_delta", "response.error"]
    error = events[-1][1]
    assert error["status"] == "failed" and error["code"] == "RATE_LIMIT_EXCEEDED" and error["message"]


def test_status_fault_after_deltas_on_a_json_route_is_a_plain_error(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/model/response", kind="status", status=502, after_deltas=1))
    error_of(sandbox_http.respond(), 502)


def test_echo_fault_is_a_hostile_500_repeating_the_headers(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/models", kind="echo"))
    r = sandbox_http.get("/v1/models")
    error = error_of(r, 500)
    assert (
        shared_sandbox.api_key in error["message"]
        and error["details"]["request_headers"]["Api-Key"] == shared_sandbox.api_key
    )


def test_html_fault_is_a_proxy_page(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(path="/v1/model/response", kind="html"))
    r = sandbox_http.respond()
    assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in r.content


def test_faults_can_be_given_at_construction_as_strings():
    with (
        Sandbox(rate_limit=None, faults=["POST /v1/model/response status=503 times=2"]) as sandbox,
        SandboxHTTP(sandbox) as client,
    ):
        assert [client.respond().status_code for _ in range(3)] == [503, 503, 200]


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            "POST /v1/model/response status=503 times=2",
            Fault(method="POST", path="/v1/model/response", kind="status", status=503, times=2),
        ),
        ("/v1/models reset", Fault(path="/v1/models", kind="reset")),
        ("* /v1/models slow delay=0.5 times=forever", Fault(path="/v1/models", kind="slow", delay=0.5, times=None)),
        ("POST /v1/model/response truncate after_deltas=3", Fault(method="POST", kind="truncate", after_deltas=3)),
        ("/v1/models reset chance=0.2 times=none", Fault(path="/v1/models", kind="reset", chance=0.2, times=None)),
    ],
)
def test_fault_spec_parsing(spec, expected):
    assert Fault.parse(spec) == expected


@pytest.mark.parametrize("spec", ["", "POST", "/x explode", "/x colour=red"])
def test_bad_fault_specs_are_rejected(spec):
    with pytest.raises(ValueError):
        Fault.parse(spec)


def test_truncate_fault_on_a_plain_answer_cuts_the_json_body(shared_sandbox, sandbox_http):
    shared_sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="truncate"))
    cut = sandbox_http.post("/v1/model/response", json={"inputs": [{"role": "user", "content": "hi"}]})
    whole = sandbox_http.post("/v1/model/response", json={"inputs": [{"role": "user", "content": "hi"}]})
    assert cut.status_code == 200 and whole.status_code == 200
    assert len(cut.content) == len(whole.content) // 2
    with pytest.raises(ValueError):
        cut.json()


def test_faults_add_takes_the_cli_string_form(shared_sandbox, sandbox_http):
    fault = shared_sandbox.faults.add("POST /v1/model/response status=503 times=2")
    assert fault == Fault(method="POST", path="/v1/model/response", status=503, times=2)
    assert [sandbox_http.respond().status_code for _ in range(3)] == [503, 503, 200]
    assert sandbox_http.get("/v1/models").status_code == 200


@pytest.mark.parametrize(
    "bad, words",
    [
        ("POST /v1/model/response status=abc", "invalid literal"),
        ("POST v1/model/response", "path starting with '/'"),
        ("POST /v1/model/response status=200", "status must be an error status"),
        ("/v1/models times=0", "times must be a whole number >= 1"),
        ("/v1/models slow delay=-1", "delay must be a number of seconds"),
        ("/v1/models chance=0", "chance must be a number above 0 and at most 1"),
        ("/v1/models chance=1.5", "chance must be a number above 0 and at most 1"),
        ({"path": "/v1/models"}, "expected a Fault or a string"),
        (503, "expected a Fault or a string"),
    ],
    ids=[
        "status-not-a-number",
        "no-slash",
        "status-200",
        "times-0",
        "negative-delay",
        "chance-0",
        "chance-above-1",
        "dict",
        "int",
    ],
)
def test_a_bad_fault_is_refused_clearly_and_breaks_no_later_request(shared_sandbox, sandbox_http, bad, words):
    from freddy_magic import ConfigError

    with pytest.raises(ConfigError) as refused:
        shared_sandbox.faults.add(bad)
    assert str(refused.value).startswith("Cannot add this sandbox fault:") and words in str(refused.value)
    assert len(shared_sandbox.faults) == 0
    assert sandbox_http.respond().status_code == 200
    assert sandbox_http.get("/v1/models").status_code == 200
    assert sandbox_http.login()["email_key"]


def test_a_fault_changed_after_it_was_made_is_checked_when_added(shared_sandbox, sandbox_http):
    from freddy_magic import ConfigError

    fault = Fault(path="/v1/models")
    fault.status = "503"
    with pytest.raises(ConfigError, match="status must be an error status"):
        shared_sandbox.faults.add(fault)
    assert sandbox_http.get("/v1/models").status_code == 200


def test_the_cli_refuses_a_bad_fault_with_one_line():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "freddy_magic.sandbox", "--json", "--fault", "POST /v1/model/response status=200"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == "error: Cannot add this sandbox fault: " + (
        "fault status must be an error status from 400 to 599, got 200"
    )


def test_a_fault_with_a_chance_fails_that_share_of_requests_and_spares_the_rest_for_the_next():
    def run():
        with Sandbox(rate_limit=None) as sandbox, SandboxHTTP(sandbox) as client:
            sandbox.faults.add("GET /v1/models status=503 chance=0.2 times=forever")
            sandbox.faults.add("GET /v1/models status=502 chance=0.25 times=forever")
            return [client.get("/v1/models").status_code for _ in range(200)]

    codes = run()
    assert set(codes) == {200, 502, 503}
    assert 25 <= codes.count(503) <= 55, "about a fifth fail with the first fault"
    assert 25 <= codes.count(502) <= 55, "about a quarter of the rest fail with the second"
    assert run() == codes, "the draw is seeded: the same requests in the same order fail the same way"
