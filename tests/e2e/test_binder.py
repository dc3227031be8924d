"""binder/ must build on mybinder.org and run the notebooks there against the sandbox.

No Docker daemon or docker.io here, so a real image build is impossible. What can be checked:
repo2docker reads binder/ and writes the Dockerfile it would build (``--no-build``), and a
"Binder-like" fresh venv installed only from binder/ runs the quickstart through binder/start,
with postBuild's history setting in force.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINDER = REPO / "binder"


def _clean_env(**extra):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FREDDY_", "JUPYTER", "IPYTHON")) and k != "PYTHONPATH"
    }  # only what binder/ installs
    env["PYTHON_DOTENV_DISABLED"] = "1"  # a developer's .env must not turn the sandbox run into a real one
    env.update(extra)
    return env


def test_repo2docker_accepts_binder_folder():
    repo2docker = Path(sys.executable).with_name("repo2docker")
    result = subprocess.run(
        [str(repo2docker), "--no-build", "--no-run", "--debug", str(REPO)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dockerfile = result.stdout + result.stderr
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile
    assert "RUN ./binder/postBuild" in dockerfile
    assert '-r "binder/requirements.txt"' in dockerfile
    # The package is a local requirement, so the whole repo must be copied before pip runs.
    assert dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/") < dockerfile.index('-r "binder/requirements.txt"')


def test_binder_files_install_the_package_and_keep_history_off(tmp_path):
    requirements = [line.split("#")[0].strip() for line in (BINDER / "requirements.txt").read_text().splitlines()]
    assert any(req.startswith(".[") for req in requirements), "the package itself must be installed"
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    for script in ("postBuild", "start"):
        path = BINDER / script
        assert os.access(path, os.X_OK), f"binder/{script} must be executable"
        assert path.read_text().startswith("#!"), f"binder/{script} needs a shebang"

    subprocess.run([str(BINDER / "postBuild")], env=_clean_env(HOME=str(tmp_path)), check=True, timeout=30)
    config = tmp_path / ".ipython" / "profile_default" / "ipython_kernel_config.py"
    assert config.read_text().strip() == "c.HistoryManager.enabled = False"


def test_binder_start_exports_sandbox_and_recording_and_runs_the_command():
    probe = (
        "import json, os, sys; print(json.dumps([os.environ.get('FREDDY_SANDBOX'), "
        "os.environ.get('FREDDY_REPLAY'), os.environ.get('JUPYTER_CONFIG_PATH'), sys.argv[1:]]))"
    )
    result = subprocess.run(
        [str(BINDER / "start"), sys.executable, "-c", probe, "a b", "--flag"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    page_config = str(REPO / "notebooks" / ".jupyter-config")  # no news pop-up, as in make demo
    recording = str(REPO / "notebooks" / "recorded-answers.jsonl")  # the lesson's recorded answers
    assert json.loads(result.stdout) == ["1", recording, page_config, ["a b", "--flag"]]


@pytest.mark.slow
@pytest.mark.kernel
def test_binder_like_venv_runs_quickstart_through_start(tmp_path):
    """Install from binder/ alone into a fresh venv, run postBuild, then the quickstart via start."""
    venv = tmp_path / "bvenv"
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    # pip keeps the real HOME (its cache); everything Jupyter sees gets the temporary one.
    subprocess.run(
        [*pip, "install", "-r", "binder/requirements.txt"], cwd=REPO, env=_clean_env(), check=True, timeout=600
    )

    env = _clean_env(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([str(BINDER / "postBuild")], cwd=REPO, env=env, check=True, timeout=60)
    # The front-end extension came with the package: JupyterLab and Notebook 7 there load it.
    listed = subprocess.run(
        [str(venv / "bin" / "jupyter"), "labextension", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    plain = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)  # it colours "enabled" and "OK"
    assert re.search(r"freddy-magic v\S+ enabled OK \(python, freddy_magic\)", plain), plain

    probe = tmp_path / "probe.ipynb"
    probe.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "execution_count": None,
                        "id": "probe",
                        "metadata": {},
                        "outputs": [],
                        "source": (
                            "import os, sys, freddy_magic\n"
                            "assert get_ipython().history_manager.enabled is False, \\\n"
                            "    'postBuild did not turn history off'\n"
                            "assert os.environ['FREDDY_SANDBOX'] == '1'\n"
                            f"assert sys.prefix == {str(venv)!r}, sys.prefix\n"
                            f"assert freddy_magic.__file__.startswith({str(venv)!r}), freddy_magic.__file__\n"
                        ),
                    }
                ],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    executed = tmp_path / "quickstart-executed.ipynb"
    runs = ((probe, tmp_path / "probe-executed.ipynb"), (REPO / "notebooks" / "quickstart.ipynb", executed))
    for source, output in runs:
        result = subprocess.run(
            [str(BINDER / "start"), "jupyter", "execute", f"--output={output}", str(source)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"{source.name} failed on Binder-like venv:\n{result.stderr[-4000:]}"

    nb = json.loads(executed.read_text())
    outputs = [out for cell in nb["cells"] if cell["cell_type"] == "code" for out in cell["outputs"]]
    assert not [out for out in outputs if out["output_type"] == "error"]
    assert "[sandbox" in json.dumps(outputs), "the quickstart did not answer from the sandbox"
