"""A real kernel in a sealed temporary world, watched from outside.

In-process shells miss the leaks that matter: history.sqlite is written by a kernel thread,
IOPub goes to every front end, widgets echo over comms, logs go to the kernel's stderr. So a
sweep starts a real ipykernel through jupyter_client with HOME, IPYTHONDIR, JUPYTER_*, TMPDIR
and the cwd inside a fresh tree, records every IOPub message and every shell reply, and plays
the front end by sending the same comm messages JupyterLab sends.

Files are searched where this kernel could have written them, and nowhere else: everything
created or changed in its tree, plus every file the kernel (or a Python child of it) opened for
writing anywhere else, which a ``sitecustomize`` on the kernel's PYTHONPATH records with an
audit hook. Other processes on the machine cannot make a sweep fail, and a file written outside
the tree is still found.

The kernel is never told the canary except through the one path under test: checks of kernel
memory are done by printing what a front end or inspector could see, and searching that
output here.
"""

import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .demo import run_py as demo

TIMEOUT = 60.0

# Loaded by the kernel at start-up (``site`` imports ``sitecustomize`` from PYTHONPATH). The
# record goes through a descriptor opened before the hook exists, and os.write raises no audit
# event, so recording never re-enters the hook.
_SITECUSTOMIZE = """
import os as _fm_os, sys as _fm_sys

_fm_log = _fm_os.open(%(path)r, _fm_os.O_WRONLY | _fm_os.O_APPEND | _fm_os.O_CREAT, 0o600)
_fm_writing = _fm_os.O_WRONLY | _fm_os.O_RDWR | _fm_os.O_APPEND | _fm_os.O_CREAT | _fm_os.O_TRUNC


def _fm_record(path):
    if isinstance(path, (str, bytes, _fm_os.PathLike)):
        path = _fm_os.path.abspath(_fm_os.fsdecode(path))
        _fm_os.write(_fm_log, (path + "\\n").encode("utf-8", "surrogateescape"))


def _fm_written_files(event, args):
    if event == "open" and (args[2] or 0) & _fm_writing:
        _fm_record(args[0])
    elif event == "os.rename":  # also os.replace: the target of an atomic write
        _fm_record(args[1])
    elif event == "sqlite3.connect":
        _fm_record(args[0])


_fm_sys.addaudithook(_fm_written_files)
"""


_LOG_CAPTURE = """
import logging as _fm_logging, json as _fm_json, warnings as _fm_warnings
class _FmCapture(_fm_logging.Handler):
    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception as exc:
            message = "<unformattable " + type(exc).__name__ + ">"
        entry = {"name": record.name, "level": record.levelname, "msg": repr(record.msg),
                 "args": repr(record.args), "message": message,
                 "exc": self.formatter.formatException(record.exc_info) if record.exc_info else record.exc_text}
        with open(%(path)r, "a", encoding="utf-8") as fh:
            fh.write(_fm_json.dumps(entry) + "\\n")
_fm_handler = _FmCapture(level=0)
_fm_handler.setFormatter(_fm_logging.Formatter())
_fm_logging.getLogger().addHandler(_fm_handler)
_fm_logging.getLogger().setLevel(_fm_logging.DEBUG)
for _fm_name in ("freddy_magic", "urllib3", "requests"):
    _fm_logging.getLogger(_fm_name).setLevel(_fm_logging.DEBUG)
_fm_logging.captureWarnings(True)
_fm_warnings.simplefilter("always")
"""


@dataclass
class Ran:
    """What one execution produced: its IOPub messages, its shell reply, the source."""

    source: str
    msg_id: str
    iopub: list = field(default_factory=list)
    reply: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.reply.get("content", {}).get("status") == "ok"

    @property
    def text(self):
        """Everything a user would read in the output area, joined. A print may reach IOPub in
        several stream messages (the kernel flushes on a timer); the output area runs them
        together, and so does this."""
        parts, last_stream = [], None
        for msg in self.iopub:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                if last_stream == content["name"]:
                    parts[-1] += content["text"]
                else:
                    parts.append(content["text"])
                last_stream = content["name"]
            elif msg["msg_type"] in ("display_data", "execute_result", "update_display_data"):
                parts.append(json.dumps(content.get("data", {})))
                last_stream = None
            elif msg["msg_type"] == "error":
                parts.append(content["ename"] + ": " + content["evalue"] + "\n" + "\n".join(content["traceback"]))
                last_stream = None
        return "\n".join(parts)


def snapshot(root):
    """``{path: (mtime_ns, size)}`` for every regular file under ``root``."""
    found = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            st = path.lstat()
            if path.is_file() and not path.is_symlink():
                found[path] = (st.st_mtime_ns, st.st_size)
    return found


def changed(before, after):
    return sorted(p for p, stamp in after.items() if before.get(p) != stamp)


class KernelSweep:
    """A kernel in ``base/tree`` (home, ipython, jupyter dirs, tmp, work, the write-recording
    hook); what the harness keeps (logs, replies, files opened elsewhere) in ``base/capture``."""

    def __init__(self, base, env=None, extra_arguments=(), allow_stdin=True):
        self.base = Path(base)
        self.tree = self.base / "tree"
        self.capture = self.base / "capture"
        self.home = self.tree / "home"
        self.work = self.tree / "work"
        self.ipython_dir = self.tree / "ipython"
        hooks = self.tree / "hooks"
        for d in (
            self.home,
            self.work,
            self.ipython_dir,
            self.tree / "tmp",
            self.capture,
            hooks,
            *(self.tree / "jupyter" / k for k in ("config", "data", "runtime")),
        ):
            d.mkdir(parents=True, exist_ok=True)
        self.opened_log = self.capture / "opened-for-writing.txt"
        (hooks / "sitecustomize.py").write_text(_SITECUSTOMIZE % {"path": str(self.opened_log)})
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "IPYTHONDIR": str(self.ipython_dir),
            "JUPYTER_CONFIG_DIR": str(self.tree / "jupyter" / "config"),
            "JUPYTER_DATA_DIR": str(self.tree / "jupyter" / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.tree / "jupyter" / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "TMPDIR": str(self.tree / "tmp"),
            "PYTHONPATH": os.pathsep.join([str(hooks), str(Path(__file__).resolve().parents[2])]),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "LANG": "C.UTF-8",
            **(env or {}),
        }
        self.extra_arguments = list(extra_arguments)
        self.allow_stdin = allow_stdin
        self.iopub = []
        self.inbound = []  # messages we sent: the one carrying the key is allowed to
        self.cells = []  # notebook cells: (Ran) in order
        self.harness_runs = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._stdin_answers = []
        self.log_path = self.capture / "kernel-log.jsonl"

    # lifecycle ---------------------------------------------------------------------------
    def __enter__(self):
        self.before = snapshot(self.tree)
        # Unix sockets, outside the tree the sweep searches (a socket is no file to read): see
        # notebooks/run.py kernel_manager for why not TCP.
        self._sockets = tempfile.mkdtemp(prefix="fm-sweep-")
        self.km = demo.kernel_manager(self._sockets)
        self.km.connection_file = str(self.capture / "kernel-connection.json")
        self._out = open(self.capture / "kernel-stdout.txt", "wb")
        self._err = open(self.capture / "kernel-stderr.txt", "wb")
        self.km.start_kernel(
            env=self.env, cwd=str(self.work), extra_arguments=self.extra_arguments, stdout=self._out, stderr=self._err
        )
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)
        self._threads = [
            threading.Thread(target=self._collect, daemon=True),
            threading.Thread(target=self._answer_stdin, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.harness(_LOG_CAPTURE % {"path": str(self.log_path)})
        return self

    def __exit__(self, *exc):
        try:
            self.harness("get_ipython().history_manager.writeout_cache()")
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=5)
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
            self._out.close()
            self._err.close()
            shutil.rmtree(self._sockets, ignore_errors=True)

    def _collect(self):
        """Every IOPub message, in order; waiters are woken by each one."""
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except Exception:  # queue.Empty, or the channel closing at shutdown
                continue
            with self._cond:
                self.iopub.append(msg)
                self._cond.notify_all()

    def _answer_stdin(self):
        """Answer input requests as they come, in the order given; an unexpected prompt gets an
        empty answer, not a hang."""
        while not self._stop.is_set():
            try:
                msg = self.kc.get_stdin_msg(timeout=0.1)
            except Exception:  # nothing asked, or the channel closing at shutdown
                continue
            if msg["msg_type"] == "input_request":
                answer = self._stdin_answers.pop(0) if self._stdin_answers else ""
                self.kc.input(answer)
                self.inbound.append({"msg_type": "input_reply", "content": {"value": answer}})

    # running code ------------------------------------------------------------------------
    def _wait_idle(self, msg_id, timeout):
        def mine():
            return [m for m in self.iopub if m.get("parent_header", {}).get("msg_id") == msg_id]

        def idle():
            return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in mine())

        with self._cond:
            if not self._cond.wait_for(idle, timeout):
                raise TimeoutError(f"kernel still busy after {timeout}s")
            return mine()

    def _execute(self, code, timeout, stdin_answer):
        return self._finish(self._start(code, stdin_answer), code, timeout)

    def _start(self, code, stdin_answer):
        # JupyterLab always offers stdin; nbclient never does (and then widgets are not offered)
        self._stdin_answers = list(stdin_answer) if isinstance(stdin_answer, (list, tuple)) else [stdin_answer or ""]
        return self.kc.execute(code, allow_stdin=self.allow_stdin, stop_on_error=False)

    def _finish(self, msg_id, code, timeout):
        ran = Ran(code, msg_id)
        ran.iopub = self._wait_idle(msg_id, timeout)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.01))
            if reply["parent_header"].get("msg_id") == msg_id:
                ran.reply = reply
                return ran

    def cell(self, code, timeout=TIMEOUT, stdin_answer=None):
        """Run a notebook cell (saved into the notebook). ``stdin_answer``: one answer, or a list
        answered in order (``%debug`` commands)."""
        ran = self._execute(code, timeout, stdin_answer)
        self.cells.append(ran)
        return ran

    def start_cell(self, code):
        """Start a notebook cell and return at once; ``finish_cell`` waits for it."""
        return code, self._start(code, None)

    def finish_cell(self, started, timeout=TIMEOUT):
        code, msg_id = started
        ran = self._finish(msg_id, code, timeout)
        self.cells.append(ran)
        return ran

    def interrupt(self):
        """What the stop button does: the kernel manager sends SIGINT to the kernel process."""
        self.km.interrupt_kernel()

    def wait_for_iopub(self, predicate, timeout=TIMEOUT):
        """Block until some IOPub message satisfies ``predicate``; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: any(predicate(m) for m in self.iopub), timeout)

    def harness(self, code, timeout=TIMEOUT):
        """Run inspection code that is not part of the user's notebook."""
        ran = self._execute(code, timeout, None)
        self.harness_runs.append(ran)
        return ran

    # playing the front end ---------------------------------------------------------------
    def widgets(self, model_name=None):
        """``[(comm_id, state)]`` of every widget the kernel opened, oldest first."""
        with self._cond:
            opens = [m for m in self.iopub if m["msg_type"] == "comm_open"]
        found = []
        for m in opens:
            state = m["content"].get("data", {}).get("state", {})
            if model_name is None or state.get("_model_name") == model_name:
                found.append((m["content"]["comm_id"], state))
        return found

    def send_comm(self, comm_id, data, timeout=TIMEOUT, wait=True):
        """Send a comm message as a front end does; wait for the kernel to handle it unless
        ``wait`` is False (then ``wait_idle(msg_id)`` does)."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.inbound.append(msg)
        self.kc.shell_channel.send(msg)
        if not wait:
            return msg["header"]["msg_id"]
        return self._wait_idle(msg["header"]["msg_id"], timeout)

    def wait_idle(self, msg_id, timeout=TIMEOUT):
        return self._wait_idle(msg_id, timeout)

    def type_into(self, comm_id, value, wait=True):
        return self.send_comm(comm_id, {"method": "update", "state": {"value": value}, "buffer_paths": []}, wait=wait)

    def click(self, comm_id):
        return self.send_comm(comm_id, {"method": "custom", "content": {"event": "click"}})

    def submit(self, comm_id):
        return self.send_comm(comm_id, {"method": "custom", "content": {"event": "submit"}})

    # evidence ----------------------------------------------------------------------------
    def save_notebook(self, name="sweep.ipynb", checkpoint=True):
        """Save the cells as JupyterLab would (contents manager, plus a checkpoint), with the
        widget manager state a "save widget state" front end would store."""
        import nbformat
        from jupyter_server.services.contents.filemanager import FileContentsManager

        state_run = self.harness(
            "import json as _fm_j, ipywidgets as _fm_w\n"
            "print(_fm_j.dumps(_fm_w.Widget.get_manager_state(drop_defaults=True)))"
        )
        stdout = "".join(m["content"]["text"] for m in state_run.iopub if m["msg_type"] == "stream")
        nb = nbformat.v4.new_notebook()
        for ran in self.cells:
            outputs = []
            for msg in ran.iopub:
                if msg["msg_type"] in ("stream", "display_data", "execute_result", "error"):
                    outputs.append(nbformat.v4.output_from_msg(msg))
            count = ran.reply.get("content", {}).get("execution_count")
            nb.cells.append(nbformat.v4.new_code_cell(ran.source, outputs=outputs, execution_count=count))
        if stdout.strip():
            nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": json.loads(stdout)}
        manager = FileContentsManager(root_dir=str(self.work))
        manager.save({"type": "notebook", "format": "json", "content": nb}, name)
        if checkpoint:
            manager.create_checkpoint(name)
        return self.work / name

    def written_files(self):
        """``[(where, path to search)]`` for every file the run may have written that still exists.

        That is every file created or changed in the tree, and every file the kernel opened for
        writing elsewhere (the harness's own captures excepted). Files outside the tree are
        copied into the capture folder first, so what is searched cannot change underneath the
        search; a file already gone holds nothing to find.
        """
        found = [(path, path) for path in changed(self.before, snapshot(self.tree))]
        opened = (
            self.opened_log.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
            if self.opened_log.exists()
            else []
        )
        copies = self.capture / "opened-elsewhere"
        copies.mkdir(exist_ok=True)
        for index, name in enumerate(sorted(set(opened))):
            path = Path(name)
            if path.is_relative_to(self.tree) or path.is_relative_to(self.capture) or not path.is_file():
                continue
            copy = copies / f"{index}-{path.name}"
            try:
                shutil.copyfile(path, copy)
            except (FileNotFoundError, NotADirectoryError):  # deleted since it was written
                continue
            found.append((path, copy))
        return found

    def log_records(self):
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text(encoding="utf-8").splitlines()]

    def outbound_iopub(self):
        with self._cond:
            return list(self.iopub)
