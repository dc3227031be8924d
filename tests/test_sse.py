"""The SSE decoder and the event-stream reader, fed bytes split at every possible place.

Network reads split frames anywhere (inside a field name, between CR and LF, inside a UTF-8
character), so the properties here are checked over Hypothesis-chosen split points.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic._errors import (AuthError, RateLimited, ResponseFormatError,
                                 StreamInterrupted)
from freddy_magic._sse import SSEDecoder
from freddy_magic._stream import ResponseStream


def decode(chunks, **kw):
    decoder = SSEDecoder(**kw)
    out = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def split(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points + [len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


STREAM = ("\ufeff: keep-alive comment\r\n"
          "event: response.created\r\ndata: {\"thread_id\": \"thread_1\"}\r\n\r\n"
          "event: response.content_delta\rdata: {\"delta\": \"Grüße \"}\r\r"
          "id: 7\nretry: 100\nunknown: x\nevent: response.content_delta\ndata: {\"delta\":\ndata:  \"🙂\"}\n\n"
          "data\n\n"
          "event: response.completed\ndata:{\"response_id\": \"resp_1\"}\n\n").encode("utf-8")
EXPECTED = [("response.created", '{"thread_id": "thread_1"}'),
            ("response.content_delta", '{"delta": "Grüße "}'),
            ("response.content_delta", '{"delta":\n "🙂"}'),
            ("message", ""),  # a bare "data" line is a field with an empty value (WHATWG)
            ("response.completed", '{"response_id": "resp_1"}')]


def test_whole_stream_with_bom_comments_crlf_cr_multiline_and_unknown_fields():
    assert decode([STREAM]) == EXPECTED


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_any_chunk_boundaries_give_the_same_events(cuts):
    assert decode(split(STREAM, cuts)) == EXPECTED


def test_byte_at_a_time_and_cr_lf_split_across_reads():
    assert decode([bytes([b]) for b in STREAM]) == EXPECTED
    assert decode([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [("message", "a\nb")]


def test_event_without_blank_line_at_eof_is_not_dispatched_and_empty_data_is_skipped():
    assert decode([b"event: x\n\ndata: partial"]) == []
    assert decode([b"data:\n\n"]) == [("message", "")]


def test_overlong_line_is_refused():
    with pytest.raises(ResponseFormatError, match="exceeds"):
        decode([b"data: " + b"x" * 5000], max_line=1024)


class FakeRaw:
    """Stands in for urllib3's response: read1 hands out the scripted pieces in order."""

    def __init__(self, pieces, fail=None):
        self.pieces = list(pieces)
        self.fail = fail

    def read1(self, amt=None, decode_content=True):
        if self.pieces:
            return self.pieces.pop(0)
        if self.fail is not None:
            raise self.fail
        return b""


class FakeResponse:
    def __init__(self, pieces, fail=None):
        self.raw = FakeRaw(pieces, fail)
        self.closed = False

    def close(self):
        self.closed = True


def frames(*events):
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]


def stream_of(pieces, fail=None):
    ticks = iter(range(1000))
    return ResponseStream(FakeResponse(pieces, fail), model="m", started=0.0,
                          clock=lambda: float(next(ticks)), deadline=None, idle_timeout=5,
                          retries=0, max_line=4096)


@pytest.mark.parametrize("family", [
    ("response.content_delta", "response.completed"),
    ("response.output_text.delta", "response.completed"),
])
def test_both_vocabularies_give_text_and_a_completion(family):
    delta, done = family
    pieces = frames(("response.created", {"thread_id": "thread_9"}), (delta, {"delta": "Hel"}),
                    (delta, {"index": 0, "delta": "lo"}),
                    (done, {"response_id": "resp_9", "stop_reason": "end_turn",
                            "usage": {"input_tokens": 1, "output_tokens": 2}}))
    with stream_of(pieces) as stream:
        assert list(stream.text_deltas()) == ["Hel", "lo"]
        assert stream.thread_id == "thread_9"
    done = stream.completion
    assert (done.text, done.thread_id, done.response_id, done.output_tokens) == ("Hello", "thread_9", "resp_9", 2)
    assert done.ttft_s is not None and done.ttft_s <= done.latency_s


def test_event_name_from_json_when_the_sse_event_field_is_absent():
    pieces = [b'data: {"type": "response.output_text.delta", "delta": "x"}\n\n',
              b'data: {"event": "response.completed", "response": [{"type": "text", "text": "x"}]}\n\n']
    stream = stream_of(pieces)
    assert list(stream.text_deltas()) == ["x"] and stream.completion.text == "x"


def test_stream_ending_without_completed_keeps_the_partial_text():
    stream = stream_of(frames(("response.content_delta", {"delta": "par"}),
                              ("response.content_delta", {"delta": "tial"})))
    got = []
    with pytest.raises(StreamInterrupted) as info:
        for piece in stream.text_deltas():
            got.append(piece)
    assert got == ["par", "tial"] and info.value.partial_text == "partial"


def test_connection_lost_mid_stream_is_interrupted_with_partial_text():
    stream = stream_of(frames(("response.content_delta", {"delta": "abc"})), fail=ConnectionResetError())
    with pytest.raises(StreamInterrupted, match="connection was lost") as info:
        list(stream)
    assert info.value.partial_text == "abc" and info.value.__context__ is None


@pytest.mark.parametrize("data, cls", [
    ({"status": "failed", "message": "Rate limit exceeded"}, RateLimited),
    ({"status": "failed", "error": {"code": "TOKEN_EXPIRED", "message": "expired"}}, AuthError),
])
def test_error_events_raise_the_matching_error(data, cls):
    stream = stream_of(frames(("response.content_delta", {"delta": "a"}), ("response.error", data)))
    with pytest.raises(cls):
        list(stream)


def test_first_delta_is_yielded_before_the_rest_of_the_stream_arrives():
    pieces = frames(("response.content_delta", {"delta": "first"}))
    stream = stream_of(pieces + [b"event: response.completed\n", b"data: {}\n\n"])
    it = stream.text_deltas()
    assert next(it) == "first"
    assert len(stream._response.raw.pieces) == 2  # nothing after the first frame was read yet
    assert list(it) == [] and stream.completion is not None


def test_bad_json_in_event_is_a_format_error():
    with pytest.raises(ResponseFormatError):
        list(stream_of([b"event: response.content_delta\ndata: {not json\n\n"]))


def test_total_stream_cap():
    stream = ResponseStream(FakeResponse([b": " + b"x" * 100 + b"\n"] * 20), model="m", started=0.0,
                            clock=lambda: 0.0, deadline=None, idle_timeout=5, retries=0,
                            max_line=4096, max_stream=1000)
    with pytest.raises(StreamInterrupted, match="exceeded"):
        list(stream)
