"""``%freddy COMMAND``: the line-form commands, in one table that drives help, checks and dispatch.

The table is the only place that names a command. ``%freddy?`` lists the commands from it, the
magic refuses an unknown command (or an option the command does not take) with a line naming the
valid ones, and the magic runs the handler it finds here: adding a command is adding one entry.
Options a command takes belong to the line form only, so a ``%%freddy`` cell that gives one is
told which command it belongs to. An unknown command word is never repeated back: it may be a
pasted password, which does not look like a key.

Imported when the magics class is defined (its help is built from this table), so this module
imports nothing heavy; the handlers import what they need when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._errors import ConfigError

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from ._boundary import BugReport
    from ._check import CheckReport
    from ._magics import FreddyMagics
    from ._results import Rows, Status


@dataclass(frozen=True)
class Subcommand:
    """One ``%freddy`` command: its handler, a one-line help, and the options it accepts."""

    name: str
    run: Callable[[FreddyMagics, Namespace], object]
    help: str
    options: dict[str, str] = field(default_factory=dict)  # option (longest spelling) -> its help
    argument: str | None = None  # what the word after the command names, if the command takes one

    def usage(self) -> str:
        return " ".join([self.name, *([self.argument] if self.argument else []), *(f"[{o}]" for o in self.options)])


def _models(magics: FreddyMagics, args: Namespace) -> Rows:
    from ._results import model_rows

    session = magics.session
    if session.client is None and session.replay is not None:  # no server: what the recording can answer
        rows = model_rows(session.replay.models())
    else:
        rows = model_rows(session.require_client().models(include_deprecated=args.all, include_legacy=args.all))
    rows.display_limit = magics.display_limit
    return rows


def _log(magics: FreddyMagics, args: Namespace) -> Rows:
    from ._results import Rows

    return Rows(magics.session.log, display_limit=magics.display_limit)


def _traceback(magics: FreddyMagics, args: Namespace) -> BugReport:
    from ._boundary import show_report

    return show_report(magics)


def _record(magics: FreddyMagics, args: Namespace) -> Status:
    session = magics.session
    if args.stop:
        if args.target:
            raise ConfigError("`%freddy record --stop` takes no PATH")
        return session.stop_recording()
    if not args.target:
        raise ConfigError("`%freddy record` needs the recording's path, e.g. %freddy record lesson.jsonl")
    import os

    return session.start_recording(os.path.expanduser(args.target), reuse=args.reuse)


def _reset(magics: FreddyMagics, args: Namespace) -> Status:
    from ._results import Status

    magics.session.thread_id = None
    return Status(title="Chat", state="the next --chat cell starts a new conversation thread")


def _check(magics: FreddyMagics, args: Namespace) -> CheckReport:
    from ._check import run_check

    client = magics.session.require_client()
    return run_check(client, paid=not args.no_paid, model=magics.model or None, announce=magics.show_text)


SUBCOMMANDS: dict[str, Subcommand] = {
    command.name: command
    for command in (
        Subcommand(
            "models",
            _models,
            "the model catalog as rows (the keys -m takes)",
            {"--all": "include deprecated and legacy models"},
        ),
        Subcommand("log", _log, "every call of this kernel as provenance rows"),
        Subcommand("reset", _reset, "start a new conversation thread for --chat"),
        Subcommand(
            "record",
            _record,
            "append every answered call to a recording (no secrets), for %freddy_auth --replay",
            {
                "--reuse": "serve answers the recording already holds; send and record only the rest",
                "--stop": "stop recording",
            },
            argument="PATH",
        ),
        Subcommand(
            "check",
            _check,
            "a one-time live check of your account: what the API answers, as shapes (at most 2 tiny paid calls)",
            {"--no-paid": "skip the two paid calls (answer and stream)"},
        ),
        Subcommand(
            "traceback", _traceback, "the last unexpected error's traceback, secrets removed (for a bug report)"
        ),
    )
}


# -- help text (argparse %-formats an option's help, so a literal % is written %%) -------------


def command_help() -> str:
    """The help of the ``command`` positional: the names, and that a cell takes none."""
    return "Line form only (%%freddy COMMAND, no cell): " + " | ".join(SUBCOMMANDS) + "."


def option_help(option: str) -> str:
    """The help of an option that only commands take, naming the commands that take it."""
    owners = [command for command in SUBCOMMANDS.values() if option in command.options]
    names = " or ".join(f"%%freddy {command.name}" for command in owners)
    return f"Only with {names}: {owners[0].options[option]}."


def epilog() -> str:
    """The commands section of ``%freddy?``, one line per command."""
    width = max(len(command.usage()) for command in SUBCOMMANDS.values())
    lines = [f"  %freddy {command.usage():<{width}}  {command.help}" for command in SUBCOMMANDS.values()]
    return "Commands (the line form: %freddy COMMAND, no cell):\n" + "\n".join(lines)


# -- checks and dispatch ------------------------------------------------------------------------


def given_options(args: Namespace, parser: ArgumentParser) -> list[str]:
    """The options this line set (any value but the default), each by its longest spelling."""
    return [
        max(action.option_strings, key=len)
        for action in parser._actions
        if action.option_strings
        and action.dest != "help"
        and getattr(args, action.dest, action.default) != action.default
    ]


def resolve(args: Namespace, parser: ArgumentParser, cell: bool) -> Subcommand | None:
    """The command a line asks for (``None`` for a cell), after checking it against the table."""
    given = given_options(args, parser)
    if cell:
        _check_cell(args.command or args.target, given)
        return None
    return _check_line(args.command, given, args.target)


def _choices() -> str:
    return " | ".join(command.usage() for command in SUBCOMMANDS.values())


def _check_line(name: str | None, given: list[str], target: str | None = None) -> Subcommand:
    command = SUBCOMMANDS.get(name or "")
    if command is None:
        raise ConfigError(
            f"%freddy takes a command: {_choices()}; for a prompt use the cell form: "
            "%%freddy on the first line, the prompt below"
        )
    extra = [option for option in given if option not in command.options]
    if extra:
        takes = "only " + ", ".join(command.options) if command.options else "no options"
        raise ConfigError(f"`%freddy {command.name}` does not take {', '.join(extra)}: it takes {takes}")
    if target and command.argument is None:  # the word is not repeated: it may be a pasted password
        raise ConfigError(f"`%freddy {command.name}` takes one word, the command")
    return command


def _check_cell(name: str | None, given: list[str]) -> None:
    if name in SUBCOMMANDS:
        raise ConfigError(f"`{name}` is a line-magic command: use `%freddy {name}` on its own line")
    if name:
        raise ConfigError(
            "%%freddy takes no positional argument: options on the first line, "
            "the prompt below it (commands: " + " | ".join(SUBCOMMANDS) + ")"
        )
    for option in given:
        owners = [command.name for command in SUBCOMMANDS.values() if option in command.options]
        if owners:
            raise ConfigError(f"{option} belongs to `%freddy {owners[0]}`, not to a %%freddy cell")
