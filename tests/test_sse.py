"""The SSE decoder, fed bytes split at every possible place.

Network reads split frames anywhere (inside a field name, between CR and LF, inside a UTF-8
character), so the properties here are checked over Hypothesis-chosen split points.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic._errors import ResponseFormatError
from freddy_magic._sse import SSEDecoder


def decode(chunks, **kw):
    decoder = SSEDecoder(**kw)
    out = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def split(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


STREAM = (
    "\ufeff: keep-alive comment\r\n"
    'event: response.created\r\ndata: {"thread_id": "thread_1"}\r\n\r\n'
    'event: response.content_delta\rdata: {"delta": "Grüße "}\r\r'
    'id: 7\nretry: 100\nunknown: x\nevent: response.content_delta\ndata: {"delta":\ndata:  "🙂"}\n\n'
    "data\n\n"
    'event: response.completed\ndata:{"response_id": "resp_1"}\n\n'
).encode("utf-8")
EXPECTED = [
    ("response.created", '{"thread_id": "thread_1"}'),
    ("response.content_delta", '{"delta": "Grüße "}'),
    ("response.content_delta", '{"delta":\n "🙂"}'),
    ("message", ""),  # a bare "data" line is a field with an empty value (WHATWG)
    ("response.completed", '{"response_id": "resp_1"}'),
]


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
