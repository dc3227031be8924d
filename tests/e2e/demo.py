"""``notebooks/run.py`` (the two halves of ``make demo``) loaded as a module, for the tests that
run notebooks or kernels the way the demo does."""

import importlib.util
from pathlib import Path

RUN_PY = Path(__file__).resolve().parents[2] / "notebooks" / "run.py"


def _load():
    spec = importlib.util.spec_from_file_location("notebooks_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_py = _load()
