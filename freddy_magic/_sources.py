"""Where a key may come from without being typed into a cell: env, a ``.env`` file, Colab secrets.

Each lookup returns ``(secret, source)`` where ``source`` says in words where the key was found,
so the user always learns which key is in use (and which file, since a ``.env`` is searched from
the working directory upwards and a stray one in a parent folder is easy to forget). A ``.env``
is read with ``dotenv_values(interpolate=False)``: nothing is exported into ``os.environ`` (which
every ``!cmd`` child would inherit) and ``${VAR}`` in a key is not expanded. The secret is
returned as a :class:`~._redaction.Masked` string: plain text to everything that uses it, a
fingerprint in any ``repr`` (and so in any traceback's locals). A ``.env`` that git tracks has
put its key into the repository's history, which outlives any chmod, so that is said too.

A ``.env`` is read as UTF-8 (a UTF-8 byte-order mark is dropped) or, when it starts with a UTF-16
byte-order mark (Notepad's "Unicode"), as UTF-16; any other bytes give one line naming the file
and what is wrong, never its content: a decode error carries the file's bytes, key included.

A hosted session (Binder, JupyterHub) is recognised from the variables those services set. It is
a heuristic, so it only ever feeds a warning, never a refusal.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from ._errors import ConfigError
from ._redaction import Masked

KEY_NAME = "FREDDY_API_KEY"
#: A refresh token from a sign-in: a session that renews itself without the emailed code.
REFRESH_NAME = "FREDDY_REFRESH_TOKEN"
_TRUE = {"1", "true", "yes", "on"}
_BINDER_VARS = ("BINDER_SERVICE_HOST", "BINDER_REPO_URL", "BINDER_LAUNCH_HOST", "BINDER_REF_URL")
_HUB_VARS = ("JUPYTERHUB_API_URL", "JUPYTERHUB_USER", "JUPYTERHUB_SERVICE_PREFIX")
GIT_TIMEOUT_S = 2.0  # a slow or wedged git must not stall %freddy_auth; no answer means no warning


def sandbox_requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``FREDDY_SANDBOX`` asks for the local sandbox (Binder and ``make demo`` set it)."""
    environ = os.environ if environ is None else environ
    return environ.get("FREDDY_SANDBOX", "").strip().lower() in _TRUE


def hosted_session(environ: Mapping[str, str] | None = None) -> str | None:
    """``"Binder"`` or ``"JupyterHub"`` when this kernel looks reachable through a shared URL, else None."""
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in _BINDER_VARS):
        return "Binder"
    if any(environ.get(name) for name in _HUB_VARS):
        return "JupyterHub"
    return None


def in_colab() -> bool:
    """Colab is recognised by its module being loaded, so no import is attempted elsewhere."""
    return "google.colab" in sys.modules


def find_dotenv_file(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest ``.env`` from ``start`` (default: the working directory) up to the root."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def _dotenv_disabled(environ: Mapping[str, str]) -> bool:
    return environ.get("PYTHON_DOTENV_DISABLED", "").strip().lower() in _TRUE


def from_dotenv(
    name: str, *, start: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str | None, str | None]:
    """``(secret, source)`` from the nearest ``.env``; the source warns about a file others can
    read or that git tracks, because either one has already exposed the key."""
    environ = os.environ if environ is None else environ
    path = None if _dotenv_disabled(environ) else find_dotenv_file(start)
    if path is None:
        return None, None
    from dotenv import dotenv_values

    value = (dotenv_values(stream=io.StringIO(read_dotenv(path)), interpolate=False).get(name) or "").strip()
    if not value:
        return None, None
    value, source = Masked(value), f"{name} from {path}"
    if path.stat().st_mode & stat.S_IROTH:
        source += " (warning: that file is readable by every user of this machine; chmod 600 it)"
    if tracked_by_git(path):
        source += (
            " (warning: git tracks that file, so the key is (or will be) in the repository's history: "
            "rotate the key, git rm --cached the file and add it to .gitignore)"
        )
    return value, source


def read_dotenv(path: Path) -> str:
    """The text of a ``.env`` file (see the module docstring for the encodings it may have)."""
    problem = None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problem = f"Cannot read {path}: {exc.strerror or type(exc).__name__}"
    else:
        utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        try:
            return raw.decode("utf-16" if utf16 else "utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            problem = (
                f"Cannot read {path}: it is not valid {'UTF-16' if utf16 else 'UTF-8'} text (line {line}); "
                "save it as UTF-8, or set PYTHON_DOTENV_DISABLED=1 to skip .env files"
            )
        del raw  # the error's traceback keeps this frame: it must not keep the file's bytes
    raise ConfigError(problem)


def tracked_by_git(path: Path, timeout: float = GIT_TIMEOUT_S) -> bool:
    """True only when git positively says it tracks ``path``; no git, no repo or a hang is False."""
    import subprocess

    try:
        answer = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", path.name],
            cwd=path.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # git missing or too slow: say nothing rather than guess
        return False
    return answer.returncode == 0


def from_colab(name: str) -> tuple[str | None, str | None]:
    """A Colab secret, or ``(None, reason)`` when Colab has none or access is not granted."""
    if not in_colab():
        return None, None
    from google.colab import userdata

    value, reason = None, None
    try:
        value = userdata.get(name)
    except Exception as exc:  # noqa: BLE001 - SecretNotFoundError / NotebookAccessError: both mean "not from here"
        reason = (
            f"Colab secret {name} not available ({type(exc).__name__}); grant this notebook access in the key panel"
        )
    if value:
        return Masked(value.strip()), f"Colab secret {name}"
    return None, reason


def find_key(
    name: str = KEY_NAME, *, start: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str | None, str | None]:
    """``(secret, source)`` from env, then ``.env``, then Colab; ``(None, why_not)`` if none."""
    environ = os.environ if environ is None else environ
    value = (environ.get(name) or "").strip()
    if value:
        return Masked(value), f"environment variable {name}"
    found, source = from_dotenv(name, start=start, environ=environ)
    if found:
        return found, source
    return from_colab(name)
