"""Performance target: ``%load_ext freddy_magic`` adds <= 20 ms to a bare IPython shell.

Method: real ``ipython`` processes (``python -m IPython --quick -c CODE``, a throwaway
IPYTHONDIR, history off), alternating a bare shell and one that runs ``%load_ext
freddy_magic``, 20 of each after one warm-up of each (so .pyc files exist, as on a user's
second start). Two numbers:

- the load itself, timed inside the process around ``run_line_magic("load_ext", ...)``: the
  precise figure, and the one the target is judged on;
- the whole process's wall time, loaded minus bare (medians): the same cost seen from outside,
  noisier because interpreter start-up varies by a few ms.

Each process also reports which heavy modules are in ``sys.modules`` after the load (beyond
what the bare shell has): the target requires that requests and ipywidgets (and, by the team
contract, werkzeug and pandas) are not imported until first use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import harness

FORBIDDEN = ("requests", "ipywidgets", "werkzeug", "pandas")  # imported on first use only, never by loading
HEAVY = ("requests", "ipywidgets", "werkzeug", "pandas", "urllib3", "jwt", "dotenv")
CODE = """
import json, sys, time
before = set(sys.modules)
t = time.perf_counter()
{load}
t = time.perf_counter() - t
heavy = [m for m in {heavy!r} if m in sys.modules]
print("LOADJSON " + json.dumps({{"load_s": t, "heavy": heavy, "new_modules": len(set(sys.modules) - before)}}))
"""


def _one(load, ipython_dir):
    statement = "get_ipython().run_line_magic('load_ext', 'freddy_magic')" if load else "pass"
    code = CODE.format(load=statement, heavy=HEAVY)
    argv = [
        sys.executable,
        "-m",
        "IPython",
        "--quick",
        "--no-banner",
        "--colors=nocolor",
        "--HistoryManager.enabled=False",
        "-c",
        code,
    ]
    env = dict(os.environ, IPYTHONDIR=ipython_dir)
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=harness.ROOT, timeout=60)
    wall = time.perf_counter() - t
    line = next((x for x in proc.stdout.splitlines() if x.startswith("LOADJSON ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"ipython exited {proc.returncode}: {(proc.stderr + proc.stdout).strip()[-400:]}")
    info = json.loads(line[len("LOADJSON ") :])
    info["wall_s"] = wall
    return info


def run(quick=False):
    reps = 5 if quick else 20
    bare, loaded = [], []
    with tempfile.TemporaryDirectory() as ipython_dir:
        _one(False, ipython_dir)
        _one(True, ipython_dir)
        for _ in range(reps):
            bare.append(_one(False, ipython_dir))
            loaded.append(_one(True, ipython_dir))
    load = harness.Stat.of(x["load_s"] for x in loaded)
    bare_wall = harness.Stat.of(x["wall_s"] for x in bare)
    loaded_wall = harness.Stat.of(x["wall_s"] for x in loaded)
    added_wall = loaded_wall.median - bare_wall.median
    heavy = sorted({m for x in loaded for m in x["heavy"]} - {m for x in bare for m in x["heavy"]})
    forbidden = [m for m in heavy if m in FORBIDDEN]
    new_modules = harness.Stat.of(x["new_modules"] for x in loaded)
    ok = load.median <= 0.020 and not forbidden
    return [
        harness.Result(
            bench="1. `%load_ext freddy_magic`",
            target="<= 20 ms added; requests/ipywidgets/werkzeug/pandas not imported at load",
            baseline=f"bare `ipython -c` process: {bare_wall.fmt(digits=0)} wall",
            measured=f"load_ext {load.fmt()}; process wall {added_wall * 1e3:+.0f} ms vs bare",
            result=f"heavy modules imported by load: {', '.join(heavy) or 'none'}; "
            f"{new_modules.median:.0f} new modules",
            verdict=harness.verdict(ok),
            n=f"{reps}+{reps}",
            notes=[f"loaded process wall {loaded_wall.fmt(digits=0)}"],
        )
    ]


if __name__ == "__main__":
    harness.main(run)
