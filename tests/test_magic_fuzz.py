"""Magic argument lines, fuzzed (§4.C): only ``UsageError``, never a secret echoed, never a key
accepted from a line, never a network call.

IPython's argparse errors echo the offending argument (``unrecognized arguments: <canary>``), so
every path that can reject a line is exercised with canaries, key shapes, quotes, ``=``,
unicode, newlines and very long strings. The shell is unauthenticated and pointed at a counting
server: any request at all is a failure.
"""

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from freddy_magic import _redaction
from freddy_magic.testing import find_canary

from .hostile import HostileServer, Reply

SECRET = "fm-canary-9b1f0c2e7d4a6385e0c9a1b2d3f4e5a6"
# A secret a user may paste that no heuristic can call key-like (a password, a low-entropy token).
PLAIN_SECRET = "correct-horse-battery-staple"
KEYS = [SECRET, "ak_" + "Zx9" * 8, "sk-frdy-" + "a1B2" * 6, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"]

AUTH_WORDS = ["--login", "--env", "--status", "--logout", "FREDDY_API_KEY", "MY_KEY", "--nope", "-x", "=", "--env=" + SECRET]
FREDDY_WORDS = ["-m", "ftg-3.0", "gpt-4o,claude-3-5-sonnet", "-t", "0.2", "2", "-1", "nan", "-o", "answer", "--over",
                "df", "--concurrency", "8", "0", "--chat", "--dry-run", "--no-stream", "--max-tokens", "--system",
                "models", "log", "reset", "--all", "--bogus", "-"]
TOKEN = st.one_of(
    st.sampled_from(KEYS),
    st.builds(lambda k, q: q + k + q, st.sampled_from(KEYS), st.sampled_from(["'", '"', ""])),
    st.builds(lambda o, k: f"{o}={k}", st.sampled_from(["--model", "-m", "--api-key", "--key", "--output", "-o", "--temperature"]), st.sampled_from(KEYS)),
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
    with HostileServer(Reply(500, body=b"{}")) as server:
        yield server


@pytest.fixture(scope="module")
def shell(counting_server):
    """One unauthenticated shell with the extension loaded, pointed at the counting server."""
    import os

    from IPython.core.interactiveshell import InteractiveShell

    saved = {k: os.environ.pop(k, None) for k in ("FREDDY_API_KEY", "FREDDY_SANDBOX", "FREDDY_JWT_TOKEN")}
    os.environ["FREDDY_BASE_URL"] = counting_server.url
    ip = InteractiveShell.instance()
    ip.extension_manager.load_extension("freddy_magic")
    ip.user_ns["df"] = [{"topic": "x"}]
    yield ip
    ip.extension_manager.unload_extension("freddy_magic")
    os.environ.pop("FREDDY_BASE_URL", None)
    for k, v in saved.items():
        if v is not None:
            os.environ[k] = v


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
    shown = [message or "", out.out, out.err]
    assert find_canary(shown, KEYS) == [], f"%{kind} {line[:80]!r} echoed a secret: {shown}"
    assert counting_server.count() == before, f"%{kind} {line[:80]!r} made a network call"
    return message


@settings(max_examples=100)
@given(line=_line(AUTH_WORDS))
def test_c2_freddy_auth_lines(shell, capsys, counting_server, line):
    message = _check(shell, capsys, counting_server, "freddy_auth", line)
    if any(_redaction.looks_like_secret(w) for w in line.split()) and any(k in line for k in KEYS):
        assert message is not None, f"a key-like argument was accepted: {line[:80]!r}"
        assert _says_rotate(message)


@settings(max_examples=100)
@given(line=_line(FREDDY_WORDS), cell=st.one_of(st.text(max_size=200), st.sampled_from(
    ["{topic}", "{{literal}}", "{missing}", "{df[0]}", "{__import__('os').getcwd()}", "--api-key=" + SECRET, "{0}", "{"])))
def test_c2_freddy_cell_lines(shell, capsys, counting_server, line, cell):
    message = _check(shell, capsys, counting_server, "cell", line, cell)
    if any(k in line for k in KEYS):
        assert message is not None, f"a key-like argument was accepted: {line[:80]!r}"


@settings(max_examples=100)
@given(line=_line(FREDDY_WORDS))
def test_c2_freddy_line_magic(shell, capsys, counting_server, line):
    _check(shell, capsys, counting_server, "freddy", line)


@pytest.mark.parametrize("key", KEYS)
def test_a2_c1_key_on_the_auth_line_is_refused_with_rotation_advice(shell, capsys, counting_server, key):
    message = _check(shell, capsys, counting_server, "freddy_auth", key)
    assert message is not None and _says_rotate(message)
    assert "history" in message.lower() or "notebook" in message.lower()


PLAIN_PLACES = ["{s}", "--{s}", "--env={s}", "--login {s}", "--status --{s}", "--env MY_KEY {s}"]
FREDDY_PLACES = ["-t {s}", "-o {s}", "--over {s}", "--max-tokens {s}", "--concurrency={s}", "--format {s}", "models {s}", "-m ftg-3.0 {s}", "--{s}"]


@pytest.mark.parametrize("place", PLAIN_PLACES)
def test_c2_argparse_errors_never_echo_a_value_on_the_auth_line(shell, capsys, counting_server, place):
    """A low-entropy secret (a password) is not key-like, so it reaches argparse, whose error
    quotes it (``unrecognized arguments: ...``). The message must not repeat it."""
    message = _run(shell, "freddy_auth", place.format(s=PLAIN_SECRET))
    out = capsys.readouterr()
    assert message is not None
    assert PLAIN_SECRET not in (message + out.out + out.err), message


@pytest.mark.parametrize("place", FREDDY_PLACES)
def test_c2_argparse_errors_never_echo_a_value_on_the_freddy_line(shell, capsys, counting_server, place):
    line = place.format(s=PLAIN_SECRET)
    message = _run(shell, "cell", line, "hello") if not line.startswith("models") else _run(shell, "freddy", line)
    out = capsys.readouterr()
    assert message is not None
    assert PLAIN_SECRET not in (message + out.out + out.err), message
    assert counting_server.count() == 0


@pytest.mark.parametrize("model", ["claude-3-5-sonnet", "gpt-4o-mini", "ftg-3.0,gpt-4o,claude-3-5-sonnet"])
def test_c3_catalog_model_names_are_not_refused_as_keys(shell, capsys, model):
    message = _run(shell, "cell", f"--dry-run -m {model}", "hello")
    capsys.readouterr()
    assert message is None or "looks like a key" not in message, f"-m {model} refused as a key: {message}"


@pytest.mark.parametrize("name", ["customer_reviews_2023", "answers_v2_final", "df_2024_results"])
def test_c3_ordinary_variable_names_are_not_refused_as_keys(shell, capsys, name):
    shell.user_ns[name] = [{"topic": "x"}]
    message = _run(shell, "cell", f"--dry-run --over {name} -o {name}_out", "about {topic}")
    capsys.readouterr()
    assert message is None or "looks like a key" not in message, f"{name} refused as a key: {message}"


def test_c1_auth_parser_has_no_option_that_takes_a_secret(shell):
    magics = shell.magics_manager.registry["FreddyMagics"]
    doc = (magics.freddy_auth.__doc__ or "").lower()
    for forbidden in ("--key", "--api-key", "--token", "--password", "--secret"):
        assert forbidden not in doc


def test_c4_cell_body_is_prompt_text_not_options(shell, capsys, counting_server):
    message = _check(shell, capsys, counting_server, "cell", "--dry-run", "--api-key=" + SECRET + "\nhello")
    assert message is None or "api-key" not in message.lower()
