"""``%%freddy`` and ``%freddy`` against the real sandbox: streaming display, rows, batches."""

import gc
import json
import re
import threading
import time

import pytest
import requests
from IPython.core.error import UsageError

from freddy_magic._auth import Credential
from freddy_magic._results import ROW_COLUMNS
from freddy_magic.sandbox import Fault, count_tokens

from .hostile import HostileServer, Reply, forward, sse

pd = pytest.importorskip("pandas")
RESPONSE = "/v1/model/response"


def final_messages(shown, text):
    """Display messages whose Markdown is exactly the finished answer (no streaming cursor)."""
    return [m for m in shown.messages if answer_of(m.get("data", {}).get("text/markdown")) == text]


def answer_of(markdown):
    """A finished answer's Markdown without its footer (model, time, tokens), which it must have."""
    if markdown is None or "▍" in markdown or markdown.startswith("*waiting for "):
        return markdown
    answer, footer, _ = markdown.partition("\n\n<span class='freddy-footer'")
    assert footer, f"no footer under the finished answer: {markdown[-200:]!r}"
    return answer


def test_stream_updates_in_place_and_shows_the_answer_once(connected, ip, shared_sandbox, shown, dialect):
    ip.run_cell("%%freddy -o answer\nExplain owls in one paragraph.")
    row = ip.user_ns["answer"]
    assert tuple(row) == ROW_COLUMNS and row["status"] == "ok"
    assert ip.user_ns["_"] is row
    display_ids = {m["transient"].get("display_id") for m in shown.messages}
    assert len(display_ids) == 1 and None not in display_ids
    assert shown.messages[0]["update"] is False and all(m["update"] for m in shown.messages[1:])
    assert len(final_messages(shown, row["text"])) == 1
    assert answer_of(shown.messages[-1]["data"]["text/markdown"]) == row["text"]
    assert row["ttft_s"] is not None
    # The current dialect sends no usage, as real answers were seen doing: None, never a made-up 0.
    assert row["output_tokens"] > 0 if dialect == "classic" else row["output_tokens"] is None
    pd.DataFrame([row])


def test_first_delta_shown_at_once_then_throttled(connected, ip, shared_sandbox, shown):
    row = ip.run_cell_magic("freddy", "", "Write a long story about a lighthouse keeper. " * 5)
    partial = [m for m in shown.messages if m["data"]["text/markdown"].endswith("▍")]
    assert partial, "no streaming update was shown"
    assert row["text"].startswith(partial[0]["data"]["text/plain"])
    assert len(shown.messages) < count_tokens(row["text"]) + 2


def test_terminal_gets_plain_text_on_stdout(connected, ip, capsys, shown):
    connected.terminal = True
    row = ip.run_cell_magic("freddy", "", "Say hello")
    assert row["text"] in capsys.readouterr().out
    assert shown.messages == []


@pytest.mark.parametrize("fmt,mime", [("text", "text/plain"), ("json", "application/json")])
def test_formats(connected, ip, shown, fmt, mime):
    row = ip.run_cell_magic("freddy", f"--no-stream -m gpt-4o-mini --format {fmt}", "Say hello")
    waiting, final = shown.messages
    assert waiting["data"]["text/plain"] == "waiting for gpt-4o-mini…" and final["update"]
    data = final["data"]
    assert "text/markdown" not in data and mime in data
    assert (data[mime] == row["text"]) if fmt == "text" else (data[mime]["response_id"] == row["response_id"])


def test_no_stream_shows_once(connected, ip, shown):
    row = ip.run_cell_magic("freddy", "--no-stream -t 0.2 --max-tokens 50 -s 'Be brief'", "Say hello")
    waiting, final = shown.messages  # the waiting line, then the answer in its place: shown once
    assert row["ttft_s"] is None and final["update"] and not waiting["update"]
    assert answer_of(final["data"]["text/markdown"]) == row["text"]


def test_parameters_reach_the_request(connected, ip, shared_sandbox):
    preview = ip.run_cell_magic("freddy", "--dry-run -m gpt-4o -t 0.3 --max-tokens 40 -s 'Be brief'", "Hi")
    body = preview["json"]
    assert body["model"] == "gpt-4o" and body["temperature"] == 0.3
    assert body["max_output_synapses"] == 40 and body["instructions"] == "Be brief"


def test_several_models_run_concurrently_in_order(ip, shown, shared_sandbox, monkeypatch):
    """The three requests meet at a barrier in the server: asked one after another, they could not."""
    together = threading.Barrier(3)

    def script(seen):
        if seen.path == RESPONSE:
            together.wait(timeout=30)
        return forward(seen, shared_sandbox.url)

    with HostileServer(script) as server:
        ip.config.FreddyMagics.base_url = server.url
        ip.run_line_magic("load_ext", "freddy_magic")
        ip.magics_manager.registry["FreddyMagics"].session.connect_key(shared_sandbox.api_key, "test")
        rows = ip.run_cell_magic("freddy", "-m gpt-4o-mini,gpt-4o,claude-3-5-sonnet -o rows", "Name a colour")
    assert not together.broken, "the requests were not in flight at the same time"
    assert [r["model"] for r in rows] == ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet"]
    assert all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert len(final_messages(shown, f"**{r['model']}**\n\n{r['text']}")) == 1
    assert ip.user_ns["rows"] is rows
    assert list(pd.DataFrame(rows).columns) == list(ROW_COLUMNS)


def test_chat_continues_and_reset_starts_anew(connected, ip):
    first = ip.run_cell_magic("freddy", "--chat --no-stream", "My name is Ada.")
    second = ip.run_cell_magic("freddy", "--chat --no-stream", "What is my name?")
    assert second["thread_id"] == first["thread_id"]
    lone = ip.run_cell_magic("freddy", "--no-stream", "Unrelated")
    assert lone["thread_id"] != first["thread_id"]
    ip.run_line_magic("freddy", "reset")
    third = ip.run_cell_magic("freddy", "--chat --no-stream", "Hello again")
    assert third["thread_id"] != first["thread_id"]


def test_placeholders_are_filled_and_braces_escaped(connected, ip):
    ip.user_ns.update(topic="tides", items=["a", "b", "c"])
    row = ip.run_cell_magic("freddy", "--no-stream", 'Explain {topic} using {items[:2]} as JSON {{"k": 1}}')
    assert row["prompt"] == "Explain tides using ['a', 'b'] as JSON {\"k\": 1}"


@pytest.mark.parametrize("kind", ["DataFrame", "list of dicts"])
def test_over_rows_in_order_with_inputs_and_progress(connected, ip, shared_sandbox, shown, kind):
    records = [{"topic": f"topic {i}", "level": i} for i in range(12)]
    ip.user_ns["inputs"] = pd.DataFrame(records) if kind == "DataFrame" else records
    rows = ip.run_cell_magic("freddy", "--over inputs --concurrency 4 -o out", "Explain {topic} at level {level}")
    assert [r["topic"] for r in rows] == [r["topic"] for r in records]
    assert [r["prompt"] for r in rows] == [f"Explain topic {i} at level {i}" for i in range(12)]
    assert all(r["status"] == "ok" for r in rows)
    progress = [m["data"]["text/plain"] for m in shown.messages if "rows ·" in m["data"].get("text/plain", "")]
    assert progress and progress[-1].startswith("12/12 rows")
    frame = pd.DataFrame(rows)
    assert list(frame.columns[:2]) == ["topic", "level"] and len(frame) == 12


def test_integer_and_other_non_identifier_column_names_work_as_placeholders(connected, ip):
    import io

    ip.user_ns["people"] = pd.read_csv(io.StringIO("Ada,1815\nAlan,1912\n"), header=None)
    ip.user_ns["prices"] = [{"unit price": 3, "item": "tea"}]
    rows = ip.run_cell_magic("freddy", "--over people --dry-run --no-stream", "{0} was born in {1}; {1 + 1}")
    assert [p["json"]["inputs"][0]["content"] for p in rows] == [
        "Ada was born in 1815; 2",  # {1 + 1} is still an expression, not a column
        "Alan was born in 1912; 2",
    ]
    priced = ip.run_cell_magic("freddy", "--over prices --dry-run --no-stream", "{item} costs {unit price}")
    assert priced["json"]["inputs"][0]["content"] == "tea costs 3"
    answered = ip.run_cell_magic("freddy", "--over people --no-stream", "{0}")
    assert list(pd.DataFrame(answered).columns[:2]) == [0, 1], "the input columns lost their names"


@pytest.mark.parametrize(
    "value",
    [
        lambda: pd.DataFrame([[1, 2]], columns=["topic", "topic"]),
        lambda: [{0: "a", "0": "b"}],
    ],
    ids=["duplicate DataFrame columns", "0 and '0'"],
)
def test_columns_that_read_the_same_are_a_clear_error(connected, ip, shared_sandbox, value):
    ip.user_ns["inputs"] = value()
    before = shared_sandbox.calls(RESPONSE)
    with pytest.raises(UsageError, match="distinct column names") as caught:
        ip.run_cell_magic("freddy", "--over inputs", "About {topic}")
    assert "\n" not in str(caught.value) and shared_sandbox.calls(RESPONSE) == before


def test_over_keeps_other_rows_when_one_fails(connected, ip, shared_sandbox):
    ip.user_ns["inputs"] = [{"n": i} for i in range(6)]
    shared_sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=400, times=1))
    rows = ip.run_cell_magic("freddy", "--over inputs --concurrency 2", "Number {n}")
    assert [r["n"] for r in rows] == list(range(6))
    failed = [r for r in rows if r["status"] == "error"]
    assert len(failed) == 1 and failed[0]["error"] and failed[0]["text"] is None
    assert sum(r["status"] == "ok" for r in rows) == 5


def test_over_with_every_row_failing_fails_the_cell(connected, ip, shared_sandbox):
    ip.user_ns["inputs"] = [{"n": i} for i in range(3)]
    shared_sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=400, times=None))
    with pytest.raises(UsageError, match="All 3 requests failed"):
        ip.run_cell_magic("freddy", "--over inputs", "Number {n}")


def _plain(message):
    return message["data"].get("text/plain", "")


@pytest.mark.security
def test_ctrl_c_during_over_keeps_finished_rows_then_fails_the_cell(ip, shown, shared_sandbox, ctrl_c):
    """The server answers the first row and holds every later one until the test ends, so the
    Ctrl-C that follows the first finished row always finds a row in flight. The cell keeps and
    shows what finished, then fails with one line, so a Run All stops there."""
    release, answered = threading.Event(), []

    def script(seen):
        if seen.path == RESPONSE:
            answered.append(seen)
            if len(answered) > 1:
                release.wait(60)
        return forward(seen, shared_sandbox.url)

    with HostileServer(script) as server:
        try:
            ip.config.FreddyMagics.base_url = server.url
            ip.run_line_magic("load_ext", "freddy_magic")
            magics = ip.magics_manager.registry["FreddyMagics"]
            magics.session.connect_key(shared_sandbox.api_key, "test")
            ip.user_ns["inputs"] = [{"n": i} for i in range(8)]
            ctrl_c(lambda: shown.wait_for(lambda m: _plain(m).startswith("1/8 rows")))
            with pytest.raises(UsageError) as caught:
                ip.run_cell_magic("freddy", "--over inputs --concurrency 1 -o rows", "Number {n}")
        finally:
            release.set()
    assert str(caught.value) == "Interrupted: 1 of 8 rows finished; all 8 rows are kept in `rows` and %freddy log"
    rows = ip.user_ns["rows"]
    assert len(rows) == 8 and rows[0]["status"] == "ok" and [r["n"] for r in rows] == list(range(8))
    assert [r["status"] for r in rows[1:]] == ["cancelled"] * 7
    assert list(magics.session.log[-8:]) == list(rows)
    assert any("interrupted: kept 1 finished rows" in _plain(m) for m in shown.messages if "data" in m)
    assert "<table" in shown.messages[-1]["data"].get("text/html", ""), "the kept rows were not shown"


@pytest.mark.security
def test_ctrl_c_during_a_stream_cancels_it_server_side_and_keeps_the_text(make_connected, ip, shown, ctrl_c):
    magics, own = make_connected(latency_per_delta=0.2)
    ctrl_c(lambda: shown.wait_for(streamed_text))  # some text is shown
    with pytest.raises(UsageError, match=r"^Interrupted: the partial answer \(\d+ characters\) is shown above"):
        ip.run_cell_magic("freddy", "", "Tell me a long story about the sea.")
    row = magics.session.log[-1]
    assert row["status"] == "cancelled" and row["text"] and row["thread_id"]
    assert row["error"] == "cancelled by the user"
    assert own.calls(f"{RESPONSE}/{row['thread_id']}/cancel", method="POST") == 1
    assert shown.messages[-1]["data"]["text/markdown"].startswith(row["text"]), "the partial answer was replaced"


@pytest.mark.security
def test_ctrl_c_with_several_models_keeps_each_partial_answer_on_screen_and_in_the_rows(
    make_connected, ip, shown, ctrl_c
):
    magics, _own = make_connected(latency_per_delta=0.2)

    def both_streaming(m):
        texts = {}
        for message in shown.messages:
            if "data" in message and message.get("transient"):
                texts[message["transient"]["display_id"]] = message["data"].get("text/plain", "")
        return sum(bool(t) and "waiting" not in t for t in texts.values()) == 2

    ctrl_c(lambda: shown.wait_for(lambda _m: both_streaming(_m)))
    with pytest.raises(UsageError, match=r"^Interrupted: 0 of 2 rows finished; all 2 rows are kept in `both`"):
        ip.run_cell_magic("freddy", "-m gpt-4o-mini,gpt-4o -o both", "Tell me a long story about the sea.")
    rows = ip.user_ns["both"]
    assert [r["status"] for r in rows] == ["cancelled", "cancelled"]
    assert all(r["text"] for r in rows), "the rows lost the text that had streamed in"
    assert list(magics.session.log[-2:]) == list(rows)
    finals = {}
    for message in shown.messages:
        if "data" in message:
            finals[message["transient"].get("display_id")] = message["data"].get("text/markdown", "")
    for row in rows:
        shown_text = [t for t in finals.values() if t.startswith(f"**{row['model']}**")]
        assert shown_text and row["text"] in shown_text[0] and "error-color1,#b00020)'>cancelled:" in shown_text[0]


@pytest.mark.slow
@pytest.mark.security
@pytest.mark.parametrize("configured", ["before-loading", "after-connecting"])
def test_l4_read_timeout_bounds_the_silence_inside_a_stream(ip, shared_sandbox, configured):
    """``FreddyMagics.read_timeout`` is the silence allowed while an answer arrives, streamed or
    not: a stream that goes quiet for 25 s after its first delta fails at the 1 s configured (it
    used to wait out the 25 s and succeed, because streams kept a 120 s idle timeout of their own).
    Set by ``%config`` after connecting, it applies to the next call of that same connection."""
    created = json.dumps({"status": "in_progress", "thread_id": "thread_quiet"})
    done = json.dumps({"response": [{"type": "text", "text": "Hello there"}], "thread_id": "thread_quiet"})
    quiet = Reply(
        200,
        {"Content-Type": "text/event-stream"},
        [
            sse(("response.created", created), ("response.content_delta", '{"delta": "Hello"}')),
            25.0,
            sse(("response.content_delta", '{"delta": " there"}'), ("response.completed", done)),
        ],
    )

    def script(seen):
        return quiet if seen.path == RESPONSE else forward(seen, shared_sandbox.url)

    with HostileServer(script) as server:
        ip.config.FreddyMagics.base_url = server.url
        if configured == "before-loading":
            ip.config.FreddyMagics.read_timeout = 1.0
        ip.run_line_magic("load_ext", "freddy_magic")
        magics = ip.magics_manager.registry["FreddyMagics"]
        magics.session.connect_key(shared_sandbox.api_key, "test")
        if configured == "after-connecting":
            ip.run_line_magic("config", "FreddyMagics.read_timeout = 1.0")
        with pytest.raises(UsageError, match="no data arrived for 1 s"):
            ip.run_cell_magic("freddy", "", "Say hello")
    assert magics.session.log[-1]["text"] == "Hello" and magics.session.log[-1]["status"] == "error"


@pytest.mark.parametrize("value", ["0", "-5", "float('inf')"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused_by_config(magics, value, caplog):
    """``%config`` reports the refusal in one line (IPython logs a TraitError) and keeps the old value."""
    magics.shell.run_line_magic("config", f"FreddyMagics.read_timeout = {value}")
    assert "FreddyMagics.read_timeout must be a positive number of seconds" in caplog.text
    assert magics.read_timeout == 120.0


def _serving(ip, sandbox, path, reply):
    """The extension connected through a server that forwards to the sandbox, except ``path``."""
    server = HostileServer(lambda seen: reply if seen.path.split("?")[0] == path else forward(seen, sandbox.url))
    server.__enter__()
    ip.config.FreddyMagics.base_url = server.url
    ip.run_line_magic("load_ext", "freddy_magic")
    magics = ip.magics_manager.registry["FreddyMagics"]
    magics.session.connect_key(sandbox.api_key, "test")
    return magics, server


WRONG_SHAPES = [{"response": [{"text": 5}]}, {"choices": [5]}, "abc", [], {"response": {"text": "hi"}}]


@pytest.mark.security
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("shape", WRONG_SHAPES, ids=[json.dumps(s)[:24] for s in WRONG_SHAPES])
def test_k2_an_answer_of_the_wrong_shape_is_one_line_and_is_logged(ip, shared_sandbox, shape, stream):
    if stream:
        body = sse(("response.created", '{"thread_id": "thread_shape"}'), ("response.completed", json.dumps(shape)))
        reply = Reply(200, {"Content-Type": "text/event-stream"}, body)
    else:
        reply = Reply(200, body=json.dumps(shape).encode())
    magics, server = _serving(ip, shared_sandbox, RESPONSE, reply)
    try:
        with pytest.raises(UsageError) as caught:
            ip.run_cell_magic("freddy", "" if stream else "--no-stream", "Say hello")
    finally:
        server.__exit__(None, None, None)
    assert str(caught.value).startswith("ResponseFormatError:") and "\n" not in str(caught.value)
    assert caught.value.__context__ is None
    logged = magics.session.log[-1]
    assert logged["prompt"] == "Say hello" and logged["status"] == "error" and "ResponseFormatError" in logged["error"]


@pytest.mark.security
@pytest.mark.parametrize("body", [{"models": [1]}, {"models": "all"}, [["ftg-3.0"]], "models"])
def test_k2_a_model_list_of_the_wrong_shape_is_one_line(ip, shared_sandbox, body):
    _magics, server = _serving(ip, shared_sandbox, "/v1/models", Reply(200, body=json.dumps(body).encode()))
    try:
        with pytest.raises(UsageError, match="not a list of JSON objects") as caught:
            ip.run_line_magic("freddy", "models")
    finally:
        server.__exit__(None, None, None)
    assert "\n" not in str(caught.value) and caught.value.__context__ is None


def _encodable(messages):
    """What jupyter_client does to every display message before it reaches a front end."""
    from jupyter_client.session import json_packer

    for message in messages:
        if "data" in message:
            json_packer(message["data"])


@pytest.mark.security
@pytest.mark.parametrize("where", ["prompt", "system", "column", "column name"])
def test_lone_surrogates_are_replaced_once_said_so_and_every_display_still_works(connected, ip, shown, where):
    half = "\ud83d"
    name_half = where == "column name"
    ip.user_ns["topics"] = [{f"topic{half}" if name_half else "topic": "tide" if name_half else f"tide{half}"}]
    line, cell = "--no-stream -o got", f"Explain tides {half}"
    if where == "system":
        line, cell = f"--no-stream -o got -s 'Be brief {half}'", "Explain tides"
    elif where.startswith("column"):
        line, cell = "--no-stream -o got --over topics", "Explain tides"
    ip.run_cell_magic("freddy", line, cell)
    got = ip.user_ns["got"]
    row = got[0] if isinstance(got, list) else got
    assert row["status"] == "ok" and row["text"], row
    assert "1 character(s)" in row["warning"] and "\ufffd" in row["warning"]
    json.dumps(dict(row), default=str).encode("utf-8")
    _encodable(shown.messages)
    log = ip.run_line_magic("freddy", "log")
    _encodable([{"data": log._repr_mimebundle_()}, {"data": row._repr_mimebundle_()}])
    ip.run_line_magic("freddy", "log")  # the log keeps displaying after it


@pytest.mark.security
def test_an_answer_with_a_lone_surrogate_escape_is_shown_safely(ip, shared_sandbox, shown):
    reply = Reply(200, body=b'{"response": "half \\ud83d an emoji", "thread_id": "thread_s"}')
    magics, server = _serving(ip, shared_sandbox, RESPONSE, reply)
    try:
        row = ip.run_cell_magic("freddy", "--no-stream", "Say hello")
    finally:
        server.__exit__(None, None, None)
    assert row["text"] == "half \ufffd an emoji"
    _encodable(shown.messages)
    _encodable([{"data": magics.session.log._repr_mimebundle_()}])


def test_truncated_stream_fails_the_cell_and_keeps_the_partial_text(connected, ip, shared_sandbox, shown):
    shared_sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="truncate", after_deltas=2, times=1))
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("freddy", "", "Tell me about rivers.")
    assert "StreamInterrupted" in str(caught.value)
    logged = connected.session.log[-1]
    assert logged["status"] == "error" and logged["text"]


@pytest.mark.security
def test_dry_run_sends_nothing_and_redacts(connected, ip, shared_sandbox):
    before = shared_sandbox.calls(RESPONSE)
    preview = ip.run_cell_magic("freddy", "--dry-run -o req", "Hello {1+1}")
    assert shared_sandbox.calls(RESPONSE) == before
    assert preview["json"]["inputs"] or preview["json"].get("input")
    assert shared_sandbox.api_key not in repr(preview) and ip.user_ns["req"] is preview
    assert "2" in repr(preview["json"])


def test_dry_run_works_before_auth(magics, ip, shared_sandbox):
    preview = ip.run_cell_magic("freddy", "--dry-run --no-stream", "Hello")
    assert preview["method"] == "POST" and preview["url"].startswith(shared_sandbox.url)


def test_models_log_and_reset(connected, ip, shared_sandbox, dialect):
    models = ip.run_line_magic("freddy", "models")
    keys = [m["key"] for m in models]
    assert "gpt-4o" in keys and ("ftg-3.0" in keys) == (dialect == "classic")
    everything = ip.run_line_magic("freddy", "models --all")
    assert len(everything) > len(models)
    assert pd.DataFrame(everything)["key"].notna().all()
    ip.run_cell_magic("freddy", "--no-stream", "one")
    ip.run_cell_magic("freddy", "--no-stream -m gpt-4o", "two")
    log = ip.run_line_magic("freddy", "log")
    assert [r["prompt"] for r in log[-2:]] == ["one", "two"]
    assert list(pd.DataFrame(log).columns) == list(ROW_COLUMNS)
    assert "new conversation" in ip.run_line_magic("freddy", "reset").line()


def test_log_table_truncation_is_announced(connected, ip):
    ip.run_line_magic("config", "FreddyMagics.display_limit = 2")
    for i in range(3):
        ip.run_cell_magic("freddy", "--no-stream", f"n{i}")
    html = ip.run_line_magic("freddy", "log")._repr_html_()
    assert "Showing the first 2 of 3 rows" in html


def test_several_answers_appear_in_the_order_asked(make_connected, ip, shown):
    make_connected(latency_per_delta=0.01)
    rows = ip.run_cell_magic("freddy", "-m gpt-4o,gpt-4o-mini,claude-3-5-sonnet", "Name a colour")
    created = [m for m in shown.messages if not m["update"]]
    assert [m["data"]["text/plain"] for m in created] == [
        "waiting for gpt-4o…",
        "waiting for gpt-4o-mini…",
        "waiting for claude-3-5-sonnet…",
    ]
    by_id = {}
    for m in shown.messages:
        by_id[m["transient"]["display_id"]] = answer_of(m["data"]["text/markdown"])
    assert list(by_id.values()) == [f"**{r['model']}**\n\n{r['text']}" for r in rows]


@pytest.mark.security
@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500, "times": 3},
        {"kind": "reset", "times": 2},
        {"kind": "status", "status": 503, "times": 2},
        pytest.param({"kind": "slow", "delay": 3.0, "times": 2}, marks=pytest.mark.slow),
    ],
    ids=["500x3", "reset-x2", "503x2", "slow-x2"],
)
def test_l_over_keeps_every_finished_row_in_order(make_connected, ip, fault):
    ip.config.FreddyMagics.read_timeout = 1.0
    ip.config.FreddyMagics.total_timeout = 2.0
    _magics, own = make_connected(rate_limit=None)
    ip.user_ns["topics"] = [{"topic": f"topic-{i}"} for i in range(8)]
    own.faults.add(Fault(method="POST", path=RESPONSE, **fault))
    start = time.monotonic()
    rows = ip.run_cell_magic("freddy", "--over topics --concurrency 4 --no-stream -o got", "Tell me about {topic}")
    took = time.monotonic() - start
    rows = list(rows)
    assert [r["topic"] for r in rows] == [f"topic-{i}" for i in range(8)], "rows lost or reordered"
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) >= 8 - fault["times"], [(r["status"], r["error"]) for r in rows]
    assert all(r["text"] for r in ok)
    assert all(r["error"] and own.api_key not in r["error"] for r in rows if r["status"] != "ok")
    assert took < 15, f"the batch took {took:.1f} s with a 2 s per-call deadline"
    assert list(ip.user_ns["got"]) == rows


def _reachable(roots, limit=20000):
    """Every object reachable from ``roots`` through gc referents (bounded)."""
    seen, todo, found = set(), list(roots), []
    while todo and len(seen) < limit:
        obj = todo.pop()
        if (
            id(obj) in seen
            or isinstance(obj, type)
            or type(obj).__name__ in ("module", "function", "builtin_function_or_method")
        ):
            continue
        seen.add(id(obj))
        found.append(obj)
        todo.extend(gc.get_referents(obj))
    return found


@pytest.mark.security
def test_a4_magic_results_hold_no_credential_or_transport_reference(connected, ip, shared_sandbox):
    ip.user_ns["topics"] = [{"topic": "a"}, {"topic": "b"}]
    results = [
        ip.run_cell_magic("freddy", "--no-stream -o one", "hello"),
        ip.run_cell_magic("freddy", "-m gpt-4o-mini,gpt-4o --no-stream", "hello"),
        ip.run_cell_magic("freddy", "--over topics --no-stream", "about {topic}"),
        ip.run_line_magic("freddy", "models"),
        ip.run_line_magic("freddy", "log"),
        ip.run_line_magic("freddy_auth", "--status"),
    ]
    reached = _reachable([*results, ip.user_ns["one"]])
    kinds = (Credential, requests.Session, requests.Response, requests.PreparedRequest)
    held = [type(o).__name__ for o in reached if isinstance(o, kinds) or type(o).__name__ == "FreddyClient"]
    assert held == [], f"results reach {held}"
    assert not any(isinstance(o, str) and shared_sandbox.api_key in o for o in reached)


def test_without_a_model_none_is_sent_and_the_row_says_the_server_default_answered(
    connected, ip, shared_sandbox, monkeypatch, dialect
):
    from freddy_magic.sandbox._dialects import pick

    monkeypatch.delenv("FREDDY_MODEL", raising=False)
    assert connected.model == "", "no model is invented"
    preview = ip.run_cell_magic("freddy", "--dry-run --no-stream", "Hello")
    assert "model" not in preview["json"]
    for line in ("--no-stream", ""):
        row = ip.run_cell_magic("freddy", line, "Hello")
        assert row["status"] == "ok" and row["model"] == "server default"
        assert row["text"].startswith(f"[sandbox {pick(dialect).default_model}]")
    log = ip.run_line_magic("freddy", "log")
    assert log[-1]["model"] == "server default"


def test_over_with_a_missing_column_names_the_columns_there_are(connected, ip):
    ip.user_ns["questions"] = [{"term": "owls", "audience": "kids"}]
    with pytest.raises(UsageError) as failed:
        ip.run_cell_magic("freddy", "--over questions", "Explain {missing} to {audience}")
    assert str(failed.value) == "--over: no column 'missing' in questions (columns: term, audience)"
    with pytest.raises(UsageError, match="NameError: name 'nowhere' is not defined"):
        ip.run_cell_magic("freddy", "", "Explain {nowhere}")


def streamed_text(message):
    """A partial answer on screen: text before the streaming cursor (not the waiting line)."""
    markdown = message["data"].get("text/markdown", "")
    return "▍" in markdown and markdown.strip(" ▍")


@pytest.mark.slow  # Retry-After is whole seconds: the call really waits 1 s
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not streamed"])
def test_a_429_wait_is_said_on_the_waiting_line_then_the_answer_takes_its_place(
    connected, ip, shown, shared_sandbox, stream
):
    shared_sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=429, retry_after=1))
    row = ip.run_cell_magic("freddy", "-m ftg-3.0" + ("" if stream else " --no-stream"), "Say hello")
    lines = [m["data"].get("text/plain", "") for m in shown.messages]
    assert lines[0] == "waiting for ftg-3.0…"
    assert re.fullmatch(r"waiting for ftg-3\.0… rate limited, retrying in (1 s|0\.\d s)", lines[1]), lines[1]
    assert row["status"] == "ok" and row["retries"] == 1
    assert answer_of(shown.messages[-1]["data"]["text/markdown"]) == row["text"]


def test_a_call_that_fails_before_any_text_takes_its_waiting_line_away(connected, ip, shown, shared_sandbox):
    shared_sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=400, code="BAD"))
    with pytest.raises(UsageError):
        ip.run_cell_magic("freddy", "--no-stream -m ftg-3.0", "Say hello")
    assert shown.messages[0]["data"]["text/plain"] == "waiting for ftg-3.0…"
    assert shown.messages[-1]["data"] == {"text/plain": ""} and shown.messages[-1]["update"]


@pytest.mark.slow  # the batch is paced for about a second
def test_a_batch_paced_by_the_rate_limit_says_so_on_its_progress_line(make_connected, ip, shown):
    make_connected(rate_limit="10/1s")
    ip.user_ns["many"] = [{"n": i} for i in range(25)]
    rows = ip.run_cell_magic("freddy", "--over many", "Say {n}")
    assert all(row["status"] == "ok" for row in rows)
    lines = [m["data"].get("text/plain", "") for m in shown.messages]
    paced = [line for line in lines if "paced by the API's rate limit (10 requests per window)" in line]
    assert paced and lines[-1].startswith("25/25 rows") and "paced" not in lines[-1]


def test_a_stream_that_fails_midway_says_its_error_once_styled_below_the_partial_answer(
    connected, ip, shown, shared_sandbox
):
    shared_sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=500, after_deltas=3))
    with pytest.raises(UsageError) as failed:
        ip.run_cell_magic("freddy", "-m gpt-4o-mini", "Tell me a long story about the sea.")
    row = connected.session.log[-1]
    final = shown.messages[-1]["data"]["text/markdown"]
    assert final.startswith(row["text"]) and "error-color1,#b00020)'>stopped by the error below</span>" in final
    assert row["error"] not in final and row["error"] in str(failed.value)
