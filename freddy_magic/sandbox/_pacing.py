"""How fast each fake model "types": a wait before the first chunk and a pace between chunks.

A lesson that says "the answer appears piece by piece" has to show it, and a chart comparing
models has to compare something. So, when the sandbox serves a notebook, each model waits before
its first chunk and between chunks the way a real one does, each at its own speed. The numbers
are chosen to look plausible and to differ from model to model; they are not measurements of
the real models. ``pace`` scales them: 0 (the ``Sandbox`` default, for tests) answers at once,
1 is notebook speed, 2 is twice as slow. The waits between chunks vary around the model's pace
by a hash of the answer, so a stream looks uneven but replays identically.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class Speed(NamedTuple):
    first_chunk: float  # seconds before the first chunk, at pace 1
    per_chunk: float  # mean seconds between two chunks, at pace 1


SPEEDS = {
    "ftg-3.0": Speed(0.35, 0.05),
    "gpt-4o": Speed(0.5, 0.07),
    "gpt-4o-mini": Speed(0.25, 0.03),
    "gpt-4.1": Speed(0.6, 0.06),
    "claude-3-5-sonnet": Speed(0.8, 0.08),
    "o3-preview": Speed(1.5, 0.06),  # a reasoning model thinks before it writes
    "claude-3-haiku": Speed(0.3, 0.035),
    "gpt-4-turbo": Speed(0.9, 0.1),
    "ftg-1.5": Speed(0.25, 0.05),
}
_SPREAD = 0.8  # a wait between chunks is the pace times a factor in [0.6, 1.4)


def check_pace(pace: float) -> float:
    """``pace`` as a float >= 0, or ValueError (the handle turns it into a ConfigError)."""
    if isinstance(pace, bool) or not isinstance(pace, (int, float)) or not 0 <= pace < float("inf"):
        raise ValueError(f"pace must be a number >= 0 (0 answers at once, 1 is notebook speed), got {pace!r}")
    return float(pace)


def schedule(model: str, text: str, chunks: int, pace: float) -> tuple[float, list[float]]:
    """(wait before the first chunk, waits before each later chunk), in seconds, for one answer."""
    if not pace or chunks <= 0:
        return 0.0, [0.0] * max(chunks - 1, 0)
    speed = SPEEDS[model]
    digest = hashlib.sha256(f"{model}\x00{text}".encode()).digest()
    waits = []
    for index in range(chunks - 1):
        factor = 1 - _SPREAD / 2 + _SPREAD * digest[index % len(digest)] / 256
        waits.append(pace * speed.per_chunk * factor)
    return pace * speed.first_chunk, waits
