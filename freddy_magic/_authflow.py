"""``%freddy_auth``: pick where the credential comes from, without ever blocking the kernel.

Order for a plain ``%freddy_auth``: a key from env, ``.env`` or Colab secrets (silently, saying
which); else a refresh token (``FREDDY_REFRESH_TOKEN``) from the same places; else a recording
named by ``FREDDY_REPLAY`` (the sandbox answers what it lacks when ``FREDDY_SANDBOX=1`` too);
else the sandbox when ``FREDDY_SANDBOX=1``; else ask. What a variable holds decides how it is
sent: an API key as a key, a JWT access token as a bearer token, a refresh token exchanged for a
session. ``--key`` skips all of these and asks: on Binder, where ``FREDDY_SANDBOX=1`` is set for
everyone, it is how a student uses their own key. Asking means the widget in a notebook
(displayed, then the magic returns: the kernel must be idle to receive the click), ``getpass`` in
a terminal, and a clear error where neither can work (a headless run has no widget front end and
no stdin, and waiting there would hang it forever).

On Binder or JupyterHub anyone holding the session's URL (with its token) can run code in this
kernel and so read the key. Before a real key is used or asked for there, a notice says so, once
per extension instance, and never stops the flow. The sandbox gets no notice: it has no secret,
and a class running ``FREDDY_SANDBOX=1`` on Binder would only learn to ignore warnings.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from typing import TYPE_CHECKING

from ._errors import ConfigError, NotAuthenticated
from ._redaction import Masked, redact
from ._remedies import CANCELLED, NO_KEY_IN_ENV, NO_PROMPT
from ._sources import KEY_NAME, REFRESH_NAME, find_key, hosted_session, sandbox_requested

if TYPE_CHECKING:
    from argparse import Namespace

    from ._magics import FreddyMagics
    from ._results import Status

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
CANNOT_ASK = "Cannot ask for a key here: this front end has no stdin and may render no widgets (a headless run?)"
_TYPED = {"access": "access token", "refresh": "refresh token"}
_MODES = ("key", "login", "env", "sandbox", "status", "logout")
REPLAY_NAME = "FREDDY_REPLAY"
PUBLIC_SESSION = (
    "This looks like a shared {where} session: a key entered or loaded here is usable by anyone "
    "who holds this session's URL or token. Prefer %freddy_auth --sandbox, or use a short-lived, "
    "low-scope key and revoke it when you are done."
)


def authenticate(magics: FreddyMagics, args: Namespace) -> Status | None:
    """Run the mode ``args`` asks for; return a Status to show, or None when a prompt is shown."""
    session = magics.session
    chosen = [mode for mode in _MODES if getattr(args, mode)]
    if args.replay:  # --replay PATH --sandbox: the sandbox answers what was not recorded
        chosen = [mode for mode in chosen if mode != "sandbox"] + ["replay"]
    if len(chosen) > 1:
        raise ConfigError("Use one of --" + ", --".join(_MODES) + ", --replay at a time")
    if args.replay:
        return session.connect_replay(_recording_path(args.name or "", "--replay"), fallback=args.sandbox)
    if args.name and not args.env:
        raise ConfigError(
            "%freddy_auth takes a NAME only with --env (a variable, e.g. %freddy_auth --env MY_KEY) "
            "or --replay (a recording's path)"
        )
    if args.name and not _ENV_NAME.fullmatch(args.name):  # not repeated: it may be a pasted password
        raise ConfigError("--env NAME must be an environment variable name (letters, digits and _, not a key)")
    if args.status:
        return session.status()
    if args.logout:
        return session.logout()
    if args.sandbox:
        return session.connect_sandbox()
    if args.login:
        return ask_login(magics)
    if args.key:
        return ask_key(magics)
    return _from_environment(magics, args) or ask_key(magics)


def _from_environment(magics: FreddyMagics, args: Namespace) -> Status | None:
    """A plain ``%freddy_auth`` (or ``--env``): the first source the environment provides."""
    session = magics.session
    name = args.name or KEY_NAME
    status, source = from_environment(magics, name, refresh_too=not args.name)
    if status is not None:
        return status
    replay = os.environ.get(REPLAY_NAME, "").strip()
    if replay and not args.env:
        return session.connect_replay(_recording_path(replay, REPLAY_NAME), fallback=sandbox_requested())
    if sandbox_requested():
        return session.connect_sandbox(started_by="FREDDY_SANDBOX=1")
    if args.env:
        why = f" ({source})" if source else ""
        what = name if name == KEY_NAME else "variable of the name given to --env"  # a line's word is never echoed
        raise NotAuthenticated(f"No {what} in the environment or in a .env file{why}", code=NO_KEY_IN_ENV)
    return None


def _recording_path(path: str, where: str) -> str:
    if not path.strip():
        raise ConfigError(f"{where} needs the path of a recording (made by %freddy record PATH)")
    return os.path.expanduser(path.strip())


def from_environment(magics: FreddyMagics, name: str, refresh_too: bool) -> tuple[Status | None, str | None]:
    """Connect with variable ``name`` (env, ``.env``, Colab), else with ``FREDDY_REFRESH_TOKEN``
    when ``refresh_too``; ``(None, why not)`` when neither is there."""
    key, source = find_key(name)
    if key:
        warn_if_public(magics)
        return connect_found(magics, key, source or name), source
    if refresh_too:
        refresh, refresh_source = find_key(REFRESH_NAME)
        if refresh:
            warn_if_public(magics)
            return magics.session.connect_refresh(refresh, refresh_source or REFRESH_NAME), refresh_source
    return None, source


def connect_found(magics: FreddyMagics, secret: str, source: str, typed: bool = False) -> Status:
    """Connect with what a variable holds or the user typed: an API key, a JWT access token (sent
    as a bearer token, never as a key) or a refresh token (exchanged for a session that renews
    itself). A typed ``source`` says where (``into the widget``) and gains what it was."""
    from ._expiry import jwt_type

    kind = jwt_type(secret)
    if typed:
        source = f"{_TYPED.get(kind or '', 'key')} typed {source}"
    if kind == "refresh":
        return magics.session.connect_refresh(secret, source)
    if kind == "access":
        return magics.session.connect_bearer(secret, source)
    return magics.session.connect_key(secret, source)


def warn_if_public(magics: FreddyMagics) -> None:
    """Show the shared-session notice the first time a real credential is involved here."""
    where = hosted_session()
    if where is None or magics.public_notice_shown:
        return
    magics.public_notice_shown = True
    text = redact(PUBLIC_SESSION.format(where=where))
    from ._display import show

    show({"text/markdown": f"**Warning:** {text}", "text/plain": f"Warning: {text}"})


def prompt_kind(magics: FreddyMagics) -> str:
    """``widget``, ``getpass`` or ``none`` for this front end (``FreddyMagics.key_prompt`` can force it)."""
    if magics.key_prompt != "auto":
        return magics.key_prompt
    if magics.terminal:
        return "getpass"
    kernel = getattr(magics.shell, "kernel", None)
    if kernel is not None:
        return "widget" if getattr(kernel, "_allow_stdin", True) else "none"
    stdin = sys.stdin
    return "getpass" if stdin is not None and not stdin.closed and stdin.isatty() else "none"


def _ask(question: str, *, secret: bool) -> str | None:
    """One line from the terminal; ``None`` when there is no stdin or the user gave up."""
    try:
        return Masked(getpass.getpass(question)) if secret else input(question)
    except (KeyboardInterrupt, Exception):  # noqa: BLE001 - EOF, no stdin (StdinNotImplementedError), Ctrl-C
        return None


def ask_key(magics: FreddyMagics) -> Status | None:
    """Ask for a key the way this front end can; the widget returns at once (None) and connects
    from its callback, because the kernel must be idle to receive the click. A JWT pasted there
    is sent as what it is, as from a variable."""
    kind = prompt_kind(magics)
    if kind != "none":
        warn_if_public(magics)
    if kind == "widget":
        from ._widgets import KeyPrompt

        magics.show(KeyPrompt(lambda key: connect_found(magics, key, "into the widget", typed=True)))
        return None
    if kind == "getpass":
        key = _ask("Freddy API key (input hidden): ", secret=True)
        if not key:
            raise NotAuthenticated("No key entered: nothing changed", code=CANCELLED)
        return connect_found(magics, key, "at the getpass prompt", typed=True)
    raise NotAuthenticated(CANNOT_ASK, code=NO_PROMPT)


def ask_login(magics: FreddyMagics) -> Status | None:
    """The two-step sign-in (password, then the emailed code), by widget or at the terminal."""
    session, kind = magics.session, prompt_kind(magics)
    if kind != "none":
        warn_if_public(magics)
    if kind == "widget":
        from ._widgets import LoginPrompt

        magics.show(LoginPrompt(session.begin_login, session.finish_login, session.cancel_login))
        return None
    if kind == "getpass":
        user = _ask("Email or username: ", secret=False)
        password = _ask("Password (input hidden): ", secret=True) if user else None
        if not user or not password:
            raise NotAuthenticated("Sign-in cancelled: nothing changed", code=CANCELLED)
        magics.show_text(session.begin_login(user.strip(), password))
        code = _ask("Code from the email: ", secret=True)
        if not code:
            raise NotAuthenticated("Sign-in cancelled: nothing changed", code=CANCELLED)
        return session.finish_login(code.strip())
    raise NotAuthenticated(CANNOT_ASK, code=NO_PROMPT)
