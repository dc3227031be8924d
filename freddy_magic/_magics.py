"""``FreddyMagics``: configuration and the magics, each a thin adapter (parse, call, present).

Every magic runs its whole body through the boundary rule of :mod:`._boundary`: whatever happens
inside (a ``FreddyError``, a bad line, Ctrl-C, a bug) ends as one ``UsageError`` line, raised
outside any ``except`` block, so the cell fails (nbclient, papermill and CI notice, and Run All
stops) without a traceback wall and without the original exception or its frames riding along.

Magic lines are scanned for key-like words before argparse sees them, since argparse quotes
offending arguments in its errors: a pasted key is refused without being echoed, and the user
is told it now sits in the notebook and history and must be rotated.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments
from traitlets import Bool, CaselessStrEnum, Float, Int, TraitError, Unicode, default, observe, validate

from ._boundary import guarded, one_line
from ._payloads import DEFAULT_BASE_URL
from ._redaction import looks_like_secret
from ._remedies import CONNECT
from ._subcommands import command_help, epilog, option_help, resolve

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from IPython.core.interactiveshell import InteractiveShell

    from ._boundary import BugReport
    from ._results import Status
    from ._session import Session

ROTATE = (
    "That argument looks like a key or token. freddy_magic never takes a secret on a magic "
    "line, and this one is now stored in the notebook and in IPython history: revoke it and "
    f"create a new one. To connect: {CONNECT}."
)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def _without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``***@``: ``%config`` prints trait values.

    The client refuses a base URL with userinfo anyway (credentials never travel in URLs); the
    ``***`` keeps that refusal, and keeps the password out of every output.
    """
    return _USERINFO.sub(r"\1***@", url)


def _hide_values(message: str, line: str, parser: ArgumentParser) -> str:
    """argparse quotes what it rejects (``invalid int value: '...'``, ``unrecognized arguments:
    ...``); a pasted password is not key-like, so keep only this parser's option names and
    hide every other word of the line."""
    options = set(parser._option_string_actions)
    for word in sorted(set(line.replace("=", " ").split()), key=len, reverse=True):
        if word not in options:
            message = message.replace(word, "<hidden>")
    return message


@magics_class
class FreddyMagics(Magics):
    """``%freddy_auth``, ``%%freddy`` and ``%freddy``; configure with ``%config FreddyMagics``."""

    base_url = Unicode(help="Freddy API base URL (env FREDDY_BASE_URL). HTTPS, or http on loopback only.").tag(
        config=True
    )
    model = Unicode(
        help="Default model key for %%freddy when -m is not given (env FREDDY_MODEL); empty sends no model, "
        "so the server's default answers."
    ).tag(config=True)
    organization_id = Unicode(
        help="Organization to bill and scope requests to; empty lets the server choose (env FREDDY_ORGANIZATION_ID)."
    ).tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to wait for a TCP/TLS connection.").tag(config=True)
    read_timeout = Float(120.0, help="Seconds of silence allowed while reading an answer.").tag(config=True)
    total_timeout = Float(600.0, help="Seconds one call may take in all, retries included.").tag(config=True)
    max_retries = Int(2, min=0, help="Retries of a failed request where retrying is safe.").tag(config=True)
    concurrency = Int(
        4, min=1, max=64, help="Requests in flight at once for %%freddy --over (--concurrency overrides)."
    ).tag(config=True)
    display_limit = Int(
        10, min=0, help="Rows shown in a result table (0 turns the table off); the value always holds every row."
    ).tag(config=True)
    stream = Bool(True, help="Stream answers into the cell as they arrive (--no-stream turns it off per cell).").tag(
        config=True
    )
    sandbox_pace = Float(
        1.0,
        min=0.0,
        help="How fast the in-kernel sandbox's fake models write (env FREDDY_SANDBOX_PACE): 1 streams like a "
        "real model, each at its own speed; 0 answers at once; 2 twice as slow. Read at %freddy_auth.",
    ).tag(config=True)
    replay_speed = Float(
        1.0,
        min=0.0,
        help="How fast a replayed answer streams: 1 at its recorded pace (at most a few seconds per answer), "
        "2 twice as fast, 0 at once.",
    ).tag(config=True)
    key_prompt = CaselessStrEnum(
        ["auto", "widget", "getpass", "none"],
        "auto",
        help="How %freddy_auth asks for a key: auto (widget in a notebook, getpass in a terminal, "
        "an error in a headless run), or force one.",
    ).tag(config=True)

    @default("base_url")
    def _default_base_url(self) -> str:
        return _without_userinfo(os.environ.get("FREDDY_BASE_URL") or DEFAULT_BASE_URL)

    @validate("base_url")
    def _validate_base_url(self, proposal: Any) -> str:
        return _without_userinfo(str(proposal["value"]))

    @validate("connect_timeout", "read_timeout", "total_timeout")
    def _validate_seconds(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0 < value < float("inf"):
            raise TraitError(f"FreddyMagics.{proposal['trait'].name} must be a positive number of seconds")
        return value

    @observe("connect_timeout", "read_timeout", "total_timeout")
    def _timeouts_changed(self, change: Any) -> None:
        session = getattr(self, "_session", None)  # config may arrive before __init__ has set it
        if session is not None:
            session.apply_timeouts()

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("FREDDY_MODEL", "")

    @default("organization_id")
    def _default_organization_id(self) -> str:
        return os.environ.get("FREDDY_ORGANIZATION_ID", "")

    @default("sandbox_pace")
    def _default_sandbox_pace(self) -> float:
        raw = os.environ.get("FREDDY_SANDBOX_PACE", "").strip()
        try:
            pace = float(raw) if raw else 1.0
        except ValueError:
            pace = 1.0  # a garbled variable must not stop the extension from loading
        return pace if 0 <= pace < float("inf") else 1.0

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._session: Session | None = None
        self.last_bug_report: BugReport | None = None  # %freddy traceback shows it
        self.public_notice_shown = False  # the shared-session warning, once per extension instance
        self.terminal = any(cls.__name__ == "TerminalInteractiveShell" for cls in type(shell).__mro__)

    @property
    def session(self) -> Session:
        """Connection state and the call log, built on first use so loading stays cheap."""
        if self._session is None:
            from ._session import Session

            self._session = Session(self)
        return self._session

    # -- the boundary ------------------------------------------------------------------------

    def _parse(self, magic: Any, line: str) -> Namespace:
        """The parsed line; every problem becomes a one-line ``UsageError`` that echoes no value.

        Raised after the ``except`` blocks, so argparse's or shlex's exception (which may quote
        the line) does not ride along as context.
        """
        if any(looks_like_secret(word) for word in line.split()):
            raise UsageError(ROTATE)
        problem = None
        try:
            return magic.parser.parse_args(shlex.split(line))
        except ValueError as exc:  # shlex: an unbalanced quote
            problem = f"Cannot read the magic line: {exc}"
        except UsageError as exc:
            problem = _hide_values(one_line(exc), line, magic.parser)
        raise UsageError(problem)

    def show(self, obj: object) -> None:
        """Display an object; a seam, so tests and the auth flow need no front end."""
        from IPython.display import display

        display(obj)

    def show_text(self, text: str) -> None:
        from ._display import show

        show({"text/plain": text})

    def forget(self) -> None:
        """Drop every credential, the sandbox and the chat thread (unload and logout)."""
        if self._session is not None:
            self._session.forget()

    # -- the magics --------------------------------------------------------------------------

    @magic_arguments()
    @argument(
        "name",
        nargs="?",
        help="With --env: the variable to read (default FREDDY_API_KEY); with --replay: the recording's path. "
        "Never a key itself.",
    )
    @argument(
        "--key",
        action="store_true",
        help="Ask for a key in the masked field (getpass in a terminal), even when FREDDY_API_KEY or "
        "FREDDY_SANDBOX=1 is set.",
    )
    @argument("--login", action="store_true", help="Sign in with email/username + password, then the emailed code.")
    @argument(
        "--env", action="store_true", help="Key from env, then .env, then Colab secrets; never prompts (CI, papermill)."
    )
    @argument(
        "--sandbox",
        action="store_true",
        help="Start or reuse the local sandbox and connect to it: FAKE answers, no key.",
    )
    @argument(
        "--replay",
        action="store_true",
        help="Answer from a recording made by %%freddy record (its path as NAME): no network, no key. "
        "With --sandbox, the sandbox answers (labelled) what the recording lacks; without, that is an error.",
    )
    @argument(
        "--status",
        action="store_true",
        help="Method, key fingerprint, base URL, organization, expiry, refreshes, rate limit.",
    )
    @argument("--logout", action="store_true", help="Revoke server-side where possible and forget every credential.")
    @line_magic
    def freddy_auth(self, line: str = "") -> Status | None:
        """Connect this kernel to the Freddy API. Secrets never go on this line.

        With no option: uses FREDDY_API_KEY from env, a .env file or Colab secrets when present
        (and says which), the recording FREDDY_REPLAY names, the sandbox when FREDDY_SANDBOX=1,
        else shows a masked key widget (getpass in a terminal). ``--key`` always asks, e.g. for your own key on Binder;
        ``--replay PATH`` answers from a recording::

            %freddy_auth
            %freddy_auth --key
            %freddy_auth --sandbox
            %freddy_auth --replay lesson.jsonl --sandbox
        """
        return guarded(self, "%freddy_auth", self._auth, line)

    def _auth(self, line: str) -> Status | None:
        args = self._parse(self.freddy_auth, line)
        from ._authflow import authenticate

        return authenticate(self, args)

    @magic_arguments()
    @kwds(epilog=epilog())
    @argument("command", nargs="?", help=command_help())
    @argument("target", nargs="?", help="Only with %%freddy record: the recording's path.")
    @argument("-m", "--model", help="Model key, or several separated by commas (run concurrently).")
    @argument("-t", "--temperature", type=float, help="Sampling temperature.")
    @argument("--max-tokens", type=int, help="Maximum output tokens.")
    @argument("-s", "--system", help="System instructions (quote them).")
    @argument("--chat", action="store_true", help="Continue this notebook's conversation (%%freddy reset starts anew).")
    @argument(
        "--over", metavar="VAR", help="One request per row of a DataFrame or list of dicts; {column} placeholders."
    )
    @argument("--concurrency", type=int, help="Requests in flight with --over (default FreddyMagics.concurrency).")
    @argument(
        "--only-failed",
        action="store_true",
        help="With --over RESULT (an earlier --over result): re-run only its failed rows, merged back in order.",
    )
    @argument(
        "--json",
        action="store_true",
        help="Ask for a JSON answer (output_mode json); the parsed value is the row's data column.",
    )
    @argument(
        "--fields",
        metavar="SPEC",
        help='Keys to answer with, as columns of the row: "sentiment:str, score:float, note?:str" '
        "(types str int float bool list dict; ? = may be missing). Implies --json.",
    )
    @argument(
        "--retries-invalid",
        type=int,
        metavar="N",
        help="With --json/--fields: ask a row again, up to N times, while its answer is invalid.",
    )
    @argument("-o", "--output", metavar="VAR", help="Also store the result in this variable.")
    @argument("--no-stream", action="store_true", help="Wait for the whole answer instead of streaming it.")
    @argument("--format", choices=("markdown", "text", "json"), default="markdown", help="How the answer is shown.")
    @argument("--dry-run", action="store_true", help="Show the exact request (secrets redacted); send nothing.")
    @argument("--all", action="store_true", help=option_help("--all"))
    @argument("--reuse", action="store_true", help=option_help("--reuse"))
    @argument("--stop", action="store_true", help=option_help("--stop"))
    @argument("--no-paid", action="store_true", help=option_help("--no-paid"))
    @line_cell_magic
    def freddy(self, line: str = "", cell: str | None = None) -> object:
        """Ask a model; the answer streams into the cell and comes back as a row (a dict).

        ``{expr}`` in the cell is filled from the notebook (``{{``/``}}`` for literal braces)::

            %%freddy -m gpt-4o,claude-3-5-sonnet -t 0.2 -o answers
            Explain {topic} to a first-year student.

        The line form runs a command (listed at the end of this help).
        """
        return guarded(self, "%%freddy" if cell is not None else "%freddy", self._freddy, line, cell)

    def _freddy(self, line: str, cell: str | None) -> object:
        args = self._parse(self.freddy, line)
        command = resolve(args, self.freddy.parser, cell is not None)
        if command is not None:
            return command.run(self, args)
        assert cell is not None, "resolve() returns a command for every line form"
        from ._cellrun import run_cell

        return run_cell(self, args, cell)
