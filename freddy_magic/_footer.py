"""The quiet line under a finished answer: which model, how long, how many tokens, and why it
stopped when it did not finish by itself.

A cut-off answer (``--max-tokens 5``) looks complete unless something says otherwise, and the
row's numbers are what a person compares models by, so every answer ends with them, in the
theme's secondary text colour. A count the API did not give is "unknown", never 0. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._tables import tokens_text

# Stop reasons meaning the model finished on its own; anything else is said.
_NATURAL = frozenset({None, "", "end_turn", "stop", "stop_sequence", "completed", "complete"})
_STYLE = "color:var(--jp-ui-font-color2,#616161);font-size:var(--jp-ui-font-size0,11px)"


def seconds_text(seconds: object) -> str:
    """``0.42 s``, ``3.1 s``, ``75 s``: as many digits as a person reads, "" when unknown."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"
    return f"{seconds:.0f} s"


def footer_text(row: Mapping[str, Any]) -> str:
    """``ftg-3.0 · 0.42 s · 14 → 110 tokens · stopped: max tokens``."""
    tokens = tokens_text(row)
    parts = [
        str(row.get("model") or ""),
        seconds_text(row.get("latency_s")),
        "tokens unknown" if tokens == "unknown" else f"{tokens} tokens" if tokens else "",
    ]
    stop = row.get("stop_reason")
    if stop not in _NATURAL:
        parts.append(f"stopped: {str(stop).replace('_', ' ')}")
    return " · ".join(part for part in parts if part)


def footer_markdown(row: Mapping[str, Any]) -> str:
    """The footer as a Markdown paragraph of inline HTML (escaped), in the quiet text colour."""
    import html

    return f"\n\n<span class='freddy-footer' style='{_STYLE}'>{html.escape(footer_text(row))}</span>"
