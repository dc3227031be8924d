"""Canary sweeps in real kernels: every credential path, every failure, every history setting.

For each credential path (widget, sign-in flow, environment, .env, sandbox) and each failure
(wrong key, 401, a hostile 500 echoing our headers, a truncated stream, a timeout), a sealed
kernel authenticates, works, is inspected, saves its notebook with a checkpoint and shuts down;
then the secret is searched for in every form, everywhere: the notebook and checkpoint, every
file written (history.sqlite included, row by row), every IOPub message, every log record at
DEBUG, the kernel's own stdout/stderr and the shell replies. The only message allowed to carry
the secret is the one inbound comm message (or stdin reply) that delivered it, which the
harness keeps apart in ``k.inbound``.
"""

import json
import re
from pathlib import Path

import pytest

from freddy_magic.testing import find_canary

from .sweep_steps import WORK_CELLS, describe, evidence, inspect_memory, leaks_in

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.security]

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")


def _kernel_env(sb, **extra):
    return {"FREDDY_BASE_URL": sb.url, **extra}


def _widget_auth(k, secret):
    ran = k.cell("%freddy_auth")
    assert ran.ok, ran.text
    fields = k.widgets("PasswordModel")
    assert fields, "no masked key field was displayed"
    field_id, state = fields[-1]
    assert state.get("continuous_update") is False
    echoes = k.type_into(field_id, secret)
    assert not any(m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "echo_update" for m in echoes)
    return echoes


def _login_auth(k, sb):
    ran = k.cell("%freddy_auth --login")
    assert ran.ok, ran.text
    ((user_id, _),) = [
        (c, s)
        for c, s in k.widgets("TextModel")
        if "mail" in (s.get("description", "") + s.get("placeholder", "")).lower()
    ]
    password_id, code_id = [c for c, _ in k.widgets("PasswordModel")][-2:]
    k.type_into(user_id, sb.email)
    k.type_into(password_id, sb.password)
    codes = sb.outbox()
    assert codes, "no sign-in code was sent"
    k.type_into(code_id, str(codes[-1]["code"]))


def _work_and_save(k, *, environ=True, expect_ok=True):
    for code in WORK_CELLS:
        ran = k.cell(code)
        if expect_ok and code.startswith("%%freddy"):
            assert ran.ok, ran.text
    inspect_memory(k, environ=environ)
    return k.save_notebook()


def _assert_clean(k, notebook, secrets, ignore_files=()):
    found = leaks_in(evidence(k, notebook, ignore_files=ignore_files), secrets)
    assert not found, "secret found in:\n" + describe(found)
    assert not any(JWT.search(str(m)) for m in k.outbound_iopub()), "a JWT reached IOPub"


# A: credential paths ---------------------------------------------------------------------------
def test_sweep_widget_path(kernel_sweep, sandbox):
    with kernel_sweep(env=_kernel_env(sandbox)) as k:
        k.cell("%load_ext freddy_magic")
        _widget_auth(k, sandbox.api_key)
        notebook = _work_and_save(k)
    assert sandbox.calls("/v1/model/response") >= 2, "the work cells did not reach the API"
    assert any(sandbox.api_key in str(m) for m in k.inbound), "the key was not delivered by the comm message"
    _assert_clean(k, notebook, [sandbox.api_key])


def test_sweep_login_flow(kernel_sweep, sandbox):
    with kernel_sweep(env=_kernel_env(sandbox)) as k:
        k.cell("%load_ext freddy_magic")
        _login_auth(k, sandbox)
        notebook = _work_and_save(k)
    assert sandbox.calls("/v1/model/response") >= 2
    _assert_clean(k, notebook, [sandbox.password])
    assert not any(JWT.search(str(r)) for r in k.log_records()), "a JWT reached a log record"


def test_sweep_environment_variable(kernel_sweep, sandbox):
    with kernel_sweep(env=_kernel_env(sandbox, FREDDY_API_KEY=sandbox.api_key)) as k:
        k.cell("%load_ext freddy_magic")
        assert k.cell("%freddy_auth --env").ok
        notebook = _work_and_save(k, environ=False)
    assert sandbox.calls("/v1/model/response") >= 2
    _assert_clean(k, notebook, [sandbox.api_key])


def test_sweep_dotenv_file_not_exported(kernel_sweep, sandbox):
    with kernel_sweep(env=_kernel_env(sandbox)) as k:
        dotenv = k.work / ".env"
        dotenv.write_text(f"FREDDY_API_KEY={sandbox.api_key}\n")
        dotenv.chmod(0o600)
        k.cell("%load_ext freddy_magic")
        assert k.cell("%freddy_auth --env").ok
        child = k.cell("!env")
        notebook = _work_and_save(k, environ=True)  # os.environ printed: it must not hold the key
    assert find_canary(child.text, sandbox.api_key) == []
    assert sandbox.calls("/v1/model/response") >= 2
    _assert_clean(k, notebook, [sandbox.api_key], ignore_files=[dotenv])


def test_sweep_recording_of_a_signed_in_session_then_replay(kernel_sweep, sandbox):
    """A recording made while signed in (password, code, access and refresh tokens all live) and
    replayed afterwards: the recording file is in the work folder, so the sweep searches it too."""
    with kernel_sweep(env=_kernel_env(sandbox)) as k:
        k.cell("%load_ext freddy_magic")
        _login_auth(k, sandbox)
        assert k.cell("%freddy record lesson.jsonl").ok
        notebook = _work_and_save(k)
        assert k.cell("%freddy record --stop").ok
        replayed = k.cell("%freddy_auth --replay lesson.jsonl")
        assert replayed.ok and "REPLAY" in replayed.text, replayed.text
        again = k.cell("%%freddy -m ftg-3.0\nSay hello to the security reviewer.")
        assert again.ok and "[sandbox ftg-3.0]" in again.text, again.text
        notebook = k.save_notebook()
    lines = (k.work / "lesson.jsonl").read_text().splitlines()
    assert len(lines) == 2, lines
    _assert_clean(k, notebook, [sandbox.password])
    assert not JWT.search("\n".join(lines)), "a JWT reached the recording"


def test_sweep_builtin_sandbox(kernel_sweep):
    with kernel_sweep() as k:
        k.cell("%load_ext freddy_magic")
        assert k.cell("%freddy_auth --sandbox").ok
        notebook = _work_and_save(k)
        # the in-kernel sandbox's random key, handed out through a file outside the searched tree
        key_file = k.capture / "sandbox-key.txt"
        fetched = k.harness(
            "open(%r, 'w').write(get_ipython().magics_manager.registry['FreddyMagics']"
            ".session.sandbox.api_key)" % str(key_file)
        )
        assert fetched.ok, fetched.text
    key = key_file.read_text()
    assert len(key) >= 16
    _assert_clean(k, notebook, [key])
    assert any("sandbox" in ran.text.lower() for ran in k.cells), "the sandbox connection was not labelled as such"


@pytest.mark.parametrize("path", ["widget", "login"])
def test_sweep_debug_kernel(kernel_sweep, sandbox, path):
    """The widget and sign-in sweeps with the kernel started with ``--debug``: its own log, which
    records every message it dispatches with its content, goes to its stderr and is searched."""
    with kernel_sweep(env=_kernel_env(sandbox), extra_arguments=["--debug"]) as k:
        k.cell("%load_ext freddy_magic")
        if path == "widget":
            _widget_auth(k, sandbox.api_key)
        else:
            _login_auth(k, sandbox)
        notebook = _work_and_save(k)
    debug_log = (k.capture / "kernel-stderr.txt").read_text(errors="replace")
    assert "MESSAGE TYPE:comm_msg" in debug_log and "Content:" in debug_log, "control: no debug message log"
    assert sandbox.calls("/v1/model/response") >= 2
    _assert_clean(k, notebook, [sandbox.api_key] if path == "widget" else [sandbox.password])
    assert not JWT.search(debug_log), "a token reached the kernel's debug log"


# A: failures ------------------------------------------------------------------------------------
FAILURES = {
    "wrong-key": (None, None),
    "401-expired": ("expired", None),
    "500-echoing-headers": (None, {"method": "POST", "path": "/v1/model/response", "kind": "echo", "times": None}),
    "truncated-stream": (
        None,
        {"method": "POST", "path": "/v1/model/response", "kind": "truncate", "after_deltas": 1, "times": None},
    ),
    "timeout": (None, {"method": "POST", "path": "/v1/model/response", "kind": "slow", "delay": 8.0, "times": None}),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_sweep_failure(kernel_sweep, sandbox, canary, failure):
    from freddy_magic.sandbox import Fault

    extra_key, fault = FAILURES[failure]
    secret = sandbox.extra_keys[extra_key] if extra_key else sandbox.api_key if fault else canary.value
    if fault:
        sandbox.faults.add(Fault(**fault))
    with kernel_sweep(env=_kernel_env(sandbox)) as k:
        k.cell("%load_ext freddy_magic")
        if failure == "timeout":
            k.cell("%config FreddyMagics.read_timeout = 1.0")
            k.cell("%config FreddyMagics.total_timeout = 2.0")
        _widget_auth(k, secret)
        failing = k.cell("%%freddy -m ftg-3.0\nThis call fails.", timeout=60)
        k.cell("%xmode Verbose")
        verbose = k.cell("%%freddy -m ftg-3.0\nThis call fails again, verbosely.", timeout=60)
        k.cell("%xmode Context")
        k.cell("%tb")
        inspect_memory(k)
        notebook = k.save_notebook()
    for ran in (failing, verbose):
        errors = [m for m in ran.iopub if m["msg_type"] == "error"]
        assert not ran.ok or "interrupt" in ran.text.lower() or errors == [], ran.text
        assert sum(len(m["content"]["traceback"]) for m in errors) <= 3, "a traceback wall instead of one line"
    _assert_clean(k, notebook, [secret])


def test_key_typed_on_the_magic_line_is_refused(kernel_sweep, sandbox, canary):
    with kernel_sweep(env=_kernel_env(sandbox)) as k:
        k.cell("%load_ext freddy_magic")
        ran = k.cell(f"%freddy_auth {canary.value}")
        status = k.cell("%freddy_auth --status")
        notebook = k.save_notebook(checkpoint=False)
    assert not ran.ok and ("rotate" in ran.text.lower() or "revoke" in ran.text.lower())
    assert "history" in ran.text.lower()
    assert find_canary(ran.text, canary.value) == [], "the refusal echoed the key"
    assert find_canary(status.text, canary.value) == [] and "not connected" in status.text.lower()
    assert sandbox.calls("/v1/auth/validate") + sandbox.calls("/v1/model/response") == 0
    # the known, documented residue: IPython stored the line before the magic ran
    history = k.ipython_dir / "profile_default" / "history.sqlite"
    assert find_canary(history, canary.value), "expected residue in history.sqlite (IPython stores input first)"
    # ...and in the cell source and the execute_input broadcast; every *output* must be clean
    outputs = [m for ran in k.cells for m in ran.iopub if m["msg_type"] != "execute_input"]
    assert find_canary(outputs, canary.value) == []
    saved = json.loads(notebook.read_text())
    assert find_canary([c["outputs"] for c in saved["cells"]], canary.value) == []


# G: history settings ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "history",
    [["--HistoryManager.db_log_output=True"], ["--HistoryManager.hist_file=:memory:"]],
    ids=["db_log_output", "memory"],
)
def test_sweep_history_settings(kernel_sweep, sandbox, history):
    with kernel_sweep(env=_kernel_env(sandbox), extra_arguments=history) as k:
        k.cell("%load_ext freddy_magic")
        _widget_auth(k, sandbox.api_key)
        notebook = _work_and_save(k)
    _assert_clean(k, notebook, [sandbox.api_key])


def test_control_stock_password_does_echo_on_the_wire(kernel_sweep, canary):
    """The control for the sweeps: the harness does see an echo when one happens."""
    with kernel_sweep() as k:
        k.cell("import ipywidgets as w\npw = w.Password()\npw")
        ((field_id, _),) = k.widgets("PasswordModel")
        k.type_into(field_id, canary.value)
    assert find_canary(k.outbound_iopub(), canary.value)


def test_control_a_file_written_outside_the_tree_is_found(kernel_sweep, canary):
    """The control for the file search: a file the kernel writes outside its tree is searched,
    and one it deletes again before the end is not (nothing is left to leak)."""
    import tempfile
    import uuid

    kept = Path(tempfile.gettempdir(), f"fm-sweep-control-{uuid.uuid4().hex}.txt")
    gone = kept.with_name(kept.stem + "-gone.txt")
    try:
        with kernel_sweep() as k:
            wrote = k.harness(
                f"with open({str(kept)!r}, 'w') as fh: fh.write({canary.value!r})\n"
                f"with open({str(gone)!r}, 'w') as fh: fh.write({canary.value!r})\n"
                f"import os; os.remove({str(gone)!r})"
            )
            assert wrote.ok, wrote.text
        written = dict(k.written_files())
        assert kept in written and gone not in written
        assert find_canary([written[kept]], canary.value), "the copy of the outside file was not searched"
        assert not any(str(where).startswith(str(k.capture)) for where in written)
    finally:
        kept.unlink(missing_ok=True)
        gone.unlink(missing_ok=True)
