"""The key and sign-in prompts: the only module that imports ipywidgets.

A ``Password`` widget is a leak waiting to happen: its value syncs in plain
text, ipywidgets 8 echoes every front-end update to all connected front ends, and a saved widget
state keeps whatever is still in ``value``. So the secret field here is never echoed
(``echo_update=False``), syncs once on Enter or blur rather than per keystroke (which also stops
a click on Connect from arriving before the last keystrokes did), and is read, cleared and
closed in that order.

Submitting is observed on ``value`` (Enter or leaving the field) and on the button; whichever
comes first consumes the value, the other finds it empty and does nothing. The prompts know
nothing about HTTP: they hand the secret to a callback, show its one-line status on success, its
one-line reason on failure (with the field ready for another try, which is the remedy here, so
no "run %freddy_auth" is added), and any unexpected error in an ``Output`` so it is never lost in
the kernel log. The magic displays them and returns at once: the kernel must be idle to receive
the click.
"""

from __future__ import annotations

import html
import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ipywidgets import HTML, Button, HBox, Layout, Output, Password, Text, VBox
from traitlets import Bool, Unicode

from ._errors import FreddyError
from ._redaction import Masked, redact, register
from ._remedies import plain

if TYPE_CHECKING:
    from ipywidgets import Widget

log = logging.getLogger("freddy_magic")

# The DOM class the front-end extension (labextension/src/index.js) looks for.
FOCUS_CLASS = "freddy-focus"


class _DropSecretFieldTraffic(logging.Filter):
    """Two loggers record inbound comm messages, typed value included, at DEBUG before any handler
    runs: the ``comm`` package's logger "Comm", and the kernel's own logger when the kernel was
    started with ``--debug`` (ipykernel logs each message's content, then the whole message,
    as it dispatches it). Drop every such record that concerns one of our secret fields."""

    def __init__(self) -> None:
        super().__init__()
        self.comm_ids: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        return not any(self._concerns_a_secret_field(arg) for arg in args)

    def _concerns_a_secret_field(self, arg: object) -> bool:
        if isinstance(arg, str):
            return arg in self.comm_ids
        if not isinstance(arg, dict):
            return False
        content = arg.get("content")
        return arg.get("comm_id") in self.comm_ids or (
            isinstance(content, dict) and content.get("comm_id") in self.comm_ids
        )


_COMM_LOG_FILTER = _DropSecretFieldTraffic()


def _message_loggers() -> list[logging.Logger]:
    """The loggers that may record an inbound comm message: "Comm", and this kernel's own."""
    from IPython import get_ipython

    loggers = [logging.getLogger("Comm")]
    kernel_log = getattr(getattr(get_ipython(), "kernel", None), "log", None)
    if isinstance(kernel_log, logging.Logger):
        loggers.append(kernel_log)
    return loggers


class SecretField(Password):
    """A ``Password`` whose value is not echoed to other front ends and syncs once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for logger in _message_loggers():
            if _COMM_LOG_FILTER not in logger.filters:
                logger.addFilter(_COMM_LOG_FILTER)
        _COMM_LOG_FILTER.comm_ids.add(self.model_id)

    def close(self) -> None:
        if self.comm is not None:
            _COMM_LOG_FILTER.comm_ids.discard(self.comm.comm_id)
        super().close()

    value = Unicode(help="The secret while it is being typed; cleared as soon as it is read.").tag(
        sync=True, echo_update=False
    )
    continuous_update = Bool(False, help="Sync on Enter or blur only, never per keystroke.").tag(sync=True)


def _status_html(result: object) -> str:
    """HTML for a callback's success value: its own ``_repr_html_`` if it has one, else escaped text."""
    render = getattr(result, "_repr_html_", None)
    return render() if callable(render) else html.escape(str(result))


def _status_bundle(result: object) -> dict[str, str]:
    """A callback's success value as a plain mimebundle (its own rich reprs when it has them)."""
    bundle = {"text/plain": str(getattr(result, "line", lambda: result)())}
    for mime, name in (("text/html", "_repr_html_"), ("text/markdown", "_repr_markdown_")):
        render = getattr(result, name, None)
        if callable(render):
            bundle[mime] = render()
    return bundle


class _Prompt:
    """Shared plumbing: a message line, an error ``Output``, busy guard, finish and cancel."""

    def __init__(self, rows: list[Widget]) -> None:
        self.message = HTML()
        self.errors = Output()
        self.cancel = Button(description="Cancel", tooltip="Close this prompt without signing in")
        self.cancel.on_click(lambda _button: self._finish("Cancelled: nothing was stored."))
        self._busy = False
        self._inputs: list[Widget] = []
        self._rows: list[Widget] = []
        self.box = VBox([*rows, self.message, self.errors])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        # With a display id, the outcome can replace the prompt's output by plain output later.
        if self._inputs:
            # Typing goes to the first field at once, no click needed: the bundled JupyterLab /
            # Notebook 7 extension focuses the field with this class when its view first appears,
            # unless the user is writing in a cell. No focus() is sent from here: it would land
            # whenever the view happens to render, over whatever the user is typing.
            self._inputs[0].add_class(FOCUS_CLASS)
        self._handle = display(self.box, display_id=True)

    def _say(self, text: str, *, error: bool = False, details: str = "") -> None:
        # JupyterLab's error colour keeps AA contrast in the dark theme too; the fallback is for others
        color = "var(--jp-error-color1,#b00020)" if error else "inherit"
        line = f"<span style='color:{color}'>{html.escape(redact(text))}</span>"
        if details:
            quiet = "color:var(--jp-ui-font-color2,#616161);font-size:var(--jp-ui-font-size0,11px)"
            line += f"<br><span style='{quiet}'>details: {html.escape(redact(details))}</span>"
        self.message.value = line

    def _call(self, callback: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """Run a callback; ``(True, value)`` or ``(False, None)`` after showing why it failed."""
        outcome, unexpected, interrupted = None, None, False
        failure: tuple[str, str] | None = None
        self._busy = True
        try:
            outcome = callback(*args)
        except FreddyError as exc:
            lead, fix, details = plain(exc, in_prompt=True)
            failure = (f"{lead}: {fix}" if fix else lead, details)
        except KeyboardInterrupt:  # the stop button while the callback waited on the network
            interrupted = True
        except Exception:  # a bug in a callback must be seen in the cell, not lost in the kernel log
            unexpected = redact(traceback.format_exc())
            log.debug("prompt callback failed", exc_info=True)
        finally:
            self._busy = False
        if interrupted:
            self._say("Interrupted: nothing was stored. Type it again to retry, or Cancel.", error=True)
            return False, None
        if unexpected is not None:
            self.errors.append_stderr(unexpected)
            self._say("Unexpected error (details below); please try again or report it.", error=True)
            return False, None
        if failure is not None:
            self._say(failure[0], error=True, details=failure[1])
            return False, None
        return True, outcome

    def _take(self, field: SecretField) -> str:
        """Read and clear a field in one step, so the value never stays in widget state."""
        value = Masked(field.value)  # a fingerprint in any traceback of the callback
        field.value = ""
        register(value)  # whatever the callback's errors say about it is redacted from now on
        return value

    def _finish(self, status: object) -> None:
        """Replace the prompt by its outcome; every input is cleared and closed first."""
        for widget in self._inputs:
            if isinstance(widget, Text):
                widget.value = ""
            widget.close()
        for row in self._rows:
            row.close()
        self.cancel.close()
        self.message.close()
        keep = [self.errors] if self.errors.outputs else []
        if not keep:
            self.errors.close()
        outcome = HTML(_status_html(status))
        self.box.children = [outcome, *keep]
        handle = getattr(self, "_handle", None)
        if handle is not None and not keep:
            # The prompt's output becomes the outcome as plain HTML/Markdown/text: it survives
            # saving and renders on GitHub and nbviewer, where a widget shows "Error displaying
            # widget" or its repr. (An unexpected error keeps the widget: its Output shows it.)
            handle.update(_status_bundle(status), raw=True)
            outcome.close()
            self.box.close()


class KeyPrompt(_Prompt):
    """``[API key ••••] [Connect] [Cancel]``: ``on_key(key)`` returns a status or raises FreddyError."""

    def __init__(
        self, on_key: Callable[[str], object], *, placeholder: str = "Paste your Freddy API key, then press Enter"
    ) -> None:
        self.on_key = on_key
        # wide enough for a whole key and the placeholder, which a default-width field cuts off
        self.field = SecretField(
            description="API key", placeholder=placeholder, layout=Layout(width="34em", flex="0 0 auto")
        )
        self.connect = Button(description="Connect", button_style="primary")
        super().__init__([])
        self._inputs = [self.field, self.connect]
        # the buttons wrap below a narrow output area rather than squeezing the field
        self._rows = [HBox([self.field, self.connect, self.cancel], layout=Layout(flex_flow="row wrap"))]
        self.box.children = self._rows + list(self.box.children)
        self.field.observe(self._on_value, "value")
        self.connect.on_click(lambda _button: self._submit(self.field.value, clicked=True))

    def _on_value(self, change: dict[str, Any]) -> None:
        # Enter syncs a non-empty value; an empty one is our own clearing of the field, not a submit.
        if change["new"]:
            self._submit(change["new"])

    def _submit(self, value: str, clicked: bool = False) -> None:
        if self._busy:
            return
        if not value:
            if clicked and not self.message.value:  # keep a failure's reason on screen
                self._say("Paste a key into the field first.")
            return
        ok, status = self._call(self.on_key, self._take(self.field))
        if ok:
            self._finish(status)


class LoginPrompt(_Prompt):
    """Email/username + password, then the emailed code; each step can be cancelled.

    ``on_login(user, password)`` returns the message to show above the code field;
    ``on_verify(code)`` returns the final status. Both raise FreddyError on failure.
    ``on_cancel()`` lets the caller drop a half-finished sign-in.
    """

    def __init__(
        self,
        on_login: Callable[[str, str], object],
        on_verify: Callable[[str], object],
        on_cancel: Callable[[], object] | None = None,
    ) -> None:
        self.on_login, self.on_verify, self.on_cancel = on_login, on_verify, on_cancel
        wide = Layout(width="26em")
        self.user = Text(
            description="Email/user", placeholder="email or username", continuous_update=False, layout=wide
        )
        self.password = SecretField(description="Password", placeholder="then press Enter", layout=wide)
        self.send = Button(description="Send code", button_style="primary")
        self.code = SecretField(description="Code", placeholder="4-digit code from the email", layout=wide)
        self.verify = Button(description="Verify", button_style="primary")
        self.code_row = HBox([self.code, self.verify])
        self.code_row.layout.display = "none"
        super().__init__([])
        self._inputs = [self.user, self.password, self.send, self.code, self.verify]
        self._rows = [HBox([self.user]), HBox([self.password, self.send, self.cancel]), self.code_row]
        self.box.children = self._rows + list(self.box.children)
        self.password.observe(lambda change: self._submit_password(change["new"]), "value")
        self.send.on_click(lambda _button: self._submit_password(self.password.value))
        self.code.observe(lambda change: self._submit_code(change["new"]), "value")
        self.verify.on_click(lambda _button: self._submit_code(self.code.value))
        if on_cancel is not None:
            self.cancel.on_click(lambda _button: on_cancel())

    def _submit_password(self, value: str) -> None:
        if not value or self._busy:
            return
        password = self._take(self.password)
        if not self.user.value.strip():
            self._say("Type your email or username first, then the password again.", error=True)
            return
        ok, text = self._call(self.on_login, self.user.value.strip(), password)
        if ok:
            for widget in (self.password, self.send):
                widget.disabled = True
            self.user.disabled = True
            self.code_row.layout.display = None
            # The field's view exists by now (rendered hidden), so the front end can take this;
            # the layout change is sent first, so the field is shown before it is focused.
            self.code.focus()
            self._say(str(text))

    def _submit_code(self, value: str) -> None:
        if not value or self._busy:
            return
        ok, status = self._call(self.on_verify, self._take(self.code).strip())
        if ok:
            self._finish(status)
