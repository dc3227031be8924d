"""The two dialects on the wire: the classic shapes and the newest documented ones.

Raw HTTP to a sandbox of each dialect; the client and notebook tests run against either one
(``pytest --dialect current``), these tests pin down what each dialect sends.
"""

import json

import pytest

from freddy_magic._errors import ConfigError
from freddy_magic.sandbox import Sandbox
from freddy_magic.sandbox.__main__ import _parser

from .http_api import SandboxHTTP, bearer, error_of, sse_events

FORGED = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfeCIsInR5cGUiOiJhY2Nlc3MifQ.bm90LXNpZ25lZC1oZXJl"


@pytest.fixture(scope="module")
def current():
    with Sandbox(rate_limit=None, dialect="current") as sb, SandboxHTTP(sb) as http:
        yield http


def data_only_events(raw):
    """(event, data) of data-only frames, and whether ``[DONE]`` closed them."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n") and "event:" not in text, "current frames carry only data: lines"
    frames = [block for block in text.split("\n\n") if block]
    assert all(block.startswith("data: ") and "\n" not in block for block in frames), frames
    done = frames[-1] == "data: [DONE]"
    events = [json.loads(block[6:]) for block in frames[: -1 if done else None]]
    return [(e["event"], e) for e in events], done


def test_current_stream_is_data_only_with_processing_heartbeat_and_done():
    with Sandbox(rate_limit=None, dialect="current", pace=0.2) as paced, SandboxHTTP(paced) as http:
        raw = http.respond("Name a colour", model="gpt-4o", stream=True).content
    events, done = data_only_events(raw)
    names = [name for name, _ in events]
    assert done and names[0] == "response.processing" and names[1] == "response.created"
    assert "heartbeat" in names and names[-1] == "response.completed"
    completed = events[-1][1]
    assert "usage" not in completed and completed["response"][0]["text"].startswith("[sandbox gpt-4o]")


def test_classic_stream_is_named_frames_with_usage_and_no_done(sandbox_http):
    raw = sandbox_http.respond("Name a colour", model="gpt-4o", stream=True).content
    events = sse_events(raw)  # asserts event:/data: pairs
    assert "[DONE]" not in raw.decode() and events[-1][0] == "response.completed"
    assert events[-1][1]["usage"]["output_tokens"] > 0


def test_current_answers_carry_no_usage_and_structured_mode_only_blocks(current):
    plain = current.respond("hi", model="gpt-4o").json()
    assert "usage" not in plain and plain["response"][0]["type"] == "text"
    structured = current.respond("hi", model="gpt-4o", output_mode="structured").json()
    assert "response" not in structured
    assert structured["response_blocks"] == [{"type": "text", "content": plain["response"][0]["text"]}]


def test_current_catalog_has_no_ftg_and_its_default_is_another_model(current):
    keys = [m["key"] for m in current.get("/v1/models").json()["models"]]
    assert "ftg-3.0" not in keys and "gpt-4o" in keys
    error_of(current.respond("hi", model="ftg-3.0"), 422)
    assert current.respond("hi").json()["response"][0]["text"].startswith("[sandbox gpt-4o]")


def test_classic_default_model_is_ftg(sandbox_http):
    assert sandbox_http.respond("hi").json()["response"][0]["text"].startswith("[sandbox ftg-3.0]")


def test_current_stream_reports_a_rejected_token_inside_a_200_stream(current):
    """The streaming path's lightweight auth: an error event, not a 401; a plain request still gets 401."""
    body = {"inputs": [{"role": "user", "content": "hi"}], "stream": True}
    r = current.post("/v1/model/response", key=False, headers=bearer(FORGED), json=body)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    events, done = data_only_events(r.content)
    assert done and [name for name, _ in events] == ["response.error"]
    assert events[0][1]["error"]["code"] == "TOKEN_INVALID" and events[0][1]["error"]["status"] == 401
    plain = current.post("/v1/model/response", key=False, headers=bearer(FORGED), json={**body, "stream": False})
    error_of(plain, 401, "TOKEN_INVALID")


def test_classic_stream_with_a_rejected_token_is_a_401(sandbox_http):
    body = {"inputs": [{"role": "user", "content": "hi"}], "stream": True}
    error_of(sandbox_http.post("/v1/model/response", key=False, headers=bearer(FORGED), json=body), 401)


def test_refusals_are_the_same_in_both_dialects(current, sandbox_http):
    for http in (current, sandbox_http):
        texts = {"inputs": [{"role": "user", "texts": [{"text": "hi"}]}]}
        assert error_of(http.post("/v1/model/response", json=texts), 422)["details"]["field"] == "inputs.0.content"
        error_of(http.respond("hi", model="gpt-4o", output_mode="blocks"), 422)
        error_of(http.get("/v1/user/me"), 403, "INSUFFICIENT_PERMISSIONS")


def test_the_dialect_is_chosen_by_argument_environment_or_cli(monkeypatch):
    with pytest.raises(ConfigError, match="dialect must be one of classic, current"):
        Sandbox(dialect="newest")
    monkeypatch.setenv("FREDDY_SANDBOX_DIALECT", "current")
    assert Sandbox().dialect == "current" and Sandbox(dialect="classic").dialect == "classic"
    monkeypatch.delenv("FREDDY_SANDBOX_DIALECT")
    assert Sandbox().dialect == "classic"
    assert _parser().parse_args(["--dialect", "current"]).dialect == "current"
