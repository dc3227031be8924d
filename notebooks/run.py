#!/usr/bin/env python3
"""The two halves of ``make demo``: open JupyterLab on the quickstart, or execute every notebook.

``make demo`` has made the venv and installed the package before this runs, so this script only
decides the environment: with no ``FREDDY_API_KEY`` it sets ``FREDDY_SANDBOX=1``, which makes the
plain ``%freddy_auth`` in each notebook start a sandbox inside the kernel, and, when a recording
ships next to the notebooks (``recorded-answers.jsonl``), ``FREDDY_REPLAY``: its answers are
replayed and the sandbox answers the rest, labelled. A key, when present, wins, so the same
notebooks run unchanged against the real API. IPython history stays off for the
demo's kernels (a kernelspec with ``--HistoryManager.enabled=False`` on ``JUPYTER_PATH``), because
a demo is where people paste things. JupyterLab's news and update pop-up is switched off for the
demo (a page config on ``JUPYTER_CONFIG_PATH`` disables that one plugin; the user's own settings
are untouched), and run as root (Docker, Codespaces, many cloud VMs) it gets ``--allow-root``,
without which it refuses to start.

    run.py lab                      JupyterLab on quickstart.ipynb (replaces this process)
    run.py execute [NB ...]         run notebooks top to bottom with nbclient, write executed
                                    copies to notebooks/executed/, exit 1 if any cell failed
    run.py clean [NB ...]           strip outputs, execution counts and widget state in place
    run.py record [NB ...]          run notebooks with every answer recorded to
                                    recorded-answers.jsonl (with your key: real answers)
"""

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO_JUPYTER_PATH = HERE / ".jupyter-path"  # holds kernels/python3 with history switched off
DEMO_CONFIG_PATH = HERE / ".jupyter-config"  # holds labconfig/page_config.json: no news pop-up
EXECUTED = HERE / "executed"
RECORDING = HERE / "recorded-answers.jsonl"  # replayed by make demo and Binder when there is no key


def notebooks():
    """The demo notebooks in reading order: the quickstart first, then by name."""
    found = sorted(HERE.glob("*.ipynb"))
    return sorted(found, key=lambda path: (path.name != "quickstart.ipynb", path.name))


def demo_environment(environ, *, force_sandbox=False, recording=RECORDING):
    """The environment the demo's server and kernels run in, derived from ``environ``.

    ``force_sandbox`` leaves out a key and the recording: only the sandbox answers.
    """
    env = dict(environ)
    if force_sandbox:
        env.pop("FREDDY_API_KEY", None)
        env.pop("FREDDY_REPLAY", None)
        env["PYTHON_DOTENV_DISABLED"] = "1"  # nor a FREDDY_API_KEY from a .env above the notebooks
    if not env.get("FREDDY_API_KEY"):
        env["FREDDY_SANDBOX"] = "1"
        if not force_sandbox and recording is not None and recording.exists():
            env.setdefault("FREDDY_REPLAY", str(recording))
    for name, first in (("JUPYTER_PATH", DEMO_JUPYTER_PATH), ("JUPYTER_CONFIG_PATH", DEMO_CONFIG_PATH)):
        paths = [str(first)] + [p for p in env.get(name, "").split(os.pathsep) if p]
        env[name] = os.pathsep.join(paths)
    return env


def lab_command(argv, *, root):
    """The JupyterLab command line; ``root`` adds the ``--allow-root`` it refuses to start without."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={HERE}",
        "--ServerApp.ip=127.0.0.1",
    ]
    if root and "--allow-root" not in argv:
        command.append("--allow-root")
    return [*command, *argv, "quickstart.ipynb"]


def lab(argv):
    env = demo_environment(os.environ)
    if not env.get("FREDDY_API_KEY"):
        print(
            "No FREDDY_API_KEY in the environment: FREDDY_SANDBOX=1, so the notebooks use the built-in "
            "sandbox (fake answers) unless a .env file provides a key.",
            flush=True,
        )
    command = lab_command(argv, root=os.geteuid() == 0)
    os.chdir(HERE)
    os.execve(sys.executable, command, env)


def clean(path):
    """Rewrite ``path`` as it is committed: no outputs, execution counts or widget state."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def kernel_manager(folder):
    """A manager for one python3 kernel that talks over Unix sockets in ``folder`` where the
    platform has them. Over TCP, jupyter_client picks free ports and the kernel binds them a moment
    later; on a busy machine another process can take one in between, and the kernel dies with
    "Address already in use". Windows has no Unix sockets here, so it keeps TCP."""
    from jupyter_client import KernelManager

    if os.name != "posix":
        return KernelManager(kernel_name="python3")
    return KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(folder, "kernel"))


def execute(path, out_dir, *, timeout=120, client_class=None, resources_path=None):
    """Run ``path`` with nbclient in its own folder; write the executed copy; return (copy, error).

    The copy is written even when a cell fails, so the failing output can be read there.
    ``client_class`` (a NotebookClient subclass) lets a test see every message on the way.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    error = None
    with tempfile.TemporaryDirectory(prefix="fm-kernel-") as sockets:  # a short path: sockets have a length limit
        client = (client_class or NotebookClient)(
            nb,
            km=kernel_manager(sockets),
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(resources_path or Path(path).parent)}},
            shutdown_kernel="immediate",
            store_widget_state=False,  # nothing a widget held is worth a file that might be shared
        )
        try:
            client.execute()
        except CellExecutionError as exc:
            error = exc
    out_dir.mkdir(parents=True, exist_ok=True)
    copy = out_dir / Path(path).name
    nbformat.write(nb, copy)
    return copy, error


def execute_all(paths, out_dir, *, force_sandbox):
    env = demo_environment(os.environ, force_sandbox=force_sandbox)
    os.environ.clear()  # nbclient's kernels inherit this process's environment
    os.environ.update(env)
    if os.environ.get("FREDDY_API_KEY"):
        source = "the real API (FREDDY_API_KEY)"
    elif os.environ.get("FREDDY_REPLAY"):
        source = f"the recording {os.environ['FREDDY_REPLAY']} (the sandbox answers what it lacks)"
    elif force_sandbox:
        source = "the sandbox"
    else:
        source = "the sandbox (unless a .env file provides FREDDY_API_KEY)"
    print(f"Executing {len(paths)} notebook(s) against {source}:")
    failed = 0
    for path in paths:
        started = time.perf_counter()
        copy, error = execute(path, out_dir)
        took = time.perf_counter() - started
        if error is None:
            print(f"  ok      {took:5.1f}s  {copy}")
        else:
            failed += 1
            reason = (str(error).strip().splitlines() or [type(error).__name__])[-1]
            print(f"  FAILED  {took:5.1f}s  {copy}\n          {reason}")
    print(f"Executed copies are in {out_dir}")
    return 1 if failed else 0


def record(paths, to):
    """Run ``paths`` with every answer appended to ``to`` (written anew), as ``%freddy record`` does
    when a teacher adds it after ``%freddy_auth``: with a key, the class later replays real answers."""
    import nbformat

    env = demo_environment(os.environ, recording=None)
    env.pop("FREDDY_REPLAY", None)  # record what is answered now, not an older recording
    os.environ.clear()
    os.environ.update(env)
    to = to.resolve()
    to.unlink(missing_ok=True)
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            auth = next(i for i, cell in enumerate(nb.cells) if "".join(cell.source).startswith("%freddy_auth"))
            nb.cells.insert(auth + 1, nbformat.v4.new_code_cell(f"%freddy record {shlex.quote(str(to))}"))
            nb.cells.append(nbformat.v4.new_code_cell("%freddy record --stop"))
            copy = Path(folder) / path.name
            nbformat.write(nb, copy)
            _, error = execute(copy, Path(folder) / "executed", resources_path=path.parent)
            failed += error is not None
            print(f"  {'FAILED' if error else 'ok':6}  {path.name}")
    print(f"Recorded {sum(1 for _ in to.open())} answers to {to}" if to.exists() else "Nothing was recorded")
    return 1 if failed else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("lab", help="open JupyterLab on the quickstart; other options go to jupyter lab")
    run_parser = sub.add_parser("execute", help="run every notebook top to bottom")
    run_parser.add_argument("paths", nargs="*", type=Path, help="default: every notebook here")
    run_parser.add_argument("--out", type=Path, default=EXECUTED, help="where executed copies go")
    run_parser.add_argument("--sandbox", action="store_true", help="ignore FREDDY_API_KEY (env and .env)")
    record_parser = sub.add_parser("record", help="run notebooks, recording every answer")
    record_parser.add_argument("paths", nargs="*", type=Path, help="default: teaching-demo.ipynb")
    record_parser.add_argument("--to", type=Path, default=RECORDING, help="the recording to write")
    clean_parser = sub.add_parser("clean", help="strip outputs before committing")
    clean_parser.add_argument("paths", nargs="*", type=Path)
    args, jupyter_args = parser.parse_known_args(argv)
    if jupyter_args and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(jupyter_args)}")

    if args.command == "lab":
        lab(jupyter_args)
    elif args.command == "execute":
        return execute_all(args.paths or notebooks(), args.out, force_sandbox=args.sandbox)
    elif args.command == "record":
        return record(args.paths or [HERE / "teaching-demo.ipynb"], args.to)
    else:
        for path in args.paths or notebooks():
            clean(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
