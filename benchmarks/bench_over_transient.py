"""``--over`` 200 rows when a fifth of the requests fail for a passing reason: rows ok, retries, wall time.

Method: the sandbox runs in its own process with no rate limit and two faults on
``POST /v1/model/response``: a 503 on 10 % of the requests, and a dropped connection (reset, no
answer) on 11 % of the others, so about 20 % of all requests fail. The client repeats neither
(a POST that may have been processed is not replayed by the client); ``--over`` repeats the
row, up to ``FreddyMagics.max_retries`` (2) times after a jittered backoff. In an in-process
IPython shell ``%%freddy --over rows --concurrency 8`` runs 200 rows; counted are the rows that
came back ``ok``, the rows' ``retries`` and the wall time. Every failed request shows up as a
retry or as a failed row, so the failure rate the run met is (retries + failed rows) / (rows +
retries); with a budget of 2, a row fails only when three attempts in a row do, so about
0.2 ** 3 = 0.8 % of the rows are expected to come back failed. Those then get one
``%%freddy --over result --only-failed`` pass, whose rows ok and wall time are counted too.
Baseline: the same 200 rows against a sandbox without faults, in the same run. The sandbox's
draw is seeded, but which request meets which draw depends on thread timing, so the failures
land on different rows from run to run.
"""

from __future__ import annotations

import os

import harness

ROWS = 200
CONCURRENCY = 8
CELL = "What is {n} squared?"
FAULTS = [
    "POST /v1/model/response status=503 chance=0.1 times=forever",
    "POST /v1/model/response reset chance=0.111 times=forever",
]


def _connect(shell, info):
    """The one shell of this process, pointed at the sandbox ``info`` describes."""
    if shell is None:
        return harness.magic_shell(info["url"], info["api_key"])
    os.environ["FREDDY_API_KEY"] = info["api_key"]
    shell.run_line_magic("config", f"FreddyMagics.base_url = {info['url']!r}")
    shell.run_line_magic("freddy_auth", "--env")
    return shell


def _batch(faults, reps, shell=None):
    """Per rep: (wall s, rows ok, retries, wall of the --only-failed pass or 0, ok after it); and the shell."""
    runs = []
    with harness.sandbox_process(faults=faults) as info:
        shell = _connect(shell, info)
        screen = harness.Screen(shell)
        shell.user_ns["rows"] = [{"n": i} for i in range(ROWS)]
        for _ in range(reps):
            result, _start, wall = screen.run(shell, f"--over rows --concurrency {CONCURRENCY} -o result", CELL)
            ok = sum(row["status"] == "ok" for row in result)
            retries = sum(row["retries"] or 0 for row in result)
            again_wall, again_ok = 0.0, ok
            if ok < ROWS:
                merged, _start, again_wall = screen.run(shell, "--over result --only-failed", CELL)
                again_ok = sum(row["status"] == "ok" for row in merged)
            runs.append((wall, ok, retries, again_wall, again_ok))
    return runs, shell


def run(quick=False):
    reps = 1 if quick else 3
    baseline, shell = _batch([], reps)
    faulty, _shell = _batch(FAULTS, reps, shell)
    base_wall = harness.Stat.of(r[0] for r in baseline)
    wall = harness.Stat.of(r[0] for r in faulty)
    ok = [r[1] for r in faulty]
    retries = [r[2] for r in faulty]
    after = [r[4] for r in faulty]
    met = [(r[2] + ROWS - r[1]) / (ROWS + r[2]) for r in faulty]  # failed requests / requests
    return [
        harness.Result(
            bench="9. `--over` 200 rows, ~20 % transient failures (503s and resets)",
            target="rows finish: all ok after one `--only-failed` (~99.2 % expected ok before it)",
            baseline=f"no faults: {base_wall.fmt(unit='s', scale=1)}, {min(r[1] for r in baseline)}/{ROWS} ok",
            measured=f"{wall.fmt(unit='s', scale=1)}; ok {'/'.join(map(str, ok))} of {ROWS}; "
            f"retries {'/'.join(map(str, retries))}",
            result=f"{wall.median / base_wall.median:.1f}x the fault-free wall time; "
            f"after --only-failed: {'/'.join(map(str, after))} ok",
            verdict=harness.verdict(min(after) == ROWS),
            n=f"{reps}x{ROWS}",
            notes=[
                f"run {i + 1}: {r[1]} ok, {r[2]} retries, {r[0]:.2f} s, {rate:.1%} of requests failed"
                + (f"; --only-failed re-ran {ROWS - r[1]} rows in {r[3]:.2f} s -> {r[4]} ok" if r[1] < ROWS else "")
                for i, (r, rate) in enumerate(zip(faulty, met))
            ],
        )
    ]


if __name__ == "__main__":
    harness.main(run)
