"""The boundary rule of every magic, tried as a careless user would: Ctrl-C at each network call
site, and exceptions nobody planned for, under ``%xmode Verbose``.

Each case runs a cell the way IPython does (``run_cell``, so ``sys.last_value``,
``sys.last_traceback`` and ``%tb`` are what a user would find), with a sandbox ``slow`` fault
holding the request and Ctrl-C pressed once the sandbox has it. Then everything a user can
reach is searched: what the cell printed, ``sys.last_value`` and its ``__context__``/``__cause__``
chain, every local of every frame of every traceback on that chain, and ``%tb``. The same sweep
runs in real kernels in tests/e2e/test_kernel_sweeps.py; this one is quick enough for every run.
"""

import re
import sys

import pytest
from IPython.core.error import UsageError

from freddy_magic import _redaction
from freddy_magic._auth import Credential
from freddy_magic._subcommands import SUBCOMMANDS, Subcommand
from freddy_magic.sandbox import Fault
from freddy_magic.testing import find_canary

from .clients import sandbox_tokens

pytestmark = pytest.mark.security

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
RESPONSE = "/v1/model/response"


def reachable(ip, capsys):
    """Every text a user can reach after a failed cell (see the module docstring)."""
    seen = [capsys.readouterr()]
    texts = [seen[0].out, seen[0].err]
    error, chain = sys.last_value, []
    while error is not None and all(error is not e for e in chain):
        chain.append(error)
        error = error.__cause__ or error.__context__
    tracebacks = [sys.last_traceback, *(e.__traceback__ for e in chain)]
    for error in chain:
        texts += [repr(error), str(error), repr(getattr(error, "args", ()))]
    for tb in tracebacks:
        while tb is not None:
            frame = tb.tb_frame
            for name, value in frame.f_locals.items():
                texts.append(f"{frame.f_code.co_name}.{name}={value!r}"[:20000])
            tb = tb.tb_next
    ip.run_line_magic("tb", "")
    after = capsys.readouterr()
    return [*texts, after.out, after.err], chain


def assert_nothing_reachable(ip, capsys, secrets, canary):
    texts, chain = reachable(ip, capsys)
    assert isinstance(chain[0], UsageError), f"the cell ended in {type(chain[0]).__name__}, not one line"
    assert len(chain) == 1, f"a chained exception rides along: {[type(e).__name__ for e in chain]}"
    assert "\n" not in str(chain[0])
    leaks = find_canary(texts, [s for s in [*secrets, canary.value] if s])
    assert leaks == [], f"a secret is reachable after the failure: {leaks[:3]}"
    assert not any(JWT.search(t) for t in texts), "a token is reachable after the failure"
    return str(chain[0])


@pytest.fixture
def loaded(ip, sandbox, monkeypatch):
    """The extension pointed at a fresh sandbox (a slow fault there never outlives the test)."""
    for name in ("FREDDY_API_KEY", "FREDDY_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    ip.config.FreddyMagics.base_url = sandbox.url
    ip.run_line_magic("load_ext", "freddy_magic")
    ip.run_line_magic("xmode", "Verbose")
    return ip.magics_manager.registry["FreddyMagics"]


def _sign_in(magics, sandbox):
    magics.session.begin_login(sandbox.email, sandbox.password)
    code = sandbox.outbox()[-1]["code"]
    magics.session.finish_login(str(code))


def _press_when_held(ctrl_c, sandbox, method, path):
    """Arm a slow fault on ``path`` and press Ctrl-C as soon as the sandbox holds the request."""
    before = sandbox.calls(path, method)
    sandbox.faults.add(Fault(method=method, path=path, kind="slow", delay=60.0, times=1))
    return ctrl_c(lambda: sandbox.wait_for_calls(path, before + 1, method))


# Every network call a magic makes: (how the session is connected first, the cell, the request held).
SITES = {
    "validate": ("env", "%freddy_auth --env", "GET", "/v1/auth/validate"),
    "organizations": ("env", "%freddy_auth --env", "GET", "/v1/organizations"),
    "me": ("env-token-unlisted", "%freddy_auth --env", "GET", "/v1/user/me"),  # the list refused: the profile
    "health": ("env", "%freddy_auth --env", "GET", "/v1/health/"),
    "models": ("key", "%freddy models", "GET", "/v1/models"),
    "response": ("key", "%%freddy --no-stream\nhello", "POST", RESPONSE),
    "stream": ("key", "%%freddy\nhello", "POST", RESPONSE),
    "several-models": ("key", "%%freddy -m ftg-3.0,gpt-4o --no-stream\nhello", "POST", RESPONSE),
    "over": ("key", "%%freddy --over rows --concurrency 1 --no-stream\nabout {n}", "POST", RESPONSE),
    "refresh": ("login-401", "%%freddy --no-stream\nhello", "POST", "/v1/auth/refresh"),
    "logout": ("login", "%freddy_auth --logout", "POST", "/v1/auth/logout"),
}


@pytest.mark.parametrize("site", sorted(SITES))
def test_f3_f4_ctrl_c_at_every_call_site_leaves_one_line_and_no_secret(
    loaded, ip, sandbox, ctrl_c, capsys, canary, monkeypatch, site
):
    setup, cell, method, path = SITES[site]
    token = None
    if setup == "env":
        monkeypatch.setenv("FREDDY_API_KEY", sandbox.api_key)
    elif setup == "env-token-unlisted":
        token = sandbox_tokens(sandbox)[0]
        monkeypatch.setenv("FREDDY_API_KEY", token)
        sandbox.faults.add(Fault(method="GET", path="/v1/organizations", kind="status", status=403, code="FORBIDDEN"))
    elif setup == "key":
        loaded.session.connect_key(sandbox.api_key, "test")
    else:
        _sign_in(loaded, sandbox)
        if setup == "login-401":
            sandbox.faults.add(Fault(method="POST", path=RESPONSE, kind="status", status=401, code="TOKEN_EXPIRED"))
    ip.user_ns["rows"] = [{"n": 1}, {"n": 2}]
    credential = loaded.session.client.credential if loaded.session.client else None
    pressed = _press_when_held(ctrl_c, sandbox, method, path)
    capsys.readouterr()

    outcome = ip.run_cell(cell)

    assert pressed, f"the {path} request never reached the sandbox"
    assert isinstance(outcome.error_in_exec, UsageError)
    message = assert_nothing_reachable(ip, capsys, [sandbox.api_key, sandbox.password, token], canary)
    assert message.startswith("Interrupted"), message
    if site == "logout":
        assert loaded.session.client is None and repr(credential) == "<Credential cleared>"
        assert "forgotten" in message
    elif setup.startswith("env"):
        assert loaded.session.client is None, "an interrupted connect must not leave a half-made connection"
        assert sandbox.api_key not in dict(_redaction._live), "the unchecked key is still registered"
    else:
        assert loaded.session.client is not None and loaded.session.client.credential is credential
        again = ip.run_line_magic("freddy", "models")
        assert len(again) > 1, "the connection does not work after the interrupt"


@pytest.mark.parametrize("kind", ["AttributeError", "TypeError", "UnicodeDecodeError"])
def test_f3_an_unexpected_exception_is_one_line_naming_its_type_and_the_report(
    loaded, ip, capsys, canary, monkeypatch, kind
):
    Credential.api_key(canary.value)  # a live key: the report must not show it

    def buggy(magics, args):
        headers = {"api-key": canary.value}  # noqa: F841 - a local a careless frame would hold
        if kind == "UnicodeDecodeError":
            raise UnicodeDecodeError("utf-8", canary.value.encode(), 0, 1, "invalid start byte")
        raise {"AttributeError": AttributeError, "TypeError": TypeError}[kind](f"no .get on {canary.value}")

    monkeypatch.setitem(SUBCOMMANDS, "buggy", Subcommand("buggy", buggy, "raises"))
    capsys.readouterr()
    ip.run_cell("%freddy buggy")
    message = assert_nothing_reachable(ip, capsys, [canary.value], canary)
    assert message.startswith(f"Unexpected {kind} in %freddy") and "%freddy traceback" in message
    report = ip.run_line_magic("freddy", "traceback")
    assert kind in report and "in buggy" in report and "test_boundary.py" in report
    assert canary.find(report) == [] and canary.find(repr(report)) == []


def test_the_report_says_so_when_nothing_went_wrong(loaded, ip):
    assert "No unexpected error" in ip.run_line_magic("freddy", "traceback")


def test_a_usage_error_inside_stays_one_line_without_context(loaded, ip, capsys, canary):
    ip.run_cell("%freddy_auth --bogus-option")
    message = assert_nothing_reachable(ip, capsys, [], canary)
    assert "unrecognized" in message


def test_cancel_a_second_ctrl_c_during_the_server_side_cancel_keeps_the_row(
    make_connected, ip, shown, ctrl_c, capsys, canary
):
    """The first press stops the stream; the second lands while the cancel request is held by
    the server. The row (with the text that arrived), -o and the log must all survive it."""
    magics, own = make_connected(latency_per_delta=0.2, rate_limit=None)
    first = ip.run_cell_magic("freddy", "--chat --no-stream", "Remember the sea.")
    cancel = f"{RESPONSE}/{first['thread_id']}/cancel"
    own.faults.add(Fault(method="POST", path=cancel, kind="slow", delay=60.0, times=1))
    old = {id(m) for m in shown.messages}
    streamed = lambda m: id(m) not in old and "▍" in m["data"].get("text/markdown", "")
    pressed = ctrl_c(lambda: shown.wait_for(streamed), lambda: own.wait_for_calls(cancel, 1, "POST"))
    capsys.readouterr()

    outcome = ip.run_cell("%%freddy --chat -o kept\nTell me a long story about the sea.")

    assert len(pressed) == 2 and isinstance(outcome.error_in_exec, UsageError)
    message = assert_nothing_reachable(ip, capsys, [own.api_key], canary)
    assert message.startswith("Interrupted") and "`kept`" in message
    kept = ip.user_ns["kept"]
    assert kept["status"] == "cancelled" and kept["text"], kept
    assert "server-side cancel was interrupted" in kept["error"]
    assert magics.session.log[-1] is kept
