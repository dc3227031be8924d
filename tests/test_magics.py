"""The extension: loading, configuration, argument parsing and the UsageError boundary.

Magic lines are also fuzzed: whatever a line holds, the result is a one-line ``UsageError`` or
success, never a secret echoed, never a key accepted from a line, never a network call.
IPython's argparse errors quote the offending argument (``unrecognized arguments: <canary>``),
so every path that can reject a line is tried with canaries, key shapes, quotes, ``=``,
unicode, newlines and very long strings, on a shell pointed at a server that counts requests.
"""

import json
import string
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from freddy_magic import _redaction
from freddy_magic._magics import FreddyMagics
from freddy_magic.testing import find_canary

from .hostile import HostileServer, Reply

HEAVY = ("requests", "ipywidgets", "pandas", "werkzeug", "urllib3", "dotenv")


def test_import_and_load_ext_import_no_heavy_module():
    code = (
        "import sys, json\n"
        "import freddy_magic\n"
        f"after_import = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from traitlets.config import Config\n"
        "c = Config(); c.HistoryManager.enabled = False\n"
        "ip = InteractiveShell.instance(config=c)\n"
        f"before = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "ip.run_line_magic('load_ext', 'freddy_magic')\n"
        f"after_load = [m for m in {HEAVY!r} if m in sys.modules and m not in before]\n"
        "print(json.dumps([after_import, after_load, 'freddy' in ip.magics_manager.magics['cell']]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    after_import, after_load, registered = json.loads(out.stdout.strip().splitlines()[-1])
    assert after_import == [] and after_load == [] and registered


def test_every_trait_is_documented_configurable_and_not_a_secret():
    traits = FreddyMagics.class_traits(config=True)
    assert {
        "base_url",
        "model",
        "organization_id",
        "connect_timeout",
        "read_timeout",
        "concurrency",
        "display_limit",
        "stream",
    } <= set(traits)
    for name, trait in traits.items():
        assert trait.help, name
        assert not any(word in name for word in ("key", "token", "secret", "password")) or name == "key_prompt"


def test_env_overrides_defaults(ip, monkeypatch):
    monkeypatch.setenv("FREDDY_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FREDDY_MODEL", "gpt-4o")
    monkeypatch.setenv("FREDDY_ORGANIZATION_ID", "org_x")
    ip.run_line_magic("load_ext", "freddy_magic")
    m = ip.magics_manager.registry["FreddyMagics"]
    assert (m.base_url, m.model, m.organization_id) == ("http://127.0.0.1:9", "gpt-4o", "org_x")
    ip.run_line_magic("config", "FreddyMagics.model = 'claude-3-5-sonnet'")
    assert m.model == "claude-3-5-sonnet"


@pytest.mark.security
def test_config_shows_no_secret(connected, ip, shared_sandbox, capsys):
    ip.run_line_magic("config", "FreddyMagics")
    assert shared_sandbox.api_key not in capsys.readouterr().out


@pytest.mark.parametrize(
    "magic,line,cell,expect",
    [
        ("freddy_auth", "--bogus", None, "unrecognized"),
        ("freddy", "-s 'unbalanced", "hi", "Cannot read the magic line"),
        ("freddy_auth", "--env --sandbox", None, "one of"),
        ("freddy_auth", "MY_KEY", None, "only with --env"),
        ("freddy", "-t warm", "hi", "invalid float"),
        ("freddy", "--max-tokens many", "hi", "invalid int"),
        ("freddy", "--format yaml", "hi", "invalid choice"),
        ("freddy", "-o 2bad", "hi", "variable name"),
        ("freddy", "-o class", "hi", "variable name"),
        ("freddy", "-o In", "hi", "IPython's own variables"),
        ("freddy", "-o _", "hi", "IPython's own variables"),
        ("freddy", "-o _i3", "hi", "IPython's own variables"),
        ("freddy", "-o get_ipython", "hi", "IPython's own variables"),
        ("freddy", "--concurrency 4", "hi", "--concurrency applies to --over"),
        ("freddy_auth", "--env my-key", None, "environment variable name"),
        ("freddy", "--over missing_df", "hi", "no variable"),
        ("freddy", "--over not_rows", "hi", "DataFrame or a list of dicts"),
        ("freddy", "--over empty_rows", "hi", "no rows"),
        ("freddy", "--concurrency 0", "hi", "between 1 and"),
        ("freddy", "-m ftg-3.0,,gpt-4o", "hi", "separated by commas"),
        ("freddy", "--chat -m ftg-3.0,gpt-4o", "hi", "--chat"),
        ("freddy", "--over some_rows --format text", "hi", "--over shows its rows as a table"),
        ("freddy", "--all", "hi", "--all"),
        ("freddy", "models", "hi", "line-magic command"),
        ("freddy", "", "   \n", "cell is empty"),
        ("freddy", "", "Explain {undefined_name}", "NameError"),
        ("freddy", "", "Explain {1/0}", "ZeroDivisionError"),
        ("freddy", "", "Explain {int('x')}", "placeholder} in the cell failed: ValueError"),
        ("freddy", "", "A lone } brace", "Bad braces"),
        ("freddy", "", "An open { brace", "Bad braces"),
        ("freddy", "bogus", None, "takes a command"),
        ("freddy", "", None, "takes a command"),
    ],
)
def test_bad_options_and_placeholders_are_one_line_usage_errors(
    connected, ip, shared_sandbox, magic, line, cell, expect
):
    ip.user_ns.update(not_rows=42, empty_rows=[], some_rows=[{"x": 1}])
    before = shared_sandbox.calls("/v1/model/response")
    with pytest.raises(UsageError) as caught:
        if cell is None:
            ip.run_line_magic(magic, line)
        else:
            ip.run_cell_magic(magic, line, cell)
    assert expect in str(caught.value)
    assert "\n" not in str(caught.value)
    assert shared_sandbox.calls("/v1/model/response") == before


def test_cell_before_auth_names_the_three_ways(magics, shared_sandbox):
    with pytest.raises(UsageError) as caught:
        magics.shell.run_cell_magic("freddy", "", "hello")
    message = str(caught.value)
    assert "%freddy_auth" in message and "FREDDY_API_KEY" in message and "--sandbox" in message
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_library_error_becomes_usage_error_without_context(connected, ip, shared_sandbox):
    from freddy_magic.sandbox import Fault

    shared_sandbox.faults.add(Fault(method="POST", path="/v1/model/response", kind="status", status=400, times=1))
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("freddy", "--no-stream", "hello")
    assert caught.value.__context__ is None and caught.value.__suppress_context__ is False
    assert "\n" not in str(caught.value)
    assert connected.session.log[-1]["status"] == "error"


@pytest.mark.security
def test_unload_forgets_every_secret_and_reload_starts_clean(connected, ip, shared_sandbox):
    credential = connected.session.client.credential
    ip.run_line_magic("reload_ext", "freddy_magic")
    assert repr(credential) == "<Credential cleared>"
    fresh = ip.magics_manager.registry["FreddyMagics"]
    assert fresh is not connected and fresh.session.client is None
    assert connected.session.client is None
    assert connected not in ip.configurables
    ip.run_line_magic("unload_ext", "freddy_magic")
    assert "freddy" not in ip.magics_manager.magics["cell"]
    assert "freddy_auth" not in ip.magics_manager.magics["line"]


def test_magic_help_documents_itself(magics):
    doc = magics.shell.find_cell_magic("freddy").__doc__
    for option in ("--over", "--concurrency", "--dry-run", "--no-stream", "--format", "--chat", "-o", "--fields"):
        assert option in doc
    auth_doc = magics.shell.find_line_magic("freddy_auth").__doc__
    for option in ("--key", "--login", "--env", "--sandbox", "--status", "--logout"):
        assert option in auth_doc


# magic lines, fuzzed -----------------------------------------------------------------------------
SECRET = "fm-canary-9b1f0c2e7d4a6385e0c9a1b2d3f4e5a6"
# A secret a user may paste that no heuristic can call key-like (a password, a low-entropy token).
PLAIN_SECRET = "correct-horse-battery-staple"
KEYS = [SECRET, "ak_" + "Zx9" * 8, "sk-frdy-" + "a1B2" * 6, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"]

AUTH_WORDS = [
    "--login",
    "--env",
    "--status",
    "--logout",
    "FREDDY_API_KEY",
    "MY_KEY",
    "--nope",
    "-x",
    "=",
    "--env=" + SECRET,
]
FREDDY_WORDS = [
    "-m",
    "ftg-3.0",
    "gpt-4o,claude-3-5-sonnet",
    "-t",
    "0.2",
    "2",
    "-1",
    "nan",
    "-o",
    "answer",
    "--over",
    "df",
    "--concurrency",
    "8",
    "0",
    "--chat",
    "--dry-run",
    "--no-stream",
    "--max-tokens",
    "--system",
    "models",
    "log",
    "reset",
    "--all",
    "--bogus",
    "-",
    "--json",
    "--fields",
    "a:str,b?:int",
    "--retries-invalid",
]
TOKEN = st.one_of(
    st.sampled_from(KEYS),
    st.builds(lambda k, q: q + k + q, st.sampled_from(KEYS), st.sampled_from(["'", '"', ""])),
    st.builds(
        lambda o, k: f"{o}={k}",
        st.sampled_from(["--model", "-m", "--api-key", "--key", "--output", "-o", "--temperature"]),
        st.sampled_from(KEYS),
    ),
    st.text(alphabet=string.printable + "\u00e9\u200b\u202e\U0001f511", min_size=1, max_size=12),
    st.builds(lambda n: "x" * n, st.integers(500, 5000)),
)


def _says_rotate(message):
    text = message.lower()
    return ("rotate" in text or "revoke" in text) and ("history" in text or "notebook" in text)


def _line(words):
    return st.lists(st.one_of(st.sampled_from(words), TOKEN), min_size=0, max_size=6).map(" ".join)


@pytest.fixture(scope="module")
def counting_server():
    """Answers 500 to anything, and counts: any request at all is a failure."""
    with HostileServer(Reply(500, body=b"{}")) as server:
        yield server


@pytest.fixture
def shell(ip, counting_server, monkeypatch):
    """The extension loaded, unauthenticated, pointed at the counting server."""
    for name in ("FREDDY_API_KEY", "FREDDY_SANDBOX", "FREDDY_JWT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    ip.config.FreddyMagics.base_url = counting_server.url
    ip.run_line_magic("load_ext", "freddy_magic")
    ip.user_ns["df"] = [{"topic": "x"}]
    return ip


def _run(ip, kind, line, cell=None):
    """Run a magic; return the error text shown to the user, or None. Only UsageError may escape."""
    try:
        if kind == "cell":
            ip.run_cell_magic("freddy", line, cell)
        else:
            ip.run_line_magic(kind, line)
    except UsageError as exc:
        return str(exc)
    return None


def _check(ip, capsys, counting_server, kind, line, cell=None):
    before = counting_server.count()
    message = _run(ip, kind, line, cell)
    out = capsys.readouterr()
    shown = [message or "", out.out, out.err, repr(ip.display_pub.messages)]
    assert find_canary(shown, KEYS) == [], f"%{kind} {line[:80]!r} echoed a secret: {shown}"
    assert message is None or "\n" not in message, f"%{kind} {line[:80]!r}: more than one line: {message!r}"
    assert counting_server.count() == before, f"%{kind} {line[:80]!r} made a network call"
    return message


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=100)
@given(line=_line(AUTH_WORDS))
def test_c2_freddy_auth_lines(shell, capsys, counting_server, line):
    message = _check(shell, capsys, counting_server, "freddy_auth", line)
    if any(_redaction.looks_like_secret(w) for w in line.split()) and any(k in line for k in KEYS):
        assert message is not None, f"a key-like argument was accepted: {line[:80]!r}"
        assert _says_rotate(message)


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=100)
@given(
    line=_line(FREDDY_WORDS),
    cell=st.one_of(
        st.text(max_size=200),
        st.sampled_from(
            [
                "{topic}",
                "{{literal}}",
                "{missing}",
                "{df[0]}",
                "{__import__('os').getcwd()}",
                "--api-key=" + SECRET,
                "{0}",
                "{",
            ]
        ),
    ),
)
def test_c2_freddy_cell_lines(shell, capsys, counting_server, line, cell):
    message = _check(shell, capsys, counting_server, "cell", line, cell)
    if any(k in line for k in KEYS):
        assert message is not None, f"a key-like argument was accepted: {line[:80]!r}"


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=100)
@given(line=_line(FREDDY_WORDS))
def test_c2_freddy_line_magic(shell, capsys, counting_server, line):
    _check(shell, capsys, counting_server, "freddy", line)


@pytest.mark.security
@pytest.mark.parametrize(
    "magic,line",
    [
        *[("freddy_auth", key) for key in KEYS],
        ("freddy_auth", "{canary}"),
        ("freddy_auth", "--env {canary}"),
        ("freddy_auth", "api_key={canary}"),
        ("freddy", "-m ftg-3.0 {canary}"),
    ],
)
def test_a2_c1_key_on_a_magic_line_is_refused_with_rotation_advice(shell, capsys, counting_server, canary, magic, line):
    line = line.format(canary=canary.value)
    if magic == "freddy":
        message = _check(shell, capsys, counting_server, "cell", line, "hello")
    else:
        message = _check(shell, capsys, counting_server, magic, line)
    assert message is not None and ("rotate" in message or "revoke it" in message)
    assert "notebook" in message and "history" in message
    assert find_canary(message, canary.value) == []
    assert shell.magics_manager.registry["FreddyMagics"].session.client is None


PLAIN_PLACES = ["{s}", "--{s}", "--env={s}", "--login {s}", "--status --{s}", "--env MY_KEY {s}"]
FREDDY_PLACES = [
    "-t {s}",
    "-o {s}",
    "--over {s}",
    "--max-tokens {s}",
    "--concurrency={s}",
    "--format {s}",
    "models {s}",
    "-m ftg-3.0 {s}",
    "--{s}",
    "--fields {s}",
    '--fields "a:str, {s}:int"',
    '--fields "a:str, b:{s}"',
    "--json --retries-invalid {s}",
]


@pytest.mark.security
@pytest.mark.parametrize("place", PLAIN_PLACES)
def test_c2_argparse_errors_never_echo_a_value_on_the_auth_line(shell, capsys, counting_server, place):
    """A low-entropy secret (a password) is not key-like, so it reaches argparse, whose error
    quotes it (``unrecognized arguments: ...``). The message must not repeat it."""
    message = _run(shell, "freddy_auth", place.format(s=PLAIN_SECRET))
    out = capsys.readouterr()
    assert message is not None
    assert PLAIN_SECRET not in (message + out.out + out.err), message


@pytest.mark.security
@pytest.mark.parametrize("place", FREDDY_PLACES)
def test_c2_argparse_errors_never_echo_a_value_on_the_freddy_line(shell, capsys, counting_server, place):
    line = place.format(s=PLAIN_SECRET)
    message = _run(shell, "cell", line, "hello") if not line.startswith("models") else _run(shell, "freddy", line)
    out = capsys.readouterr()
    assert message is not None
    assert PLAIN_SECRET not in (message + out.out + out.err), message
    assert counting_server.count() == 0


@pytest.mark.security
@pytest.mark.parametrize("model", ["claude-3-5-sonnet", "gpt-4o-mini", "ftg-3.0,gpt-4o,claude-3-5-sonnet"])
def test_c3_catalog_model_names_are_not_refused_as_keys(shell, capsys, model):
    message = _run(shell, "cell", f"--dry-run -m {model} -o MY_FREDDY_RESULT", "hello")
    capsys.readouterr()
    assert message is None, f"-m {model} refused: {message}"
    previews = shell.user_ns["MY_FREDDY_RESULT"]
    previews = previews if isinstance(previews, list) else [previews]
    assert [p["json"]["model"] for p in previews] == model.split(",")


@pytest.mark.security
@pytest.mark.parametrize("name", ["customer_reviews_2023", "answers_v2_final", "df_2024_results"])
def test_c3_ordinary_variable_names_are_not_refused_as_keys(shell, capsys, name):
    shell.user_ns[name] = [{"topic": "x"}]
    message = _run(shell, "cell", f"--dry-run --over {name} -o {name}_out", "about {topic}")
    capsys.readouterr()
    assert message is None or "looks like a key" not in message, f"{name} refused as a key: {message}"


@pytest.mark.security
def test_c1_auth_parser_has_no_option_that_takes_a_secret(shell):
    magics = shell.magics_manager.registry["FreddyMagics"]
    parser = magics.freddy_auth.parser
    for action in parser._actions:
        if action.option_strings:
            assert action.nargs == 0, f"{action.option_strings} takes a value"
    assert [a.dest for a in parser._actions if not a.option_strings] == ["name"]  # a variable's name
    doc = (magics.freddy_auth.__doc__ or "").lower()
    for forbidden in ("--api-key", "--token", "--password", "--secret", "--key="):
        assert forbidden not in doc
    # --key is a switch that opens the masked field; a value after it is refused, never used
    assert "looks like a key or token" in _run(shell, "freddy_auth", f"--key {SECRET}")
    assert "only with --env" in _run(shell, "freddy_auth", f"--key {PLAIN_SECRET}")


@pytest.mark.security
def test_c4_cell_body_is_prompt_text_not_options(shell, capsys, counting_server):
    message = _check(shell, capsys, counting_server, "cell", "--dry-run", "--api-key=" + SECRET + "\nhello")
    assert message is None or "api-key" not in message.lower()


@pytest.mark.security
@pytest.mark.parametrize(
    "magic, line, secret",
    [
        ("freddy_auth", "--env correct-horse-battery-staple", "correct-horse-battery-staple"),
        ("freddy_auth", "--env correct_horse_battery_staple", "correct_horse_battery_staple"),  # valid, not set
        ("freddy_auth", "--env Tr0ub4dor3", "Tr0ub4dor3"),
        ("cell", "--over Tr0ub4dor3", "Tr0ub4dor3"),
        ("cell", "--over correct-horse-battery-staple", "correct-horse-battery-staple"),
        ("cell", "-o correct-horse-battery-staple", "correct-horse-battery-staple"),
    ],
)
def test_c2_names_on_a_line_are_refused_or_missed_without_being_echoed(shell, capsys, magic, line, secret):
    """A password typed where a name goes is no key by any heuristic; whatever is wrong with it,
    the message must not repeat it."""
    message = _run(shell, magic, line, "hello") if magic == "cell" else _run(shell, magic, line)
    out = capsys.readouterr()
    assert message is not None and "\n" not in message
    assert secret not in message + out.out + out.err, message


@pytest.mark.security
def test_d4_config_never_shows_a_password_in_the_base_url(ip, monkeypatch, capsys):
    monkeypatch.setenv("FREDDY_BASE_URL", "https://ada:hunter2-pass@api.example.com/v1")
    ip.run_line_magic("load_ext", "freddy_magic")
    ip.run_line_magic("config", "FreddyMagics")
    ip.run_line_magic("config", "FreddyMagics.base_url = 'https://bob:s3cret-pass@api.example.com'")
    ip.run_line_magic("config", "FreddyMagics")
    shown = capsys.readouterr().out
    assert "https://***@api.example.com" in shown
    assert not any(word in shown for word in ("hunter2", "ada:", "s3cret", "bob:"))
    monkeypatch.setenv("FREDDY_API_KEY", "ak_" + "Zx9" * 8)
    with pytest.raises(UsageError, match="must not contain a user name or password"):
        ip.run_line_magic("freddy_auth", "--env")
