"""The recording format: what a line holds and never holds, and how damaged files are read."""

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freddy_magic import _redaction
from freddy_magic._errors import ConfigError
from freddy_magic._payloads import Completion
from freddy_magic._recording import FORMAT, Entry, Recorder, Recording, SecretInEntry, make_entry, request_key


def _entry(prompt="What is rain?", model="ftg-3.0", text="Rain is water.", **answer):
    completion = Completion(text=text, response_id="resp_1", thread_id="thread_1", model=model, **answer)
    return make_entry(request_key(prompt, {"model": model}), completion, host="api.example", sandbox=False)


def test_request_key_drops_only_what_does_not_change_the_answer():
    key = request_key(
        "Hi", {"model": "ftg-3.0", "temperature": 0.2, "stream": True, "organization_id": "org_1", "thread_id": "t_1"}
    )
    assert "stream" not in key and "organization_id" not in key
    assert key["temperature"] == 0.2 and key["thread_id"] == "t_1" and key["model"] == "ftg-3.0"
    assert request_key("Hi", {"model": "ftg-3.0"}) != request_key("Hi", {"model": "gpt-4o"})
    assert request_key("Hi", {"instructions": "be brief"}) != request_key("Hi", {})


def test_a_line_is_sorted_json_with_the_answer_and_where_it_came_from(tmp_path):
    recorder = Recorder(tmp_path / "r.jsonl")
    entry = _entry(input_tokens=3, output_tokens=None, stop_reason="max_tokens")
    recorder.write(entry)
    recorder.close()
    line = (tmp_path / "r.jsonl").read_text()
    assert line.endswith("\n") and line.count("\n") == 1
    data = json.loads(line)
    assert list(data) == sorted(data) and list(data["answer"]) == sorted(data["answer"])
    assert data["format"] == FORMAT and data["host"] == "api.example" and data["sandbox"] is False
    assert data["answer"]["stop_reason"] == "max_tokens" and data["answer"]["output_tokens"] is None
    assert data["recorded_at"].endswith("+00:00")


def test_recorded_answers_come_back_as_the_same_completion(tmp_path):
    recorder = Recorder(tmp_path / "r.jsonl")
    recorder.write(_entry(input_tokens=3, output_tokens=7, stop_reason="end_turn"))
    recorder.close()
    recording = Recording.load(tmp_path / "r.jsonl")
    found = recording.find(request_key("What is rain?", {"model": "ftg-3.0"}))
    assert found is not None
    completion = found.completion()
    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("Rain is water.", 3, 7)
    assert (completion.response_id, completion.thread_id, completion.stop_reason) == ("resp_1", "thread_1", "end_turn")
    assert recording.find(request_key("What is snow?", {"model": "ftg-3.0"})) is None


def test_the_same_request_asked_again_gets_the_next_recorded_answer_then_the_last(tmp_path):
    recording = Recording(tmp_path / "r.jsonl")
    for text in ("first", "second"):
        recording.add(_entry(text=text))
    key = request_key("What is rain?", {"model": "ftg-3.0"})
    assert [recording.find(key).answer["text"] for _ in range(4)] == ["first", "second", "second", "second"]


@pytest.mark.security
def test_an_entry_holding_a_live_secret_is_refused_and_nothing_is_written(tmp_path, canary):
    _redaction.register(canary.value)
    try:
        recorder = Recorder(tmp_path / "r.jsonl")
        for text in (f"the key is {canary.value}", f"encoded: {json.dumps(canary.value)[1:-1]}"):
            with pytest.raises(SecretInEntry) as caught:
                recorder.write(_entry(text=text))
            canary.assert_absent([str(caught.value)])
    finally:
        _redaction.forget(canary.value)
    with pytest.raises(SecretInEntry):
        recorder.write(_entry(prompt="scoped to org_5f0a9c1d2e3b4a59"), forbidden=["org_5f0a9c1d2e3b4a59"])
    recorder.close()
    assert (tmp_path / "r.jsonl").read_text() == ""


def test_corrupt_and_hand_edited_lines_are_named_and_the_others_still_serve(tmp_path):
    good = _entry().line()
    path = tmp_path / "lesson.jsonl"
    path.write_text(
        "\n".join(
            [
                good,
                '{"format": 1, "request": {"model": "x"',  # cut short
                "[1, 2]",
                json.dumps({"format": 1, "request": {}, "answer": {"text": 5}}),
                json.dumps({"format": 1, "request": {}, "answer": {}, "deltas": [["soon", "x"]]}),
                "",
                _entry(prompt="What is snow?", text="Snow is ice.").line(),
            ]
        )
        + "\n"
    )
    recording = Recording.load(path)
    assert recording.count == 2
    assert [note.split(":")[0] for note in recording.skipped] == [f"lesson.jsonl line {n}" for n in (2, 3, 4, 5)]
    assert recording.find(request_key("What is snow?", {"model": "ftg-3.0"})).answer["text"] == "Snow is ice."


def test_a_recording_from_a_newer_format_is_refused_as_a_whole(tmp_path):
    path = tmp_path / "new.jsonl"
    path.write_text(_entry().line() + "\n" + json.dumps({"format": FORMAT + 1, "request": {}, "answer": {}}) + "\n")
    with pytest.raises(ConfigError, match=f"newer freddy_magic \\(format {FORMAT + 1}"):
        Recording.load(path)


def test_a_missing_recording_is_a_clear_error_unless_it_may_be_made_now(tmp_path):
    with pytest.raises(ConfigError, match="No recording at"):
        Recording.load(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match="is a folder"):
        Recording.load(tmp_path)
    assert Recording.load(tmp_path / "nope.jsonl", missing_ok=True).count == 0


def test_writes_from_many_threads_are_whole_lines(tmp_path):
    recorder = Recorder(tmp_path / "r.jsonl")
    long_text = "word " * 5000  # larger than any pipe or buffer chunk

    def write(n):
        for i in range(20):
            recorder.write(_entry(prompt=f"q {n} {i}", text=long_text))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    recording = Recording.load(tmp_path / "r.jsonl")
    assert recording.count == 160 and recording.skipped == [] and recorder.written == 160


def test_a_stopped_recorder_refuses_to_write(tmp_path):
    recorder = Recorder(tmp_path / "r.jsonl")
    recorder.close()
    with pytest.raises(ConfigError, match="was stopped"):
        recorder.write(_entry())


def test_a_recording_that_cannot_be_opened_says_where(tmp_path):
    with pytest.raises(ConfigError, match="Cannot record to"):
        Recorder(tmp_path / "no-such-folder" / "r.jsonl")


@given(st.text(max_size=200))
def test_any_line_is_an_entry_or_a_named_skip(tmp_path_factory, line):
    path = tmp_path_factory.mktemp("fuzz") / "r.jsonl"
    path.write_text(" ".join(line.splitlines()) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        recording = Recording.load(path)
    except ConfigError as exc:
        assert "newer freddy_magic" in str(exc)
        return
    assert recording.count + len(recording.skipped) <= 1


def test_streamed_pieces_keep_their_timing_rounded(tmp_path):
    entry = Entry(
        request={"model": "m"},
        answer={"text": "ab"},
        recorded_at="2026-01-01T00:00:00+00:00",
        host="h",
        sandbox=True,
        deltas=[(0.123456, "a"), (0.5, "b")],
    )
    assert json.loads(entry.line())["deltas"] == [[0.1235, "a"], [0.5, "b"]]
