"""The status card: where the kernel is connected, as compact labelled fields.

It is plain output (HTML, Markdown and text), not a widget, so it survives saving and renders on
GitHub and nbviewer. Long ids are shortened on screen, also the one after an organization's name
(the value and the HTML title keep them whole); the SANDBOX
marker is said once, in the theme's error colour, which keeps AA contrast in light and dark.
Pure: no IPython.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

LOUD = "SANDBOX: answers are fake"
_LOUD_TAIL = ", made up locally by the built-in sandbox"
_HIDDEN = frozenset({"title", "sandbox", "replay", "notice"})
_LABELS = {
    "method": "sign-in",
    "base_url": "API",
    "source": "from",
    "token_expires": "token expires",
    "rate_limit": "rate limit",
    "organization_next": "organization at the next %freddy_auth",
    "recording_to": "recording to",
    "recorded_from": "recorded from",
    "not_recorded": "not recorded",
}
_ID_CHARS = 14  # an id longer than this is shown as its start and an ellipsis
_ID_FIELDS = frozenset({"organization", "organization_next"})
_NAMED_ID = re.compile(r"(?s)(.* \()(\S+)(\))")  # "Acme Research (org_3f2a…)"
_QUIET = "color:var(--jp-ui-font-color2,#616161)"
_LOUD_STYLE = "color:var(--jp-error-color1,#b00020)"


def human_duration(seconds: float) -> str:
    """``45 s``, ``59 min``, ``2 h 5 min``, ``3 days``: how a person says how long is left."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(hours / 24)} days"


def fields(status: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(label, shown value, whole value)`` of every field a person reads."""
    out = []
    for key, value in status.items():
        if value is None or key in _HIDDEN:
            continue
        whole = str(value)
        shown = _short_id(whole) if key in _ID_FIELDS else whole
        out.append((_LABELS.get(key, key.replace("_", " ")), shown, whole))
    return out


def _short_id(text: str) -> str:
    """An id alone, or the id in parentheses after a name, cut to its start and an ellipsis."""
    named = _NAMED_ID.fullmatch(text)
    head, text, tail = named.groups() if named else ("", text, "")
    if len(text) > _ID_CHARS and " " not in text:
        text = text[: _ID_CHARS - 1] + "…"
    return head + text + tail


def card_text(status: Mapping[str, Any]) -> str:
    """One line for a terminal (the notice, if any, on a second)."""
    text = f"{status.get('title', 'Freddy')}: " + " · ".join(f"{label}: {shown}" for label, shown, _ in fields(status))
    if status.get("replay"):
        text += f" · REPLAY: {status['replay']}"
    if status.get("sandbox"):
        text += f" · {LOUD}{_LOUD_TAIL}"
    if status.get("notice"):
        text += f"\n{status['notice']}"
    return text


def card_markdown(status: Mapping[str, Any]) -> str:
    head = f"**{status.get('title', 'Freddy')}**"
    if status.get("sandbox"):
        head += f" · **{LOUD}**{_LOUD_TAIL}"
    if status.get("replay"):
        head += f" · **REPLAY**: {status['replay']}"
    lines = [head, ""] + [f"- {label}: `{shown}`" for label, shown, _ in fields(status)]
    if status.get("notice"):
        lines += ["", f"*{status['notice']}*"]
    return "\n".join(lines)


def card_html(status: Mapping[str, Any]) -> str:
    head = f"<strong>{html.escape(str(status.get('title', 'Freddy')))}</strong>"
    if status.get("sandbox"):
        head += f" · <strong style='{_LOUD_STYLE}'>{LOUD}</strong>{html.escape(_LOUD_TAIL)}"
    if status.get("replay"):
        head += f" · <strong>REPLAY</strong>: {html.escape(str(status['replay']))}"
    cell = "text-align:left;padding:0 12px 0 0;border:none;vertical-align:top"
    rows = "".join(
        f"<tr style='background:transparent'><td style='{cell};{_QUIET}'>{html.escape(label)}</td>"
        f"<td style='{cell}' title='{html.escape(whole)}'>{html.escape(shown)}</td></tr>"
        for label, shown, whole in fields(status)
    )
    notice = f"<div style='{_QUIET}'>{html.escape(str(status['notice']))}</div>" if status.get("notice") else ""
    table = f"<table style='border-collapse:collapse;margin:2px 0;width:auto'>{rows}</table>" if rows else ""
    return f"<div class='freddy-status' style='line-height:1.5'>{head}{table}{notice}</div>"
