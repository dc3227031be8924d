"""The one body reader under plain and streamed answers: limits, failures and how they surface.

Each failure is scripted on a stand-in for urllib3's response (``read1`` hands out pieces, then
raises) or on a real ``urllib3.HTTPResponse`` over bytes, for compressed bodies. The same
failure is then read both ways, plain and streamed, to check that the two paths classify it the
same and differ only in the error that carries it (a streamed one keeps the partial text).
"""

import gzip
import io

import pytest
import requests
import urllib3

from freddy_magic._body import BodyReader, read_body
from freddy_magic._errors import ConnectionFailed, ResponseFormatError, StreamInterrupted, Timeout
from freddy_magic._stream import ResponseStream


class Raw:
    """``read1`` hands out the scripted pieces, then raises ``fail`` (or ends)."""

    def __init__(self, pieces, fail=None):
        self.pieces = list(pieces)
        self.fail = fail
        self.reads = 0

    def read1(self, amt=None, decode_content=True):
        self.reads += 1
        if self.pieces:
            return self.pieces.pop(0)
        if self.fail is not None:
            raise self.fail
        return b""


class Response:
    def __init__(self, raw):
        self.raw = raw
        self.closed = False

    def close(self):
        self.closed = True


class Clock:
    """Moves one second per reading, so deadlines can be placed between chunks."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def reader(pieces, fail=None, **kw):
    kw.setdefault("cap", 1 << 20)
    kw.setdefault("deadline", None)
    kw.setdefault("clock", Clock())
    response = Response(Raw(pieces, fail))
    return response, BodyReader(response, **kw)


def test_chunks_are_handed_on_as_they_arrive_without_reading_ahead():
    response, body = reader([b"a", b"b", b"c"])
    chunks = iter(body)
    assert next(chunks) == b"a" and response.raw.reads == 1
    assert list(chunks) == [b"b", b"c"] and not response.closed


def test_read_body_joins_the_chunks():
    assert read_body(Response(Raw([b"ab", b"cd"])), 10, None, Clock()) == b"abcd"
    assert read_body(Response(Raw([])), 10, None, Clock()) == b""


def test_the_size_cap_closes_and_raises_without_yielding_the_excess():
    response, body = reader([b"x" * 600, b"x" * 600], cap=1000)
    got = []
    with pytest.raises(ResponseFormatError, match=r"larger than 1000 bytes") as info:
        got.extend(body)
    assert got == [b"x" * 600] and response.closed and info.value.__context__ is None


def test_the_overall_deadline_ends_a_trickle():
    response, body = reader([b"{"] + [b" "] * 50, deadline=3.5)
    with pytest.raises(Timeout, match="overall deadline"):
        list(body)
    assert response.closed and response.raw.reads == 4


TIMEOUTS = [
    TimeoutError(),
    urllib3.exceptions.ReadTimeoutError(None, "/", "Read timed out."),
    requests.exceptions.ReadTimeout(),
]


@pytest.mark.parametrize("fail", TIMEOUTS, ids=lambda e: type(e).__name__)
def test_every_kind_of_read_timeout_is_a_timeout_naming_the_idle_limit(fail):
    response, body = reader([b"partial"], fail, idle_timeout=2.5)
    with pytest.raises(Timeout, match=r"data arrived for 2.5 s") as info:
        list(body)
    assert response.closed and info.value.__context__ is None and info.value.__cause__ is None


def test_a_timeout_at_the_deadline_is_reported_as_the_deadline():
    _response, body = reader([b"partial"], TimeoutError(), deadline=2.0, idle_timeout=120)
    with pytest.raises(Timeout, match="overall deadline"):
        list(body)


@pytest.mark.parametrize(
    "fail",
    [
        ConnectionResetError(),
        urllib3.exceptions.ProtocolError("Connection broken"),
        urllib3.exceptions.SSLError("bad record mac"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_broken_connection_is_connection_failed_with_only_the_class_name(fail):
    fail.args = (*fail.args, "api-key: ak_secret_0123456789abcdef")
    response, body = reader([b"partial"], fail)
    with pytest.raises(ConnectionFailed, match=type(fail).__name__) as info:
        list(body)
    assert "ak_secret" not in str(info.value) and info.value.__context__ is None and response.closed


def test_errors_outside_the_library_families_are_not_swallowed():
    _response, body = reader([], KeyError("a bug of ours"))
    with pytest.raises(KeyError):
        list(body)


def _gzip_response(data):
    raw = urllib3.HTTPResponse(
        body=io.BytesIO(data), headers={"Content-Encoding": "gzip"}, status=200, preload_content=False
    )
    return Response(raw)


def test_a_compression_bomb_stops_at_the_cap_on_decoded_bytes():
    bomb = gzip.compress(b"\0" * (16 << 20))  # 16 MB of zeros in ~16 KB
    response = _gzip_response(bomb)
    with pytest.raises(ResponseFormatError, match="larger than 1 MB"):
        read_body(response, 1 << 20, None, Clock())
    assert response.closed


def test_a_corrupt_compressed_body_is_a_format_error():
    with pytest.raises(ResponseFormatError, match="could not be decoded") as info:
        read_body(_gzip_response(b"\x1f\x8b\x08\x00garbage-garbage-garbage"), 1 << 20, None, Clock())
    assert info.value.__context__ is None


def test_a_custom_error_factory_builds_every_failure():
    seen = []

    def error(kind, reason):
        seen.append(kind)
        return StreamInterrupted(reason, partial_text="so far")

    _response, body = reader([b"x" * 10], ConnectionResetError(), error=error)
    with pytest.raises(StreamInterrupted) as info:
        list(body)
    assert seen == [ConnectionFailed] and info.value.partial_text == "so far"


# -- plain and streamed answers read through the same reader ------------------------------------

DELTA = b'event: response.content_delta\ndata: {"delta": "par"}\n\n'
FAILURES = [
    (ConnectionResetError(), ConnectionFailed, "connection was lost"),
    (TimeoutError(), Timeout, "data arrived for 5 s"),
    (urllib3.exceptions.DecodeError("bad gzip"), ResponseFormatError, "could not be decoded"),
]


def _stream(response, deadline=None, **kw):
    """A stream over ``response`` with the reader's usual limits (a 5 s idle timeout, 4 KB lines)."""
    return ResponseStream(
        response,
        model="m",
        started=0.0,
        clock=Clock(),
        deadline=deadline,
        idle_timeout=5,
        retries=0,
        max_line=4096,
        **kw,
    )


@pytest.mark.parametrize("fail, kind, words", FAILURES, ids=lambda v: getattr(v, "__name__", None))
def test_plain_and_streamed_reads_classify_a_failure_alike(fail, kind, words):
    with pytest.raises(kind, match=words):
        read_body(Response(Raw([b'{"a": '], fail)), 1 << 20, None, Clock(), idle_timeout=5)
    stream = _stream(Response(Raw([DELTA], fail)))
    shown = []
    with pytest.raises(StreamInterrupted, match=words) as info:
        shown.extend(stream.text_deltas())
    assert shown == ["par"] and info.value.partial_text == "par"
    assert info.value.__context__ is None and stream._response is None  # closed


def test_a_stream_over_its_cap_or_deadline_keeps_what_arrived():
    pieces = [DELTA] * 10
    capped = _stream(Response(Raw(pieces)), max_stream=len(DELTA) * 3)
    with pytest.raises(StreamInterrupted, match="exceeded the size limit") as info:
        list(capped.text_deltas())
    assert info.value.partial_text == "par" * 3
    late = _stream(Response(Raw(pieces)), deadline=4.5)
    with pytest.raises(StreamInterrupted, match="overall deadline") as info:
        list(late.text_deltas())
    assert info.value.partial_text.startswith("par")


def test_an_event_iterator_dropped_early_closes_the_connection():
    response = Response(Raw([DELTA] * 3))
    stream = _stream(response)
    assert next(stream).delta == "par" and not response.closed
    stream._events.close()  # what garbage collection does to an abandoned iterator
    assert response.closed and stream.text == "par"


def test_bad_json_in_a_stream_event_is_a_format_error_without_the_data_attached():
    secret = "ak_secret_0123456789abcdef"
    piece = f"event: response.content_delta\ndata: {{{secret}\n\n".encode()
    stream = _stream(Response(Raw([piece])))
    with pytest.raises(ResponseFormatError) as info:
        list(stream)
    assert info.value.__context__ is None and secret not in str(info.value)
