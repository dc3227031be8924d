"""The teaching notebook, headless, with the sandbox paced like a real model: wall time, and how
many display updates its first answer arrives in.

Method: ``notebooks/teaching-demo.ipynb`` runs exactly as ``make demo HEADLESS=1`` runs it
(``notebooks/run.py``'s ``execute``: nbclient, a fresh kernel in the notebooks folder, the
environment of a keyless demo, so a plain ``%freddy_auth`` starts the in-kernel sandbox at its
default pace of 1), with a client that also counts the kernel's messages. Wall time covers the
whole run, kernel start and shutdown included. The first answer's updates are the
``update_display_data`` messages of its cell: the first piece is its ``display_data``, each later
piece that got past the 50 ms display throttle an update, the finished answer the last update.
The target for the wall time is the one a class can wait for: under 30 s.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path

import harness

NOTEBOOK = Path(harness.ROOT) / "notebooks" / "teaching-demo.ipynb"
LIMIT_S = 30.0


def _run_py():
    spec = importlib.util.spec_from_file_location("notebooks_run", NOTEBOOK.parent / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _once(run_py, out_dir):
    from nbclient import NotebookClient

    messages = []

    class Counting(NotebookClient):
        def process_message(self, msg, cell, cell_index):
            messages.append((cell.get("id"), msg["msg_type"]))
            return super().process_message(msg, cell, cell_index)

    started = time.perf_counter()
    _copy, error = run_py.execute(NOTEBOOK, out_dir, timeout=120, client_class=Counting)
    wall = time.perf_counter() - started
    if error is not None:
        raise RuntimeError(f"the teaching notebook failed: {error}")
    updates = sum(1 for cell_id, kind in messages if cell_id == "ask" and kind == "update_display_data")
    return wall, updates


def run(quick=False):
    reps = 1 if quick else 3
    run_py = _run_py()
    env = run_py.demo_environment(os.environ, force_sandbox=True)  # nbclient's kernels inherit it
    os.environ.clear()
    os.environ.update(env)
    os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="freddy-bench-ipython-")
    with tempfile.TemporaryDirectory(prefix="freddy-bench-teaching-") as out:
        runs = [_once(run_py, Path(out)) for _ in range(reps)]
    wall = harness.Stat.of(w for w, _ in runs)
    updates = [u for _, u in runs]
    return [
        harness.Result(
            bench="10. teaching notebook, headless, sandbox paced like a model",
            target=f"< {LIMIT_S:.0f} s; its first answer visibly streams (>= 3 display updates)",
            baseline="(none: a wall-time budget for a class)",
            measured=f"{wall.fmt(unit='s', scale=1)}; first answer in {'/'.join(map(str, updates))} updates",
            result=f"{wall.max:.1f} s at worst",
            verdict=harness.verdict(wall.max < LIMIT_S and min(updates) >= 3),
            n=str(reps),
        )
    ]


if __name__ == "__main__":
    harness.main(run)
