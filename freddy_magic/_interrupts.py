"""Ctrl-C while a magic runs: the first press stops the work, later presses cannot lose what it kept.

A kernel delivers Ctrl-C (the stop button) as SIGINT, which Python turns into ``KeyboardInterrupt``
at whatever line runs next. That is how a blocked request gets stopped. But a second press that
lands while the magic keeps what finished (logging the rows, storing ``-o``, showing the partial
answer) would abort that too, and an exception raised inside an ``except`` block carries the
first one, with every frame and local behind it, as ``__context__``.

So while a magic runs, :class:`InterruptPolicy` owns SIGINT: the first press raises
``KeyboardInterrupt`` as usual and disarms the policy; later presses are counted, not raised, until
the magic ends. The boundary disarms it too before it handles any failure. Code that must stay
stoppable after the first press (a server-side cancel that may hang) re-arms it around that one
call with :func:`interruptible`. Only the main thread can own a signal, and only Python's default
handler is replaced; anywhere else the policy stands aside and Ctrl-C behaves as always.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType


class InterruptPolicy:
    """SIGINT for the duration of one magic: raise once, then count (see the module docstring).

    ``armed`` is a plain slot on purpose: an ``except`` block disarms with one attribute store,
    which runs no Python code, so no pending press can be raised between catching a failure
    and disarming.
    """

    __slots__ = ("_installed", "_previous", "armed", "presses")

    def __init__(self) -> None:
        self.armed = True
        self.presses = 0
        self._installed = False
        self._previous: object = None

    @property
    def pressed(self) -> bool:
        """True once Ctrl-C was pressed while this policy was installed."""
        return self.presses > 0

    def __enter__(self) -> InterruptPolicy:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is signal.default_int_handler:
                self._previous = previous
                signal.signal(signal.SIGINT, self._on_sigint)
                self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._installed:
            self._installed = False
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]  # the handler found on entry

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt


def current() -> InterruptPolicy | None:
    """The policy that owns SIGINT now (its handler is installed), or None."""
    handler = signal.getsignal(signal.SIGINT)
    owner = getattr(handler, "__self__", None)
    return owner if isinstance(owner, InterruptPolicy) else None


@contextmanager
def interruptible() -> Iterator[None]:
    """Let Ctrl-C raise inside this block even after the first press (main thread only).

    For a call that may hang after the user already pressed once, such as a server-side cancel:
    one more press abandons it instead of waiting.
    """
    policy = current() if threading.current_thread() is threading.main_thread() else None
    if policy is None:
        yield
        return
    armed, policy.armed = policy.armed, True
    try:
        yield
    finally:
        policy.armed = armed and policy.armed


@contextmanager
def shielded() -> Iterator[None]:
    """Finish this block before a Ctrl-C pressed during it is raised (main thread, under a policy).

    For a few quick steps that must happen together (forgetting every credential, swapping the
    connected client); a press during them is raised when they are done.
    """
    policy = current() if threading.current_thread() is threading.main_thread() else None
    if policy is None or not policy.armed:
        yield
        return
    before = policy.presses
    policy.armed = False
    try:
        yield
    finally:
        policy.armed = True
    if policy.presses > before:
        policy.armed = False
        raise KeyboardInterrupt
