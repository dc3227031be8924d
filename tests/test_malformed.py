"""Malformed and hostile answers (§4.K, T-F7): every one ends in a defined outcome.

Good answers are recorded from the sandbox through a forwarding server and then damaged
(wrong shapes, CRLF, BOM, comments, truncation, gigantic lines), so the tests do not depend on
guessing the API's shapes. A defined outcome is a result or one of our typed errors, within the
deadline, with no secret in the message and no library exception chained to it.
"""

import json
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic._auth import Credential
from freddy_magic._errors import FreddyError, ResponseFormatError, StreamInterrupted
from freddy_magic.testing import find_canary

from .hostile import HostileServer, Reply, forward

RESPONSE = "/v1/model/response"
FAST = {"connect": 2.0, "read": 2.0, "total": 8.0, "stream_idle": 2.0, "token": 2.0}


def _client(url, key, **kw):
    from freddy_magic._client import FreddyClient

    kw.setdefault("timeouts", FAST)
    return FreddyClient(url, Credential.api_key(key), **kw)


def _damaging(sandbox, damage):
    """A server that forwards the model call to the sandbox and damages the answer."""

    def script(seen):
        reply = forward(seen, sandbox.url)
        return damage(reply) if seen.path == RESPONSE else reply

    return script


def _outcome(client, call):
    try:
        return call(client), None
    except FreddyError as exc:
        assert exc.__context__ is None and exc.__cause__ is None, "a library exception rides along"
        return None, exc


@pytest.mark.parametrize("body,ctype", [
    (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    (b"{not json", "application/json"),
    (b"", "application/json"),
    (b"[]", "application/json"),
    (b'{"response": 5}', "application/json"),
    (b'{"response": [{"type": "text"}]}', "application/json"),
    (b'"just a string"', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
], ids=["html", "invalid", "empty", "list", "wrong-type", "missing-text", "string", "binary"])
def test_k1_k2_bad_success_bodies_give_a_clean_typed_error(body, ctype, canary):
    with HostileServer(Reply(200, headers={"Content-Type": ctype}, body=body)) as api:
        client = _client(api.url, canary.value)
        result, error = _outcome(client, lambda c: c.create_response("hi"))
        client.close()
    if error is None:
        assert isinstance(result.text, str)  # a lenient parse is allowed only if it yields text
    else:
        assert isinstance(error, ResponseFormatError), type(error)
        assert "KeyError" not in str(error) and "Traceback" not in str(error)


def test_f7_error_body_echoing_our_headers_is_redacted_and_short(canary):
    echo = json.dumps({"detail": f"bad request; you sent api-key: {canary.value}; Authorization: Bearer {canary.value}"
                       + " pad" * 2000}).encode()
    with HostileServer(Reply(400, body=echo)) as api:
        client = _client(api.url, canary.value)
        _result, error = _outcome(client, lambda c: c.create_response("hi"))
        client.close()
    assert error is not None and error.status == 400
    assert find_canary([str(error), repr(error), repr(error.args)], canary.value) == []
    assert len(str(error)) <= 2100


@settings(max_examples=60)
@given(pad=st.integers(0, 2200), ctype=st.sampled_from(["text/plain", "text/html", "application/json"]))
def test_f7_echoed_key_straddling_the_excerpt_cut_is_not_half_shown(pad, ctype):
    """Truncating before redacting leaves the head of a key that no longer matches by value."""
    secret = "fm-canary-" + "6b" * 16
    body = ("x" * pad + "echo " + secret + " tail").encode()
    with HostileServer(Reply(500, headers={"Content-Type": ctype}, body=body)) as api:
        client = _client(api.url, secret, max_retries=0)
        _result, error = _outcome(client, lambda c: c.create_response("hi"))
        client.close()
    assert error is not None
    assert find_canary(str(error), secret) == [], str(error)[-200:]


def _recorded_stream(sandbox):
    holder = {}

    def keep(reply):
        holder["body"] = reply.body
        return reply

    with HostileServer(_damaging(sandbox, keep)) as api:
        client = _client(api.url, sandbox.api_key)
        with client.stream_response("tell me something") as stream:
            text = "".join(stream.text_deltas())
        client.close()
    return holder["body"], text


@pytest.mark.parametrize("damage", [
    lambda b: b.replace(b"\n", b"\r\n"),
    lambda b: b.replace(b"\n", b"\r"),
    lambda b: b"\xef\xbb\xbf" + b,
    lambda b: b.replace(b"event:", b": a comment line\nid: 7\nretry: 10\nunknown: x\nevent:"),
    lambda b: b.replace(b"\n\n", b"\n\ndata:\n\n", 1),
], ids=["crlf", "cr", "bom", "comments-unknown-fields", "empty-data"])
def test_k4_sse_variants_allowed_by_the_spec_parse_to_the_same_text(sandbox, damage):
    body, text = _recorded_stream(sandbox)
    with HostileServer(_damaging(sandbox, lambda r: Reply(r.status, r.headers, damage(body)))) as api:
        client = _client(api.url, sandbox.api_key)
        with client.stream_response("tell me something") as stream:
            assert "".join(stream.text_deltas()) == text
        client.close()


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
@pytest.mark.parametrize("chunked_end", [True, False], ids=["clean-end", "cut-chunked"])
def test_k3_truncated_stream_keeps_partial_text_and_is_not_retried(sandbox, cut, chunked_end):
    body, text = _recorded_stream(sandbox)
    head = body[: body.find(b"response.completed")] if b"response.completed" in body else body
    head = head[: int(len(head) * cut)] if cut < 0.9 else head
    reply = Reply(200, {"Content-Type": "text/event-stream"}, [head], chunked=True, finish_chunked=chunked_end)
    with HostileServer(_damaging(sandbox, lambda r: reply)) as api:
        client = _client(api.url, sandbox.api_key)
        shown = []
        with pytest.raises(StreamInterrupted) as info:
            with client.stream_response("tell me something") as stream:
                for delta in stream.text_deltas():
                    shown.append(delta)
        client.close()
        assert api.count(RESPONSE) == 1
    assert info.value.partial_text == "".join(shown)
    assert text.startswith(info.value.partial_text)


def _endless(chunk, count):
    for _ in range(count):
        yield chunk


@pytest.mark.parametrize("kind", ["json-200MB", "sse-10MB-line", "sse-endless"])
def test_k5_huge_bodies_are_capped_with_bounded_memory(sandbox, kind):
    if kind == "json-200MB":
        reply = Reply(200, {"Content-Type": "application/json"}, _endless(b" " * (1 << 20), 200))
        call = lambda c: c.create_response("hi")  # noqa: E731
    elif kind == "sse-10MB-line":
        reply = Reply(200, {"Content-Type": "text/event-stream"},
                      [b"event: response.content_delta\ndata: {\"delta\": \"", *_endless(b"a" * (1 << 20), 10), b"\"}\n\n"])
        call = lambda c: list(c.stream_response("hi").text_deltas())  # noqa: E731
    else:
        delta = b'event: response.content_delta\ndata: {"delta": "more "}\n\n'
        reply = Reply(200, {"Content-Type": "text/event-stream"}, _endless(delta * 2000, 100000))
        call = lambda c: list(c.stream_response("hi").text_deltas())  # noqa: E731
    with HostileServer(_damaging(sandbox, lambda r: reply)) as api:
        client = _client(api.url, sandbox.api_key, max_retries=0)
        tracemalloc.start()
        try:
            _result, error = _outcome(client, call)
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        client.close()
    assert error is not None, "an oversized answer was accepted"
    assert isinstance(error, (ResponseFormatError, StreamInterrupted)) or "deadline" in str(error)
    assert peak < 64 * (1 << 20), f"peak memory {peak >> 20} MB while reading a capped body"


def test_k7_odd_response_headers_do_not_break_parsing(sandbox, canary):
    def damage(reply):
        headers = dict(reply.headers)
        headers.update({"X-Long": "v" * 60000, "X-Echo": f"api-key={canary.value}", "X-Unicode": "caf\u00e9"})
        return Reply(reply.status, headers, reply.body)

    with HostileServer(_damaging(sandbox, damage)) as api:
        client = _client(api.url, sandbox.api_key)
        result, error = _outcome(client, lambda c: c.create_response("hi"))
        client.close()
    assert error is None or find_canary(str(error), canary.value) == []


STATUSES = [200, 201, 204, 301, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504]
BODIES = st.one_of(st.binary(max_size=300), st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(
    st.sampled_from(["response", "error", "detail", "success", "message", "code", "text"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=30), st.lists(st.text(max_size=5), max_size=3)), max_size=4)))


@settings(max_examples=120)
@given(script=st.lists(st.tuples(st.sampled_from(STATUSES), BODIES,
                                 st.sampled_from(["application/json", "text/html", "text/event-stream", ""]),
                                 st.sampled_from([{}, {"Retry-After": "0"}, {"Retry-After": "99999"}, {"retry-after-ms": "1"}])),
                       min_size=1, max_size=4),
       stream=st.booleans())
def test_k8_response_fuzz_always_ends_in_a_defined_outcome(script, stream):
    secret = "fm-canary-" + "7c" * 16
    replies = [Reply(status, {"Content-Type": ctype, **extra} if ctype else dict(extra), body + secret.encode())
               for status, body, ctype, extra in script]
    sleeps = []
    with HostileServer(replies) as api:
        client = _client(api.url, secret, sleep=sleeps.append)

        def call(c):
            if stream:
                with c.stream_response("hi") as s:
                    return "".join(s.text_deltas())
            return c.create_response("hi").text

        result, error = _outcome(client, call)
        client.close()
        attempts = api.count()
    assert attempts <= 4, f"{attempts} attempts"
    assert sum(sleeps) <= 90
    if error is not None:
        assert find_canary([str(error), repr(error)], secret) == []
