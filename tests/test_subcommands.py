"""The ``%freddy COMMAND`` table: it alone drives the help, the checks and the dispatch."""

import pytest

from freddy_magic import _subcommands
from freddy_magic._subcommands import SUBCOMMANDS, Subcommand, given_options

from .shown import usage_error


def test_help_lists_every_command_with_its_help_and_options(magics):
    doc = magics.shell.find_line_magic("freddy").__doc__
    for command in SUBCOMMANDS.values():
        assert f"%freddy {command.usage()}" in doc
        assert command.help in " ".join(doc.split())
    assert "models | log | reset" in " ".join(doc.split())
    assert "Only with %freddy models" in " ".join(doc.split())


@pytest.mark.parametrize("line", ["", "bogus", "hunter2-not-a-command", "model"])
def test_unknown_command_lists_the_valid_ones_without_echoing_the_word(magics, line):
    message = usage_error(lambda: magics.shell.run_line_magic("freddy", line))
    assert "models [--all] | log | reset" in message
    assert not line or line not in message.replace("models", "")


@pytest.mark.parametrize(
    "line, refused, takes",
    [
        ("log --all", "--all", "no options"),
        ("reset -m gpt-4o", "--model", "no options"),
        ("models -o v", "--output", "only --all"),
        ("traceback --all", "--all", "no options"),
        ("log --dry-run --chat", "--chat, --dry-run", "no options"),  # in the help's order
        ("models --over rows", "--over", "only --all"),
        ("models --all --format json", "--format", "only --all"),
    ],
)
def test_an_option_the_command_does_not_take_is_refused_before_it_runs(connected, shared_sandbox, line, refused, takes):
    connected.session.thread_id = "thread_kept"
    before = shared_sandbox.calls("/v1/models")
    message = usage_error(lambda: connected.shell.run_line_magic("freddy", line))
    assert f"does not take {refused}" in message and takes in message
    assert connected.session.thread_id == "thread_kept" and shared_sandbox.calls("/v1/models") == before


@pytest.mark.parametrize(
    "line, expect",
    [
        ("models", "`models` is a line-magic command"),
        ("reset", "`reset` is a line-magic command"),
        ("--all", "--all belongs to `%freddy models`"),
        ("whatever", "no positional argument"),
    ],
)
def test_a_cell_refuses_command_names_and_command_options(connected, shared_sandbox, line, expect):
    before = shared_sandbox.calls("/v1/model/response")
    message = usage_error(lambda: connected.shell.run_cell_magic("freddy", line, "hi"))
    assert expect in message and shared_sandbox.calls("/v1/model/response") == before


def test_the_commands_run_from_the_table(connected, shared_sandbox):
    shell = connected.shell
    assert len(shell.run_line_magic("freddy", "models --all")) >= len(shell.run_line_magic("freddy", "models"))
    connected.session.thread_id = "thread_old"
    assert "new conversation" in shell.run_line_magic("freddy", "reset").line()
    assert connected.session.thread_id is None
    assert shell.run_line_magic("freddy", "log") == []


def test_a_new_table_entry_is_dispatched_and_checked_with_no_other_change(magics, monkeypatch):
    seen = []
    ping = Subcommand(
        "ping", lambda m, args: seen.append(args.all) or "pong", "answer pong", {"--all": "ping everything"}
    )
    monkeypatch.setitem(SUBCOMMANDS, "ping", ping)
    assert magics.shell.run_line_magic("freddy", "ping --all") == "pong" and seen == [True]
    assert "ping [--all]" in usage_error(lambda: magics.shell.run_line_magic("freddy", "nope"))
    assert "does not take --chat" in usage_error(lambda: magics.shell.run_line_magic("freddy", "ping --chat"))
    assert "`ping` is a line-magic command" in usage_error(lambda: magics.shell.run_cell_magic("freddy", "ping", "hi"))


def test_given_options_are_the_ones_that_differ_from_their_defaults(magics):
    parser = magics.freddy.parser
    args = parser.parse_args(["log", "-m", "a", "--no-stream", "--format", "json"])
    assert given_options(args, parser) == ["--model", "--no-stream", "--format"]
    assert given_options(parser.parse_args(["log"]), parser) == []


def test_option_help_names_every_command_that_takes_the_option(monkeypatch):
    monkeypatch.setitem(SUBCOMMANDS, "ping", Subcommand("ping", lambda m, a: None, "ping", {"--all": "x"}))
    assert _subcommands.option_help("--all").startswith("Only with %%freddy models or %%freddy ping:")
