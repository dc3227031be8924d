"""Sandbox responses: shapes, determinism, usage, the documented validation rules, SSE, threads, cancel."""

import json

import pytest

from freddy_magic.sandbox import Sandbox, count_tokens

from ..fakes import FakeClock
from .http_api import SandboxHTTP, bearer, error_of, sse_events


def text_of(response):
    return response.json()["response"][0]["text"]


def test_non_streamed_shape(sandbox_http):
    r = sandbox_http.respond()
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"success", "thread_id", "response", "response_id", "is_summarized", "stop_reason", "usage"}
    assert body["success"] is True and body["is_summarized"] is False and body["stop_reason"] == "end_turn"
    assert body["thread_id"].startswith("thread_") and body["response_id"].startswith("resp_")
    assert body["response"][0]["type"] == "text" and body["response"][0]["text"].startswith("[sandbox ftg-3.0]")


def test_answers_are_deterministic_and_depend_on_model_input_and_instructions(sandbox_http):
    first, again = (
        text_of(sandbox_http.respond("What is a monad?")),
        text_of(sandbox_http.respond("What is a monad?", temperature=0.9)),
    )
    assert first == again
    assert text_of(sandbox_http.respond("What is a functor?")) != first
    other_model = text_of(sandbox_http.respond("What is a monad?", model="gpt-4o"))
    assert other_model.startswith("[sandbox gpt-4o]") and other_model != first
    assert text_of(sandbox_http.respond("What is a monad?", instructions="Be brief.")) != first
    assert "monad" in first and "sandbox" in first.lower()


def test_usage_matches_the_text(sandbox_http):
    body = sandbox_http.respond("Count these five words", instructions="Answer politely.").json()
    usage = body["usage"]
    assert usage["output_tokens"] == count_tokens(body["response"][0]["text"])
    assert usage["input_tokens"] == count_tokens("Count these five words") + count_tokens("Answer politely.")
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_count_tokens_counts_words_and_punctuation():
    assert count_tokens("") == 0
    assert count_tokens("Hello, world!") == 4


def test_max_output_synapses_truncates_with_max_tokens_stop_reason(sandbox_http):
    body = sandbox_http.respond(max_output_synapses=5).json()
    assert body["stop_reason"] == "max_tokens" and body["usage"]["output_tokens"] == 5
    assert text_of(sandbox_http.respond()).startswith(body["response"][0]["text"])


def test_content_blocks_are_accepted_and_texts_alone_is_refused(sandbox_http):
    """``content`` is required by the SDK's InputMessage; the older docs' ``texts`` list alone is a 422."""
    blocks = sandbox_http.post(
        "/v1/model/response",
        json={
            "inputs": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Block prompt"}, {"type": "file", "file_id": "file_1"}],
                }
            ]
        },
    )
    plain = sandbox_http.post("/v1/model/response", json={"inputs": [{"role": "user", "content": "Block prompt"}]})
    alias = sandbox_http.post(
        "/v1/model/response", json={"inputs": [{"role": "user", "texts": [{"text": "Block prompt"}]}]}
    )
    assert blocks.status_code == plain.status_code == 200
    assert text_of(blocks) == text_of(plain)
    assert error_of(alias, 422)["details"]["field"] == "inputs.0.content"


def test_sdk_tool_shapes_are_accepted(sandbox_http):
    """What the official SDK may send: a personalConnector tool and a null system-tool configuration."""
    r = sandbox_http.post(
        "/v1/model/response",
        json={
            "inputs": VALID,
            "tools": [{"type": "personalConnector", "configuration_ids": ["pc_1"]}],
            "system_tools": {"web_search": None, "file_search": {"mode": "off"}},
        },
    )
    assert r.status_code == 200, r.text


def test_blocks_is_not_an_output_mode_of_responses(sandbox_http):
    """``blocks`` is listed by output-modes but the responses endpoint takes text/plain/structured/json."""
    r = sandbox_http.post("/v1/model/response", json={"inputs": VALID, "output_mode": "blocks"})
    assert error_of(r, 422)["details"]["field"] == "output_mode"


def test_reasoning_model_returns_reasoning_content(sandbox_http):
    body = sandbox_http.respond(model="o3-preview", reasoning={"effort": "high", "summary": "auto"}).json()
    assert body["reasoning_content"].startswith("[sandbox o3-preview reasoning]")


VALID = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, None),
        ({"inputs": []}, "inputs"),
        ({"inputs": "hi"}, "inputs"),
        ({"inputs": ["hi"]}, "inputs.0"),
        ({"inputs": [{"role": "robot", "content": "x"}]}, "inputs.0.role"),
        ({"inputs": [{"role": "user"}]}, "inputs.0.content"),
        ({"inputs": [{"role": "tool", "content": "42"}]}, "inputs.0.tool_call_id"),
        ({"inputs": [{"role": "user", "content": "x", "colour": "red"}]}, "inputs.0.colour"),
        ({"inputs": VALID, "temperature": 1.5}, "temperature"),
        ({"inputs": VALID, "temperature": -0.1}, "temperature"),
        ({"inputs": VALID, "temperature": "hot"}, "temperature"),
        ({"inputs": VALID, "top_p": 2}, "top_p"),
        ({"inputs": VALID, "instructions": "x" * 5001}, "instructions"),
        ({"inputs": VALID, "instructions": 7}, "instructions"),
        ({"inputs": VALID, "output_mode": "json_schema"}, "output_mode"),
        ({"inputs": VALID, "output_mode": "yaml"}, "output_mode"),
        ({"inputs": VALID, "model": "gpt-4o", "reasoning": {"effort": "high"}}, "reasoning"),
        ({"inputs": VALID, "model": "o3-preview", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"inputs": VALID, "model": "no-such-model"}, "model"),
        ({"inputs": VALID, "max_output_synapses": 0}, "max_output_synapses"),
        ({"inputs": VALID, "max_output_synapses": 1.5}, "max_output_synapses"),
        ({"inputs": VALID, "max_tokens": 10}, "max_tokens"),
        ({"inputs": VALID, "stream": "yes"}, "stream"),
        ({"inputs": VALID, "tools": [{"type": "function", "name": "9bad"}]}, "tools.0.name"),
        ({"inputs": VALID, "tools": [{"type": "mcp", "server_label": "a"}]}, "tools.0"),
        ({"inputs": VALID, "system_tools": {"image_generation": {"mode": "on"}}}, "system_tools.image_generation"),
        ({"inputs": VALID, "previous_response_id": "resp_1", "edit_message_id": "msg_1"}, "edit_message_id"),
        ({"inputs": VALID, "edit_message_id": "msg_1"}, "edit_message_id"),
        ({"inputs": VALID, "metadata": {"k": 1}}, "metadata.k"),
        ({"inputs": VALID, "include": ["everything"]}, "include.0"),
    ],
)
def test_validation_rules_give_422_envelopes(sandbox_http, body, field):
    error = error_of(sandbox_http.post("/v1/model/response", json=body), 422)
    assert error["type"] == "validation_error"
    if field is not None:
        assert error["details"]["field"] == field


def test_reasoning_off_is_fine_on_any_model(sandbox_http):
    assert sandbox_http.respond(model="gpt-4o", reasoning={"effort": "off"}).status_code == 200


def test_foreign_organization_is_403(sandbox_http, shared_sandbox):
    error_of(
        sandbox_http.respond(organization_id=shared_sandbox.foreign_organization_id), 403, "ORGANIZATION_ACCESS_DENIED"
    )
    assert sandbox_http.respond(organization_id=shared_sandbox.organization_id).status_code == 200


def test_disable_rules_needs_an_api_key(sandbox_http):
    assert sandbox_http.respond(disable_rules=True).status_code == 200
    access = sandbox_http.tokens()["access_token"]
    r = sandbox_http.post(
        "/v1/model/response", key=False, headers=bearer(access), json={"inputs": VALID, "disable_rules": True}
    )
    error_of(r, 403)


def test_threads_are_created_continued_and_listed(sandbox_http):
    first = sandbox_http.respond("First question").json()
    thread_id = first["thread_id"]
    second = sandbox_http.respond("Follow-up", thread_id=thread_id).json()
    assert second["thread_id"] == thread_id
    thread = sandbox_http.get(f"/v1/threads/{thread_id}").json()
    assert thread["object"] == "thread" and thread["message_count"] == 4 and thread["title"] == "First question"
    assert thread["last_model_used"] == "ftg-3.0" and thread["created_at"].endswith("Z")
    messages = sandbox_http.get(f"/v1/threads/{thread_id}/messages", params={"order": "asc"}).json()
    assert [m["role"] for m in messages["data"]] == ["user", "assistant", "user", "assistant"]
    assert messages["data"][1]["content"] == first["response"][0]["text"]
    error_of(sandbox_http.respond(thread_id="thread_missing"), 404, "RESOURCE_NOT_FOUND")
    error_of(sandbox_http.get("/v1/threads/thread_missing"), 404, "RESOURCE_NOT_FOUND")


def test_store_false_hides_the_thread_from_lists(sandbox_http):
    before = sandbox_http.respond("Listed before").json()["thread_id"]
    hidden = sandbox_http.respond("Secret-ish", store=False).json()["thread_id"]
    after = sandbox_http.respond("Listed after").json()["thread_id"]
    newest = sandbox_http.get("/v1/threads", params={"limit": 2}).json()["data"]
    assert [t["id"] for t in newest] == [after, before]
    assert sandbox_http.get(f"/v1/threads/{hidden}").status_code == 200


def test_cursor_pagination_walks_every_item_once():
    with Sandbox(rate_limit=None) as sandbox, SandboxHTTP(sandbox) as client:
        created = [client.respond(f"Question {i}").json()["thread_id"] for i in range(7)]
        seen, after = [], None
        while True:
            params = {"limit": 3, "order": "asc", **({"after": after} if after else {})}
            page = client.get("/v1/threads", params=params).json()
            assert page["object"] == "list" and page["limit"] == 3
            seen += [t["id"] for t in page["data"]]
            assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][-1]["id"]
            if not page["has_more"]:
                break
            after = page["last_id"]
        assert seen == created
        newest = client.get("/v1/threads", params={"limit": 2, "include_total": "true"}).json()
        assert [t["id"] for t in newest["data"]] == created[::-1][:2] and newest["total"] == 7
        before = client.get("/v1/threads", params={"limit": 2, "order": "asc", "before": created[4]}).json()
        assert [t["id"] for t in before["data"]] == created[2:4] and before["has_more"] is True
        error_of(client.get("/v1/threads", params={"after": "thread_nope"}), 422)
        error_of(client.get("/v1/threads", params={"limit": 0}), 422)
        error_of(client.get("/v1/threads", params={"order": "up"}), 422)


def test_message_pagination(sandbox_http):
    thread_id = sandbox_http.respond("Turn 0").json()["thread_id"]
    for i in range(1, 3):
        sandbox_http.respond(f"Turn {i}", thread_id=thread_id)
    page = sandbox_http.get(f"/v1/threads/{thread_id}/messages", params={"limit": 4}).json()
    assert len(page["data"]) == 4 and page["has_more"] is True and page["data"][0]["role"] == "assistant"
    rest = sandbox_http.get(f"/v1/threads/{thread_id}/messages", params={"limit": 4, "after": page["last_id"]}).json()
    assert len(rest["data"]) == 2 and rest["has_more"] is False
    assert rest["data"][-1]["content"] == "Turn 0"


def test_sse_framing_from_raw_bytes(sandbox_http):
    body = {"inputs": [{"role": "user", "content": "Stream me"}], "stream": True}
    with sandbox_http.post("/v1/model/response", json=body, stream=True) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        assert r.headers["Transfer-Encoding"] == "chunked"
        raw = b"".join(r.raw.stream(64, decode_content=False))
    events = sse_events(raw)
    names = [n for n, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert names.count("response.content_delta") >= 3
    created, completed = events[0][1], events[-1][1]
    assert created["status"] == "in_progress" and created["thread_id"].startswith("thread_")
    text = "".join(d["delta"] for n, d in events if n == "response.content_delta")
    assert completed["status"] == "completed" and completed["thread_id"] == created["thread_id"]
    assert completed["response"][0]["text"] == text and completed["stop_reason"] == "end_turn"
    assert completed["usage"]["output_tokens"] == count_tokens(text) and completed["response_id"].startswith("resp_")
    assert text == text_of(sandbox_http.respond("Stream me"))


def test_stream_of_reasoning_model_has_reasoning_events(sandbox_http):
    r = sandbox_http.post(
        "/v1/model/response",
        json={"inputs": VALID, "model": "o3-preview", "stream": True, "reasoning": {"effort": "low"}},
    )
    names = [n for n, _ in sse_events(r.content)]
    assert names[1:4] == ["reasoning.started", "reasoning.content", "reasoning.completed"]


def _open_stream(client, prompt="A long answer please"):
    """Start a stream and read it up to its first delta.

    The sandbox records a delta as part of the answer before it sends it, so once the client has
    read one, a cancel can only find a partial answer (never an empty one, as it could right
    after ``response.created`` while the server had not produced a delta yet).
    """
    r = client.post(
        "/v1/model/response", stream=True, json={"inputs": [{"role": "user", "content": prompt}], "stream": True}
    )
    lines = r.iter_lines()
    assert next(lines) == b"event: response.created"
    thread_id = json.loads(next(lines)[6:])["thread_id"]
    assert next(lines) == b""
    assert next(lines) == b"event: response.content_delta"
    assert json.loads(next(lines)[6:])["delta"]
    return r, lines, thread_id


def test_cancel_quick_edit_ends_the_stream_and_deletes_the_turn():
    with Sandbox(rate_limit=None, latency_per_delta=5.0, clock=FakeClock.epoch()) as sandbox:
        client, other = SandboxHTTP(sandbox), SandboxHTTP(sandbox)
        r, lines, thread_id = _open_stream(client)
        cancel = other.post(f"/v1/model/response/{thread_id}/cancel")
        assert cancel.status_code == 200
        assert cancel.json()["cancel_mode"] == "quick_edit" and cancel.json()["user_message_deleted"] is True
        rest = b"\n".join(lines).decode()
        assert "event: response.cancelled" in rest and "response.completed" not in rest
        r.close()
        assert other.get(f"/v1/threads/{thread_id}/messages").json()["data"] == []
        error_of(other.post(f"/v1/model/response/{thread_id}/cancel"), 404, "RESOURCE_NOT_FOUND")
        client.close(), other.close()


def test_cancel_after_five_seconds_keeps_the_partial_answer():
    clock = FakeClock.epoch()
    with Sandbox(rate_limit=None, latency_per_delta=5.0, clock=clock) as sandbox:
        client, other = SandboxHTTP(sandbox), SandboxHTTP(sandbox)
        r, lines, thread_id = _open_stream(client)
        clock.advance(6)
        body = other.post(f"/v1/model/response/{thread_id}/cancel").json()
        assert body["cancel_mode"] == "keep_partial" and body["user_message_deleted"] is False
        assert body["partial_content_saved"] is True
        assert b"event: response.cancelled" in b"\n".join(lines)
        r.close()
        messages = other.get(f"/v1/threads/{thread_id}/messages").json()["data"]
        assert [m["role"] for m in messages] == ["assistant", "user"]
        assert messages[0]["content"]


def test_cancel_without_active_stream_is_404(sandbox_http):
    thread_id = sandbox_http.respond().json()["thread_id"]
    error_of(sandbox_http.post(f"/v1/model/response/{thread_id}/cancel"), 404, "RESOURCE_NOT_FOUND")
    error_of(sandbox_http.post("/v1/model/response/thread_unknown/cancel"), 404)


def test_user_in_two_organizations_must_name_one(sandbox_http, shared_sandbox):
    r = sandbox_http.post(
        "/v1/auth/dev-login",
        key=False,
        json={"email_or_username": shared_sandbox.teacher_email, "password": shared_sandbox.password},
    )
    teacher = bearer(r.json()["access_token"])
    body = {"inputs": VALID}
    error_of(
        sandbox_http.post("/v1/model/response", key=False, headers=teacher, json=body), 403, "AMBIGUOUS_ORGANIZATION"
    )
    chosen = sandbox_http.post(
        "/v1/model/response",
        key=False,
        headers=teacher,
        json={**body, "organization_id": shared_sandbox.second_organization_id},
    )
    assert chosen.status_code == 200
    thread = sandbox_http.get(f"/v1/threads/{chosen.json()['thread_id']}", key=False, headers=teacher).json()
    assert thread["organization_id"] == shared_sandbox.second_organization_id
    orgs = sandbox_http.get("/v1/organizations", key=False, headers=teacher).json()
    assert orgs["total"] == 2
    assert (
        sandbox_http.get(
            f"/v1/organizations/{shared_sandbox.second_organization_id}", key=False, headers=teacher
        ).json()["id"]
        == shared_sandbox.second_organization_id
    )
    error_of(sandbox_http.get(f"/v1/threads/{chosen.json()['thread_id']}"), 404)
