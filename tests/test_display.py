"""What a cell shows while answers arrive: the live answer view, driven by a fake clock."""

from freddy_magic._display import CURSOR, AnswerView

from .fakes import FakeClock


def test_a_pending_throttled_update_never_covers_the_finished_answer(ip, shown):
    clock = FakeClock()
    view = AnswerView(terminal=False, title="gpt-4o", clock=clock)
    view.open()
    view.delta("Hello")  # the first piece is shown at once
    clock.advance(0.01)
    view.delta(" world")  # throttled: left pending for the next flush
    view.finish({"text": "Hello world", "status": "ok"})
    clock.advance(1.0)
    view.flush()  # a batch's idle loop keeps flushing the views of answers already finished
    last = shown.messages[-1]["data"]["text/markdown"]
    assert last.startswith("**gpt-4o**\n\nHello world\n\n<span class='freddy-footer'") and CURSOR not in last


def test_a_throttled_update_is_shown_by_the_next_flush_while_streaming(ip, shown):
    clock = FakeClock()
    view = AnswerView(terminal=False, clock=clock)
    view.delta("Hello")
    clock.advance(0.01)
    view.delta(" world")
    assert shown.texts()[-1] == "Hello" + CURSOR
    clock.advance(1.0)
    view.flush()
    assert shown.texts()[-1] == "Hello world" + CURSOR


def test_a_long_stream_costs_bytes_linear_in_its_length_and_the_first_piece_shows_at_once(ip, shown):
    clock = FakeClock()
    view = AnswerView(terminal=False, clock=clock, model="m")
    view.open()
    view.delta("word")
    assert shown.messages[-1]["data"]["text/markdown"] == "word" + CURSOR  # no throttle, no budget
    for _ in range(9_999):  # 40,000 characters over 60 s
        clock.advance(0.006)
        view.delta("word")
    view.finish({"text": "word" * 10_000, "status": "ok", "model": "m"})
    sent = sum(len(m["data"].get("text/markdown", "")) + len(m["data"]["text/plain"]) for m in shown.messages)
    assert sent <= 10 * 40_000 and len(shown.messages) > 30


def test_a_short_stream_updates_at_every_throttle_step(ip, shown):
    clock = FakeClock()
    view = AnswerView(terminal=False, clock=clock)
    for _ in range(40):  # 400 characters, one piece every 51 ms
        view.delta("ten chars.")
        clock.advance(0.051)
    assert len(shown.messages) == 40
    assert shown.messages[-1]["data"]["text/markdown"].endswith("ten chars." + CURSOR)
