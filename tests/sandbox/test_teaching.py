"""The sandbox as a teaching aid: answers that follow the prompt and the conversation, clean
punctuation, and per-model pacing that a lesson and a chart can show.

The answer texts are checked through HTTP where the behaviour is the API's (usage, threads),
and through the fake model's functions where the point is the wording. Pacing is checked by
its schedule (pure, deterministic) and, over HTTP, only as lower bounds: a wait the sandbox
promises can make a request slower than it, never faster, whatever the machine's load.
"""

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freddy_magic import ConfigError
from freddy_magic.sandbox import Sandbox, count_tokens
from freddy_magic.sandbox._fakemodel import answer, audience, sentences_wanted, topic
from freddy_magic.sandbox._models import MODELS
from freddy_magic.sandbox._pacing import SPEEDS, schedule

from .http_api import SandboxHTTP, sse_events

# After a closing quote or a sentence end, another sentence end: "for.”." or "sentence?." or "..".
DOUBLED = re.compile(r"[.?!…]”[.?!]|[.?!][.?!]|[.?!]\s+[.?!]|,\s*[.?!]|:\s*\.")


def text_of(response):
    return response.json()["response"][0]["text"]


def body_sentences(text):
    """The answer's own sentences: without the marker, the parenthesised notes and a turn line."""
    text = re.sub(r"^\[sandbox [^\]]+\] ", "", text)
    text = re.sub(r"\([^()]*\)", "", text)
    text = re.sub(r"^Turn \d+ of this conversation[^.]*\.", "", text.strip())
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


# what the prompt asks for ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("What is photosynthesis? Answer in one sentence.", "photosynthesis"),
        ("Explain photosynthesis to a ten-year-old in two sentences.", "photosynthesis"),
        ("Explain a p-value to a journalist in one sentence.", "a p-value"),
        ("Explain in two sentences what a Jupyter kernel is.", "what a Jupyter kernel is"),
        ("In three sentences: why keep a test set apart?", "“why keep a test set apart”"),
        ("Name one thing notebooks are good for.", "“Name one thing notebooks are good for”"),
    ],
)
def test_the_topic_is_read_from_the_prompt(prompt, expected):
    assert topic(prompt) == expected


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("Explain photosynthesis to a ten-year-old in two sentences.", "a ten-year-old"),
        ("Explain overfitting to a product manager in one sentence.", "a product manager"),
        ("Describe rain for first-year students.", "first-year students"),
        ("Which gas do plants take in for photosynthesis?", None),
        ("Name one thing notebooks are good for.", None),
    ],
)
def test_the_audience_is_read_from_the_prompt(prompt, expected):
    assert audience(prompt) == expected


@pytest.mark.parametrize(
    "prompt, instructions, expected",
    [
        ("Explain rain in one sentence.", None, 1),
        ("Explain rain in two sentences.", None, 2),
        ("In 4 sentences: what is rain?", None, 4),
        ("Explain rain in about 40 words.", None, 3),
        ("Explain rain.", "Be brief.", 1),
        ("Explain rain in detail.", None, 6),
        ("Explain rain.", None, 3),
        ("Explain rain in 99 sentences.", None, 6),
    ],
)
def test_the_length_asked_for_is_the_number_of_sentences(prompt, instructions, expected):
    assert sentences_wanted(prompt, instructions) == expected
    assert len(body_sentences(answer("ftg-3.0", prompt, instructions))) == expected


def test_changing_the_audience_changes_the_answer_not_only_the_echo():
    kid = answer("ftg-3.0", "Explain photosynthesis to a ten-year-old in two sentences.")
    farmer = answer("ftg-3.0", "Explain photosynthesis to a farmer in two sentences.")
    assert "a ten-year-old already knows" in kid and "a farmer already knows" in farmer
    assert "ten-year-old" not in farmer and "farmer" not in kid
    assert kid.startswith("[sandbox ftg-3.0] ") and farmer.startswith("[sandbox ftg-3.0] ")


@given(
    st.text(alphabet=st.sampled_from(list("abc xyz")), max_size=60),
    st.sampled_from(["", " to a farmer", " for students", " in two sentences", " briefly"]),
    st.sampled_from(["", ".", "?", "!", "…", "?!", ". ", ":", ","]),
    st.one_of(st.none(), st.sampled_from(["Be brief.", "Answer politely!", "Use plain words?", "Be kind"])),
)
def test_no_answer_doubles_its_punctuation(words, asks, ending, instructions):
    for prompt in (f"Explain {words}{asks}{ending}", f"What is {words}{ending}", f"{words}{asks}{ending}"):
        text = answer("gpt-4o", prompt, instructions, [("user", f"Why {words}{ending}"), ("assistant", "x")])
        assert not DOUBLED.search(text), text
        assert "“”" not in text and "  " not in text, text


# conversations -----------------------------------------------------------------------------------
def test_a_later_turn_refers_to_the_earlier_ones_and_pays_for_them(sandbox_http):
    first = sandbox_http.respond("Which gas do plants take in for photosynthesis?").json()
    thread_id = first["thread_id"]
    second = sandbox_http.respond("And which gas do they give off?", thread_id=thread_id).json()
    third = sandbox_http.respond("Why does that matter?", thread_id=thread_id).json()
    first_text, second_text, third_text = (b["response"][0]["text"] for b in (first, second, third))

    assert "Turn 2 of this conversation" in second_text
    assert "“Which gas do plants take in for photosynthesis”" in second_text
    assert "Turn 3" in third_text and "“And which gas do they give off”" in third_text
    assert "Turn" not in first_text
    history = ["Which gas do plants take in for photosynthesis?", first_text, "And which gas do they give off?"]
    assert second["usage"]["input_tokens"] == sum(map(count_tokens, history[:2])) + count_tokens(history[2])
    assert third["usage"]["input_tokens"] == (
        sum(map(count_tokens, history)) + count_tokens(second_text) + count_tokens("Why does that matter?")
    )
    assert first["usage"]["input_tokens"] < second["usage"]["input_tokens"] < third["usage"]["input_tokens"]


def test_the_same_question_in_another_conversation_is_answered_as_new(sandbox_http):
    thread_id = sandbox_http.respond("Which gas do plants take in?").json()["thread_id"]
    in_thread = text_of(sandbox_http.respond("Why?", thread_id=thread_id))
    fresh = text_of(sandbox_http.respond("Why?"))
    assert in_thread != fresh and "Turn" not in fresh
    assert text_of(sandbox_http.respond("Why?")) == fresh


def test_a_conversation_sent_in_one_request_counts_as_history(sandbox_http):
    inputs = [
        {"role": "user", "content": "Name a planet."},
        {"role": "assistant", "content": "Mars."},
        {"role": "user", "content": "How far is it?"},
    ]
    body = sandbox_http.post("/v1/model/response", json={"inputs": inputs}).json()
    assert (
        "Turn 2 of this conversation" in body["response"][0]["text"]
        and "“Name a planet”" in body["response"][0]["text"]
    )
    assert body["usage"]["input_tokens"] == sum(count_tokens(m["content"]) for m in inputs)


# pacing --------------------------------------------------------------------------------------------
def test_every_model_has_a_speed_and_the_speeds_differ():
    assert set(SPEEDS) == set(MODELS)
    assert len({speed.first_chunk for speed in SPEEDS.values()}) >= 6


def test_the_schedule_is_deterministic_scaled_by_pace_and_off_at_zero():
    first, waits = schedule("gpt-4o", "some answer", 20, 1.0)
    assert (first, waits) == schedule("gpt-4o", "some answer", 20, 1.0)
    assert first == SPEEDS["gpt-4o"].first_chunk and len(waits) == 19
    per_chunk = SPEEDS["gpt-4o"].per_chunk
    assert all(0.6 * per_chunk <= w < 1.4 * per_chunk for w in waits) and len(set(waits)) > 5
    double = schedule("gpt-4o", "some answer", 20, 2.0)
    assert double[0] == 2 * first and double[1] == pytest.approx([2 * w for w in waits])
    assert schedule("gpt-4o", "some answer", 20, 0) == (0.0, [0.0] * 19)
    assert schedule("claude-3-5-sonnet", "some answer", 20, 1.0)[0] > schedule("ftg-3.0", "some answer", 20, 1.0)[0]


def test_pace_is_a_knob_checked_like_the_others():
    with pytest.raises(ConfigError, match="pace must be a number >= 0"):
        Sandbox(pace=-1)
    sandbox = Sandbox()
    assert sandbox.pace == 0.0
    sandbox.pace = 1.5
    assert sandbox.pace == 1.5
    with pytest.raises(ConfigError, match="pace must be a number >= 0"):
        sandbox.pace = float("nan")
    assert sandbox.pace == 1.5


def test_a_paced_stream_waits_before_its_first_chunk_and_between_chunks():
    pace = 0.1
    with Sandbox(rate_limit=None, pace=pace) as sandbox, SandboxHTTP(sandbox) as http:
        body = {"inputs": [{"role": "user", "content": "Explain tides."}], "model": "claude-3-5-sonnet", "stream": True}
        started = time.perf_counter()
        with http.post("/v1/model/response", json=body, stream=True) as r:
            arrivals, raw = [], b""
            for chunk in r.iter_content(chunk_size=None):
                raw += chunk
                if b"response.content_delta" in chunk:
                    arrivals.append(time.perf_counter() - started)
        deltas = [d["delta"] for name, d in sse_events(raw) if name == "response.content_delta"]
        first, waits = schedule("claude-3-5-sonnet", "".join(deltas), len(deltas), pace)
        assert first == pytest.approx(0.08)
        assert arrivals[0] >= first and arrivals[-1] >= first + sum(waits)
        plain = {**body, "stream": False}
        started = time.perf_counter()
        assert http.post("/v1/model/response", json=plain).status_code == 200
        assert time.perf_counter() - started >= first + sum(waits)
