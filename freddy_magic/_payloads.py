"""Request bodies in, result objects out: the shapes of ``/v1/model/response`` and friends.

Parameters are checked before anything is sent (the auth page's own advice: validate on the
client too), and each error names the parameter, never a secret. Answers are read tolerantly:
the documented block list, ``response_blocks``, a plain string, and the older OpenAI-like shapes
all give the same :class:`Completion` (:mod:`._blocks` reads them). But every reader takes any
JSON value a server (or a proxy) may send and either returns the documented types or raises
``ResponseFormatError``: a ``5`` where text belongs must not surface as an ``AttributeError``
or ``TypeError`` from deep inside the client.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._blocks import answer_of
from ._errors import ConfigError, ResponseFormatError

# The documented host (api.aitronos.com is the same API). Defined here, in a module free of
# requests, so the magics can show it without paying for the HTTP stack at load time.
DEFAULT_BASE_URL = "https://api.freddy.aitronos.com"
MODEL_KEY = re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
ROLES = ("user", "assistant", "system", "tool")
EFFORTS = ("off", "low", "medium", "high", "maximum")
MAX_INSTRUCTIONS = 5000

JSON = dict[str, Any]
#: A prompt, or a conversation as a list of ``{"role", "content"}`` messages.
Inputs = str | Sequence[JSON]


@dataclass
class Completion:
    """One answer. Holds plain data only: no response, request or session objects (rule 4)."""

    text: str
    response_id: str | None = None
    thread_id: str | None = None
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    retries: int = 0
    latency_s: float | None = None
    ttft_s: float | None = None
    model: str | None = None
    #: The answer's blocks that are not text (tool calls, images...), as the API sent them.
    blocks: list[JSON] | None = None
    raw: JSON = field(default_factory=dict, repr=False)
    source: str | None = None  # "live", "sandbox" or "replay", set by whoever knows where it came from
    recorded_at: str | None = None  # when a replayed answer was recorded


@dataclass
class Page:
    """One page of a cursor-paginated list; ask for the next with ``after=page.last_id``."""

    data: list[JSON]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


@dataclass(frozen=True)
class LoginChallenge:
    """Step one of the email-code login; pass it to ``client.verify(challenge, code)``."""

    email_key: str
    email: str | None = None


def check_id(value: object, name: str) -> str:
    """IDs travel in URL paths, so their shape is checked before any URL is built."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ConfigError(f"{name} must be an id such as thread_abc123 (letters, digits, _ . : -)")
    return value


def _unit(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a number between 0 and 1")
    return value


def _messages(inputs: Inputs) -> list[JSON]:
    if isinstance(inputs, str):
        if not inputs.strip():
            raise ConfigError("inputs must not be empty")
        return [{"role": "user", "content": inputs}]
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ConfigError("inputs must be a non-empty string or a list of {role, content} messages")
    out = []
    for i, msg in enumerate(inputs):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise ConfigError(f"inputs[{i}] must be a dict with role one of {', '.join(ROLES)}")
        content = msg.get("content")
        if content is None and msg.get("texts") is not None:
            raise ConfigError(f"inputs[{i}] needs 'content' (the API refuses the older docs' 'texts' list alone)")
        if content is None or (isinstance(content, str) and not content.strip()) or content == []:
            raise ConfigError(f"inputs[{i}].content must not be empty")
        out.append(msg)
    return out


def build_response_body(
    inputs: Inputs,
    *,
    model: str | None = None,
    instructions: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_output_tokens: int | None = None,
    thread_id: str | None = None,
    organization_id: str | None = None,
    output_mode: str | None = None,
    reasoning: str | JSON | None = None,
    stream: bool = False,
) -> JSON:
    """The JSON body for ``POST /v1/model/response``; ConfigError names any bad parameter."""
    checked = {
        "inputs": _messages(inputs),
        "model": _model_key(model),
        "instructions": _instructions(instructions),
        "temperature": _unit(temperature, "temperature"),
        "top_p": _unit(top_p, "top_p"),
        "max_output_synapses": _positive(max_output_tokens, "max_output_tokens"),
        "thread_id": None if thread_id is None else check_id(thread_id, "thread_id"),
        "organization_id": None if organization_id is None else check_id(organization_id, "organization_id"),
        "output_mode": _output_mode(output_mode),
        "reasoning": None if reasoning is None else _reasoning(reasoning),
        "stream": True if stream else None,
    }
    return {name: value for name, value in checked.items() if value is not None}


def _model_key(model: str | None) -> str | None:
    if model is not None and (not isinstance(model, str) or not MODEL_KEY.fullmatch(model)):
        raise ConfigError("model must be a model key such as ftg-3.0 or gpt-4o (see client.models())")
    return model


def _instructions(instructions: str | None) -> str | None:
    if instructions is None:
        return None
    if not isinstance(instructions, str):
        raise ConfigError("instructions must be text")
    if len(instructions) > MAX_INSTRUCTIONS:
        raise ConfigError(f"instructions must be at most {MAX_INSTRUCTIONS} characters (got {len(instructions)})")
    return instructions


def _positive(value: int | None, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ConfigError(f"{name} must be a positive whole number")
    return value


def _output_mode(mode: str | None) -> str | None:
    if mode is not None and (not isinstance(mode, str) or not re.fullmatch(r"[a-z_]{1,32}", mode)):
        raise ConfigError("output_mode must be a mode name such as text, plain or json")
    return mode


def _reasoning(reasoning: str | JSON) -> JSON:
    if isinstance(reasoning, str):
        reasoning = {"effort": reasoning}
    if not isinstance(reasoning, dict) or reasoning.get("effort", "medium") not in EFFORTS:
        raise ConfigError(f"reasoning must be an effort ({', '.join(EFFORTS)}) or a dict with 'effort'")
    return reasoning


# -- reading answers: any JSON in, documented types or ResponseFormatError out ---------------


def json_object(data: object, what: str) -> JSON:
    """``data`` if it is a JSON object, else ResponseFormatError naming ``what``."""
    if not isinstance(data, dict):
        raise ResponseFormatError(f"The {what} answer is not a JSON object")
    return data


def json_objects(data: object, key: str, what: str) -> list[JSON]:
    """The list of objects under ``key`` (or ``data`` itself when it is a list)."""
    items = data.get(key, []) if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ResponseFormatError(f"The {what} answer is not a list of JSON objects")
    return items


def optional_text(payload: JSON, *names: str) -> str | None:
    """The first of ``names`` present in ``payload``: text, or None when none is; anything else
    is a ResponseFormatError."""
    for name in names:
        value = payload.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ResponseFormatError(f"The answer's '{name}' is not text")
        return value
    return None


def _count(usage: JSON, name: str) -> int | None:
    value = usage.get(name)
    if value is None:
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or value < 0:
        raise ResponseFormatError(f"The answer's usage '{name}' is not a whole number")
    return int(value)


def text_of(payload: JSON) -> str | None:
    """The answer text of a response payload, whichever documented shape it has (see :mod:`._blocks`)."""
    return answer_of(payload)[0]


def _usage(payload: JSON) -> tuple[int | None, int | None]:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None, None
    return _count(usage, "input_tokens"), _count(usage, "output_tokens")


def completion_from_json(
    payload: object,
    *,
    model: str | None,
    retries: int,
    latency_s: float | None,
    ttft_s: float | None = None,
    text: str | None = None,
) -> Completion:
    """A :class:`Completion` from a non-streamed answer or a ``response.completed`` event."""
    if not isinstance(payload, dict):
        raise ResponseFormatError("The response JSON is not an object")
    found, blocks = answer_of(payload)
    if text is None:
        text = found
        if text is None:
            raise ResponseFormatError("The response JSON has no answer text (no 'response' field)")
    input_tokens, output_tokens = _usage(payload)
    return Completion(
        text=text,
        response_id=optional_text(payload, "response_id", "id"),
        thread_id=optional_text(payload, "thread_id"),
        stop_reason=optional_text(payload, "stop_reason", "finish_reason"),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        retries=retries,
        latency_s=latency_s,
        ttft_s=ttft_s,
        model=optional_text(payload, "model") or model,
        blocks=blocks or None,
        raw=payload,
    )
