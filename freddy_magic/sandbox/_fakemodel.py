"""Deterministic fake models: the same (model, input, instructions) always gives the same answer.

Answers start with a visible ``[sandbox <model>]`` marker and say plainly that no model wrote
them, yet echo the topic so a classroom demo still reads naturally. Token counts come from
:func:`count_tokens`, the one tokenizer, so ``usage`` always matches the text a client received.
"""

from __future__ import annotations

import hashlib
import re

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_DELTA = re.compile(r"\S+\s*|\s+")

_OPENINGS = [
    "Here is a sandbox answer about {topic}.",
    "You asked about {topic}; this is the local sandbox replying.",
    "A short, simulated take on {topic}.",
    "Thinking about {topic} (in a pretend way).",
]
_MIDDLES = [
    "A real model would start with the core idea, then give a concrete example and a common pitfall.",
    "On the real API you would now get an explanation tailored to your wording and level.",
    "In a live session this is where the model would break the topic into two or three clear steps.",
    "A real answer would define the key terms first and then connect them with an everyday analogy.",
]
_CLOSINGS = [
    "No model produced this text: it is fixed by a hash of your prompt, "
    "so the same prompt always gives the same reply.",
    "This reply is generated locally and deterministically, which makes it handy for tests and demos, not for facts.",
    "Connect a real API key to get genuine answers; until then, the words here are placeholders chosen by a hash.",
]


def count_tokens(text):
    """Words and punctuation marks: a simple, documented stand-in for a real tokenizer."""
    return len(_TOKEN.findall(text or ""))


def _topic(text):
    words = " ".join((text or "").split())
    if not words:
        return "an empty prompt"
    return "“" + (words if len(words) <= 80 else words[:77].rstrip() + "…") + "”"


def answer(model, text, instructions=None):
    """The full answer text for a prompt; depends only on its three arguments."""
    seed = hashlib.sha256(f"{model}\x00{instructions or ''}\x00{text}".encode()).digest()
    parts = [
        f"[sandbox {model}]",
        _OPENINGS[seed[0] % len(_OPENINGS)].format(topic=_topic(text)),
        _MIDDLES[seed[1] % len(_MIDDLES)],
    ]
    if instructions:
        parts.append(f"(Your instructions were noted: {_topic(instructions)}.)")
    parts.append(_CLOSINGS[seed[2] % len(_CLOSINGS)])
    return " ".join(parts)


def reasoning(model, text):
    """Fake reasoning content for reasoning-capable models."""
    return f"[sandbox {model} reasoning] The question is {_topic(text)}. A real model would plan its answer here."


def truncate(text, max_tokens):
    """The longest prefix of ``text`` holding at most ``max_tokens`` tokens."""
    matches = list(_TOKEN.finditer(text))
    if len(matches) <= max_tokens:
        return text
    return text[: matches[max_tokens - 1].end()]


def deltas(text, words_per_delta=3):
    """Split into several chunks whose concatenation is exactly ``text``."""
    pieces = _DELTA.findall(text)
    return ["".join(pieces[i : i + words_per_delta]) for i in range(0, len(pieces), words_per_delta)]
