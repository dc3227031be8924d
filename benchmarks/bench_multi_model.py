"""Performance target: four models at 300 ms server latency each take <= 1.3x one call's wall time.

Method: the sandbox (own process, unlimited rate) waits 300 ms before answering every
``/v1/model/response``. In one in-process IPython shell, ``%%freddy -m ftg-3.0`` (baseline)
and ``%%freddy -m ftg-3.0,gpt-4o,gpt-4o-mini,claude-3-5-sonnet`` (subject) alternate, each
timed around ``run_cell_magic`` with display going to :class:`harness.Screen`, i.e. all the
work a user waits for. Run serially, four calls would take 4x; the magics send them
concurrently, so the ratio of medians should stay close to 1.
"""

from __future__ import annotations

import harness

MODELS = ["ftg-3.0", "gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"]
LATENCY = 0.3
PROMPT = "Explain a hash map in one sentence."


def run(quick=False):
    reps = 2 if quick else 7
    one, four = [], []
    with harness.sandbox_process(latency_per_request=LATENCY) as info:
        shell = harness.magic_shell(info["url"], info["api_key"])
        screen = harness.Screen(shell)

        def timed(models):
            result, _start, elapsed = screen.run(shell, f"-m {','.join(models)}", PROMPT)
            rows = result if isinstance(result, list) else [result]
            failed = [r for r in rows if r.get("status") != "ok"]
            if len(rows) != len(models) or failed:
                raise RuntimeError(f"expected {len(models)} ok rows, got {len(rows)} ({len(failed)} failed)")
            return elapsed

        timed(MODELS[:1]), timed(MODELS)
        for _ in range(reps):
            one.append(timed(MODELS[:1]))
            four.append(timed(MODELS))
    one_s, four_s = harness.Stat.of(one), harness.Stat.of(four)
    ratio = four_s.median / one_s.median
    return [
        harness.Result(
            bench="4. 4 models at 300 ms server latency",
            target="<= 1.3x one call's wall time",
            baseline=f"1 model: {one_s.fmt(digits=0)}",
            measured=f"4 models: {four_s.fmt(digits=0)}",
            result=f"{ratio:.2f}x (serial would be 4x)",
            verdict=harness.verdict(ratio <= 1.3),
            n=f"{reps}+{reps}",
        )
    ]


if __name__ == "__main__":
    harness.main(run)
