"""Ctrl-C at every network call site, in real kernels, under ``%xmode Verbose``.

For each call site a sandbox ``slow`` fault holds the request, and the kernel is interrupted the
way the stop button does it (SIGINT from the kernel manager) once the sandbox has it. The magic
must end in one line ("Interrupted: ..."), keep what finished, and leave nothing that holds a
secret: after each interrupt ``%tb`` and ``%debug`` (walking up the frames, printing their
locals) are run, and ``sys.last_value`` with its whole ``__context__``/``__cause__`` chain and
the locals of every frame of every traceback on it are printed; at the end the notebook, every
file written, every IOPub message, every log record and the kernel's stdout/stderr are searched
too. The sign-in kernel runs with ``--debug``, so its own message log is searched as well.

Sites: the key check (validate, the organization list, health; a token's profile when the list
is refused) by magic and by the key widget, the model list, a plain and a streamed answer, the
server-side cancel (a second Ctrl-C), several models and ``--over`` on worker threads, both
sign-in steps, a token refresh and the logout.
"""

import re

import pytest

from freddy_magic.sandbox import Fault

from ..clients import sandbox_tokens
from .sweep_steps import DEBUG_COMMANDS, describe, evidence, inspect_memory, leaks_in

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.security]

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
RESPONSE = "/v1/model/response"


def _hold(sandbox, method, path):
    """Arm a slow fault on ``path``; the request count that means "the sandbox holds it now"."""
    held = sandbox.calls(path, method) + 1
    sandbox.faults.add(Fault(method=method, path=path, kind="slow", delay=60.0, times=1))
    return held


LOST_PRESS_S = 20.0  # far more than an interrupt takes (milliseconds), far less than the 60 s fault


def _interrupted_cell(k, sandbox, code, method, path):
    """Run ``code`` and press the stop button once the sandbox holds its ``path`` request.

    Once in a few dozen full-suite runs the kernel's main thread never saw a press, so the call
    waited out the fault: the OS may hand a process-wide SIGINT to another of the kernel's
    threads, and the main thread, blocked in a socket read, only runs Python's handler when that
    read returns. A user would press again; so does the test, and it says so.
    """
    held = _hold(sandbox, method, path)
    started = k.start_cell(code)
    assert sandbox.wait_for_calls(path, held, method), f"{path} never reached the sandbox"
    k.interrupt()
    if not k.wait_for_iopub(lambda m: _idle_after(m, started), LOST_PRESS_S):
        print(f"\n{path}: the first press was lost; pressed again")
        k.interrupt()
    return k.finish_cell(started)


def _idle_after(message, started):
    ours = message.get("parent_header", {}).get("msg_id") == started[1]
    return ours and message["msg_type"] == "status" and message["content"]["execution_state"] == "idle"


def _one_line(ran):
    """The error a failed cell reported: one line, a UsageError."""
    content = ran.reply["content"]
    assert content["status"] == "error" and content["ename"] == "UsageError", ran.text[-2000:]
    assert "\n" not in content["evalue"]
    tracebacks = [m for m in ran.iopub if m["msg_type"] == "error"]
    assert sum(len(m["content"]["traceback"]) for m in tracebacks) <= 3, "a traceback wall instead of one line"
    return content["evalue"]


def _look_around(k, *, environ=True):
    """What a curious user runs after a failure: %tb, %debug walking up the frames, and a dump
    of everything reachable (sys.last_value's chain, every frame's locals, the namespace)."""
    k.cell("%tb")
    debugged = k.cell("%debug", stdin_answer=DEBUG_COMMANDS).text
    assert "'problem':" in debugged, "control: %debug did not print the locals of the boundary's frame"
    seen = inspect_memory(k, environ=environ).text
    assert "CHAIN 1 ['UsageError']" in seen and "\nFRAME " in seen, "control: the last exception was not walked"
    return seen


def _shown_by(k, started, predicate):
    """Wait until the cell ``started`` has displayed something ``predicate`` accepts."""
    _code, msg_id = started

    def seen(message):
        ours = message.get("parent_header", {}).get("msg_id") == msg_id
        return ours and message["msg_type"] in ("display_data", "update_display_data") and predicate(message)

    assert k.wait_for_iopub(seen), "the cell never showed what the test waits for"


def _streamed_text(message):
    text = message["content"].get("data", {}).get("text/plain", "")
    return bool(text.strip()) and not text.startswith("waiting for ")


def _assert_nothing_anywhere(k, notebook, secrets, ignore_files=()):
    found = leaks_in(evidence(k, notebook, ignore_files=ignore_files), secrets)
    assert not found, "secret found in:\n" + describe(found)
    texts = [str(m) for m in k.outbound_iopub()] + [str(r) for r in k.log_records()]
    texts += [(k.capture / name).read_text(errors="replace") for name in ("kernel-stdout.txt", "kernel-stderr.txt")]
    assert not any(JWT.search(t) for t in texts), "a token reached IOPub, a log or the kernel's output"


def test_ctrl_c_at_every_call_site_of_a_key_session(kernel_sweep, sandbox):
    sites = []
    with kernel_sweep(env={"FREDDY_BASE_URL": sandbox.url}, name="key") as k:
        dotenv = k.work / ".env"
        dotenv.write_text(f"FREDDY_API_KEY={sandbox.api_key}\n")
        dotenv.chmod(0o600)
        k.cell("%load_ext freddy_magic")
        k.cell("%xmode Verbose")

        for method, path in (("GET", "/v1/auth/validate"), ("GET", "/v1/organizations"), ("GET", "/v1/health/")):
            message = _one_line(_interrupted_cell(k, sandbox, "%freddy_auth --env", method, path))
            assert message.startswith("Interrupted: %freddy_auth"), message
            assert "not connected" in k.cell("%freddy_auth --status").text, f"half connected after {path}"
            sites.append(path)
            _look_around(k)

        # A signed-in user's profile is asked only when the organization list is refused.
        token = sandbox_tokens(sandbox)[0]
        dotenv.write_text(f"FREDDY_API_KEY={token}\n")
        sandbox.faults.add(Fault(method="GET", path="/v1/organizations", kind="status", status=403, code="FORBIDDEN"))
        message = _one_line(_interrupted_cell(k, sandbox, "%freddy_auth --env", "GET", "/v1/user/me"))
        assert message.startswith("Interrupted: %freddy_auth"), message
        assert "not connected" in k.cell("%freddy_auth --status").text, "half connected after /v1/user/me"
        sites.append("/v1/user/me (a bearer token, the organization list refused)")
        _look_around(k)
        dotenv.write_text(f"FREDDY_API_KEY={sandbox.api_key}\n")

        assert k.cell("%freddy_auth --env").ok
        assert _one_line(_interrupted_cell(k, sandbox, "%freddy models", "GET", "/v1/models")).startswith("Interrupted")
        sites.append("/v1/models")
        _look_around(k)

        for code in ("%%freddy --no-stream -o plain\nhello", "%%freddy -o streamed\nhello"):
            message = _one_line(_interrupted_cell(k, sandbox, code, "POST", RESPONSE))
            assert message.startswith("Interrupted: before the answer began"), message
            sites.append(f"{RESPONSE} ({code.split(chr(10))[0]})")
            _look_around(k)

        # The server-side cancel, with a second Ctrl-C while the server holds it.
        assert k.cell("%%freddy --chat --no-stream -o first\nRemember the sea.").ok
        thread = k.harness("print(first['thread_id'])").text.strip()
        cancel = f"{RESPONSE}/{thread}/cancel"
        held = _hold(sandbox, "POST", cancel)
        sandbox.latency_per_delta = 0.3
        started = k.start_cell("%%freddy --chat -o kept\nTell me a long story about the sea.")
        _shown_by(k, started, _streamed_text)
        k.interrupt()
        assert sandbox.wait_for_calls(cancel, held, "POST"), "the cancel never reached the sandbox"
        k.interrupt()
        message = _one_line(k.finish_cell(started))
        assert message.startswith("Interrupted: the partial answer") and "`kept`" in message, message
        sites.append(cancel.replace(thread, "<thread>"))
        _look_around(k)
        kept = k.harness("print(kept['status'], bool(kept['text']), '|', kept['error'])").text
        assert kept.startswith("cancelled True |") and "server-side cancel was interrupted" in kept, kept

        # Worker threads: several models streaming, then --over rows.
        started = k.start_cell("%%freddy -m ftg-3.0,gpt-4o -o both\nTell me a long story about the sea.")
        streaming = set()

        def both_streaming(message):
            if _streamed_text(message):
                streaming.add(message["content"]["transient"]["display_id"])
            return len(streaming) == 2

        _shown_by(k, started, both_streaming)
        k.interrupt()
        message = _one_line(k.finish_cell(started))
        assert message.startswith("Interrupted: 0 of 2 rows finished") and "`both`" in message, message
        rows = k.harness("print([(r['status'], bool(r['text'])) for r in both])").text
        assert rows.strip() == "[('cancelled', True), ('cancelled', True)]", rows
        sites.append(f"{RESPONSE} (-m ftg-3.0,gpt-4o, worker threads)")
        _look_around(k)
        sandbox.latency_per_delta = 0.0

        k.harness("rows = [{'n': 1}, {'n': 2}, {'n': 3}]")
        code = "%%freddy --over rows --concurrency 1 --no-stream -o over_rows\nAbout {n}"
        message = _one_line(_interrupted_cell(k, sandbox, code, "POST", RESPONSE))
        assert message.startswith("Interrupted: 0 of 3 rows finished") and "`over_rows`" in message, message
        sites.append(f"{RESPONSE} (--over, worker threads)")
        _look_around(k)
        notebook = k.save_notebook()
    print(f"\n{len(sites)} call sites interrupted in the key session: {sites}")
    assert len(sites) == 10
    _assert_nothing_anywhere(k, notebook, [sandbox.api_key, token], ignore_files=[dotenv])


def _comm_said(k, msg_id, words):
    """True once a widget update in reply to the comm message ``msg_id`` shows ``words``."""
    messages = k.wait_idle(msg_id)
    return any(m["msg_type"] == "comm_msg" and words in str(m["content"].get("data", {})) for m in messages)


def _typed_while_held(k, sandbox, field_id, value, method, path):
    """Type into a widget field whose callback calls ``path``; stop it while the sandbox holds it."""
    held = _hold(sandbox, method, path)
    msg_id = k.type_into(field_id, value, wait=False)
    assert sandbox.wait_for_calls(path, held, method), f"{path} never reached the sandbox"
    k.interrupt()
    if not k.wait_for_iopub(lambda m: _idle_after(m, (None, msg_id)), LOST_PRESS_S):
        print(f"\n{path}: the first press was lost; pressed again")  # see _interrupted_cell
        k.interrupt()
    return msg_id


def test_ctrl_c_at_every_call_site_of_a_sign_in_session(kernel_sweep, sandbox):
    sites = []
    with kernel_sweep(
        env={"FREDDY_BASE_URL": sandbox.url, "PYTHON_DOTENV_DISABLED": "1"}, extra_arguments=["--debug"], name="login"
    ) as k:
        k.cell("%load_ext freddy_magic")
        k.cell("%xmode Verbose")

        # The key widget checks the key from its callback, outside any magic.
        assert k.cell("%freddy_auth").ok
        field_id = k.widgets("PasswordModel")[-1][0]
        msg_id = _typed_while_held(k, sandbox, field_id, sandbox.api_key, "GET", "/v1/auth/validate")
        assert _comm_said(k, msg_id, "Interrupted: nothing was stored"), "the key prompt did not say it was stopped"
        assert "not connected" in k.cell("%freddy_auth --status").text
        sites.append("/v1/auth/validate (key widget)")

        assert k.cell("%freddy_auth --login").ok
        ((user_id, _),) = [(c, s) for c, s in k.widgets("TextModel") if "mail" in str(s).lower()]
        password_id, code_id = [c for c, _ in k.widgets("PasswordModel")][-2:]
        k.type_into(user_id, sandbox.email)
        msg_id = _typed_while_held(k, sandbox, password_id, sandbox.password, "POST", "/v1/auth/login")
        assert _comm_said(k, msg_id, "Interrupted: nothing was stored")
        sites.append("/v1/auth/login (sign-in widget)")
        k.type_into(password_id, sandbox.password)
        code = str(sandbox.outbox()[-1]["code"])
        msg_id = _typed_while_held(k, sandbox, code_id, code, "POST", "/v1/auth/verify")
        assert _comm_said(k, msg_id, "Interrupted: nothing was stored")
        sites.append("/v1/auth/verify (sign-in widget)")
        k.type_into(code_id, code)
        assert "bearer" in k.cell("%freddy_auth --status").text, "the sign-in did not complete after the retry"

        sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, code="TOKEN_EXPIRED"))
        message = _one_line(_interrupted_cell(k, sandbox, "%%freddy --no-stream\nhello", "POST", "/v1/auth/refresh"))
        assert message.startswith("Interrupted"), message
        sites.append("/v1/auth/refresh")
        _look_around(k)

        message = _one_line(_interrupted_cell(k, sandbox, "%freddy_auth --logout", "POST", "/v1/auth/logout"))
        assert "every credential was forgotten" in message, message
        assert "not connected" in k.cell("%freddy_auth --status").text
        sites.append("/v1/auth/logout")
        _look_around(k)
        notebook = k.save_notebook()
    print(f"\n{len(sites)} call sites interrupted in the sign-in session: {sites}")
    assert len(sites) == 5
    debug_log = (k.capture / "kernel-stderr.txt").read_text(errors="replace")
    assert "MESSAGE TYPE:comm_msg" in debug_log, "control: the kernel did not log its messages at --debug"
    _assert_nothing_anywhere(k, notebook, [sandbox.api_key, sandbox.password])
