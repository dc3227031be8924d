"""A streamed answer: events read from the live connection as bytes arrive, and what is kept
when the stream breaks.

The reader is fed scripted pieces first (a stand-in for urllib3's response); then real streams
from the sandbox, recorded once and replayed through a hostile server with the variations the
SSE rules allow, cut at every point, or left idle.
"""

import json

import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic._errors import (
    APIError,
    AuthError,
    FreddyError,
    RateLimited,
    ResponseFormatError,
    StreamInterrupted,
    Timeout,
)
from freddy_magic._stream import ResponseStream
from freddy_magic.sandbox import Fault

from .clients import OK, RESP, SHORT_TIMEOUTS, client_for, key_client, timed
from .fakes import FakeClock, Sleeper
from .hostile import HostileServer, Reply, forward
from .json_values import HTTP_EXAMPLES, answers

RESPONSE = "/v1/model/response"


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
    return ResponseStream(
        FakeResponse(pieces, fail),
        model="m",
        started=0.0,
        clock=lambda: float(next(ticks)),
        deadline=None,
        idle_timeout=5,
        retries=0,
        max_line=4096,
    )


@pytest.mark.parametrize(
    "family",
    [
        ("response.content_delta", "response.completed"),
        ("response.output_text.delta", "response.completed"),
    ],
)
def test_both_vocabularies_give_text_and_a_completion(family):
    delta, done = family
    pieces = frames(
        ("response.created", {"thread_id": "thread_9"}),
        (delta, {"delta": "Hel"}),
        (delta, {"index": 0, "delta": "lo"}),
        (done, {"response_id": "resp_9", "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 2}}),
    )
    with stream_of(pieces) as stream:
        assert list(stream.text_deltas()) == ["Hel", "lo"]
        assert stream.thread_id == "thread_9"
    done = stream.completion
    assert (done.text, done.thread_id, done.response_id, done.output_tokens) == ("Hello", "thread_9", "resp_9", 2)
    assert done.ttft_s is not None and done.ttft_s <= done.latency_s


def test_event_name_from_json_when_the_sse_event_field_is_absent():
    pieces = [
        b'data: {"type": "response.output_text.delta", "delta": "x"}\n\n',
        b'data: {"event": "response.completed", "response": [{"type": "text", "text": "x"}]}\n\n',
    ]
    stream = stream_of(pieces)
    assert list(stream.text_deltas()) == ["x"] and stream.completion.text == "x"


def test_stream_ending_without_completed_keeps_the_partial_text():
    stream = stream_of(
        frames(("response.content_delta", {"delta": "par"}), ("response.content_delta", {"delta": "tial"}))
    )
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


@pytest.mark.parametrize(
    "data, cls",
    [
        ({"status": "failed", "message": "Rate limit exceeded"}, RateLimited),
        ({"status": "failed", "error": {"code": "TOKEN_EXPIRED", "message": "expired"}}, AuthError),
    ],
)
def test_error_events_raise_the_matching_error(data, cls):
    stream = stream_of(frames(("response.content_delta", {"delta": "a"}), ("response.error", data)))
    with pytest.raises(cls):
        list(stream)


def test_first_delta_is_yielded_before_the_rest_of_the_stream_arrives():
    pieces = frames(("response.content_delta", {"delta": "first"}))
    stream = stream_of([*pieces, b"event: response.completed\n", b"data: {}\n\n"])
    it = stream.text_deltas()
    assert next(it) == "first"
    assert len(stream._response.raw.pieces) == 2  # nothing after the first frame was read yet
    assert list(it) == [] and stream.completion is not None


def test_bad_json_in_event_is_a_format_error():
    with pytest.raises(ResponseFormatError):
        list(stream_of([b"event: response.content_delta\ndata: {not json\n\n"]))


def test_total_stream_cap():
    stream = ResponseStream(
        FakeResponse([b": " + b"x" * 100 + b"\n"] * 20),
        model="m",
        started=0.0,
        clock=lambda: 0.0,
        deadline=None,
        idle_timeout=5,
        retries=0,
        max_line=4096,
        max_stream=1000,
    )
    with pytest.raises(StreamInterrupted, match="exceeded"):
        list(stream)


def test_stream_request_answered_with_json_is_a_format_error(scripted, clock, sleeper):
    scripted.post(RESP, json=OK)
    with pytest.raises(ResponseFormatError, match="event stream"):
        key_client(clock, sleeper).stream_response("hi")


# real streams ----------------------------------------------------------------------------------
def test_truncated_stream_keeps_its_partial_text(sandbox):
    client = client_for(sandbox.url, sandbox.api_key)
    sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="truncate", after_deltas=3, times=1))
    got = []
    with pytest.raises(StreamInterrupted) as info, client.stream_response("tell me a story") as stream:
        for piece in stream.text_deltas():
            got.append(piece)
    assert len(got) == 3 and info.value.partial_text == "".join(got)
    assert sandbox.calls(RESPONSE) == 1


def test_error_event_mid_stream_raises_the_matching_error(shared_sandbox):
    client = client_for(shared_sandbox.url, shared_sandbox.api_key)
    shared_sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=500, after_deltas=2, times=1))
    with pytest.raises(APIError), client.stream_response("hi") as stream:
        list(stream)


def _damaging(sandbox, damage):
    """A script forwarding to the sandbox that damages the model call's answer."""

    def script(seen):
        reply = forward(seen, sandbox.url)
        return damage(reply) if seen.path == RESPONSE else reply

    return script


@pytest.fixture(scope="module")
def recorded_stream(shared_sandbox):
    """``(raw SSE body, text)`` of one real streamed answer (the sandbox's answers are deterministic)."""
    holder = {}

    def keep(reply):
        holder["body"] = reply.body
        return reply

    with HostileServer(_damaging(shared_sandbox, keep)) as api:
        client = client_for(api.url, shared_sandbox.api_key, timeouts=SHORT_TIMEOUTS)
        with client.stream_response("tell me something") as stream:
            text = "".join(stream.text_deltas())
        client.close()
    return holder["body"], text


@pytest.mark.security
@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b.replace(b"\n", b"\r\n"),
        lambda b: b.replace(b"\n", b"\r"),
        lambda b: b"\xef\xbb\xbf" + b,
        lambda b: b.replace(b"event:", b": a comment line\nid: 7\nretry: 10\nunknown: x\nevent:"),
        lambda b: b.replace(b"\n\n", b"\n\ndata:\n\n", 1),
    ],
    ids=["crlf", "cr", "bom", "comments-unknown-fields", "empty-data"],
)
def test_k4_sse_variants_allowed_by_the_spec_parse_to_the_same_text(shared_sandbox, recorded_stream, damage):
    body, text = recorded_stream
    with HostileServer(_damaging(shared_sandbox, lambda r: Reply(r.status, r.headers, damage(body)))) as api:
        client = client_for(api.url, shared_sandbox.api_key, timeouts=SHORT_TIMEOUTS)
        with client.stream_response("tell me something") as stream:
            assert "".join(stream.text_deltas()) == text
        client.close()


@pytest.mark.security
@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
@pytest.mark.parametrize("chunked_end", [True, False], ids=["clean-end", "cut-chunked"])
def test_k3_truncated_stream_keeps_partial_text_and_is_not_retried(shared_sandbox, recorded_stream, cut, chunked_end):
    body, text = recorded_stream
    head = body[: body.find(b"response.completed")] if b"response.completed" in body else body
    head = head[: int(len(head) * cut)] if cut < 0.9 else head
    reply = Reply(200, {"Content-Type": "text/event-stream"}, [head], chunked=True, finish_chunked=chunked_end)
    with HostileServer(_damaging(shared_sandbox, lambda r: reply)) as api:
        client = client_for(api.url, shared_sandbox.api_key, timeouts=SHORT_TIMEOUTS)
        shown = []
        with pytest.raises(StreamInterrupted) as info, client.stream_response("tell me something") as stream:
            for delta in stream.text_deltas():
                shown.append(delta)
        client.close()
        assert api.count(RESPONSE) == 1
    assert info.value.partial_text == "".join(shown)
    assert text.startswith(info.value.partial_text)


@pytest.mark.slow
@pytest.mark.security
def test_l4_stream_idle_timeout_keeps_the_partial_text():
    head = (
        b'event: response.created\ndata: {"status": "in_progress", "thread_id": "thread_1"}\n\n'
        b'event: response.content_delta\ndata: {"delta": "partial "}\n\n'
    )
    reply = Reply(200, {"Content-Type": "text/event-stream"}, [head, 30.0, b""], chunked=True)
    with HostileServer(reply) as api:
        client = client_for(
            api.url, "fm-canary-" + "3" * 32, timeouts={"read": 1.0, "stream_idle": 1.0, "total": 5.0}, max_retries=0
        )
        got = []

        def run():
            with client.stream_response("hi") as stream:
                got.extend(stream.text_deltas())

        error, took = timed(run)
        client.close()
    assert isinstance(error, (Timeout, StreamInterrupted)), error
    assert took < 3.5 and "".join(got) == "partial "
    if isinstance(error, StreamInterrupted):
        assert error.partial_text == "partial "


EVENT_NAMES = st.sampled_from(
    [
        "message",
        "response.created",
        "response.content_delta",
        "response.output_text.delta",
        "response.completed",
        "response.error",
        "response.failed",
        "response.cancelled",
        "something.else",
    ]
)


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=HTTP_EXAMPLES)
@given(events=st.lists(st.tuples(EVENT_NAMES, answers()), max_size=6))
def test_k2_k4_stream_events_of_any_json_give_text_and_a_completion_or_a_typed_error(events):
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
    with responses.RequestsMock() as server:
        server.add("POST", RESP, body=body, content_type="text/event-stream")
        client = key_client(FakeClock(), Sleeper())
        deltas, completion = [], None
        try:
            with client.stream_response("hi") as stream:
                deltas.extend(stream.text_deltas())
                completion = stream.completion
        except FreddyError:
            pass
        finally:
            client.close()
    assert all(isinstance(piece, str) and piece for piece in deltas)
    if completion is not None:
        assert isinstance(completion.text, str) and isinstance(completion.thread_id, (type(None), str))


# the newest documented framing: data-only frames, heartbeats, [DONE] ----------------------------
def data_only(*events):
    return [f"data: {json.dumps({'event': name, **data})}\n\n".encode() for name, data in events]


@pytest.mark.parametrize("completed", [True, False], ids=["completed-then-done", "done-alone"])
def test_done_line_ends_the_stream_with_or_without_completed(completed):
    """``[DONE]`` closes a stream; without a ``response.completed`` the answer is what the deltas said."""
    events = [
        ("response.processing", {"status": "processing"}),
        ("response.created", {"thread_id": "thread_7"}),
        ("heartbeat", {"type": "heartbeat"}),
        ("response.content_delta", {"delta": "Hel"}),
        ("heartbeat", {"type": "heartbeat"}),
        ("response.content_delta", {"delta": "lo"}),
    ]
    if completed:
        events.append(("response.completed", {"response_id": "resp_7", "response": [{"type": "text", "text": "x"}]}))
    stream = stream_of([*data_only(*events), b"data: [DONE]\n\n"])
    assert list(stream.text_deltas()) == ["Hel", "lo"]
    done = stream.completion
    assert (done.text, done.thread_id) == ("Hello", "thread_7")
    assert done.response_id == ("resp_7" if completed else None)
    assert done.input_tokens is None and done.output_tokens is None, "no usage: unknown, never 0"


def test_done_line_after_named_frames_and_a_comment_heartbeat():
    pieces = [*frames(("response.content_delta", {"delta": "a"})), b": keep-alive\n\n", b"data: [DONE]\n\n"]
    stream = stream_of(pieces)
    assert [e.type for e in stream] == ["response.content_delta", "response.completed"]
    assert stream.completion.text == "a"


def test_block_events_are_kept_for_the_completion():
    block = {"type": "tool_call", "tool_name": "get_weather", "arguments": {"city": "Bern"}, "success": True}
    stream = stream_of(
        data_only(
            ("response.content_delta", {"delta": "Sunny."}),
            ("response.block", {"block": block}),
            ("response.completed", {"response_id": "resp_1"}),
        )
    )
    assert "".join(stream.text_deltas()) == "Sunny."
    assert stream.completion.blocks == [block] and stream.completion.text == "Sunny."


def test_an_auth_error_as_the_first_event_is_handed_back_before_anything_is_shown():
    error = {"code": "TOKEN_EXPIRED", "message": "Your session has expired.", "status": 401}
    pieces = data_only(("response.processing", {}), ("response.error", {"status": "failed", "error": error}))
    stream = stream_of(pieces)
    failure = stream.opening_auth_failure()
    assert isinstance(failure, AuthError) and failure.code == "TOKEN_EXPIRED"


def test_a_normal_first_event_is_kept_for_iteration():
    stream = stream_of([*data_only(("heartbeat", {}), ("response.created", {"thread_id": "t1"})), b"data: [DONE]\n\n"])
    assert stream.opening_auth_failure() is None
    assert [e.type for e in stream] == ["heartbeat", "response.created", "response.completed"]


def test_an_auth_error_after_text_is_not_a_replay_case():
    pieces = data_only(("response.content_delta", {"delta": "partial"}), ("response.error", {"code": "TOKEN_EXPIRED"}))
    stream = stream_of(pieces)
    assert stream.opening_auth_failure() is None, "the first event was text: the stream goes on as it is"
    with pytest.raises(AuthError):
        list(stream.text_deltas())
    assert stream.text == "partial"
