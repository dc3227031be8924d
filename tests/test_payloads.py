"""Request bodies in, result objects out: parameters are checked before anything is sent, and an
answer of the wrong shape is a ResponseFormatError, never a KeyError or a half-read result.
"""

import pytest
from hypothesis import given, settings

from freddy_magic._errors import ConfigError, ResponseFormatError
from freddy_magic._payloads import Completion, build_response_body, completion_from_json

from .clients import RESP, SHORT_TIMEOUTS, client_for, key_client, outcome
from .hostile import HostileServer, Reply
from .json_values import PARSER_EXAMPLES, answers


@pytest.mark.parametrize(
    "params, name",
    [
        ({"temperature": 1.5}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"max_output_tokens": 2.5}, "max_output_tokens"),
        ({"instructions": "x" * 5001}, "instructions"),
        ({"model": "GPT 4o!"}, "model"),
        ({"thread_id": "../../admin"}, "thread_id"),
        ({"reasoning": "extreme"}, "reasoning"),
    ],
)
def test_parameters_are_validated_before_sending(scripted, clock, sleeper, params, name):
    with pytest.raises(ConfigError, match=name):
        key_client(clock, sleeper).create_response("hi", **params)
    assert len(scripted.calls) == 0


@pytest.mark.parametrize("inputs", ["", "   ", [], [{"role": "user", "content": ""}], [{"content": "x"}]])
def test_empty_inputs_are_refused(scripted, inputs, clock, sleeper):
    with pytest.raises(ConfigError, match="inputs"):
        key_client(clock, sleeper).create_response(inputs)
    assert len(scripted.calls) == 0


def test_non_json_success_and_oversized_body(scripted, clock, sleeper):
    scripted.post(RESP, body="<html>oops</html>", content_type="text/html")
    with pytest.raises(ResponseFormatError, match="not valid JSON"):
        key_client(clock, sleeper).create_response("hi")
    scripted.replace("POST", RESP, json={"response": [{"type": "text", "text": "x" * 3_000_000}]})
    with pytest.raises(ResponseFormatError, match="larger than 1 MB"):
        key_client(clock, sleeper, max_body=1024 * 1024).create_response("hi")


def test_half_a_json_body_is_a_format_error(scripted, clock, sleeper):
    whole = '{"success": true, "response": [{"type": "text", "text": "hello"}]}'
    scripted.post(RESP, body=whole[: len(whole) // 2], content_type="application/json")
    with pytest.raises(ResponseFormatError, match="not valid JSON"):
        key_client(clock, sleeper).create_response("hi")


@pytest.mark.security
@pytest.mark.parametrize(
    "body,ctype",
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b'{"response": 5}', "application/json"),
        (b'{"response": [{"type": "text"}]}', "application/json"),
        (b'"just a string"', "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
    ],
    ids=["html", "invalid", "empty", "list", "wrong-type", "missing-text", "string", "binary"],
)
def test_k1_k2_bad_success_bodies_give_a_clean_typed_error(body, ctype, canary):
    with HostileServer(Reply(200, headers={"Content-Type": ctype}, body=body)) as api:
        client = client_for(api.url, canary.value, timeouts=SHORT_TIMEOUTS)
        result, error = outcome(client, lambda c: c.create_response("hi"))
        client.close()
    if error is None:
        assert isinstance(result.text, str)  # a lenient parse is allowed only if it yields text
    else:
        assert isinstance(error, ResponseFormatError), type(error)
        assert "KeyError" not in str(error) and "Traceback" not in str(error)


def _whole(value):
    return value is None or (type(value) is int and value >= 0)


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=PARSER_EXAMPLES)
@given(payload=answers())
def test_k2_an_answer_of_any_json_is_a_completion_of_documented_types_or_a_format_error(payload):
    try:
        done = completion_from_json(payload, model="ftg-3.0", retries=0, latency_s=0.1)
    except ResponseFormatError:
        return
    assert isinstance(done, Completion) and isinstance(done.text, str)
    for name in ("response_id", "thread_id", "stop_reason", "model"):
        assert getattr(done, name) is None or isinstance(getattr(done, name), str), name
    assert _whole(done.input_tokens) and _whole(done.output_tokens)


@pytest.mark.security
@pytest.mark.parametrize(
    "payload",
    [
        {"response": [{"text": 5}]},
        {"choices": [5]},
        {"choices": [{"message": "hi"}]},
        "abc",
        [],
        {"output": [{"content": 3}]},
    ],
)
def test_k2_wrong_shapes_seen_in_the_wild_are_format_errors(payload):
    with pytest.raises(ResponseFormatError):
        completion_from_json(payload, model=None, retries=0, latency_s=None)


def test_a_texts_only_message_is_refused_before_sending():
    """The API requires ``content`` (the SDK's InputMessage); the older docs' ``texts`` list alone is a 422 there."""
    with pytest.raises(ConfigError, match="needs 'content'"):
        build_response_body([{"role": "user", "texts": [{"text": "hi"}]}])
    body = build_response_body([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert "model" not in body, "no model is invented"
