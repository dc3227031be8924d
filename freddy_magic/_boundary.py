"""The one rule at the magic boundary: whatever is raised inside a magic ends as one line.

Every magic runs its whole body (parsing included) through :func:`guarded`, which turns any outcome
into a one-line ``UsageError``: a ``FreddyError`` gives its first line and the notebook remedy
(:mod:`._remedies`); a bad magic line gives the parser's line; Ctrl-C gives "Interrupted", or what
the magic kept (:class:`Interrupted`); anything else is a bug, named by its type, with the way to
a report: ``%freddy traceback`` shows where it happened, secrets removed.

Why one rule instead of a ``FreddyError`` handler: a ``KeyboardInterrupt`` or an unexpected
exception raised deep inside requests or urllib3 carries frames whose locals hold the key, the
headers or a refresh token. IPython keeps the exception it is given in ``sys.last_value`` and
``sys.last_traceback`` for ``%tb`` and ``%debug``, and ``%xmode Verbose`` prints those locals.
So the original never reaches IPython: it is caught here, reduced to text (the report is
formatted without locals and redacted while the secrets are still registered), and dropped when
its ``except`` block ends. The ``UsageError`` is raised after that block, so it has no
``__context__``, and its traceback reaches no frame below this one. ``UsageError`` is never
subclassed: IPython prints only that exact type briefly (it tests ``etype is UsageError``).

The magic runs under :class:`~._interrupts.InterruptPolicy`: the first Ctrl-C stops it, and a
second one cannot interrupt the handling here, which would chain the first exception back in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from IPython.core.error import UsageError

from ._errors import FreddyError
from ._redaction import redact
from ._remedies import explain
from ._safe_text import safe

if TYPE_CHECKING:
    from IPython.lib.pretty import RepresentationPrinter

    from ._magics import FreddyMagics

_T = TypeVar("_T")

REPORT_COMMAND = "%freddy traceback"
_REPORT_LIMIT = 20_000


class Interrupted(FreddyError):
    """Ctrl-C stopped a magic after it kept something; the message says what and where."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="interrupted")


class BugReport(str):
    """The text of a redacted traceback; shown verbatim (not as a quoted string)."""

    __slots__ = ()

    def _repr_pretty_(self, printer: RepresentationPrinter, cycle: bool) -> None:
        printer.text(str(self))


def one_line(message: object) -> str:
    """The first line, redacted and encodable: a cell error is one line and shows no secret."""
    return safe(redact((str(message).strip().splitlines() or ["failed"])[0]))


def bug_report(error: BaseException, where: str) -> BugReport:
    """The traceback of an unexpected error as text: no locals, every secret redacted, capped.

    Formatted while the credential is still live, so the redactor still knows its values.
    """
    import platform
    import traceback

    from . import __version__

    header = (
        f"Unexpected {type(error).__name__} in {where}\n"
        f"freddy_magic {__version__}, Python {platform.python_version()}, {platform.platform(terse=True)}\n\n"
    )
    body = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if len(body) > _REPORT_LIMIT:
        body = "...\n" + body[-_REPORT_LIMIT:]
    return BugReport(safe(redact(header + body)))


def guarded(magics: FreddyMagics, name: str, function: Callable[..., _T], *args: object) -> _T:
    """Run one magic's body under the boundary rule (see the module docstring).

    Each ``except`` block first disarms the interrupt policy (a plain attribute store, so no
    pending Ctrl-C can be raised before it), then reduces the exception to a message.
    """
    from ._interrupts import InterruptPolicy  # signal handling is loaded by the first magic, not by %load_ext

    with InterruptPolicy() as policy:
        problem: str | None = None
        try:
            result = function(*args)
        except UsageError as exc:
            policy.armed = False
            problem = str(exc)
        except FreddyError as exc:
            policy.armed = False
            problem = explain(exc)
        except KeyboardInterrupt:
            policy.armed = False
            problem = f"Interrupted: {name} stopped before it finished"
        except Exception as exc:  # noqa: BLE001 - the boundary: a bug must end as one line, its frames dropped
            policy.armed = False
            magics.last_bug_report = bug_report(exc, name)
            problem = (
                f"Unexpected {type(exc).__name__} in {name}: a bug in freddy_magic, not in your notebook. "
                f"For a bug report, run {REPORT_COMMAND}: it shows where it happened, with secrets removed"
            )
        else:
            if not policy.pressed:
                return result
            problem = f"Interrupted: {name} stopped before it finished"
    raise UsageError(one_line(problem))


def show_report(magics: FreddyMagics) -> BugReport:
    """What ``%freddy traceback`` returns: the last unexpected error's report, or a note."""
    report = getattr(magics, "last_bug_report", None)
    return report if report is not None else BugReport("No unexpected error in this kernel so far.")
