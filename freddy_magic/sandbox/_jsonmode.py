"""JSON mode (``output_mode: "json"``) of the fake models: deterministic JSON with the keys and
types the request's instructions ask for, and, on request, a share of answers that miss.

The API has no JSON-schema mode, so a client says which keys it wants in the instructions, and a
real model reads them there; so does the sandbox. It looks for the lines of the format
``freddy_magic/_structured.py`` documents, ``- "<key>": <type>`` with the type one of string,
integer, number, boolean, array, object, and `` (optional`` after the type of a key that may be
left out. Instructions without such lines get one object holding the fake answer text.

Values depend only on the request (a hash of model, prompt, instructions and key), so the same
request always gets the same answer. They follow the prompt where that is cheap to read: strings
and arrays reuse the prompt's words, and a ``sentiment``-like key counts a few positive and
negative words. Every answer names the fake model in a ``_sandbox`` key (unless the client asked
for that key), since JSON has no room for the ``[sandbox <model>]`` prefix of a text answer. Like
real models, which often do it despite being told not to, one valid answer in four comes in a
Markdown fence and one in eight after a line of prose.

``json_invalid`` (a share from 0 to 1, a sandbox knob) makes that share of JSON answers invalid,
drawn with a seeded generator so a run can be repeated, in one of the ways real models miss:
prose instead of JSON, a required key left out, a value of the wrong type, JSON cut short.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading

from . import _fakemodel

_KEY_LINE = re.compile(r'^- "([^"\n]{1,64})": (string|integer|number|boolean|array|object)( \(optional)?', re.M)
_WORD = re.compile(r"[^\W\d_]{4,}")
_STOP = frozenset({"this", "that", "with", "from", "have", "were", "what", "when", "your", "about", "which", "there"})
_POSITIVE = frozenset({"good", "great", "love", "loved", "excellent", "amazing", "happy", "nice", "perfect", "best"})
_NEGATIVE = frozenset(
    {"bad", "terrible", "awful", "hate", "broken", "poor", "slow", "worst", "disappointed", "useless"}
)
_MOODS = ("sentiment", "tone", "mood", "polarity")
SPOILS = ("prose", "missing", "wrong_type", "cut")
_WRONG = {
    "string": ["not", "text"],
    "integer": "several",
    "number": "high",
    "boolean": "maybe",
    "array": "one, two",
    "object": "none",
}


def wanted_keys(instructions):
    """``[(key, type, optional)]`` read from the instructions' key lines (empty when there are none)."""
    return [(key, kind, bool(optional)) for key, kind, optional in _KEY_LINE.findall(instructions or "")]


class Spoiler:
    """The ``json_invalid`` knob: which JSON answers miss, by a seeded draw; counts what it spoiled."""

    def __init__(self, share=0.0, seed=0):
        self.share = check_share(share)
        self.spoiled = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self):
        """None for a valid answer, else how to spoil it (one of :data:`SPOILS`)."""
        with self._lock:
            if self.share <= 0 or self._rng.random() >= self.share:
                return None
            self.spoiled += 1
            return SPOILS[self._rng.randrange(len(SPOILS))]


def check_share(share):
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ValueError(f"json_invalid must be a share between 0 and 1, got {share!r}")
    return float(share)


def _words(prompt):
    seen = []
    for word in _WORD.findall(prompt or ""):
        word = word.lower()
        if word not in _STOP and word not in seen:
            seen.append(word)
    return seen or ["sandbox"]


def _mood(prompt):
    words = [word.lower() for word in re.findall(r"\w+", prompt or "")]
    score = sum(word in _POSITIVE for word in words) - sum(word in _NEGATIVE for word in words)
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def _value(key, kind, seed, prompt):
    words = _words(prompt)
    if kind == "string":
        return _mood(prompt) if key.lower() in _MOODS else words[seed[0] % len(words)]
    if kind == "integer":
        return 1 + seed[0] % 5
    if kind == "number":
        return round(int.from_bytes(seed[:2], "big") / 65535, 2)
    if kind == "boolean":
        return seed[0] % 2 == 0
    if kind == "array":
        start = seed[0] % len(words)
        return (words[start:] + words[:start])[: 1 + seed[1] % 3]
    return {"sandbox": True}


def _seed(*parts):
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def answer(model, prompt, instructions=None, spoil=None):
    """The JSON answer text for one request; ``spoil`` (from :meth:`Spoiler.draw`) makes it miss."""
    keys = wanted_keys(instructions)
    base = f"{model}\x00{instructions or ''}\x00{prompt}"
    data = {}
    for key, kind, optional in keys:
        seed = _seed(base, key)
        if optional and seed[2] % 3 == 0:
            continue
        data[key] = _value(key, kind, seed, prompt)
    if not keys:
        data["answer"] = _fakemodel.answer(model, prompt, instructions)
    if "_sandbox" not in data:
        data["_sandbox"] = f"fake answer by {model}"
    required = [(key, kind) for key, kind, optional in keys if not optional]
    if spoil in ("missing", "wrong_type") and not required:
        spoil = "prose"
    if spoil == "missing":
        del data[required[0][0]]
    elif spoil == "wrong_type":
        key, kind = required[0]
        data[key] = _WRONG[kind]
    text = json.dumps(data, ensure_ascii=False)
    if spoil == "prose":
        return f"[sandbox {model}] Sorry, this time the sandbox answers in prose: no JSON here."
    if spoil == "cut":
        return text[: len(text) // 2].rstrip("]}")  # never a complete array or object at the end
    look = _seed(base, "\x00wrapping")[0]
    if look % 4 == 0:
        return f"```json\n{text}\n```"
    if look % 8 == 1:
        return f"Here is the JSON you asked for:\n{text}"
    return text
