"""What the cell shows while answers arrive: live Markdown in a notebook, plain text in a terminal.

A notebook gets one display per answer, created when the cell runs (saying what it waits for)
and then updated in place through its display handle. Updates are throttled (``THROTTLE_S``)
and held to a byte budget (``BUDGET_FACTOR``), so neither a fast stream nor a long one floods
the front end, but the first delta is shown at once: the time to first token is what the user
feels. While streaming, the Markdown ends in a
cursor glyph, so every partial update differs from the final one and the final answer is sent
exactly once. A terminal gets the deltas written straight to stdout.

Display calls happen on the main thread only: worker threads of a batch hand their deltas over
a queue, because output published from other threads can land in the wrong cell.
"""

from __future__ import annotations

import html
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.core.display_functions import DisplayHandle

Bundle = dict[str, Any]  # a mimebundle: MIME type -> data

THROTTLE_S = 0.05
PROGRESS_THROTTLE_S = 0.1
CURSOR = " ▍"
# Each update resends the whole answer so far, so updates at a fixed rate cost quadratic bytes on
# IOPub (and a re-render of everything in the browser). Updates are held to a budget instead:
# all streamed updates together may be at most BUDGET_FACTOR times the text shown so far, plus
# BUDGET_FREE characters, which short answers spend on an update every THROTTLE_S. A long answer
# then updates each time it has grown by about 1/(2 * BUDGET_FACTOR): still many times a second
# at first, and the total stays linear in its length.
BUDGET_FACTOR = 5
BUDGET_FREE = 24_000
PLAIN_TAIL = 300  # a partial answer's text/plain is its end only; the final one is whole


def _display(bundle: Bundle, **kwargs: Any) -> DisplayHandle | None:
    """``display(raw=True)``; IPython is imported only when something is shown."""
    from IPython.display import display

    return display(bundle, raw=True, **kwargs)


def show(obj_bundle: Bundle) -> None:
    """Show a ready mimebundle once (status lines, notices, dry-run previews)."""
    _display(obj_bundle)


def final_bundle(row: Mapping[str, Any], fmt: str, title: str | None = None, error_below: bool = False) -> Bundle:
    """The finished answer in the requested format: ``markdown``, ``text`` or ``json``.

    A failed answer ends with its error in the theme's error colour; ``error_below``: the cell
    fails with that error right under it, so the answer only says it stopped (shown once)."""
    if fmt == "json":
        return {"application/json": dict(row), "text/plain": json.dumps(row, indent=2, default=str)}
    text = row.get("text") or ""
    note = ""
    if row.get("status") != "ok":
        note = "stopped by the error below" if error_below else f"{row.get('status')}: {row.get('error')}"
    plain = text + (f"\n\n[{note}]" if text and note else f"[{note}]" if note else "")
    heading = f"**{title}**\n\n" if title else ""
    if fmt == "text":
        return {"text/plain": (f"{title}\n" if title else "") + plain}
    from ._footer import footer_markdown

    styled = f"\n\n<span style='color:var(--jp-error-color1,#b00020)'>{html.escape(note)}</span>" if note else ""
    return {
        "text/markdown": heading + text + styled + footer_markdown(row),
        "text/plain": (f"{title}\n" if title else "") + plain,
    }


class AnswerView:
    """One answer arriving: ``delta(piece)`` as pieces come, ``finish(row)`` once at the end."""

    def __init__(
        self,
        *,
        terminal: bool,
        fmt: str = "markdown",
        title: str | None = None,
        live: bool = True,
        clock: Callable[[], float] = time.monotonic,
        out: IO[str] | None = None,
        model: str | None = None,
    ) -> None:
        self.terminal, self.fmt, self.title, self.live = terminal, fmt, title, live
        self.clock, self.out = clock, out or sys.stdout
        self.model = title or model or "the answer"
        self.parts: list[str] = []
        self.size = 0  # characters received so far
        self.sent = 0  # characters sent in streamed updates so far (the budget's spending)
        self.handle: DisplayHandle | None = None
        self.first_shown_at: float | None = None
        self._last, self._dirty = 0.0, False

    def open(self) -> None:
        """Say what the cell waits for from the moment it runs; this also reserves the answer's
        place, so several answers appear in the order asked."""
        if not self.terminal and self.live and self.handle is None:
            self.handle = _display(_waiting_bundle(f"waiting for {self.model}…"), display_id=True)

    def waiting(self, seconds: float, why: str) -> None:
        """A pause before the request is (re)sent: say why and for how long, on the waiting line."""
        if self.first_shown_at is not None or self.terminal or not self.live:
            return
        when = f"{seconds:.0f} s" if seconds >= 0.95 else f"{seconds:.1f} s"
        bundle = _waiting_bundle(f"waiting for {self.model}… {why} in {when}")
        if self.handle is None:
            self.handle = _display(bundle, display_id=True)
        else:
            self.handle.update(bundle, raw=True)

    def abandon(self) -> None:
        """The call failed before any text: the waiting line goes (the cell's error says why)."""
        if self.handle is not None and self.first_shown_at is None:
            self.handle.update({"text/plain": ""}, raw=True)

    def delta(self, piece: str) -> None:
        self.parts.append(piece)
        self.size += len(piece)
        if not self.live:
            return
        if self.terminal:
            self._write(piece if self.first_shown_at else (f"{self.title}\n" if self.title else "") + piece)
            return
        now = self.clock()
        if self.first_shown_at is None or self._due(now):
            self._render(now)
        else:
            self._dirty = True

    def _due(self, now: float) -> bool:
        """Time for an update: the throttle has passed and the byte budget allows it."""
        return now - self._last >= THROTTLE_S and self.sent + self.size <= BUDGET_FACTOR * self.size + BUDGET_FREE

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        if self.first_shown_at is None:
            self.first_shown_at = self.clock()

    def _render(self, now: float) -> None:
        text = "".join(self.parts)
        self.parts = [text]  # joined once: the next update joins two pieces, not thousands
        heading = f"**{self.title}**\n\n" if self.title else ""
        tail = text if len(text) <= PLAIN_TAIL else "…" + text[-PLAIN_TAIL:]
        bundle = {"text/markdown": heading + text + CURSOR, "text/plain": tail}
        self.sent += len(text) + len(tail)
        if self.handle is None:
            self.handle = _display(bundle, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
        if self.first_shown_at is None:
            self.first_shown_at = self.clock()
        self._last, self._dirty = now, False

    def flush(self) -> None:
        """Show a pending throttled update (the batch loop calls this when its queue is idle)."""
        if self._dirty and self._due(self.clock()):
            self._render(self.clock())

    def finish(self, row: Mapping[str, Any], error_below: bool = False) -> None:
        """The final answer, once: it replaces the streamed one in place (a terminal ends the line).

        A throttled update still pending is dropped: flushed after this, it would put the
        streaming cursor back over the finished answer."""
        self._dirty = False
        if self.terminal:
            if self.live and self.first_shown_at is not None and self.fmt != "json":
                tail = "" if row.get("status") == "ok" else f"\n[{row.get('status')}: {row.get('error')}]"
                self._write(tail + "\n")
            else:
                self._write(final_bundle(row, self.fmt, self.title)["text/plain"] + "\n")
            return
        bundle = final_bundle(row, self.fmt, self.title, error_below)
        if self.handle is None:
            _display(bundle)
        else:
            self.handle.update(bundle, raw=True)


def _waiting_bundle(text: str) -> Bundle:
    return {"text/markdown": f"*{text}*", "text/plain": text}


class ProgressView:
    """``k/n`` rows done, errors (and ``--json`` answers that were invalid) counted, as an HTML
    progress bar (or a ``\\r`` line in a terminal)."""

    def __init__(
        self,
        total: int,
        *,
        terminal: bool,
        clock: Callable[[], float] = time.monotonic,
        out: IO[str] | None = None,
        rate_limit: Callable[[], Any] = lambda: None,
    ) -> None:
        self.total, self.terminal, self.clock = total, terminal, clock
        self.rate_limit = rate_limit  # the client's last X-RateLimit-* values (limit, remaining), or None
        self.out = out or sys.stdout
        self.done = self.errors = self.invalid = 0
        self.started, self._last = clock(), 0.0
        self.handle: DisplayHandle | None = None

    def _bundle(self, note: str = "") -> Bundle:
        elapsed = self.clock() - self.started
        invalid = f" · {self.invalid} invalid" if self.invalid else ""
        text = f"{self.done}/{self.total} rows · {self.errors} errors{invalid} · {elapsed:.1f} s{self._paced()}{note}"
        bar = f"<progress value='{self.done}' max='{self.total}' style='width:20em'></progress>"
        return {"text/html": f"{bar} {text}", "text/plain": text}

    def _paced(self) -> str:
        """Why a batch slows down: the API's rate limit is (nearly) used up, so requests wait for
        it; said while it lasts, with the limit the server announced."""
        status = self.rate_limit()
        limit, remaining = getattr(status, "limit", None), getattr(status, "remaining", None)
        if self.done >= self.total or not limit or remaining is None or remaining > max(2, limit // 20):
            return ""
        return f" · paced by the API's rate limit ({limit} requests per window)"

    def step(self, row: Mapping[str, Any]) -> None:
        """One more row done; shown at most every ``PROGRESS_THROTTLE_S`` (and always the last)."""
        self.done += 1
        self.invalid += row.get("status") == "invalid"
        self.errors += row.get("status") not in ("ok", "invalid")
        if self.clock() - self._last >= PROGRESS_THROTTLE_S or self.done == self.total:
            self._show()

    def _show(self, note: str = "") -> None:
        self._last = self.clock()
        bundle = self._bundle(note)
        if self.terminal:
            self.out.write("\r" + bundle["text/plain"] + ("\n" if note else ""))
            self.out.flush()
        elif self.handle is None:
            self.handle = _display(bundle, display_id=True)
        else:
            self.handle.update(bundle, raw=True)

    def finish(self, note: str = "") -> None:
        self._show(note or " · done")


class NotSent(dict):
    """A ``--dry-run`` request: the plain dict the client built, labelled so nobody mistakes it
    for an answer: "Not sent", the method and URL, then the body and headers as JSON."""

    def label(self) -> str:
        return f"Not sent (--dry-run): {self.get('method', '')} {self.get('url', '')}".rstrip()

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> Bundle:
        body = json.dumps(dict(self), indent=2, default=str, ensure_ascii=False)
        fence = "````" if "```" in body else "```"
        return {
            "text/markdown": f"**{self.label()}**\n\n{fence}json\n{body}\n{fence}",
            "text/plain": f"{self.label()}\n{body}",
        }

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self._repr_mimebundle_()["text/plain"])
