"""``%freddy_auth`` in every mode, against the real sandbox, with no front end.

Also the warnings around where a key lives: a shared Binder/JupyterHub session, where anyone
holding the session's URL can use the key, and a ``.env`` file that git tracks. Both only
warn; neither may stop authentication.
"""

import getpass
import json
import os
import shutil
import subprocess

import pytest
from IPython.core.error import UsageError
from ipywidgets.widgets import widget as widget_module

from freddy_magic.testing import Canary

from .clients import sandbox_tokens
from .hostile import HostileServer, Reply, forward

HOSTED = (
    "BINDER_SERVICE_HOST",
    "BINDER_REPO_URL",
    "BINDER_LAUNCH_HOST",
    "BINDER_REF_URL",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_USER",
    "JUPYTERHUB_SERVICE_PREFIX",
)
NOTICE = "usable by anyone who holds this session's URL"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def no_ambient_key(monkeypatch, tmp_path):
    """No key, sandbox switch or hosting variable from the machine running the tests, and no
    stray .env: the tests run in an empty folder."""
    for name in (
        "FREDDY_API_KEY",
        "FREDDY_REFRESH_TOKEN",
        "FREDDY_SANDBOX",
        "MY_KEY",
        "PYTHON_DOTENV_DISABLED",
        *HOSTED,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def displayed_widget(shown):
    """The prompt's outer box, found the way a front end would: by the model id it was sent."""
    views = [
        m["data"]["application/vnd.jupyter.widget-view+json"]
        for m in shown.messages
        if "application/vnd.jupyter.widget-view+json" in m.get("data", {})
    ]
    assert views, "no widget was displayed"
    return widget_module._instances[views[-1]["model_id"]]


@pytest.mark.security
def test_key_widget_connects_clears_and_closes(magics, ip, shared_sandbox, shown):
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    assert ip.run_line_magic("freddy_auth", "") is None
    box = displayed_widget(shown)
    field, connect = box.children[0].children[:2]
    assert field.continuous_update is False
    field.value = shared_sandbox.api_key
    assert field.value == "" and field.comm is None and connect.comm is None
    status = box.children[0].value
    assert "api-key" in status and "fp=" in status and shared_sandbox.url in status and "SANDBOX" in status
    assert shared_sandbox.api_key not in status
    assert magics.session.client is not None


@pytest.mark.security
def test_key_widget_failure_then_retry(magics, ip, shared_sandbox, shown):
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "")
    box = displayed_widget(shown)
    field = box.children[0].children[0]
    field.value = shared_sandbox.extra_keys["deactivated"]
    message = box.children[1].value
    assert message and "\n" not in message and shared_sandbox.extra_keys["deactivated"] not in message
    assert field.comm is not None and field.value == "" and magics.session.client is None
    box.children[0].children[1].click()  # an empty click after a failure keeps the reason
    assert box.children[1].value == message
    field.value = shared_sandbox.api_key
    assert magics.session.client is not None and field.comm is None


def test_plain_auth_uses_env_silently_and_says_so(magics, ip, shared_sandbox, monkeypatch):
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    status = ip.run_line_magic("freddy_auth", "")
    assert status["source"] == "environment variable FREDDY_API_KEY"
    assert status["key"].startswith("fp=") and shared_sandbox.api_key not in status.line()


@pytest.mark.security
def test_env_reads_dotenv_without_exporting(magics, ip, shared_sandbox, tmp_path):
    (tmp_path / ".env").write_text(f"OTHER=1\nMY_KEY={shared_sandbox.api_key}\n")
    (tmp_path / ".env").chmod(0o600)
    environ = dict(os.environ)
    status = ip.run_line_magic("freddy_auth", "--env MY_KEY")
    assert status["source"] == f"MY_KEY from {tmp_path / '.env'}"
    assert dict(os.environ) == environ
    assert magics.session.client is not None


def test_env_warns_about_a_world_readable_dotenv(magics, ip, shared_sandbox, tmp_path):
    (tmp_path / ".env").write_text(f"FREDDY_API_KEY={shared_sandbox.api_key}\n")
    (tmp_path / ".env").chmod(0o644)
    assert "readable by every user" in ip.run_line_magic("freddy_auth", "--env")["source"]


def test_env_without_a_key_never_prompts(magics, ip, monkeypatch):
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": pytest.fail("--env must never prompt"))
    with pytest.raises(UsageError, match="No FREDDY_API_KEY"):
        ip.run_line_magic("freddy_auth", "--env")


def test_no_front_end_and_no_stdin_fails_fast(magics, ip):
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("freddy_auth", "")
    assert "FREDDY_API_KEY" in str(caught.value) and "--sandbox" in str(caught.value)


def test_terminal_falls_back_to_getpass(magics, ip, shared_sandbox, monkeypatch):
    magics.terminal = True
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": shared_sandbox.api_key)
    status = ip.run_line_magic("freddy_auth", "")
    assert status["source"] == "key typed at the getpass prompt"


def test_getpass_without_stdin_is_a_usage_error(magics, ip, monkeypatch):
    magics.terminal = True

    def no_stdin(prompt=""):
        raise EOFError

    monkeypatch.setattr(getpass, "getpass", no_stdin)
    with pytest.raises(UsageError, match="No key entered"):
        ip.run_line_magic("freddy_auth", "")


@pytest.mark.security
def test_bad_key_from_env_is_one_line_and_redacted(magics, ip, monkeypatch):
    canary = Canary()
    monkeypatch.setenv("FREDDY_API_KEY", canary.value)
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("freddy_auth", "--env")
    canary.assert_absent(str(caught.value))
    assert magics.session.client is None


@pytest.mark.parametrize("how", ["--sandbox", "FREDDY_SANDBOX=1"])
def test_sandbox_mode_is_loud_and_stopped_on_unload(ip, monkeypatch, how, shown):
    if how != "--sandbox":
        monkeypatch.setenv("FREDDY_SANDBOX", "1")
    ip.run_line_magic("load_ext", "freddy_magic")
    magics = ip.magics_manager.registry["FreddyMagics"]
    status = ip.run_line_magic("freddy_auth", "--sandbox" if how == "--sandbox" else "")
    how = "%freddy_auth --sandbox" if how == "--sandbox" else how
    assert status["sandbox"] and status["source"] == f"the in-kernel sandbox (started by {how})"
    assert status["method"] == "the sandbox's demo key"
    assert status.line().count("SANDBOX: answers are fake") == 1 and "FAKE" not in status.line()
    row = ip.run_cell_magic("freddy", "--no-stream", "Say hi")
    assert row["status"] == "ok" and row["text"].startswith("[sandbox")
    again = ip.run_line_magic("freddy_auth", "--sandbox")
    assert again["base_url"] == status["base_url"]  # reused, not a second server
    url = magics.session.sandbox.url
    assert sandbox_answers(url)
    ip.run_line_magic("unload_ext", "freddy_magic")
    assert magics.session.sandbox is None and magics.session.client is None
    assert not sandbox_answers(url)


def sandbox_answers(url):
    import requests

    try:
        requests.get(url + "/v1/health", timeout=1)
    except requests.RequestException:
        return False
    return True


def test_status_reports_the_connection(connected, ip, shared_sandbox):
    shared_sandbox.set_rate_limit("100/60s")
    ip.run_cell_magic("freddy", "--no-stream", "hi")
    status = ip.run_line_magic("freddy_auth", "--status")
    assert status["method"] == "api-key" and status["key"].startswith("fp=")
    assert status["base_url"] == shared_sandbox.url and status["organization"]
    assert status["token_expires"].startswith("never") and status["refreshes"] == 0
    assert "remaining" in status["rate_limit"]
    assert shared_sandbox.api_key not in status.line()


def test_logout_forgets_everything(connected, ip, shared_sandbox):
    credential = connected.session.client.credential
    status = ip.run_line_magic("freddy_auth", "--logout")
    assert "forgotten" in status.line()
    assert repr(credential) == "<Credential cleared>" and connected.session.client is None
    with pytest.raises(UsageError, match="Not authenticated"):
        ip.run_cell_magic("freddy", "", "hi")


def test_login_widget_password_then_code(magics, ip, shared_sandbox, shown):
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    assert ip.run_line_magic("freddy_auth", "--login") is None
    box = displayed_widget(shown)
    user = box.children[0].children[0]
    password = box.children[1].children[0]
    user.value = shared_sandbox.email
    password.value = shared_sandbox.password
    assert password.value == "" and "code was sent" in box.children[3].value
    code_field = box.children[2].children[0]
    code_field.value = str(shared_sandbox.outbox()[-1]["code"])
    assert code_field.value == "" and code_field.comm is None and password.comm is None
    status = box.children[0].value
    assert "bearer" in status and shared_sandbox.password not in status
    assert magics.session.client.credential.method == "bearer"
    row = ip.run_cell_magic("freddy", "--no-stream", "hi")
    assert row["status"] == "ok"


def test_login_wrong_password_is_a_one_line_reason(magics, ip, shared_sandbox, shown):
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "--login")
    box = displayed_widget(shown)
    box.children[0].children[0].value = shared_sandbox.email
    box.children[1].children[0].value = "wrong-password-123"
    message = box.children[3].value
    assert message and "wrong-password-123" not in message
    assert magics.session.client is None and box.children[2].layout.display == "none"


def test_login_in_a_terminal(magics, ip, shared_sandbox, monkeypatch):
    magics.terminal = True
    answers = iter([shared_sandbox.password, None])
    monkeypatch.setattr("builtins.input", lambda prompt="": shared_sandbox.email)

    def fake_getpass(prompt=""):
        secret = next(answers)
        return secret if secret is not None else str(shared_sandbox.outbox()[-1]["code"])

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    status = ip.run_line_magic("freddy_auth", "--login")
    assert status["method"] == "bearer"


@pytest.mark.security
def test_no_secret_in_namespace_environ_or_outputs(ip, shared_sandbox, shown, monkeypatch):
    ip.config.FreddyMagics.base_url = shared_sandbox.url
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    environ_before = dict(os.environ)
    ip.run_line_magic("load_ext", "freddy_magic")
    ip.run_cell("%freddy_auth\nx = 1")
    ip.run_cell("%%freddy -o answer\nhello")
    ip.run_cell("%freddy_auth --status")
    monkeypatch.delenv("FREDDY_API_KEY")
    assert dict(os.environ) == {k: v for k, v in environ_before.items() if k != "FREDDY_API_KEY"}
    user_values = [repr(v) for k, v in ip.user_ns.items() if not k.startswith("_") and k not in ("In", "Out")]
    assert not any(shared_sandbox.api_key in v for v in user_values)
    assert shared_sandbox.api_key not in repr(shown.messages)
    assert shared_sandbox.api_key not in repr(list(ip.user_ns["Out"].values()))


def test_colab_secret_is_used_when_running_in_colab(magics, ip, shared_sandbox, monkeypatch):
    """Colab is recognised by ``google.colab`` being imported; its ``userdata.get`` is the source."""
    import sys
    import types

    userdata = types.ModuleType("google.colab.userdata")
    userdata.get = lambda name: shared_sandbox.api_key if name == "FREDDY_API_KEY" else None
    colab = types.ModuleType("google.colab")
    colab.userdata = userdata
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.userdata", userdata)
    status = ip.run_line_magic("freddy_auth", "")
    assert status["source"] == "Colab secret FREDDY_API_KEY"


def test_legacy_and_deprecated_models_only_with_all(connected, ip):
    default = {m["key"] for m in ip.run_line_magic("freddy", "models")}
    everything = ip.run_line_magic("freddy", "models --all")
    assert any(m.get("is_deprecated") for m in everything)
    assert not default >= {m["key"] for m in everything}


def test_login_cancelled_after_the_password_drops_the_pending_sign_in(magics, ip, shared_sandbox, shown):
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "--login")
    box = displayed_widget(shown)
    box.children[0].children[0].value = shared_sandbox.email
    box.children[1].children[0].value = shared_sandbox.password
    assert magics.session._pending_login is not None
    box.children[1].children[2].click()  # Cancel
    assert magics.session._pending_login is None and magics.session.client is None
    assert "Cancelled" in box.children[0].value


@pytest.mark.security
def test_plain_http_to_a_remote_host_is_refused_before_the_key_is_used(ip, monkeypatch, shared_sandbox):
    ip.config.FreddyMagics.base_url = "http://api.example.com"
    ip.run_line_magic("load_ext", "freddy_magic")
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("freddy_auth", "--env")
    assert "http" in str(caught.value).lower() and shared_sandbox.api_key not in str(caught.value)


@pytest.mark.security
def test_pasted_key_with_a_newline_is_refused_without_echo(magics, ip, shown):
    canary = Canary()
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "")
    box = displayed_widget(shown)
    field = box.children[0].children[0]
    field.value = canary.value + "\ninjected: header"
    assert field.value == "" and field.comm is not None and magics.session.client is None
    assert box.children[1].value
    canary.assert_absent(box.children[1].value, repr(shown.messages))


# where the key lives ---------------------------------------------------------------------------
def notices(shown):
    return [m for m in shown.messages if NOTICE in m.get("data", {}).get("text/plain", "")]


@pytest.mark.security
@pytest.mark.parametrize("variable", ["BINDER_SERVICE_HOST", "JUPYTERHUB_API_URL"])
def test_public_session_notice_once_before_the_key_prompt(magics, ip, shared_sandbox, shown, monkeypatch, variable):
    monkeypatch.setenv(variable, "http://10.0.0.1:8081/hub/api")
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    assert ip.run_line_magic("freddy_auth", "") is None
    ip.run_line_magic("freddy_auth", "")
    assert len(notices(shown)) == 1
    assert "--sandbox" in notices(shown)[0]["data"]["text/plain"]
    widgets = [m for m in shown.messages if "application/vnd.jupyter.widget-view+json" in m.get("data", {})]
    assert len(widgets) == 2  # the notice never replaces or blocks the prompt


@pytest.mark.security
def test_public_session_notice_when_a_key_comes_from_the_environment(magics, ip, shared_sandbox, shown, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "student")
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    status = ip.run_line_magic("freddy_auth", "--env")
    assert status["key"].startswith("fp=") and magics.session.client is not None
    assert len(notices(shown)) == 1 and shared_sandbox.api_key not in repr(shown.messages)


def test_public_session_notice_once_per_extension_instance(ip, shared_sandbox, shown, monkeypatch):
    monkeypatch.setenv("BINDER_REPO_URL", "https://github.com/example/course")
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    ip.config.FreddyMagics.base_url = shared_sandbox.url
    ip.run_line_magic("load_ext", "freddy_magic")
    ip.run_line_magic("freddy_auth", "")
    ip.run_line_magic("freddy_auth", "")
    ip.run_line_magic("reload_ext", "freddy_magic")
    ip.run_line_magic("freddy_auth", "")
    assert len(notices(shown)) == 2


def test_no_notice_without_hosting_variables(magics, ip, shared_sandbox, shown, monkeypatch):
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "")
    ip.run_line_magic("freddy_auth", "--login")
    assert notices(shown) == []


@pytest.mark.parametrize("how", ["--sandbox", "FREDDY_SANDBOX=1"])
def test_sandbox_on_binder_gets_no_key_notice(ip, shown, monkeypatch, how):
    monkeypatch.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
    if how != "--sandbox":
        monkeypatch.setenv("FREDDY_SANDBOX", "1")
    ip.run_line_magic("load_ext", "freddy_magic")
    status = ip.run_line_magic("freddy_auth", "--sandbox" if how == "--sandbox" else "")
    how = "%freddy_auth --sandbox" if how == "--sandbox" else how
    assert status["sandbox"] and notices(shown) == []


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.mark.security
@needs_git
def test_dotenv_tracked_by_git_is_named_and_warned_about(magics, ip, shared_sandbox, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"FREDDY_API_KEY={shared_sandbox.api_key}\n")
    dotenv.chmod(0o600)
    git("init", "-q", cwd=tmp_path)
    git("add", ".env", cwd=tmp_path)
    source = ip.run_line_magic("freddy_auth", "--env")["source"]
    assert str(dotenv) in source and "git tracks that file" in source and "rotate" in source
    assert "readable by every user" not in source and shared_sandbox.api_key not in source
    assert magics.session.client is not None  # a warning, not a refusal


# --key: your own key where a plain %freddy_auth would not ask --------------------------------
@pytest.mark.parametrize("ambient", ["FREDDY_SANDBOX", "FREDDY_API_KEY"])
def test_key_option_asks_even_when_the_sandbox_switch_or_a_key_is_set(
    magics, ip, shared_sandbox, shown, monkeypatch, ambient
):
    monkeypatch.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
    monkeypatch.setenv(ambient, "1" if ambient == "FREDDY_SANDBOX" else "ak_" + "n0t-th1s-one" * 3)
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    assert ip.run_line_magic("freddy_auth", "--key") is None
    assert magics.session.client is None and magics.session.sandbox is None
    assert len(notices(shown)) == 1, "a real key on Binder gets the shared-session notice"
    field = displayed_widget(shown).children[0].children[0]
    field.value = shared_sandbox.api_key
    status = magics.session.status()
    assert status["source"] == "key typed into the widget" and status["base_url"] == shared_sandbox.url
    assert magics.session.sandbox is None, "no in-kernel sandbox was started"


def test_key_option_is_one_mode_among_the_others(magics, ip):
    with pytest.raises(UsageError, match="one of --key, --login"):
        ip.run_line_magic("freddy_auth", "--key --sandbox")
    with pytest.raises(UsageError, match="only with --env"):
        ip.run_line_magic("freddy_auth", "--key MY_KEY")


# the in-kernel sandbox's pace ----------------------------------------------------------------
def test_the_in_kernel_sandbox_streams_at_notebook_pace_unless_configured(ip, monkeypatch):
    del ip.config.FreddyMagics["sandbox_pace"]  # the suite's shells answer at once; a user's do not
    ip.run_line_magic("load_ext", "freddy_magic")
    magics = ip.magics_manager.registry["FreddyMagics"]
    assert magics.sandbox_pace == 1.0
    ip.run_line_magic("config", "FreddyMagics.sandbox_pace = 0.2")
    ip.run_line_magic("freddy_auth", "--sandbox")
    sandbox = magics.session.sandbox
    assert sandbox.pace == 0.2
    row = ip.run_cell_magic("freddy", "-m claude-3-5-sonnet", "Explain tides.")
    assert row["ttft_s"] >= 0.2 * 0.8, "claude-3-5-sonnet waits 0.8 s at pace 1 before its first chunk"
    ip.run_line_magic("config", "FreddyMagics.sandbox_pace = 0")
    ip.run_line_magic("freddy_auth", "--sandbox")
    assert magics.session.sandbox is sandbox and sandbox.pace == 0.0


@pytest.mark.parametrize("raw, expected", [("0", 0.0), ("2.5", 2.5), ("fast", 1.0), ("-1", 1.0), ("inf", 1.0)])
def test_freddy_sandbox_pace_variable_sets_the_default(ip, monkeypatch, raw, expected):
    del ip.config.FreddyMagics["sandbox_pace"]
    monkeypatch.setenv("FREDDY_SANDBOX_PACE", raw)
    ip.run_line_magic("load_ext", "freddy_magic")
    assert ip.magics_manager.registry["FreddyMagics"].sandbox_pace == expected


@pytest.mark.security
@pytest.mark.parametrize(
    ("listed", "shown"),
    [
        ([], "chosen by the server"),
        ("orgs", "chosen by the server"),
        (5, "chosen by the server"),
        ({"organizations": [{"id": ["org_a"], "name": "A"}]}, "chosen by the server"),
        ({"organizations": [{"id": "org_a", "name": {"n": 1}}]}, "org_a"),
        ({"organizations": [{"id": "org_a", "name": "A\n\tB " + "x" * 200}]}, "A B xxx"),
    ],
)
def test_k2_an_organization_list_of_the_wrong_shape_still_connects(ip, shared_sandbox, monkeypatch, listed, shown):
    """``/v1/organizations`` only feeds the status card: a key that works connects whatever it answers."""
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    reply = Reply(200, body=json.dumps(listed).encode())
    with HostileServer(
        lambda seen: reply if seen.path == "/v1/organizations" else forward(seen, shared_sandbox.url)
    ) as api:
        ip.config.FreddyMagics.base_url = api.url
        ip.run_line_magic("load_ext", "freddy_magic")
        status = ip.run_line_magic("freddy_auth", "--env")
        assert api.count("/v1/organizations") == 1
    assert status["title"] == "Connected" and status["organization"].startswith(shown)
    assert "\n" not in status["organization"] and len(status["organization"]) < 100, "a name is one short line"


# tokens from the environment: a JWT is a bearer token, a refresh token a renewing session -------


def _everything_shown(ip, shown, status, caplog_records):
    namespace = {k: repr(v) for k, v in ip.user_ns.items() if not k.startswith("_")}
    return [repr(shown.messages), status.line(), repr(status), namespace, list(caplog_records)]


@pytest.mark.security
def test_a_jwt_in_the_named_variable_is_sent_as_a_bearer_token(
    magics, ip, shared_sandbox, shown, debug_logs, monkeypatch
):
    access, _ = sandbox_tokens(shared_sandbox)
    monkeypatch.setenv("MY_JWT", access)
    status = ip.run_line_magic("freddy_auth", "--env MY_JWT")
    cred = magics.session.client.credential
    assert cred.method == "bearer" and not cred.can_refresh, "a JWT is never sent as an API key"
    assert "cannot be renewed" in status["notice"] and "FREDDY_REFRESH_TOKEN" in status["notice"]
    row = ip.run_cell_magic("freddy", "--no-stream -m gpt-4o", "hello")
    assert row["status"] == "ok"
    full = ip.run_line_magic("freddy_auth", "--status")
    assert full["method"] == "bearer" and full["token_expires"].startswith("in ")
    Canary(access).assert_absent(*_everything_shown(ip, shown, full, debug_logs), repr(row))


@pytest.mark.security
def test_a_jwt_pasted_into_the_key_widget_is_sent_as_a_bearer_token(magics, ip, shared_sandbox, shown, debug_logs):
    access, _ = sandbox_tokens(shared_sandbox)
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "")
    box = displayed_widget(shown)
    box.children[0].children[0].value = access
    cred = magics.session.client.credential
    assert cred.method == "bearer", "a JWT is never sent as an API key"
    row = ip.run_cell_magic("freddy", "--no-stream -m gpt-4o", "hello")
    full = ip.run_line_magic("freddy_auth", "--status")
    assert row["status"] == "ok" and full["source"].startswith("access token typed into the widget (a bearer token")
    Canary(access).assert_absent(*_everything_shown(ip, shown, full, debug_logs), repr(row))


@pytest.mark.security
def test_a_refresh_token_typed_at_the_getpass_prompt_gives_a_renewing_session(
    magics, ip, shared_sandbox, shown, debug_logs, monkeypatch
):
    access, refresh = sandbox_tokens(shared_sandbox)
    magics.terminal = True
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": refresh)
    status = ip.run_line_magic("freddy_auth", "")
    cred = magics.session.client.credential
    assert cred.method == "bearer" and cred.can_refresh
    assert status["source"].startswith("refresh token typed at the getpass prompt")
    row = ip.run_cell_magic("freddy", "--no-stream -m gpt-4o", "hello")
    assert row["status"] == "ok"
    full = ip.run_line_magic("freddy_auth", "--status")
    for secret in (access, refresh):
        Canary(secret).assert_absent(*_everything_shown(ip, shown, full, debug_logs), repr(row))


def test_a_jwt_near_expiry_warns_before_it_expires(ip, make_connected, monkeypatch):
    _, own = make_connected(token_lifetime=600.0)
    access, _ = sandbox_tokens(own)
    monkeypatch.setenv("MY_JWT", access)
    status = ip.run_line_magic("freddy_auth", "--env MY_JWT")
    assert "expires in 10 min" in status["notice"]


@pytest.mark.security
def test_a_refresh_token_in_the_environment_gives_a_renewing_session(
    magics, ip, shared_sandbox, shown, debug_logs, monkeypatch
):
    access, refresh = sandbox_tokens(shared_sandbox)
    monkeypatch.setenv("FREDDY_REFRESH_TOKEN", refresh)
    codes_sent = len(shared_sandbox.outbox())
    status = ip.run_line_magic("freddy_auth", "")
    cred = magics.session.client.credential
    assert cred.method == "bearer" and cred.can_refresh
    assert "FREDDY_REFRESH_TOKEN" in status["source"] and "refreshed automatically" in status["source"]
    assert len(shared_sandbox.outbox()) == codes_sent, "no emailed code was needed"
    row = ip.run_cell_magic("freddy", "--no-stream -m gpt-4o", "hello")
    assert row["status"] == "ok"
    refreshed = cred.refresh_after_401(cred.generation)  # renews without any code
    assert refreshed and cred.refreshes == 1
    full = ip.run_line_magic("freddy_auth", "--status")
    for secret in (access, refresh):
        Canary(secret).assert_absent(*_everything_shown(ip, shown, full, debug_logs), repr(row))
    assert os.environ["FREDDY_REFRESH_TOKEN"] == refresh, "the variable is read, never rewritten"


def test_an_api_key_still_wins_over_a_refresh_token(magics, ip, shared_sandbox, monkeypatch):
    _, refresh = sandbox_tokens(shared_sandbox)
    monkeypatch.setenv("FREDDY_REFRESH_TOKEN", refresh)
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.api_key)
    ip.run_line_magic("freddy_auth", "")
    assert magics.session.client.credential.method == "api-key"


@pytest.mark.security
def test_a_refresh_token_the_server_refuses_is_one_redacted_line(magics, ip, monkeypatch):
    canary = Canary()
    monkeypatch.setenv("FREDDY_REFRESH_TOKEN", canary.value)
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("freddy_auth", "")
    assert "\n" not in str(caught.value)
    canary.assert_absent(str(caught.value), repr(caught.value))
    assert magics.session.client is None


def test_a_wrong_key_in_the_widget_says_so_plainly_with_the_details_on_a_second_quiet_line(
    magics, ip, shared_sandbox, shown
):
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "")
    box = displayed_widget(shown)
    box.children[0].children[0].value = "fdy_sk_" + "0" * 40
    lead, _, details = box.children[1].value.partition("<br>")
    assert "Invalid API key: verify the key is correct and not expired" in lead and "jp-error-color1" in lead
    assert "%freddy" not in box.children[1].value and "server said" not in box.children[1].value
    assert "details: " in details and "HTTP 401 INVALID_API_KEY" in details and "trace_id=" in details


def test_a_wrong_login_code_says_wrong_code_and_what_to_do(magics, ip, shared_sandbox, shown):
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "--login")
    box = displayed_widget(shown)
    box.children[0].children[0].value = shared_sandbox.email
    box.children[1].children[0].value = shared_sandbox.password
    right = shared_sandbox.outbox()[-1]["code"]
    box.children[2].children[0].value = f"{(right + 1) % 10000:04d}"
    lead = box.children[3].value.partition("<br>")[0]
    assert "Wrong code: type the 4-digit code from the email again" in lead
    assert "invalid or expired" not in box.children[3].value and magics.session.client is None


def test_after_connecting_the_prompt_output_becomes_a_plain_status_card(magics, ip, shared_sandbox, shown):
    ip.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    ip.run_line_magic("freddy_auth", "")
    prompt_output = shown.messages[-1]
    box = displayed_widget(shown)
    box.children[0].children[0].value = shared_sandbox.api_key
    card = shown.messages[-1]
    assert card["update"] and card["transient"]["display_id"] == prompt_output["transient"]["display_id"]
    assert "application/vnd.jupyter.widget-view+json" not in card["data"]
    assert "class='freddy-status'" in card["data"]["text/html"] and card["data"]["text/plain"].startswith("Connected")
    assert box.comm is None, "the prompt's widgets are closed, none is left in the saved widget state"
