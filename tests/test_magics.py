"""Loading, unloading, configuration, argument parsing and the UsageError boundary."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from freddy_magic._magics import FreddyMagics
from freddy_magic.testing import Canary

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
    assert {"base_url", "model", "organization_id", "connect_timeout", "read_timeout", "concurrency",
            "display_limit", "stream"} <= set(traits)
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


def test_config_shows_no_secret(connected, ip, shared_sandbox, capsys):
    ip.run_line_magic("config", "FreddyMagics")
    assert shared_sandbox.api_key not in capsys.readouterr().out


@pytest.mark.parametrize("magic,line", [
    ("freddy_auth", "{canary}"),
    ("freddy_auth", "--env {canary}"),
    ("freddy_auth", "api_key={canary}"),
    ("freddy_auth", "sk-frdy-0123456789abcdefABCDEF"),
    ("freddy_auth", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX3Rlc3Q"),
    ("freddy", "-m ftg-3.0 {canary}"),
])
def test_key_like_argument_is_refused_without_echo(magics, magic, line):
    canary = Canary()
    with pytest.raises(UsageError) as caught:
        if magic == "freddy":
            magics.shell.run_cell_magic(magic, line.format(canary=canary.value), "hello")
        else:
            magics.shell.run_line_magic(magic, line.format(canary=canary.value))
    message = str(caught.value)
    assert "rotate" in message or "revoke it" in message
    assert "notebook" in message and "history" in message
    canary.assert_absent(message)
    assert magics.session.client is None


@pytest.mark.parametrize("magic,line,cell,expect", [
    ("freddy_auth", "--bogus", None, "unrecognized"),
    ("freddy", "-s 'unbalanced", "hi", "Cannot read the magic line"),
    ("freddy_auth", "--env --sandbox", None, "one of"),
    ("freddy_auth", "MY_KEY", None, "only with --env"),
    ("freddy", "-t warm", "hi", "invalid float"),
    ("freddy", "--max-tokens many", "hi", "invalid int"),
    ("freddy", "--format yaml", "hi", "invalid choice"),
    ("freddy", "-o 2bad", "hi", "variable name"),
    ("freddy", "-o class", "hi", "variable name"),
    ("freddy", "--over missing_df", "hi", "no variable"),
    ("freddy", "--over not_rows", "hi", "DataFrame or a list of dicts"),
    ("freddy", "--over empty_rows", "hi", "no rows"),
    ("freddy", "--concurrency 0", "hi", "between 1 and"),
    ("freddy", "-m ftg-3.0,,gpt-4o", "hi", "separated by commas"),
    ("freddy", "--chat -m ftg-3.0,gpt-4o", "hi", "--chat"),
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
])
def test_bad_options_and_placeholders_are_one_line_usage_errors(connected, ip, shared_sandbox, magic, line, cell, expect):
    ip.user_ns.update(not_rows=42, empty_rows=[])
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


def test_model_lists_and_names_are_not_mistaken_for_keys(connected, ip, shared_sandbox):
    previews = ip.run_cell_magic("freddy", "--dry-run -m ftg-3.0,gpt-4o,claude-3-5-sonnet -o MY_FREDDY_RESULT", "hi")
    assert [p["json"]["model"] for p in previews] == ["ftg-3.0", "gpt-4o", "claude-3-5-sonnet"]


def test_magic_help_documents_itself(magics):
    doc = magics.shell.find_cell_magic("freddy").__doc__
    for option in ("--over", "--concurrency", "--dry-run", "--no-stream", "--format", "--chat", "-o"):
        assert option in doc
    auth_doc = magics.shell.find_line_magic("freddy_auth").__doc__
    for option in ("--login", "--env", "--sandbox", "--status", "--logout"):
        assert option in auth_doc


FUZZ_CANARY = Canary()


@settings(max_examples=80)
@given(prefix=st.sampled_from(["", "-t ", "-m ", "-o ", "--over ", "-s ", "--concurrency ", "--format "]),
       text=st.text(max_size=60), plant=st.booleans())
def test_fuzzed_lines_only_ever_give_usage_errors_and_never_echo(connected, ip, shared_sandbox, prefix, text, plant):
    line = f"--dry-run {prefix}{text}" + (f" {FUZZ_CANARY.value}" if plant else "")
    before = shared_sandbox.calls("/v1/model/response")
    try:
        ip.run_cell_magic("freddy", line, "hi")
    except UsageError as exc:
        FUZZ_CANARY.assert_absent(str(exc))
        assert "\n" not in str(exc)
    else:
        assert not plant
    assert shared_sandbox.calls("/v1/model/response") == before
