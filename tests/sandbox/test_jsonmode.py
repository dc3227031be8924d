"""The sandbox's JSON mode over raw HTTP: deterministic JSON with the keys and types the
instructions ask for, streamed or not, and the ``json_invalid`` knob."""

import json

import pytest

from freddy_magic._errors import ConfigError
from freddy_magic.sandbox import Sandbox

from .http_api import SandboxHTTP, error_of, sse_events

KEYS = (
    "Answer with one JSON object and nothing else: no Markdown fence, no text before or after it.\n"
    "Its keys, each with the JSON type of its value:\n"
    '- "sentiment": string\n'
    '- "score": number\n'
    '- "stars": integer\n'
    '- "fine": boolean\n'
    '- "topics": array\n'
    '- "meta": object\n'
    '- "note": string (optional: leave the key out when there is nothing to give)'
)
TYPES = {"sentiment": str, "score": float, "stars": int, "fine": bool, "topics": list, "meta": dict, "note": str}


def _text(response):
    assert response.status_code == 200, response.text
    return response.json()["response"][0]["text"]


def _json(text):
    """The JSON inside a sandbox answer: bare, fenced, or after one line of prose."""
    if text.startswith("```json\n"):
        text = text[len("```json\n") : -len("\n```")]
    elif not text.startswith("{"):
        text = text.split("\n", 1)[1]
    return json.loads(text)


def test_json_mode_follows_the_keys_and_types_of_the_instructions(sandbox_http):
    prompts = [f"Review {i}: great kettle, love it" for i in range(40)]
    answers = [_json(_text(sandbox_http.respond(p, output_mode="json", instructions=KEYS))) for p in prompts]
    for data in answers:
        assert set(data) - {"note"} == {*TYPES} - {"note"} | {"_sandbox"}
        assert all(type(data[key]) is kind for key, kind in TYPES.items() if key in data)
        assert data["sentiment"] == "positive" and 1 <= data["stars"] <= 5 and 0 <= data["score"] <= 1
        assert data["_sandbox"] == "fake answer by ftg-3.0"
    assert any("note" in data for data in answers) and not all("note" in data for data in answers)


def test_json_mode_is_deterministic_and_sometimes_fenced_or_after_prose(sandbox_http):
    texts = [_text(sandbox_http.respond(f"Item {i}", output_mode="json", instructions=KEYS)) for i in range(40)]
    again = [_text(sandbox_http.respond(f"Item {i}", output_mode="json", instructions=KEYS)) for i in range(40)]
    assert texts == again
    assert any(t.startswith("```json\n") for t in texts) and any(t.startswith("Here is the JSON") for t in texts)
    assert any(t.startswith("{") for t in texts)


def test_json_mode_without_keys_wraps_the_fake_answer(sandbox_http):
    data = _json(_text(sandbox_http.respond("Explain tides", output_mode="json")))
    assert data["answer"].startswith("[sandbox ftg-3.0]") and data["_sandbox"] == "fake answer by ftg-3.0"


def test_text_mode_ignores_key_lines(sandbox_http):
    assert _text(sandbox_http.respond("Explain tides", instructions=KEYS)).startswith("[sandbox ftg-3.0]")


def test_streamed_json_mode_reassembles_to_the_plain_answer(sandbox_http):
    plain = _text(sandbox_http.respond("Review: slow and broken", output_mode="json", instructions=KEYS))
    r = sandbox_http.respond("Review: slow and broken", output_mode="json", instructions=KEYS, stream=True)
    events = sse_events(r.content)
    assert events[0] == ("response.created", {**events[0][1], "output_mode": "json"})
    deltas = "".join(data["delta"] for name, data in events if name == "response.content_delta")
    assert deltas == plain and _json(plain)["sentiment"] == "negative"


def test_json_schema_stays_refused_as_on_the_real_api(sandbox_http):
    error = error_of(sandbox_http.respond("x", output_mode="json_schema", instructions=KEYS), 422)
    assert "json_schema mode is not yet implemented" in json.dumps(error)


@pytest.mark.parametrize("share", [-0.1, 1.5, "half", True])
def test_the_invalid_share_must_be_between_0_and_1(share):
    with pytest.raises(ConfigError, match="between 0 and 1"):
        Sandbox(json_invalid=share)
    with Sandbox() as sb, pytest.raises(ConfigError, match="between 0 and 1"):
        sb.json_invalid = share


def test_the_invalid_share_spoils_that_share_of_json_answers_in_every_way():
    with Sandbox(rate_limit=None, json_invalid=0.3) as sb, SandboxHTTP(sb) as http:
        texts = [_text(http.respond(f"Item {i}", output_mode="json", instructions=KEYS)) for i in range(200)]
        assert _text(http.respond("plain text is never spoiled")).startswith("[sandbox")
        broken = []
        for text in texts:
            try:
                data = _json(text)
            except (ValueError, IndexError):
                broken.append("not JSON")
                continue
            if "sentiment" not in data:
                broken.append("missing")
            elif not isinstance(data["sentiment"], str):
                broken.append("wrong type")
        assert len(broken) == sb.json_spoiled and 40 <= sb.json_spoiled <= 80
        assert set(broken) == {"not JSON", "missing", "wrong type"}
        sb.json_invalid = 0
        assert sb.json_invalid == 0.0
        _json(_text(http.respond("Item 0", output_mode="json", instructions=KEYS)))
