"""``python -m freddy_magic check``: env credentials, exit status, notice on stderr, report on stdout."""

import subprocess
import sys

import pytest

from freddy_magic.__main__ import main
from freddy_magic.sandbox import Sandbox
from freddy_magic.sandbox._misshapes import Misshapes


@pytest.fixture
def no_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env above tmp_path: only the given environment counts


def test_the_check_reads_the_key_and_host_from_the_environment(sandbox, capsys, no_dotenv):
    env = {"FREDDY_API_KEY": sandbox.api_key, "FREDDY_BASE_URL": sandbox.url, "FREDDY_MODEL": "gpt-4o"}
    assert main(["check"], env) == 0
    out, err = capsys.readouterr()
    assert out.startswith("freddy_magic check: ") and "| models |" in out and "0 differs" in out
    assert "model gpt-4o (configured)" in out
    assert "paid calls follow" in err and "paid calls follow" not in out
    assert sandbox.api_key not in out + err


def test_a_difference_exits_1(capsys, no_dotenv):
    with Sandbox(rate_limit=None, middleware=Misshapes("models-count-as-text")) as sb:
        assert main(["check", "--no-paid"], {"FREDDY_API_KEY": sb.api_key, "FREDDY_BASE_URL": sb.url}) == 1
    out, err = capsys.readouterr()
    assert "total_count: str, expected int" in out and err == ""


def test_without_a_key_it_says_so_and_exits_2(capsys, no_dotenv):
    assert main(["check"], {}) == 2
    out, err = capsys.readouterr()
    assert out == "" and "No FREDDY_API_KEY" in err


@pytest.mark.slow
def test_python_dash_m_runs_the_check_against_the_builtin_sandbox(tmp_path):
    ran = subprocess.run(
        [sys.executable, "-m", "freddy_magic", "check", "--sandbox"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "6 ok, 0 differs, 0 tolerated, 1 skipped." in ran.stdout
