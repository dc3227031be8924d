"""The demo notebooks: committed clean, and each one runs top to bottom against the sandbox.

Teaching material rots silently, so every notebook is executed here exactly as
``make demo HEADLESS=1`` does (notebooks/run.py, nbclient, kernel in the notebooks folder), with no
key and ``FREDDY_SANDBOX=1``; any failing cell fails the test. The committed files must hold no
outputs, execution counts or widget state, and only the auth cell may decide where answers
come from, so the same notebook runs unchanged against the real API when a key is set. Those
checks read the files as JSON; nbformat (whose schema validator takes seconds to import) is
loaded only by the slow tests that need it.
"""

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from freddy_magic._display import CURSOR

from .demo import RUN_PY, run_py
from .lab import Server

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = {"quickstart.ipynb", "compare-models.ipynb", "batch-over-dataframe.ipynb", "teaching-demo.ipynb"}


@pytest.fixture
def sandbox_env(monkeypatch, tmp_path):
    """The kernel environment of a keyless run: no key, FREDDY_SANDBOX=1, a throwaway IPython dir."""
    for name in list(os.environ):
        if name.startswith("FREDDY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("FREDDY_SANDBOX", "1")
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")  # a developer's .env must not reach the real API
    return tmp_path


def _outputs(nb, cell_id):
    (cell,) = [cell for cell in nb.cells if cell.get("id") == cell_id]
    return json.dumps(cell.outputs)


def test_the_four_notebooks_exist():
    assert {path.name for path in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_commit_clean(path):
    raw = json.loads(path.read_text())
    assert raw["nbformat"] == 4
    assert "widgets" not in raw["metadata"], "saved widget state (may hold a typed key)"
    assert raw["metadata"]["kernelspec"]["name"] == "python3"
    for cell in raw["cells"]:
        assert "execution" not in cell["metadata"]
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"outputs in cell {cell['id']}"
            assert cell["execution_count"] is None, f"execution count in cell {cell['id']}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_nbformat(path):
    import nbformat

    nbformat.validate(nbformat.read(path, as_version=4))


def test_the_shipped_recording_comes_from_the_sandbox_and_says_so():
    lines = run_py.RECORDING.read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries and all(entry["sandbox"] is True and entry["host"] == "sandbox" for entry in entries)
    assert all(entry["answer"]["text"].startswith("[sandbox ") for entry in entries)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_only_the_auth_cell_decides_where_answers_come_from(path):
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    auth = [source for source in code if source.startswith("%freddy_auth") and "--" not in source]
    assert auth == ["%freddy_auth"], "exactly one plain %freddy_auth cell"
    assert code.index("%freddy_auth") == 1 and code[0] == "%load_ext freddy_magic"
    for source in code:
        assert not re.search(r"--sandbox|--env|FREDDY_|api[_-]?key|base_url", source), source


@pytest.mark.slow
def test_run_py_clean_strips_what_must_not_be_committed(tmp_path):
    import nbformat

    nb = nbformat.read(NOTEBOOKS_DIR / "quickstart.ipynb", as_version=4)
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = number + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="typed-secret\n")]
        cell.metadata["execution"] = {"iopub.status.idle": "2026-11-28T00:00:00Z"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"v": "typed-secret"}}}
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(nb, dirty)
    run_py.clean(dirty)
    assert "typed-secret" not in dirty.read_text()
    test_notebook_is_commit_clean(dirty)
    test_notebook_is_valid_nbformat(dirty)


# Appended to a copy of compare-models: the numbers behind its chart, as the notebook has them.
CHART_PROBE = "import json\nprint(json.dumps(df[['model', 'ttft_s', 'latency_s', 'text']].to_dict('records')))"


def _recording_client(messages):
    """A NotebookClient that also keeps (cell id, message type, content) of every kernel message."""
    from nbclient import NotebookClient

    class Recording(NotebookClient):
        def process_message(self, msg, cell, cell_index):
            messages.append((cell.get("id"), msg["msg_type"], msg["content"]))
            return super().process_message(msg, cell, cell_index)

    return Recording


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_against_the_sandbox(path, sandbox_env):
    """Paced like a real model, as in a class: no FREDDY_SANDBOX_PACE in the kernels' environment."""
    import nbformat

    if path.name == "compare-models.ipynb":
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(CHART_PROBE, id="chart-probe"))
        path = sandbox_env / path.name
        nbformat.write(nb, path)
    messages = []
    copy, error = run_py.execute(path, sandbox_env / "executed", timeout=120, client_class=_recording_client(messages))
    assert error is None, f"{path.name} failed:\n{error}"
    nb = nbformat.read(copy, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert "[sandbox" in json.dumps(outputs), "no sandbox answer anywhere"
    assert "widgets" not in nb.metadata
    assert CURSOR not in json.dumps(outputs, ensure_ascii=False), "a streaming cursor was left in a finished answer"

    checks = {
        "quickstart.ipynb": lambda: (
            "[sandbox ftg-3.0]" in _outputs(nb, "first")
            and "<table" in _outputs(nb, "data")
            and "gpt-4o" in _outputs(nb, "compare-table")
        ),
        "compare-models.ipynb": lambda: (
            "image/png" in _outputs(nb, "chart")
            and all(model in _outputs(nb, "side") for model in ("ftg-3.0", "gpt-4o", "claude-3-5-sonnet"))
            and _chart_shows_each_models_pace(nb)
        ),
        "batch-over-dataframe.ipynb": lambda: (
            "6 of 6 rows ok" in _outputs(nb, "summary")
            and "a confusion matrix" in _outputs(nb, "join")
            and "No failed rows in rows: nothing was sent." in _outputs(nb, "again")
            and "8 of 8 reviews gave the fields asked for" in _outputs(nb, "extract-join")
            and "negative" in _outputs(nb, "extract-join")
            and "image/png" in _outputs(nb, "extract-chart")
        ),
        "teaching-demo.ipynb": lambda: (
            "photosynthesis" in _outputs(nb, "dry") and _teaching_shows_what_it_claims(nb, messages)
        ),
    }
    assert checks[path.name](), f"{path.name}: an expected output is missing"


@pytest.mark.kernel
@pytest.mark.slow
def test_the_teaching_notebook_runs_from_its_recording_alone(sandbox_env, monkeypatch):
    """What ``make demo HEADLESS=1`` and Binder do with no key, minus the sandbox: every answer of
    the lesson is in the recording (a request it lacks would fail its cell), streamed again piece
    by piece, and the auth cell says REPLAY."""
    import nbformat

    monkeypatch.delenv("FREDDY_SANDBOX")
    monkeypatch.setenv("FREDDY_REPLAY", str(run_py.RECORDING))
    messages = []
    path = NOTEBOOKS_DIR / "teaching-demo.ipynb"
    copy, error = run_py.execute(path, sandbox_env / "executed", timeout=120, client_class=_recording_client(messages))
    assert error is None, f"the lesson asked for something its recording lacks:\n{error}"
    nb = nbformat.read(copy, as_version=4)
    auth = next(cell for cell in nb.cells if "".join(cell.source) == "%freddy_auth")
    assert "REPLAY" in json.dumps(auth.outputs) and "recorded-answers.jsonl" in json.dumps(auth.outputs)
    assert _teaching_shows_what_it_claims(nb, messages)
    recorded = [json.loads(line)["answer"]["text"] for line in run_py.RECORDING.read_text().splitlines()]
    assert _answer(nb, "chat2").startswith(recorded[-1] + "\n\n<span class='freddy-footer'")


def test_demo_environment_replays_the_shipped_recording_when_there_is_no_key(tmp_path):
    recording = tmp_path / "answers.jsonl"
    assert "FREDDY_REPLAY" not in run_py.demo_environment({}, recording=recording)
    recording.write_text("")
    assert run_py.demo_environment({}, recording=recording)["FREDDY_REPLAY"] == str(recording)
    assert "FREDDY_REPLAY" not in run_py.demo_environment({"FREDDY_API_KEY": "k" * 20}, recording=recording)
    forced = run_py.demo_environment({"FREDDY_REPLAY": "x"}, force_sandbox=True, recording=recording)
    assert "FREDDY_REPLAY" not in forced and forced["FREDDY_SANDBOX"] == "1"


def _answer(nb, cell_id):
    (cell,) = [cell for cell in nb.cells if cell.get("id") == cell_id]
    (shown,) = [out for out in cell.outputs if "text/markdown" in out.get("data", {})]
    return shown["data"]["text/markdown"]


def _teaching_shows_what_it_claims(nb, messages):
    """The first answer arrives piece by piece; the second chat turn refers to the first and
    costs more input tokens."""
    first = [(kind, content) for cell_id, kind, content in messages if cell_id == "ask"]
    kinds = [kind for kind, _ in first if kind in ("display_data", "update_display_data")]
    shown = [c["data"]["text/markdown"] for k, c in first if k.endswith("display_data") and "data" in c]
    # The lesson names no model, so the server's default answers: the wait names no model either.
    assert kinds[0] == "display_data" and shown[0] == "*waiting for the answer…*", shown[:1]
    partial = shown[1:]  # after the waiting line, the answer itself
    assert kinds.count("update_display_data") >= 4, kinds
    assert partial[0].endswith(CURSOR) and not partial[-1].endswith(CURSOR)
    assert partial[-1].startswith(partial[0][: -len(CURSOR)]), "the answer grows from its first piece"

    chat1, chat2 = _answer(nb, "chat1"), _answer(nb, "chat2")
    assert chat1 != chat2 and "“Which gas do plants take in for photosynthesis”" in chat2
    tokens = [int(n) for n in re.findall(r"(\d+) input tokens", _outputs(nb, "chat-tokens"))]
    assert len(tokens) == 2 and tokens[1] > tokens[0], tokens
    return True


def _chart_shows_each_models_pace(nb):
    """The chart's numbers differ by model because the models are paced differently: each is at
    least what its pace makes it (a lower bound, which load can only exceed)."""
    from freddy_magic.sandbox._fakemodel import deltas
    from freddy_magic.sandbox._pacing import schedule

    rows = json.loads(json.loads(_outputs(nb, "chart-probe"))[0]["text"])
    for row in rows:
        first, waits = schedule(row["model"], row["text"], len(deltas(row["text"])), 1.0)
        assert row["ttft_s"] >= first and row["latency_s"] >= first + sum(waits), row
    paced = sorted(rows, key=lambda row: schedule(row["model"], row["text"], 1, 1.0)[0])
    assert [row["model"] for row in paced] == ["ftg-3.0", "gpt-4o", "claude-3-5-sonnet"]
    assert len({round(row["ttft_s"], 2) for row in rows}) == 3 and len({round(r["latency_s"], 2) for r in rows}) == 3
    return True


def test_demo_environment_prefers_a_key_and_falls_back_to_the_sandbox():
    keyless = run_py.demo_environment({"PATH": "/bin"})
    assert keyless["FREDDY_SANDBOX"] == "1"
    assert keyless["JUPYTER_PATH"].split(os.pathsep)[0] == str(run_py.DEMO_JUPYTER_PATH)
    keyed = run_py.demo_environment({"FREDDY_API_KEY": "k" * 20, "JUPYTER_PATH": "/x"})
    assert "FREDDY_SANDBOX" not in keyed and keyed["JUPYTER_PATH"].endswith(os.pathsep + "/x")
    forced = run_py.demo_environment({"FREDDY_API_KEY": "k" * 20}, force_sandbox=True)
    assert "FREDDY_API_KEY" not in forced and forced["FREDDY_SANDBOX"] == "1"
    assert forced["PYTHON_DOTENV_DISABLED"] == "1" and "PYTHON_DOTENV_DISABLED" not in keyless


def test_lab_gets_allow_root_only_as_root():
    assert "--allow-root" in run_py.lab_command([], root=True)
    assert "--allow-root" not in run_py.lab_command([], root=False)
    assert run_py.lab_command(["--allow-root", "--port=1"], root=True).count("--allow-root") == 1
    assert run_py.lab_command(["--port=1"], root=False)[-2:] == ["--port=1", "quickstart.ipynb"]


def test_the_demo_switches_off_the_news_pop_up_and_nothing_else():
    env = run_py.demo_environment({"JUPYTER_CONFIG_PATH": "/etc/x"})
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(run_py.DEMO_CONFIG_PATH), "/etc/x"]
    page_config = json.loads((run_py.DEMO_CONFIG_PATH / "labconfig" / "page_config.json").read_text())
    assert page_config == {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    assert sorted(p.name for p in run_py.DEMO_CONFIG_PATH.rglob("*") if p.is_file()) == ["page_config.json"]


def _venv_seeing_this_environment(venv):
    """A venv whose python imports what this test run imports (the package under test and the
    demo's dependencies), stamped as installed: ``make demo`` then goes straight to starting
    the server, which is what is under test, instead of a minute of pip."""
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(
        subprocess.check_output(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "this-environment.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    stamp = venv / ".installed-demo"
    stamp.touch()
    pyproject = (REPO / "pyproject.toml").stat().st_mtime
    os.utime(stamp, (pyproject + 1, max(pyproject + 1, stamp.stat().st_mtime)))


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="this case is about starting the demo as root")
def test_make_demo_starts_as_root_without_the_news_pop_up(tmp_path):
    venv, config = tmp_path / "venv", tmp_path / "config"
    _venv_seeing_this_environment(venv)
    token = "make-demo-test"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"port": 0, "open_browser": False},
                "IdentityProvider": {"token": token},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREDDY_", "JUPYTER", "PYTHON", "MAKE"))}
    env.update(HOME=str(tmp_path), JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    env.update(IPYTHONDIR=str(tmp_path / "ipython"), JUPYTER_DATA_DIR=str(tmp_path / "data"))
    server = Server(
        ["make", "--no-print-directory", "demo", f"VENV={venv}"], env=env, cwd=REPO, log_path=tmp_path / "make.log"
    )
    try:
        base = server.wait_ready(f"/api/status?token={token}")
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=30) as response:
            page = response.read().decode()
        with urllib.request.urlopen(f"{base}/api/kernelspecs?token={token}", timeout=30) as response:
            specs = json.load(response)
    finally:
        output = server.stop()
    assert server.proc.returncode is not None
    config_data = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert "@jupyterlab/apputils-extension:announcements" in config_data["disabledExtensions"]
    assert "--HistoryManager.enabled=False" in specs["kernelspecs"]["python3"]["spec"]["argv"]
    assert f"{venv}/bin/python notebooks/run.py lab" in output
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)


def _tiny_notebook(path, source):
    import nbformat

    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec})
    nb.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(nb, path)
    return path


@pytest.mark.kernel
@pytest.mark.slow
def test_run_py_execute_reports_failures_and_keeps_history_off(tmp_path):
    good = _tiny_notebook(
        tmp_path / "good.ipynb",
        (
            "import os\n"
            "assert get_ipython().history_manager.enabled is False\n"
            "assert os.environ['FREDDY_SANDBOX'] == '1' and 'FREDDY_API_KEY' not in os.environ\n"
            "print(os.getcwd())"
        ),
    )
    bad = _tiny_notebook(tmp_path / "bad.ipynb", "raise ValueError('boom in a cell')")
    out = tmp_path / "executed"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREDDY_", "JUPYTER_PATH"))}
    env.update(FREDDY_API_KEY="not-a-real-key-123456", IPYTHONDIR=str(tmp_path / "ipython"))

    def run(*paths):
        return subprocess.run(
            [sys.executable, str(RUN_PY), "execute", "--sandbox", "--out", str(out), *map(str, paths)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    passing = run(good)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert f"Executed copies are in {out}" in passing.stdout
    executed = json.loads((out / "good.ipynb").read_text())
    assert "".join(executed["cells"][0]["outputs"][0]["text"]).strip() == str(tmp_path)  # kernel cwd = notebook folder

    failing = run(good, bad)
    assert failing.returncode == 1
    assert re.search(r"ok .*good\.ipynb", failing.stdout) and re.search(r"FAILED .*bad\.ipynb", failing.stdout)
    assert "boom in a cell" in failing.stdout
    assert (out / "bad.ipynb").exists(), "the failing copy is written too, to read the error there"


@pytest.mark.kernel
@pytest.mark.slow
def test_run_py_lab_serves_the_notebooks_with_the_history_off_kernel(tmp_path):
    token = "run-py-test"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREDDY_", "JUPYTER"))}
    env.update(HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    server = Server(
        [
            sys.executable,
            str(RUN_PY),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.port=0",
            f"--IdentityProvider.token={token}",
        ],
        env=env,
        cwd=tmp_path,
        log_path=tmp_path / "server.log",
    )
    try:
        base = server.wait_ready(f"/api/status?token={token}")
        with urllib.request.urlopen(f"{base}/api/kernelspecs?token={token}", timeout=30) as response:
            specs = json.load(response)
        with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=30) as response:
            names = {item["name"] for item in json.load(response)["content"]}
    finally:
        output = server.stop()
    assert names >= EXPECTED, "the server root is not the notebooks folder"
    assert "--HistoryManager.enabled=False" in specs["kernelspecs"]["python3"]["spec"]["argv"]
    assert "FREDDY_SANDBOX=1, so the notebooks use the built-in sandbox" in output
