"""The magics in a real ipykernel, executed headless by nbclient (no widget front end, no stdin).

What only a real kernel shows: display handles merged in place by the front end, the
displayhook not repeating an answer that was streamed, and that a headless run asking for a
key fails at once instead of hanging.
"""

import ast

import pytest

from .demo import run_py

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def run(cells, tmp_path, monkeypatch, allow_errors=False):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("FREDDY_API_KEY", raising=False)
    monkeypatch.delenv("FREDDY_SANDBOX", raising=False)
    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(
        nb,
        km=run_py.kernel_manager(str(tmp_path)),
        timeout=60,
        kernel_name="python3",
        allow_errors=allow_errors,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return nb


def test_headless_auth_fails_fast_and_the_answer_is_shown_once(tmp_path, monkeypatch):
    nb = run(
        [
            "%load_ext freddy_magic",
            "%freddy_auth",
            "%freddy_auth --sandbox",
            "%%freddy -o answer\nExplain tides in two sentences.",
            "answer['text']",
        ],
        tmp_path,
        monkeypatch,
        allow_errors=True,
    )
    auth_error = nb.cells[1].outputs[0]  # IPython prints a UsageError as one stderr line
    assert auth_error["text"].startswith("UsageError: ") and "FREDDY_API_KEY" in auth_error["text"]
    sandbox_status = nb.cells[2].outputs
    assert any("SANDBOX" in str(o.get("data", {})) for o in sandbox_status)
    outputs = nb.cells[3].outputs
    answer = ast.literal_eval(nb.cells[4].outputs[0]["data"]["text/plain"])
    assert [o["output_type"] for o in outputs] == ["display_data"]
    assert outputs[0]["data"]["text/markdown"].startswith(answer + "\n\n<span class='freddy-footer'")


def test_a_failing_call_fails_the_cell_with_one_line(tmp_path, monkeypatch):
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError) as caught:
        run(["%load_ext freddy_magic", "%%freddy\nhello"], tmp_path, monkeypatch)
    assert "UsageError" in str(caught.value) and "Not authenticated" in str(caught.value)
