"""Warnings around where a key lives: a shared Binder/JupyterHub session (security T-A6) and a
``.env`` file that git tracks (T-H2). Both only warn; neither may stop authentication.
"""

import shutil
import subprocess

import pytest

from freddy_magic._sources import find_key, tracked_by_git

HOSTED = ("BINDER_SERVICE_HOST", "BINDER_REPO_URL", "BINDER_LAUNCH_HOST", "BINDER_REF_URL",
          "JUPYTERHUB_API_URL", "JUPYTERHUB_USER", "JUPYTERHUB_SERVICE_PREFIX")
NOTICE = "usable by anyone who holds this session's URL"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch, tmp_path):
    """No ambient key, sandbox switch or hosting variable from the machine running the tests."""
    for name in ("FREDDY_API_KEY", "FREDDY_SANDBOX", "PYTHON_DOTENV_DISABLED", *HOSTED):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def notices(shown):
    return [m for m in shown.messages if NOTICE in m.get("data", {}).get("text/plain", "")]


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
    assert status["sandbox"] and notices(shown) == []


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


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


@needs_git
def test_nearest_dotenv_is_used_and_checked_from_its_own_folder(shared_sandbox, tmp_path, monkeypatch):
    """The tracked .env in the parent repository is shadowed by the untracked one in the cwd."""
    git("init", "-q", cwd=tmp_path)
    (tmp_path / ".env").write_text("FREDDY_API_KEY=parent-key-not-used-1234\n")
    git("add", ".env", cwd=tmp_path)
    work = tmp_path / "notebooks"
    work.mkdir()
    (work / ".env").write_text(f"FREDDY_API_KEY={shared_sandbox.api_key}\n")
    (work / ".env").chmod(0o600)
    value, source = find_key(start=work)
    assert value == shared_sandbox.api_key and source == f"FREDDY_API_KEY from {work / '.env'}"
    assert tracked_by_git(tmp_path / ".env") and not tracked_by_git(work / ".env")


def test_no_git_or_no_repository_means_no_warning(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("FREDDY_API_KEY=some-key-value-1234\n")
    assert not tracked_by_git(dotenv)  # tmp_path is in no repository
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert not tracked_by_git(dotenv)  # no git executable at all
    assert "git tracks" not in find_key(start=tmp_path)[1]
