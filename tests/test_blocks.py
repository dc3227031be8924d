"""Every documented answer shape gives its text, and keeps the blocks that are not text.

The shapes are the ones the docs and the SDK show (see the module under test); a wrong type
where text belongs is still a ResponseFormatError, while a ``null`` text is simply empty.
"""

import pytest

from freddy_magic._blocks import answer_of
from freddy_magic._errors import ResponseFormatError
from freddy_magic._payloads import completion_from_json

TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Bern"}}
TOOL_CALL = {"type": "tool_call", "tool_name": "get_weather", "tool_arguments": {"city": "Bern"}}
TOOL_RESULT = {"type": "tool_result", "tool_name": "get_weather", "tool_result": {"t": 21}, "icon_url": None}


@pytest.mark.parametrize(
    ("payload", "text", "blocks"),
    [
        ({"response": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "!"}]}, "Hi!", []),
        ({"response": [{"type": "text", "text": None}]}, "", []),
        ({"response": [{"type": "text", "text": "Let me check."}, TOOL_USE]}, "Let me check.", [TOOL_USE]),
        ({"response": "plain"}, "plain", []),
        (
            {"response_blocks": [{"type": "text", "content": "Sunny"}, TOOL_CALL, TOOL_RESULT]},
            "Sunny",
            [TOOL_CALL, TOOL_RESULT],
        ),
        ({"response_blocks": [{"type": "text", "content": None}]}, "", []),
        ({"response": None, "response_blocks": [TOOL_CALL]}, "", [TOOL_CALL]),
        (
            {
                "response": [{"type": "text", "text": "A"}],
                "response_blocks": [{"type": "text", "content": "A"}, TOOL_CALL],
            },
            "A",
            [TOOL_CALL],
        ),
        ({"output": [{"role": "assistant", "content": [{"type": "output_text", "text": "O"}]}]}, "O", []),
        ({"output": [{"role": "assistant", "content": None}]}, "", []),
        (
            {"output": [{"type": "function_call", "name": "f"}, {"type": "message", "content": "m"}]},
            "m",
            [{"type": "function_call", "name": "f"}],
        ),
        ({"choices": [{"message": {"content": None}}]}, "", []),
        ({"choices": [{"message": {"content": "C"}}]}, "C", []),
        ({"success": True}, None, []),
    ],
)
def test_documented_shapes(payload, text, blocks):
    assert answer_of(payload) == (text, blocks)


@pytest.mark.parametrize(
    "payload",
    [
        {"response": [{"type": "text", "text": 5}]},
        {"response_blocks": [{"type": "text", "content": ["x"]}]},
        {"response_blocks": "text"},
        {"response": {"text": "x"}},
        {"output": [{"content": 5}]},
    ],
)
def test_wrong_types_are_format_errors(payload):
    with pytest.raises(ResponseFormatError):
        answer_of(payload)


def test_a_blocks_only_answer_is_a_completion_with_its_blocks():
    payload = {"success": True, "thread_id": "thread_1", "response_blocks": [TOOL_CALL], "response_id": "resp_1"}
    done = completion_from_json(payload, model=None, retries=0, latency_s=0.1)
    assert (done.text, done.blocks, done.model, done.input_tokens) == ("", [TOOL_CALL], None, None)
