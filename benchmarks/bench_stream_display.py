"""Performance target: streaming costs IOPub bytes linear in the answer's length.

Each streamed update resends the whole answer so far (a front end replaces the display, it
cannot append), so a fixed update rate costs quadratic bytes: a 40 KB answer written over 60 s
at 20 updates a second sends about 1,200 updates of 20 KB on average. The display holds its
updates to a byte budget instead (``freddy_magic._display``).

Measured here: an answer of 40,000 characters arriving in 4-character deltas spread evenly over
60 s (a fake clock, so the run takes well under a second), shown by ``AnswerView`` in an
in-process IPython shell whose display publisher counts every message it would send to the
front end, as JSON. Reported: the display messages, their bytes against the answer's own size
(target <= 10x), and, as a same-run baseline, the same stream with the budget switched off
(updates every ``THROTTLE_S``, the old behaviour). A short answer (400 characters over 2 s)
must get exactly as many updates as without the budget. The first token's delay after its
first byte is measured by bench_first_token.py.
"""

from __future__ import annotations

import json

import harness

ANSWER_CHARS = 40_000
PIECE = "word"  # 4 characters per delta


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _stream(shell, chars, seconds, budget=True):
    """(messages, bytes, final text) for one answer streamed through AnswerView."""
    from IPython.core.displaypub import DisplayPublisher

    from freddy_magic import _display

    counted = {"messages": 0, "bytes": 0}

    class CountingPublisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            message = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
            counted["messages"] += 1
            counted["bytes"] += len(json.dumps(message).encode())

    shell.display_pub = CountingPublisher(shell=shell)
    saved = _display.BUDGET_FACTOR, _display.BUDGET_FREE
    if not budget:
        _display.BUDGET_FACTOR, _display.BUDGET_FREE = 10**12, 10**12
    try:
        clock = FakeClock()
        view = _display.AnswerView(terminal=False, clock=clock, model="ftg-3.0")
        view.open()
        deltas = chars // len(PIECE)
        for index in range(deltas):
            clock.now = seconds * index / deltas
            view.delta(PIECE)
        clock.now = seconds
        text = PIECE * deltas
        view.finish({"model": "ftg-3.0", "text": text, "status": "ok", "latency_s": seconds})
    finally:
        _display.BUDGET_FACTOR, _display.BUDGET_FREE = saved
    return counted["messages"], counted["bytes"], text


def run(quick=False):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    messages, sent, text = _stream(shell, ANSWER_CHARS, 60.0)
    old_messages, old_sent, _ = _stream(shell, ANSWER_CHARS, 60.0, budget=False)
    short_messages, short_sent, _ = _stream(shell, 400, 2.0)
    short_old, _, _ = _stream(shell, 400, 2.0, budget=False)
    size = len(text.encode())
    ratio = sent / size
    return [
        harness.Result(
            bench="11. streaming a 40 KB answer over 60 s",
            target="IOPub bytes <= 10x the answer",
            baseline=f"no budget: {old_messages} messages, {old_sent / 1e6:.1f} MB ({old_sent / size:.0f}x)",
            measured=f"{messages} messages, {sent / 1e3:.0f} KB",
            result=f"{ratio:.1f}x the answer ({size / 1e3:.0f} KB)",
            verdict=harness.verdict(ratio <= 10),
            n="1",
        ),
        harness.Result(
            bench="11b. a short answer (400 characters over 2 s)",
            target="as many updates as without the budget",
            baseline=f"no budget: {short_old} messages",
            measured=f"{short_messages} messages, {short_sent / 1e3:.1f} KB",
            result=f"{short_messages - 2} streamed updates, one every {2000 / (short_messages - 2):.0f} ms",
            verdict=harness.verdict(short_messages == short_old),
            n="1",
        ),
    ]


if __name__ == "__main__":
    harness.main(run)
