"""``Sandbox(middleware=Misshapes(...))``: the named answers are bent, nothing else changes, and
the sandbox still refuses what it refused."""

import pytest

from freddy_magic.sandbox import Sandbox
from freddy_magic.sandbox._misshapes import SHAPES, Misshapes

from .http_api import SandboxHTTP, error_of, sse_events


@pytest.fixture
def bent():
    """``bent(*names) -> SandboxHTTP`` to a sandbox of its own serving those misshapes."""
    opened = []

    def make(*names):
        sb = Sandbox(rate_limit="100/60s", middleware=Misshapes(*names)).start()
        opened.append(sb)
        return SandboxHTTP(sb)

    yield make
    for sb in opened:
        sb.stop()


def test_an_unknown_misshape_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown misshapes \\['nope'\\]; known: models-renamed"):
        Misshapes("nope")
    assert len(SHAPES) == 29


def test_only_the_named_field_is_bent_and_the_length_is_kept_true(bent):
    plain, http = bent(), bent("models-count-as-text")
    expected, got = plain.get("/v1/models").json(), http.get("/v1/models")
    assert got.json()["total_count"] == str(expected["total_count"])
    assert {**got.json(), "total_count": expected["total_count"]} == expected
    assert int(got.headers["Content-Length"]) == len(got.content)


def test_bending_does_not_make_the_sandbox_accept_more(bent):
    http = bent(*SHAPES)  # error-as-500 turns the refusals into 500s: still refusals
    assert http.get("/v1/models", key=False).status_code == 401
    assert http.respond(temperature=3).status_code >= 400
    assert http.respond(model="no-such-model").status_code >= 400
    assert http.get("/v1/threads").json()["data"] == []  # nothing refused was stored


def test_errors_are_bent_only_by_the_error_misshapes(bent):
    http = bent("answer-success-as-text")
    error_of(http.respond(temperature=3), 422, "INVALID_FIELD_VALUE")
    bent_error = bent("error-without-code").respond(temperature=3)
    assert bent_error.status_code == 422 and "code" not in bent_error.json()["error"]


def test_a_bent_stream_is_still_a_stream_frame_by_frame(bent):
    plain = sse_events(bent().respond(stream=True).content)
    http = bent("data-only-frames", "done-after-completed")
    response = http.respond(stream=True)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    frames = response.content.decode().split("\n\n")[:-1]
    assert all(frame.startswith("data: ") and "\nevent:" not in frame for frame in frames)
    assert frames[-1] == "data: [DONE]" and len(frames) == len(plain) + 1
