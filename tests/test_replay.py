"""Record against the sandbox, replay with no network: the same rows, and nothing sent anywhere."""

import json

import pytest
from IPython.core.error import UsageError

from freddy_magic._payloads import Completion
from freddy_magic._recording import Entry, Recording
from freddy_magic._replay import MAX_REPLAY_S, Answers, ReplayStream
from freddy_magic.testing import find_canary

SAME = ("model", "prompt", "text", "response_id", "thread_id", "stop_reason", "status", "input_tokens", "output_tokens")


def _same(row):
    return {name: row[name] for name in SAME}


def _record(ip, path, cells):
    ip.run_line_magic("freddy", f"record {path}")
    rows = [ip.run_cell_magic("freddy", line, cell) for line, cell in cells]
    assert ip.run_line_magic("freddy", "record --stop")["title"] == "Recording stopped"
    return rows


CELLS = [
    ("", "Explain photosynthesis to a ten-year-old."),
    ("--no-stream -t 0.2", "What is rain?"),
    ("-m gpt-4o-mini,gpt-4o,claude-3-5-sonnet", "Explain gravity briefly."),
    ("-s 'Answer in one line.' --max-tokens 30", "What is snow?"),
]


@pytest.mark.security
def test_replay_gives_the_recorded_rows_with_the_sandbox_gone_and_no_connection(
    make_connected, tmp_path, monkeypatch, connections
):
    magics, sandbox = make_connected()
    path = tmp_path / "lesson.jsonl"
    recorded = _record(magics.shell, path, CELLS)
    sandbox.stop()
    monkeypatch.setenv("FREDDY_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    with connections.watch():
        status = magics.shell.run_line_magic("freddy_auth", f"--replay {path}")
        replayed = [magics.shell.run_cell_magic("freddy", line, cell) for line, cell in CELLS]
    assert connections.addresses == []
    assert "REPLAY" in status.line() and status["answers"] == 6 and "FAKE" in status["recorded_from"]
    flat = lambda rows: [row for item in rows for row in (item if isinstance(item, list) else [item])]
    assert [_same(row) for row in flat(replayed)] == [_same(row) for row in flat(recorded)]
    assert {row["source"] for row in flat(recorded)} == {"sandbox"}
    assert {row["source"] for row in flat(replayed)} == {"replay"}
    assert all(row["recorded_at"] for row in flat(replayed))
    with connections.watch():
        catalog = magics.shell.run_line_magic("freddy", "models")
    assert connections.addresses == []
    answers = {row["key"]: row["answers"] for row in catalog}
    assert answers == {"server default": 3, "claude-3-5-sonnet": 1, "gpt-4o": 1, "gpt-4o-mini": 1}
    assert "recorded: 3 answers" in catalog._repr_html_()


def test_a_chat_replays_turn_by_turn(make_connected, tmp_path):
    magics, sandbox = make_connected()
    ip, path = magics.shell, tmp_path / "chat.jsonl"
    turns = [("--chat", "What is a cell?"), ("--chat", "And what is inside it?")]
    recorded = _record(ip, path, turns)
    sandbox.stop()
    ip.run_line_magic("freddy_auth", f"--replay {path}")
    replayed = [ip.run_cell_magic("freddy", line, cell) for line, cell in turns]
    assert [_same(row) for row in replayed] == [_same(row) for row in recorded]
    assert replayed[1]["thread_id"] == replayed[0]["thread_id"]


def test_over_two_hundred_rows_record_and_replay_in_order(make_connected, tmp_path):
    magics, sandbox = make_connected(rate_limit=None)
    ip, path = magics.shell, tmp_path / "batch.jsonl"
    ip.user_ns["terms"] = [{"term": f"term number {n}"} for n in range(200)]
    cell = ("--over terms --concurrency 8", "Explain {term} briefly.")
    (recorded,) = _record(ip, path, [cell])
    assert len(path.read_text().splitlines()) == 200
    sandbox.stop()
    ip.run_line_magic("freddy_auth", f"--replay {path}")
    replayed = ip.run_cell_magic("freddy", *cell)
    assert [_same(row) for row in replayed] == [_same(row) for row in recorded]
    assert [row["term"] for row in replayed] == [f"term number {n}" for n in range(200)]


def test_a_request_not_recorded_is_one_line_naming_model_and_prompt(make_connected, tmp_path):
    magics, _sandbox = make_connected()
    ip, path = magics.shell, tmp_path / "one.jsonl"
    _record(ip, path, [("", "What is rain?")])
    ip.run_line_magic("freddy_auth", f"--replay {path}")
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("freddy", "-m gpt-4o", "What is rain? And why does it fall down from the clouds, mostly?")
    message = str(caught.value)
    assert "\n" not in message and "Not in the recording one.jsonl: gpt-4o" in message
    assert "'What is rain? And why does it fall down…'" in message and "--sandbox" in message


def test_with_sandbox_fallback_what_is_missing_comes_from_the_sandbox_labelled(make_connected, tmp_path):
    magics, _sandbox = make_connected()
    ip, path = magics.shell, tmp_path / "one.jsonl"
    _record(ip, path, [("", "What is rain?")])
    ip.run_line_magic("freddy_auth", f"--replay {path} --sandbox")
    hit, miss = ip.run_cell_magic("freddy", "", "What is rain?"), ip.run_cell_magic("freddy", "", "What is snow?")
    assert (hit["source"], miss["source"]) == ("replay", "sandbox")
    assert miss["text"].startswith("[sandbox ") and miss["recorded_at"] is None
    assert "answered by the sandbox" in ip.run_line_magic("freddy_auth", "--status")["not_recorded"]


def test_a_recorded_conversation_continues_on_the_sandbox_in_a_new_thread(make_connected, tmp_path):
    magics, _sandbox = make_connected()
    ip, path = magics.shell, tmp_path / "chat.jsonl"
    _record(ip, path, [("--chat", "What is a cell?")])
    ip.run_line_magic("freddy_auth", f"--replay {path} --sandbox")
    first = ip.run_cell_magic("freddy", "--chat", "What is a cell?")
    second = ip.run_cell_magic("freddy", "--chat", "Something the teacher never asked?")
    assert (first["source"], second["source"], second["status"]) == ("replay", "sandbox", "ok")
    assert second["thread_id"] != first["thread_id"]


def test_reuse_sends_only_what_the_recording_lacks_and_records_it(make_connected, tmp_path):
    magics, sandbox = make_connected()
    ip, path = magics.shell, tmp_path / "reuse.jsonl"
    _record(ip, path, [("", "What is rain?")])
    before = sandbox.calls("/v1/model/response")
    ip.run_line_magic("freddy", f"record {path} --reuse")
    rain, snow = ip.run_cell_magic("freddy", "", "What is rain?"), ip.run_cell_magic("freddy", "", "What is snow?")
    again = ip.run_cell_magic("freddy", "", "What is snow?")
    ip.run_line_magic("freddy", "record --stop")
    assert sandbox.calls("/v1/model/response") == before + 1
    assert (rain["source"], snow["source"], again["source"]) == ("replay", "sandbox", "replay")
    assert Recording.load(path).count == 2


@pytest.mark.security
def test_a_recording_holds_no_key_password_code_token_or_organization(make_connected, tmp_path, monkeypatch):
    magics, sandbox = make_connected()
    ip, path = magics.shell, tmp_path / "secrets.jsonl"
    _record(ip, path, [("", "What is rain?")])
    status = magics.session.begin_login(sandbox.email, sandbox.password)
    assert "code" in status
    code = sandbox.outbox()[-1]["code"]
    magics.session.finish_login(code)
    _record(ip, path, [("--no-stream", "What is snow?"), ("--chat", "What is hail?")])
    text = path.read_text()
    assert len(text.splitlines()) == 3
    for secret in (sandbox.api_key, sandbox.password, sandbox.organization_id):
        assert find_canary([path], secret) == []
    assert str(code) not in json.dumps([json.loads(line)["request"] for line in text.splitlines()])
    assert "eyJ" not in text and "Bearer" not in text and "api-key" not in text.lower()


@pytest.mark.security
def test_an_answer_that_would_record_a_live_secret_is_refused_and_said(connected, shared_sandbox, tmp_path):
    ip, path = connected.shell, tmp_path / "leak.jsonl"
    ip.user_ns["key"] = shared_sandbox.api_key
    ip.run_line_magic("freddy", f"record {path}")
    row = ip.run_cell_magic("freddy", "--no-stream", "Repeat this: {key}")
    ip.run_line_magic("freddy", "record --stop")
    assert row["status"] == "ok" and path.read_text() == ""
    said = [message["data"].get("text/plain", "") for message in ip.display_pub.messages]
    assert any("was not recorded: it would hold a key, token or organization id" in text for text in said)


def test_freddy_replay_comes_after_a_key_and_before_the_sandbox(magics, tmp_path, monkeypatch, shared_sandbox):
    path = tmp_path / "r.jsonl"
    magics.session.connect_key(shared_sandbox.api_key, "test")
    _record(magics.shell, path, [("", "What is rain?")])
    monkeypatch.delenv("FREDDY_API_KEY", raising=False)
    monkeypatch.setenv("FREDDY_REPLAY", str(path))
    monkeypatch.setenv("FREDDY_SANDBOX", "1")
    status = magics.shell.run_line_magic("freddy_auth", "")
    assert status["method"].startswith("replay") and "answered by the sandbox" in status["not_recorded"]
    assert magics.session.sandbox is not None  # the fallback for what is not recorded
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    status = magics.shell.run_line_magic("freddy_auth", "")
    assert status["method"] == "api-key" and magics.session.replay is None


def test_record_line_mistakes_are_one_line_errors(connected, tmp_path):
    ip = connected.shell
    for line, expected in [
        ("record", "needs the recording's path"),
        (f"record {tmp_path / 'a.jsonl'} --all", "does not take --all"),
        ("log somewhere", "takes one word"),
        (f"record {tmp_path / 'missing' / 'a.jsonl'}", "Cannot record to"),
    ]:
        with pytest.raises(UsageError, match=expected):
            ip.run_line_magic("freddy", line)
    assert ip.run_line_magic("freddy", "record --stop")["state"] == "not recording"
    with pytest.raises(UsageError, match="takes no positional argument"):
        ip.run_cell_magic("freddy", "lesson.jsonl", "What is rain?")


def test_replaying_and_recording_exclude_each_other(connected, tmp_path):
    ip, path = connected.shell, tmp_path / "r.jsonl"
    _record(ip, path, [("", "What is rain?")])
    ip.run_line_magic("freddy", f"record {tmp_path / 'other.jsonl'}")
    with pytest.raises(UsageError, match="is recording"):
        ip.run_line_magic("freddy_auth", f"--replay {path}")
    ip.run_line_magic("freddy", "record --stop")
    ip.run_line_magic("freddy_auth", f"--replay {path}")
    with pytest.raises(UsageError, match="nothing live to record"):
        ip.run_line_magic("freddy", f"record {tmp_path / 'other.jsonl'}")
    with pytest.raises(UsageError, match="replays a recording and has no server"):
        ip.run_line_magic("freddy", "check --no-paid")


def test_replay_of_a_damaged_recording_names_the_skipped_lines(connected, tmp_path):
    ip, path = connected.shell, tmp_path / "damaged.jsonl"
    _record(ip, path, [("", "What is rain?")])
    with open(path, "a") as file:
        file.write('{"format": 1, "request": {"model": "ftg-3.0", "inp\n')
    status = ip.run_line_magic("freddy_auth", f"--replay {path}")
    assert status["answers"] == 1 and "damaged.jsonl line 2: not valid JSON" in status["notice"]
    assert ip.run_cell_magic("freddy", "", "What is rain?")["source"] == "replay"


def test_replay_needs_a_path(connected):
    with pytest.raises(UsageError, match="--replay needs the path of a recording"):
        connected.shell.run_line_magic("freddy_auth", "--replay")


@pytest.mark.security
def test_ctrl_c_while_recording_a_batch_leaves_only_whole_lines(make_connected, tmp_path, ctrl_c):
    magics, sandbox = make_connected(rate_limit=None, latency_per_request=0.05)
    ip, path = magics.shell, tmp_path / "cut.jsonl"
    ip.user_ns["terms"] = [{"term": f"t{n}"} for n in range(300)]
    ip.run_line_magic("freddy", f"record {path}")
    ctrl_c(lambda: sandbox.wait_for_calls("/v1/model/response", 40))
    with pytest.raises(UsageError, match="Interrupted"):
        ip.run_cell_magic("freddy", "--over terms --concurrency 8", "Explain {term}.")
    ip.run_line_magic("freddy", "record --stop")
    recording = Recording.load(path)
    assert recording.skipped == [] and 0 < recording.count < 300
    assert path.read_text().endswith("\n")


# pacing ----------------------------------------------------------------------------------------


def _paced(deltas, speed, clock, sleeper):
    entry = Entry({"model": "m"}, {"text": "".join(p for _, p in deltas)}, "2026-01-01", "h", False, deltas)
    stream = ReplayStream(entry, speed=speed, clock=clock, sleep=sleeper)
    start = clock()
    seen = [(clock() - start, piece) for piece in stream.text_deltas()]
    return seen, stream


def test_a_replayed_stream_keeps_its_recorded_pace(clock, sleeper):
    deltas = [(0.4, "Hel"), (0.5, "lo"), (1.2, " world")]
    seen, stream = _paced(deltas, 1.0, clock, sleeper)
    assert [at for at, _ in seen] == pytest.approx([at for at, _ in deltas])
    assert [piece for _, piece in seen] == ["Hel", "lo", " world"] and stream.completion.text == "Hello world"
    assert stream.thread_id is None  # nothing to cancel server-side


def test_speed_scales_the_pace_and_zero_is_at_once(clock, sleeper):
    deltas = [(0.4, "a"), (1.0, "b")]
    assert [at for at, _ in _paced(deltas, 2.0, clock, sleeper)[0]] == pytest.approx([0.2, 0.5])
    before = len(sleeper.calls)
    assert [at for at, _ in _paced(deltas, 0.0, clock, sleeper)[0]] == [0.0, 0.0]
    assert len(sleeper.calls) == before


def test_a_long_answer_is_replayed_within_the_cap(clock, sleeper):
    deltas = [(float(n), "x") for n in range(1, 61)]  # a minute of streaming
    seen, _ = _paced(deltas, 1.0, clock, sleeper)
    assert seen[-1][0] == pytest.approx(MAX_REPLAY_S) and seen[0][0] == pytest.approx(MAX_REPLAY_S / 60)


def test_a_plain_answer_replayed_as_a_stream_arrives_whole(clock, sleeper, tmp_path):
    recording = Recording(tmp_path / "r.jsonl")
    entry = Entry({"inputs": [{"role": "user", "content": "hi"}]}, {"text": "hello", "latency_s": 0.5}, "", "h", False)
    recording.add(entry)
    answers = Answers(None, recording=recording, clock=clock, sleep=sleeper)
    with answers.stream_response("hi") as stream:
        pieces = list(stream.text_deltas())
    assert pieces == ["hello"] and sleeper.total == pytest.approx(0.5)
    assert isinstance(stream.completion, Completion) and stream.completion.source == "replay"
