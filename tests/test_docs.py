"""SECURITY.md names the test that proves each guarantee: every name must exist and be marked.

The table cites tests as `tests/<file>.py::<name>`, later cells of a row as `::<name>` of the
same file, with `*` for a family (`test_d1_*`) or every parameter (`[*]`). Each citation must
match at least one test function of that file, and each matched test must carry the ``security``
marker, so ``pytest -m security`` runs what the page promises. Read with ``ast``: nothing is
imported or run.
"""

import ast
import fnmatch
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"`(tests/[\w/]+\.py)?(::[\w*]+(?:\[\*\])?)?`")


def _citations():
    """``(file, pattern or None)`` for every test file or test the guarantees table cites."""
    table = REPO.joinpath("SECURITY.md").read_text().split("| Guarantee | Proved by |")[1].split("\n\n")[0]
    found = []
    for row in table.splitlines()[2:]:
        current = None
        for path, name in CITATION.findall(row.split("|")[-2]):
            current = path or current
            assert current, f"a test is cited before its file: {row[:80]}"
            found.append((current, name[2:].removesuffix("[*]") if name else None))
    return found


def _tests(path):
    """``{test name: decorator and module-mark source}`` of one test file."""
    tree = ast.parse(path.read_text())
    module_marks = "".join(
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
    )
    return {
        node.name: module_marks + "".join(ast.unparse(d) for d in node.decorator_list)
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def test_every_cited_test_exists_and_is_marked_security():
    citations = _citations()
    assert len(citations) > 40, "the table was not found or not parsed"
    for file, pattern in citations:
        path = REPO / file
        assert path.exists(), f"SECURITY.md cites a missing file: {file}"
        tests = _tests(path)
        matched = [name for name in tests if pattern is None or fnmatch.fnmatchcase(name, pattern)]
        assert matched, f"SECURITY.md cites {file}::{pattern}, which matches no test"
        unmarked = [name for name in matched if "security" not in tests[name]]
        assert unmarked == [], f"{file}: cited but not marked security: {unmarked}"
