"""The answer inside a response payload: its text, and the blocks that are not text.

The documented shapes disagree, and the real server picks by mode: ``response`` as a list of
blocks (``text``, ``tool_use``, ...) or a plain string; ``response_blocks`` alone in structured
mode (``text`` blocks carry ``content``, others are ``tool_call``/``tool_result``); the older
OpenAI-like ``output`` items (``output_text`` content) and ``choices``. Whatever the shape, the
text is the concatenation of the text blocks (a ``null`` text is empty, not an error) and every
other block is kept, as the API sent it, for the row's ``blocks`` column. A value of the wrong
type where text belongs is still a ResponseFormatError.
"""

from __future__ import annotations

from typing import Any

from ._errors import ResponseFormatError

JSON = dict[str, Any]
TEXT_TYPES = frozenset({"text", "output_text"})


def _text_value(block: JSON, *names: str) -> str:
    for name in names:
        value = block.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ResponseFormatError(f"An answer block's '{name}' is not text")
        return value
    return ""


def split_blocks(blocks: list[object], *, text_keys: tuple[str, ...] = ("text",)) -> tuple[str, list[JSON]]:
    """(text of the text blocks, the other blocks) of one block list."""
    parts: list[str] = []
    others: list[JSON] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue  # not an object: nothing a reader could use
        if block.get("type", "text") in TEXT_TYPES:
            parts.append(_text_value(block, *text_keys))
        else:
            others.append(block)
    return "".join(parts), others


def _content(content: object) -> tuple[str, list[JSON]]:
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise ResponseFormatError("An output item's 'content' is neither text nor a list of blocks")
    return split_blocks(content)


def _output(items: list[object]) -> tuple[str, list[JSON]]:
    parts: list[str] = []
    others: list[JSON] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "content" in item or item.get("type") in (None, "message"):
            text, rest = _content(item.get("content"))
            parts.append(text)
            others.extend(rest)
        else:  # a function call, a reasoning item...: kept whole
            others.append(item)
    return "".join(parts), others


def _choices(choices: list[object]) -> str:
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise ResponseFormatError("The answer's first choice has no message object")
    return _text_value(message, "content")


def answer_of(payload: JSON) -> tuple[str | None, list[JSON]]:
    """(text, other blocks) of a response payload; text is None when it has no answer at all."""
    resp = payload.get("response")
    blocks = payload.get("response_blocks")
    if resp is not None and not isinstance(resp, (str, list)):
        raise ResponseFormatError("The answer's 'response' is neither text nor a list of blocks")
    if blocks is not None and not isinstance(blocks, list):
        raise ResponseFormatError("The answer's 'response_blocks' is not a list of blocks")
    structured: tuple[str, list[JSON]] | None = None
    if blocks is not None:
        structured = split_blocks(blocks, text_keys=("content", "text"))
    if isinstance(resp, str):
        return resp, structured[1] if structured else []
    if isinstance(resp, list):
        text, others = split_blocks(resp)
        return text, structured[1] if structured else others
    if structured is not None:
        return structured
    output = payload.get("output")
    if isinstance(output, list):
        return _output(output)
    choices = payload.get("choices")
    if isinstance(choices, list) and choices:
        return _choices(choices), []
    return None, []
