"""Shared scaffolding for the benchmarks: statistics, result rows, sandboxes and IPython shells.

Every benchmark script measures one performance target (the README lists them) against a baseline taken in the same
run, and reports median, min and max. The scripts run standalone (``python benchmarks/x.py``
prints its rows) and under ``benchmarks/run.py``, which starts each one in a fresh interpreter
so that import state, threads and memory of one benchmark never colour another, and reads the
rows back from the one ``BENCH-JSON`` line the script prints last.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

JSON_MARK = "BENCH-JSON "
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Stat:
    """median, min and max of some samples, in the samples' own unit."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples):
        samples = list(samples)
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def fmt(self, unit="ms", scale=1e3, digits=2):
        f = f"{{:.{digits}f}}"
        return f"{f.format(self.median * scale)} {unit} ({f.format(self.min * scale)}–{f.format(self.max * scale)})"


@dataclass
class Result:
    """One line of the results table."""

    bench: str
    target: str
    baseline: str
    measured: str
    result: str
    verdict: str  # "met", "MISSED", "info" or "ERROR"
    n: str = ""
    notes: list = field(default_factory=list)


def verdict(ok):
    return "met" if ok else "MISSED"


def emit(results):
    print(JSON_MARK + json.dumps([asdict(r) for r in results]), flush=True)


def parse_emitted(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith(JSON_MARK):
            return [Result(**d) for d in json.loads(line[len(JSON_MARK) :])]
    return None


def table(results):
    head = "| benchmark | target | baseline (same run) | measured: median (min–max) | result | verdict | n |"
    rows = [head, "|" + "---|" * 7]
    for r in results:
        rows.append(f"| {r.bench} | {r.target} | {r.baseline} | {r.measured} | {r.result} | **{r.verdict}** | {r.n} |")
    return "\n".join(rows)


def main(run):
    """Entry point of a benchmark script: ``run(quick) -> list[Result]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    args = parser.parse_args()
    results = run(args.quick)
    print(table(results))
    for r in results:
        for note in r.notes:
            print(f"- {r.bench}: {note}")
    emit(results)


_SANDBOX_MAIN = """
import json, sys
from freddy_magic.sandbox import Sandbox
with Sandbox(**json.loads(sys.argv[1])) as sb:
    print(json.dumps({"url": sb.url, "api_key": sb.api_key}), flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def sandbox_process(rate_limit=None, **knobs):
    """A sandbox in its own process; yields ``{"url", "api_key"}``. ``rate_limit=None``: unlimited.

    Client-side costs are measured against an out-of-process server so that the server's
    threads do not compete with the client for this interpreter's GIL, as a real remote API
    would not. The server lives until its stdin closes, so it cannot outlive the benchmark.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _SANDBOX_MAIN, json.dumps(dict(knobs, rate_limit=rate_limit))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox process exited {proc.wait()} before printing its address")
        yield json.loads(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn_worker(script, n, url, key):
    """Run ``script --worker n url OUT`` in a fresh interpreter; the dict it wrote to OUT.

    A worker measures one batch size in a process of its own, so memory and import state of one
    size never colour another. The key travels in the environment, not argv, where any process
    listing would show it.
    """
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run(
            [sys.executable, script, "--worker", str(n), url, out.name],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env=dict(os.environ, FREDDY_API_KEY=key),
        )
        if proc.returncode:
            raise RuntimeError(f"worker for {n} rows exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
        with open(out.name) as written:
            return json.load(written)


class Screen:
    """What a user sees, with the time each piece appeared: every display publish and stdout write.

    Installed as the shell's display publisher and as ``sys.stdout``, so the time a streamed
    token reaches the screen is taken where the front end would receive it, whichever way the
    magics choose to show it.
    """

    def __init__(self, shell):
        from IPython.core.displaypub import DisplayPublisher

        screen = self

        class StampingPublisher(DisplayPublisher):
            def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
                screen.events.append((time.perf_counter(), "display", data))

            def clear_output(self, wait=False):
                screen.events.append((time.perf_counter(), "clear", {}))

        class StampingStdout:
            def write(self, text):
                if text:
                    screen.events.append((time.perf_counter(), "stdout", {"text/plain": text}))
                return len(text)

            def flush(self):
                pass

            def isatty(self):
                return False

        self.events = []
        shell.display_pub = StampingPublisher(shell=shell)
        self.stdout = StampingStdout()

    def reset(self):
        self.events.clear()

    def run(self, shell, line, cell):
        """``%%freddy line`` + ``cell`` on a clean screen: (its value, start time, seconds taken)."""
        self.reset()
        real_stdout, sys.stdout = sys.stdout, self.stdout
        try:
            start = time.perf_counter()
            value = shell.run_cell_magic("freddy", line, cell)
            return value, start, time.perf_counter() - start
        finally:
            sys.stdout = real_stdout

    def first(self, needle):
        """Time of the first event whose text contains ``needle``, or None."""
        for stamp, _kind, data in self.events:
            if any(needle in str(v) for v in data.values()):
                return stamp
        return None

    def text(self):
        return "\n".join(str(v) for _s, _k, data in self.events for v in data.values())


def magic_shell(base_url, api_key):
    """An in-process IPython shell with the extension loaded and authenticated from the environment.

    The same route a headless user takes: ``FREDDY_API_KEY`` and ``FREDDY_BASE_URL`` in the
    environment, ``%freddy_auth --env``. History is off and IPYTHONDIR is a throwaway, so
    benchmarks write nothing into the user's profile.
    """
    import tempfile

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="freddy-bench-ipython-")
    os.environ["FREDDY_API_KEY"] = api_key
    os.environ["FREDDY_BASE_URL"] = base_url
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "freddy_magic")
    shell.run_line_magic("freddy_auth", "--env")
    return shell
