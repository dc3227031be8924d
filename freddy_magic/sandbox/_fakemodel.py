"""Deterministic fake models: the same (model, conversation, instructions) always gives the same answer.

Answers start with a visible ``[sandbox <model>]`` marker and end with a note that no model
wrote them, yet they follow what a prompt asks for where that is cheap to read from it, so a
lesson can show cause and effect: the topic (``Explain X ...``, ``What is X?``), the audience
(``... to a ten-year-old``), the length (``in two sentences``, ``briefly``) and the earlier turns
of a conversation. The text only *describes* what a real model would say; it never pretends to
know facts. Token counts come from :func:`count_tokens`, the one tokenizer, so ``usage`` always
matches the text a client received.
"""

from __future__ import annotations

import hashlib
import re

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_DELTA = re.compile(r"\S+\s*|\s+")
_END_PUNCTUATION = " \t\n.,;:!?…"
_MAX_QUOTE = 70

_NUMBERS = {"one": 1, "a": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_SENTENCES = re.compile(r"\bin\s+(one|a|single|two|three|four|five|six|\d+)\s+(?:short\s+)?sentences?\b", re.I)
_WORDS = re.compile(r"\bin\s+(?:about\s+|under\s+)?(\d+)\s+words\b", re.I)
_BRIEF = re.compile(r"\b(briefly|brief|short|tl;?dr|in a nutshell|one-liner)\b", re.I)
_LONG = re.compile(r"\b(in detail|in depth|at length|thoroughly|step by step)\b", re.I)
_DEFAULT_SENTENCES = 3
_MAX_SENTENCES = 6

_ARTICLE_AUDIENCE = re.compile(
    r"\b(?:to|for)\s+((?:a|an|the|my|our|your|some)\s+[\w'-]+(?:\s+[\w'-]+){0,3}?)"
    r"(?=\s+(?:in|using|with|who|that|so|and|without)\b|\s*[.,;:!?)]|\s*$)",
    re.I,
)
_PLURAL_AUDIENCE = re.compile(
    r"\b(?:to|for)\s+((?:first-year\s+|young\s+|new\s+)?(?:students|children|kids|beginners|experts|engineers"
    r"|teachers|doctors|managers|parents|developers|scientists))\b",
    re.I,
)
_LEAD_IN = re.compile(r"^\s*(?:in\s+\w+\s+(?:short\s+)?(?:sentences?|words)\s*[:,]\s*|please\s+)", re.I)
_EXPLAIN = re.compile(
    r"^(?:explain|describe|define|summari[sz]e|tell me about|teach me about|write about)\s+"
    r"(?:in\s+\w+\s+(?:short\s+)?(?:sentences?|words)\s+)?(.+)$",
    re.I,
)
_WHAT_IS = re.compile(r"^(?:what|who)\s+(?:is|are|was|were)\s+(.+)$", re.I)
_TOPIC_TAIL = re.compile(
    r"\s+(?:to|for)\s+(?:a|an|the|my|our|your|some)\s.*$|\s+in\s+(?:one|a|two|three|four|five|six|\d+|simple)\b.*$",
    re.I,
)

_OPENINGS = [
    "Here is a sandbox answer about {topic}{for_whom}.",
    "You asked about {topic}{for_whom}; this is the local sandbox replying.",
    "A short, simulated take on {topic}{for_whom}.",
    "Thinking about {topic}{for_whom}, in a pretend way.",
]
_BODY = [
    "A real model would start with the core idea, then give a concrete example and a common pitfall.",
    "On the real API you would now get an explanation tailored to your wording and level.",
    "In a live session this is where the model would break the topic into two or three clear steps.",
    "A real answer would define the key terms first and then connect them with an everyday analogy.",
    "It would then give one example you could check for yourself.",
    "It would end by saying where the simple picture stops being true.",
]
_BODY_STARTS = 4  # the sentences of _BODY that read well right after the opening

_FOR_AUDIENCE = [
    "Written for {audience}, a real answer would use words {audience} already knows and skip the jargon.",
    "For {audience}, a real model would pick an example from {owner} everyday life.",
    "It would check that {audience} can follow each step before moving on.",
    "The sandbox only notes the audience ({audience}); a real model would change the explanation itself.",
]
_CLOSINGS = [
    "(Sandbox text: chosen by a hash of your prompt, so the same prompt always gives the same reply; "
    "no model wrote it.)",
    "(Generated locally and deterministically by the sandbox: handy for tests and lessons, not for facts.)",
    "(Connect a real API key for genuine answers; until then these words are placeholders chosen by a hash.)",
]


def count_tokens(text):
    """Words and punctuation marks: a simple, documented stand-in for a real tokenizer."""
    return len(_TOKEN.findall(text or ""))


def _squash(text):
    return " ".join((text or "").split())


def _quote(text):
    """Text in curly quotes, without its trailing punctuation: the sentence around it adds its own."""
    words = _squash(text).rstrip(_END_PUNCTUATION)
    if not words:
        return "an empty prompt"
    if len(words) > _MAX_QUOTE:
        words = words[: _MAX_QUOTE - 3].rstrip(_END_PUNCTUATION) + "…"
    return "“" + words + "”"


def _first_sentence(text):
    head = re.split(r"(?<=[.?!])\s+", _squash(text), maxsplit=1)[0]
    return _LEAD_IN.sub("", head).strip()


def topic(text):
    """What the prompt is about: ``X`` of ``Explain X ...`` or ``What is X?``, else its first sentence quoted."""
    head = _first_sentence(text)
    for pattern in (_EXPLAIN, _WHAT_IS):
        match = pattern.match(head)
        if match:
            found = _TOPIC_TAIL.sub("", match.group(1)).strip(_END_PUNCTUATION)
            if found and len(found) <= _MAX_QUOTE:
                return found
    return _quote(head)


def audience(text):
    """Who the prompt wants the answer for (``to a ten-year-old``, ``for students``), or None."""
    match = _ARTICLE_AUDIENCE.search(text or "") or _PLURAL_AUDIENCE.search(text or "")
    return _squash(match.group(1)).rstrip(_END_PUNCTUATION) if match else None


def sentences_wanted(text, instructions=None):
    """How many sentences the prompt (or the instructions) asks for; three when it does not say."""
    asked = f"{text or ''}\n{instructions or ''}"
    match = _SENTENCES.search(asked)
    if match:
        word = match.group(1).lower()
        count = _NUMBERS.get(word) or int(word)
    elif (words := _WORDS.search(asked)) is not None:
        count = -(-int(words.group(1)) // 15)
    elif _BRIEF.search(asked):
        count = 1
    elif _LONG.search(asked):
        count = _MAX_SENTENCES
    else:
        count = _DEFAULT_SENTENCES
    return max(1, min(_MAX_SENTENCES, count))


def _owner(who):
    return who + ("'" if who.endswith("s") else "'s")


def _continuation(history):
    """The opening of a later turn: which turn this is and what was asked before."""
    earlier = [text for role, text in history if role == "user"]
    if not earlier:
        return None
    turn = len(earlier) + 1
    if len(earlier) == 1:
        return f"Turn {turn} of this conversation, following your earlier question {_quote(earlier[0])}."
    return (
        f"Turn {turn} of this conversation: it began with {_quote(earlier[0])} "
        f"and your last question was {_quote(earlier[-1])}."
    )


def answer(model, text, instructions=None, history=()):
    """The full answer text; depends only on its arguments.

    ``history`` is the conversation before this prompt, as ``(role, text)`` pairs: a later turn
    says which turn it is and what was asked earlier, as a model that sees the thread would.
    """
    flat_history = "\x00".join(f"{role}:{said}" for role, said in history)
    seed = hashlib.sha256(f"{model}\x00{instructions or ''}\x00{text}\x00{flat_history}".encode()).digest()
    who = audience(text)
    for_whom = f", for {who}" if who else ""
    body = [_OPENINGS[seed[0] % len(_OPENINGS)].format(topic=topic(text), for_whom=for_whom)]
    pool = [s.format(audience=who, owner=_owner(who)) for s in _FOR_AUDIENCE] if who else []
    first = _BODY[seed[1] % _BODY_STARTS]
    pool += [first] + [sentence for sentence in _BODY if sentence != first]
    body += pool[: sentences_wanted(text, instructions) - 1]
    parts = [f"[sandbox {model}]"]
    continuation = _continuation(history)
    if continuation:
        parts.append(continuation)
    parts += body
    if instructions:
        parts.append(f"(Your instructions were noted: {_quote(instructions)}.)")
    parts.append(_CLOSINGS[seed[2] % len(_CLOSINGS)])
    return " ".join(parts)


def reasoning(model, text):
    """Fake reasoning content for reasoning-capable models."""
    return f"[sandbox {model} reasoning] The question is {_quote(text)}. A real model would plan its answer here."


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
