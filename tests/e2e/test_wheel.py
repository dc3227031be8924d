"""The built wheel, alone in a fresh venv, runs the README's no-key path.

``pip install freddy_magic`` with no extras must be enough for ``%freddy_auth --sandbox`` and a
first ``%%freddy``: the sandbox is how every notebook runs without a key. So the wheel is built
from this checkout, installed with its declared dependencies only (from the package index) into
a venv that sees no other site-packages, and driven from a folder outside the repository, so
nothing but the installed wheel can be imported.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

config = Config()
config.HistoryManager.enabled = False
shell = InteractiveShell.instance(config=config)
shell.run_line_magic("load_ext", "freddy_magic")
status = shell.run_line_magic("freddy_auth", "--sandbox")
row = shell.run_cell_magic("freddy", "", "Explain photosynthesis to a ten-year-old in two sentences.")
import freddy_magic, werkzeug
print(json.dumps({
    "sandbox": status["sandbox"],
    "status": row["status"],
    "text": row["text"],
    "freddy_magic": freddy_magic.__file__,
    "werkzeug": werkzeug.__file__,
    "prefix": sys.prefix,
}))
"""


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREDDY_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


@pytest.mark.slow
def test_the_wheel_alone_runs_the_sandbox_and_a_first_cell(tmp_path):
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        env=_env(),
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("freddy_magic-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], env=_env(), check=True, timeout=120)
    python = venv / "bin" / "python"
    config = subprocess.run(
        [str(python), "-c", "import sys; print(sys.base_prefix != sys.prefix, [p for p in sys.path if 'site' in p])"],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert config.stdout.startswith("True") and str(venv) in config.stdout
    assert (venv / "pyvenv.cfg").read_text().count("include-system-site-packages = false") == 1
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        env=_env(),
        cwd=work,
        check=True,
        timeout=900,
    )
    done = subprocess.run(
        [str(python), "-c", PROBE],
        env=_env(HOME=str(tmp_path), IPYTHONDIR=str(tmp_path / "ipython"), PYTHON_DOTENV_DISABLED="1"),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["prefix"] == str(venv)
    assert result["freddy_magic"].startswith(str(venv)) and result["werkzeug"].startswith(str(venv))
    assert result["sandbox"] is True and result["status"] == "ok"
    assert result["text"].startswith("[sandbox ftg-3.0]") and "a ten-year-old" in result["text"]
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr

    # The front-end extension is installed where JupyterLab and Notebook 7 look, as it was built.
    built = REPO / "freddy_magic" / "labextension"
    installed = venv / "share" / "jupyter" / "labextensions" / "freddy-magic"
    files = sorted(path.relative_to(built) for path in built.rglob("*") if path.is_file())
    assert (installed / "install.json").is_file() and (installed / "static").is_dir()
    assert sorted(path.relative_to(installed) for path in installed.rglob("*") if path.is_file()) == files
    assert all((installed / name).read_bytes() == (built / name).read_bytes() for name in files)
    assert not (Path(result["freddy_magic"]).parent / "labextension").exists(), "shipped twice: in the package too"
