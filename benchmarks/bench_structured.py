"""Structured answers: what reading ``--json --fields`` answers adds to the cost of an ``--over`` row.

Method: the sandbox runs in its own process with no rate limit and no latency, as in the
scaling benchmark. Each worker process (this script with ``--worker``) loads the extension in
an IPython shell, warms up, then in the same process and the same minute:

1. times a plain ``%%freddy --over rows --concurrency 8`` over 10,000 rows: the baseline, wall
   time per row;
2. times the same cell with ``--fields "sentiment:str, score:float, topics:list, note?:str"``
   (the sandbox answers JSON, a share of it fenced or after prose, so every unwrapping path
   runs): reported, but it also carries the longer request and the sandbox's JSON generation;
3. notes the notebook process's CPU time per row of both runs (the client's whole added work);
4. times the parsing and coercion alone (:meth:`Shape.apply`, what a row gets on top of a plain
   one) over those 10,000 answers, single-threaded, five passes, median pass.

Added cost per row = (4) per row / (1) per row. The parse runs on the worker threads during a
batch, in parallel with requests in flight, so this ratio is an upper bound of what it adds to
the wall time.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import harness

CONCURRENCY = 8
FIELDS = "sentiment:str, score:float, topics:list, note?:str"
CELL = "Review {n}: {verdict} kettle, the lid is {lid}."
PASSES = 5


def _reviews(n):
    return [{"n": i, "verdict": ("great", "broken", "fine")[i % 3], "lid": ("tight", "loose")[i % 2]} for i in range(n)]


def worker(n, url, out):
    from freddy_magic._results import Row
    from freddy_magic._structured import Shape, parse_fields

    shell = harness.magic_shell(url, os.environ["FREDDY_API_KEY"])
    screen = harness.Screen(shell)
    shell.user_ns["warm"] = _reviews(CONCURRENCY)
    screen.run(shell, f"--over warm --concurrency {CONCURRENCY}", CELL)
    screen.run(shell, f'--over warm --concurrency {CONCURRENCY} --fields "{FIELDS}"', CELL)
    shell.user_ns["rows"] = _reviews(n)
    cpu = time.process_time()
    plain, _start, plain_wall = screen.run(shell, f"--over rows --concurrency {CONCURRENCY}", CELL)
    cpu, plain_cpu = time.process_time(), time.process_time() - cpu
    shaped, _start, shaped_wall = screen.run(
        shell, f'--over rows --concurrency {CONCURRENCY} --fields "{FIELDS}"', CELL
    )
    shaped_cpu = time.process_time() - cpu
    shape = Shape(parse_fields(FIELDS))
    texts = [row["text"] for row in shaped]
    passes = []
    for _ in range(PASSES):
        fresh = [Row(status="ok", text=text, error=None) for text in texts]
        started = time.perf_counter()
        for row in fresh:
            shape.apply(row)
        passes.append(time.perf_counter() - started)
    info = {
        "n": n,
        "plain_wall_s": plain_wall,
        "shaped_wall_s": shaped_wall,
        "plain_cpu_s": plain_cpu,
        "shaped_cpu_s": shaped_cpu,
        "parse_s": statistics.median(passes),
        "plain_failed": sum(r["status"] != "ok" for r in plain),
        "shaped_ok": sum(r["status"] == "ok" for r in shaped),
        "fenced": sum(t.startswith("```") for t in texts),
        "after_prose": sum(t.startswith("Here is") for t in texts),
        "returned": len(plain) + len(shaped),
    }
    with open(out, "w") as f:
        json.dump(info, f)


def _spawn(n, url, key):
    info = harness.spawn_worker(__file__, n, url, key)
    if info["returned"] != 2 * n or info["plain_failed"] or info["shaped_ok"] != n:
        raise RuntimeError(f"{n} rows: {info}")
    return info


def run(quick=False):
    n, reps = (1000, 1) if quick else (10000, 2)
    with harness.sandbox_process() as info:
        runs = [_spawn(n, info["url"], info["api_key"]) for _ in range(reps)]
    plain = harness.Stat.of(r["plain_wall_s"] / n for r in runs)
    shaped = harness.Stat.of(r["shaped_wall_s"] / n for r in runs)
    parse = harness.Stat.of(r["parse_s"] / n for r in runs)
    plain_cpu = harness.Stat.of(r["plain_cpu_s"] / n for r in runs)
    shaped_cpu = harness.Stat.of(r["shaped_cpu_s"] / n for r in runs)
    added = [r["parse_s"] / r["plain_wall_s"] for r in runs]
    worst = max(added)
    return [
        harness.Result(
            bench="11. structured answers: parse and coerce per `--over` row",
            target=f"<= 5 % added per row at {n:,} rows",
            baseline=f"plain `--over` {n:,} rows: {plain.fmt(unit='ms/row')}",
            measured=f"parse + coerce {parse.fmt(unit='µs/row', scale=1e6)}",
            result=f"+{statistics.median(added) * 100:.2f} % per row (worst run +{worst * 100:.2f} %)",
            verdict=harness.verdict(worst <= 0.05),
            n=f"{reps}x{n:,} rows, {PASSES} parse passes each",
            notes=[
                f"whole `--fields` run {shaped.fmt(unit='ms/row')} wall vs plain {plain.fmt(unit='ms/row')} "
                "(also a longer request and the sandbox, on the same 2 cores, writing JSON; not only the parse)",
                f"notebook process CPU per row: `--fields` {shaped_cpu.fmt(unit='ms/row')} vs plain "
                f"{plain_cpu.fmt(unit='ms/row')} (parse, the longer request body and the wider rows)",
                f"answers per run: {runs[0]['fenced']:,} fenced, {runs[0]['after_prose']:,} after a line of prose, "
                "the rest bare JSON",
            ],
        )
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        harness.main(run)
