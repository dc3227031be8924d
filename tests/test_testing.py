"""The canary kit (freddy_magic.testing) must find every form of a leak, or every sweep proves nothing.

Each test plants the canary in one disguise and asserts the kit reports it, plus the negative:
unrelated data, and another canary, are not reported. The plugin itself is run in a child pytest
exactly as a course author would (``-p freddy_magic.testing``).
"""

import base64
import gzip
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from freddy_magic.testing import (
    Canary,
    assert_no_canary,
    canary_variants,
    find_canary,
    make_canary,
)

pytestmark = pytest.mark.security


def test_canary_is_fresh_random_and_long_enough_to_be_a_key():
    a, b = make_canary(), make_canary()
    assert a != b
    assert a.startswith("fm-canary-") and len(a) == len("fm-canary-") + 32


@pytest.mark.parametrize(
    "disguise",
    [
        lambda c: c,
        lambda c: quote(c, safe=""),
        lambda c: json.dumps({"k": c}),
        lambda c: base64.b64encode(c.encode()).decode(),
        lambda c: "Authorization: Basic " + base64.b64encode(b"x:" + c.encode()).decode(),
        lambda c: "y" + base64.b64encode(b"zz" + c.encode() + b"!").decode(),
        lambda c: base64.urlsafe_b64encode(b"q" + c.encode()).decode(),
        lambda c: c[:20] + "..." + c[-20:],  # %whos middle-snipping
        lambda c: "token: " + c[4:16],  # any 12 characters holding 6 or more random ones
        lambda c: c.encode().hex(),
    ],
    ids=["raw", "url", "json", "b64", "basic", "b64-shifted", "b64url-shifted", "snipped", "slice12", "hex"],
)
def test_every_disguise_is_found_in_text(disguise):
    canary = make_canary()
    assert find_canary(disguise(canary), canary), "the kit missed a disguised canary"


def test_utf16_bytes_are_found():
    canary = make_canary()
    assert find_canary(b"\xff\xfe" + canary.encode("utf-16-le"), canary)


def test_unrelated_data_and_other_canaries_are_not_reported():
    canary, other = "fm-canary-" + "0123456789abcdef" * 2, "fm-canary-" + "fedcba9876543210" * 2
    blob = other + json.dumps({"x": other}) + "fm-canary-" + "0" * 8 + " plain text " * 100
    assert find_canary(blob, canary) == []
    assert find_canary(blob, other)  # the search itself works on this blob


def test_the_shared_prefix_is_never_a_leak_on_its_own():
    """Every canary starts with ``fm-canary-``: text quoting the prefix, or another canary that
    shares the first random digits, is not a leak of this one."""
    canaries = [make_canary() for _ in range(300)]
    blob = "\n".join(canaries[1:]).encode()
    assert find_canary(blob, canaries[0]) == []
    assert find_canary(canaries[0][:14] + " and more", canaries[0]) == []
    assert find_canary("..." + canaries[0][10:22] + "...", canaries[0])  # 12 random digits are


def test_files_directories_and_ignore(tmp_path):
    canary = make_canary()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "out.txt").write_text("x" * 5000 + canary[4:30])
    (tmp_path / ".env").write_text(f"FREDDY_API_KEY={canary}\n")
    leaks = find_canary(tmp_path, canary, ignore=[tmp_path / ".env"])
    assert {Path(leak.where).name for leak in leaks} == {"out.txt"}
    with pytest.raises(AssertionError, match=r"out\.txt"):
        assert_no_canary([tmp_path], canary, ignore=[tmp_path / ".env"])


def test_sqlite_rows_split_across_overflow_pages_are_found(tmp_path):
    """A 100 kB history row spans many 4 kB pages; only a row-level read sees it whole."""
    canary = make_canary()
    db = tmp_path / "history.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE history (source TEXT)")
    for shift in range(0, 4096, 512):  # at some shift the canary straddles a page boundary
        con.execute("INSERT INTO history VALUES (?)", ("a" * (4000 + shift) + canary + "b" * 100_000,))
    con.commit()
    con.close()
    leaks = find_canary(db, canary)
    assert any("sqlite rows" in leak.where for leak in leaks)


def test_saved_notebook_is_found(tmp_path):
    """A notebook as Jupyter saves it (nbformat 4, indent 1, unicode kept): outputs and widget state."""
    canary = make_canary()
    output = {"output_type": "stream", "name": "stdout", "text": canary[::-1]}
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "outputs": [output], "source": "1"}
        ],
        "metadata": {"widgets": {"state": {"value": "\u00e9" + canary}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "n.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False))
    leaks = find_canary(tmp_path / "n.ipynb", canary)
    assert leaks and all(leak.where.endswith("n.ipynb") for leak in leaks)


def test_report_names_the_place_and_masks_the_hit():
    canary = make_canary()
    with pytest.raises(AssertionError) as info:
        assert_no_canary(["clean", "before " + canary + " after"], canary)
    message = str(info.value)
    assert "text #1" in message and "<CANARY>" in message and "raw" in message


def test_default_search_covers_every_planted_canary():
    canary = make_canary()
    with pytest.raises(AssertionError):
        assert_no_canary(json.dumps([canary]))


def test_canary_object_variants_and_repr():
    c = Canary()
    assert c.value not in repr(c)
    assert c.variants == canary_variants(c.value)
    windows = [k for k in c.variants if k.startswith("substring")]
    assert windows[0] == "substring [4:16]" and len(windows) == len(c.value) - 4 - 12 + 1
    assert c.find(gzip.compress(b"nothing")) == []


PLUGIN_USER_TEST = """
from pathlib import Path

def test_clean(freddy_canary, tmp_path):
    (tmp_path / "nb.ipynb").write_text("{}")
    freddy_canary.assert_absent(tmp_path)

def test_leaky(freddy_canary, tmp_path):
    (tmp_path / "nb.ipynb").write_text(freddy_canary.value.upper().lower())
    freddy_canary.assert_absent(tmp_path)
"""


@pytest.mark.slow
def test_plugin_works_for_a_course_author(tmp_path):
    (tmp_path / "test_course.py").write_text(PLUGIN_USER_TEST)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "freddy_magic.testing",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_course.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert "1 failed, 1 passed" in result.stdout, result.stdout + result.stderr
    assert "canary leaked" in result.stdout


def test_package_import_does_not_import_pytest_or_the_kit():
    code = "import sys, freddy_magic; print(sorted(m for m in ('pytest', 'freddy_magic.testing') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
