"""Where a key may come from without being typed into a cell: the environment, a ``.env`` file
(read, never exported to ``os.environ``, never interpolated; the nearest one wins and is named),
Colab secrets. A malformed file produces messages with no values in them, and git tracking a
``.env`` is noticed from the file's own folder.
"""

import codecs
import os
import shutil
import subprocess
import sys
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freddy_magic import _sources
from freddy_magic._errors import ConfigError
from freddy_magic._sources import find_key, tracked_by_git
from freddy_magic.testing import find_canary

from .fakes import captured_logs
from .shown import frame_locals

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("FREDDY_API_KEY", "FREDDY_SANDBOX", "PYTHON_DOTENV_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "project" / "notebooks"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return work


@pytest.mark.security
def test_h1_dotenv_is_not_exported(clean_env, canary):
    (clean_env / ".env").write_text(f"FREDDY_API_KEY={canary.value}\nOTHER=1\n")
    before = dict(os.environ)
    value, source = _sources.find_key()
    assert value == canary.value and ".env" in source
    assert dict(os.environ) == before
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(dict(os.environ))"], capture_output=True, text=True, timeout=60
    )
    assert find_canary(child.stdout + child.stderr, canary.value) == []
    assert find_canary(source, canary.value) == []


@pytest.mark.security
def test_h2_parent_dotenv_is_reported_by_path_with_a_mode_warning(clean_env, canary):
    parent_env = clean_env.parent / ".env"
    parent_env.write_text(f"FREDDY_API_KEY={canary.value}\n")
    parent_env.chmod(0o644)
    value, source = _sources.find_key()
    assert value == canary.value
    assert str(parent_env) in source and "readable" in source
    parent_env.chmod(0o600)
    assert "readable" not in _sources.find_key()[1]


@pytest.mark.security
@pytest.mark.parametrize("raw", ["ab${{HOME}}cd-{c}", "$HOME-{c}", "{c}${{FREDDY_SANDBOX}}", "'{c}$X'"])
def test_h3_dotenv_values_are_read_literally(clean_env, canary, raw, monkeypatch):
    monkeypatch.setenv("X", "expanded")
    line = raw.format(c=canary.value)
    (clean_env / ".env").write_text(f"FREDDY_API_KEY={line}\n")
    value, _source = _sources.find_key()
    assert value == line.strip("'")
    assert os.environ["HOME"] not in value and "expanded" not in value


@pytest.mark.security
def test_h3_dotenv_disabled_is_honoured(clean_env, canary, monkeypatch):
    (clean_env / ".env").write_text(f"FREDDY_API_KEY={canary.value}\n")
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    assert _sources.find_key()[0] is None


@pytest.mark.security
def test_h4_environment_key_name_is_one_ipython_masks():
    assert any(word in _sources.KEY_NAME.lower() for word in ("key", "token", "secret"))


SECRET = "fm-canary-" + "9e" * 16
DOTENV_LINES = st.lists(
    st.one_of(
        st.just(f"FREDDY_API_KEY={SECRET}"),
        st.just(f"FREDDY_API_KEY='{SECRET}"),
        st.just(f'FREDDY_API_KEY="{SECRET}'),
        st.just(f"export FREDDY_API_KEY = {SECRET} # comment"),
        st.just(f"{SECRET}"),
        st.just(f"={SECRET}"),
        st.just(f"FREDDY_API_KEY=\\\n{SECRET}"),
        st.just(f"FREDDY API KEY={SECRET}"),
        st.text(alphabet="=\"'$#{}\\ \tAB_\n", max_size=20),
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.slow
@pytest.mark.security
@settings(max_examples=120)
@given(lines=DOTENV_LINES, newline=st.sampled_from(["\n", "\r\n"]))
def test_h5_malformed_dotenv_messages_carry_no_values(clean_env, lines, newline):
    (clean_env / ".env").write_text(newline.join(lines))
    with captured_logs() as records, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value, source = _sources.find_key()
        except Exception as exc:  # any failure must be clean too
            value, source = None, f"{type(exc).__name__}: {exc}"
    shown = [source or "", *(r["message"] for r in records), *(str(w.message) for w in caught)]
    assert find_canary(shown, SECRET) == []
    assert value is None or SECRET in value or value.strip()


NEAREST_KEY = "ak_nearest_0123456789abcdef"


@needs_git
def test_nearest_dotenv_is_used_and_checked_from_its_own_folder(tmp_path):
    """The tracked .env in the parent repository is shadowed by the untracked one in the cwd."""
    git("init", "-q", cwd=tmp_path)
    (tmp_path / ".env").write_text("FREDDY_API_KEY=parent-key-not-used-1234\n")
    git("add", ".env", cwd=tmp_path)
    work = tmp_path / "notebooks"
    work.mkdir()
    (work / ".env").write_text(f"FREDDY_API_KEY={NEAREST_KEY}\n")
    (work / ".env").chmod(0o600)
    value, source = find_key(start=work)
    assert value == NEAREST_KEY and source == f"FREDDY_API_KEY from {work / '.env'}"
    assert tracked_by_git(tmp_path / ".env") and not tracked_by_git(work / ".env")


def test_no_git_or_no_repository_means_no_warning(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("FREDDY_API_KEY=some-key-value-1234\n")
    assert not tracked_by_git(dotenv)  # tmp_path is in no repository
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert not tracked_by_git(dotenv)  # no git executable at all
    assert "git tracks" not in find_key(start=tmp_path)[1]


@pytest.mark.security
@pytest.mark.parametrize(
    "content",
    [
        b"# caf\xe9\nFREDDY_API_KEY={key}\n",  # Latin-1, as an old Notepad saves it
        b"FREDDY_API_KEY={key}\n\xff\xfe\x00",  # broken bytes after the key
        b"\xff\xfeF\x00R",  # a UTF-16 byte-order mark, then an odd byte count
    ],
    ids=["latin-1", "garbage", "broken-utf-16"],
)
def test_h5_a_dotenv_that_is_not_text_is_one_line_naming_the_file_without_its_bytes(clean_env, canary, content):
    dotenv = clean_env / ".env"
    dotenv.write_bytes(content.replace(b"{key}", canary.value.encode()))
    with pytest.raises(ConfigError) as caught:
        find_key()
    message = str(caught.value)
    assert str(dotenv) in message and "not valid UTF-" in message and "\n" not in message
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    views = [message, repr(caught.value), repr(caught.value.args), *frame_locals(caught.value)]
    assert find_canary(views, canary.value) == [] and not any("caf" in view for view in views)


@pytest.mark.security
@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8"),
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le"),  # Notepad "Unicode"
        lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom"],
)
def test_h5_a_dotenv_in_utf8_or_utf16_with_a_bom_simply_works(clean_env, canary, encode):
    (clean_env / ".env").write_bytes(encode(f"# café\nFREDDY_API_KEY={canary.value}\n"))
    value, source = find_key()
    assert value == canary.value and ".env" in source


@pytest.mark.security
def test_h5_a_dotenv_of_bad_bytes_fails_the_magic_in_one_line(ip, clean_env, monkeypatch, capsys):
    (clean_env / ".env").mkdir()  # a folder named .env is not a file: not used at all
    assert find_key() == (None, None)
    dotenv = clean_env.parent / ".env"
    dotenv.write_bytes(b"FREDDY_API_KEY=\xe9\xe9\xe9\n")
    ip.run_line_magic("load_ext", "freddy_magic")
    ip.run_cell("%freddy_auth --env")
    error = sys.last_value
    assert type(error).__name__ == "UsageError" and str(dotenv) in str(error) and "\n" not in str(error)
    assert error.__context__ is None and "\\xe9" not in repr(error)
