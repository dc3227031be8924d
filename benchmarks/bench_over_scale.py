"""``--over`` at scale: wall time per row at 100, 1,000 and 10,000 rows, and peak memory at 10,000.

Method: the sandbox runs in its own process with no rate limit and no latency, so what grows
with the row count is the magics' own work. Each run is a fresh worker process (this script
with ``--worker``): an IPython shell loads the extension, authenticates from the environment,
warms up with an 8-row batch, builds the input (a list of dicts), then times
``%%freddy --over rows --concurrency 8`` around ``run_cell_magic`` (display captured by
:class:`harness.Screen`). Cost per row = wall / rows; it should stay flat from 1,000 to
10,000 rows (100 rows carry the thread pool's start-up). The notebook process's own CPU time
per row is noted too: on 2 cores it and the sandbox's share the machine, so the wall time per
row is bounded by their sum.

Memory: just before the timed run the worker resets the kernel's peak-RSS mark (``5`` into
``/proc/self/clear_refs``) and notes its RSS; afterwards it reads ``VmHWM``. The peak increase
is compared with the rows' own size, measured as the deep ``sys.getsizeof`` of the returned
list (every distinct object counted once, shared key strings included once).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

import harness

CONCURRENCY = 8
CELL = "What is {n} squared?"


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def deep_size(root):
    seen, stack, total = set(), [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
    return total


def worker(n, url, out):
    shell = harness.magic_shell(url, os.environ["FREDDY_API_KEY"])
    screen = harness.Screen(shell)
    shell.user_ns["warm"] = [{"n": i} for i in range(CONCURRENCY)]
    screen.run(shell, f"--over warm --concurrency {CONCURRENCY}", CELL)
    shell.user_ns["rows"] = [{"n": i} for i in range(n)]
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    rss_before = _status_kb("VmRSS")
    cpu_before = time.process_time()
    result, _start, wall = screen.run(shell, f"--over rows --concurrency {CONCURRENCY}", CELL)
    cpu = time.process_time() - cpu_before
    peak = _status_kb("VmHWM")
    rows = list(result)
    info = {
        "n": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_kb": rss_before,
        "peak_kb": peak,
        "rows_bytes": deep_size(rows),
        "json_bytes": len(json.dumps(rows, default=str)),
        "failed": sum(r["status"] != "ok" for r in rows),
        "returned": len(rows),
    }
    with open(out, "w") as f:
        json.dump(info, f)


def _spawn(n, url, key):
    info = harness.spawn_worker(__file__, n, url, key)
    if info["returned"] != n or info["failed"]:
        raise RuntimeError(f"{n} rows: {info['returned']} returned, {info['failed']} failed")
    return info


def run(quick=False):
    plan = [(100, 2), (1000, 2)] if quick else [(100, 3), (1000, 3), (10000, 2)]
    runs = {}
    with harness.sandbox_process() as info:
        for n, reps in plan:
            runs[n] = [_spawn(n, info["url"], info["api_key"]) for _ in range(reps)]
    per_row = {n: harness.Stat.of(r["wall_s"] / n for r in rs) for n, rs in runs.items()}
    sizes = sorted(runs)
    big, mid = sizes[-1], sizes[-2]
    flat = per_row[big].median / per_row[mid].median
    scaling = harness.Result(
        bench="7. scaling: `--over` wall time per row, unlimited sandbox",
        target=f"cost per row flat (<= 1.2x from {mid:,} to {big:,} rows)",
        baseline=f"{mid:,} rows: {per_row[mid].fmt(unit='ms/row')}",
        measured="; ".join(f"{n:,} rows: {per_row[n].fmt(unit='ms/row')}" for n in sizes),
        result=f"{flat:.2f}x per row at {big:,} vs {mid:,}; {big / (per_row[big].median * big):.0f} rows/s",
        verdict=harness.verdict(flat <= 1.2),
        n=", ".join(f"{len(runs[n])}x{n:,}" for n in sizes),
        notes=[
            f"{n:,} rows wall: {harness.Stat.of(r['wall_s'] for r in runs[n]).fmt(unit='s', scale=1)}; "
            f"CPU of the notebook process {harness.Stat.of(r['cpu_s'] / n for r in runs[n]).fmt(unit='ms/row')}"
            for n in sizes
        ],
    )
    peak = max(runs[big], key=lambda r: r["peak_kb"])
    grown = (peak["peak_kb"] - peak["rss_before_kb"]) * 1024
    memory = harness.Result(
        bench=f"8. memory: peak RSS of a {big:,}-row `--over` run",
        target="small multiple of the rows' own size",
        baseline=f"rows' own size {peak['rows_bytes'] / 2**20:.1f} MiB (JSON {peak['json_bytes'] / 2**20:.1f} MiB)",
        measured=f"peak RSS +{grown / 2**20:.1f} MiB over {peak['rss_before_kb'] / 1024:.0f} MiB before the run",
        result=f"{grown / peak['rows_bytes']:.2f}x the rows' size ({grown / big / 1024:.1f} KiB per row)",
        verdict="info",
        n=f"worst of {len(runs[big])}",
    )
    return [scaling, memory]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        harness.main(run)
