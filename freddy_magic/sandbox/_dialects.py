"""The two shapes the sandbox can speak: today's (``classic``) and the newest documented (``current``).

The Freddy docs exist in several versions at one URL, and a client has to survive both. The
``classic`` dialect is what the sandbox always spoke: named SSE frames (``event:`` + ``data:``)
ending at ``response.completed``, a ``usage`` block in every answer, ``ftg-3.0`` as the default
model. The ``current`` dialect follows the newest pages and the recorded real answers:
data-only frames carrying the event name inside the JSON, a ``response.processing`` event and
heartbeats, a final ``data: [DONE]``, no ``usage``, ``response_blocks`` (and no ``response``)
in structured mode, a catalog without ``ftg-3.0``, and an auth failure on a stream reported as
a ``response.error`` event inside a 200 stream (the streaming path's "lightweight auth").

Both dialects refuse the same requests: what the real API refuses is refused in either.
``FREDDY_SANDBOX_DIALECT`` picks the dialect of a sandbox built without an explicit one, so a
whole test run (or an in-kernel sandbox) can be switched from outside.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ._envelope import dumps

ENV_NAME = "FREDDY_SANDBOX_DIALECT"


@dataclass(frozen=True)
class Dialect:
    name: str
    named_events: bool  # ``event: <name>`` lines before ``data:`` (else data-only frames)
    done_line: bool  # a final ``data: [DONE]``
    heartbeats: bool  # ``response.processing`` first, and heartbeat events while the model waits
    usage: bool  # a ``usage`` block in every answer
    blocks_in_structured: bool  # structured mode answers with ``response_blocks`` only
    stream_auth_events: bool  # a stream's auth failure is a 200 stream with an error event
    default_model: str
    hidden_models: frozenset[str]

    def frame(self, name: str, data: dict) -> bytes:
        """One SSE frame; the event name is always in the JSON too, as both doc versions show."""
        payload = b"data: " + dumps({"event": name, **data}) + b"\n\n"
        return b"event: " + name.encode() + b"\n" + payload if self.named_events else payload

    def heartbeat(self) -> bytes:
        return self.frame("heartbeat", {"type": "heartbeat"})

    def ending(self) -> list[bytes]:
        """What follows the last event: ``data: [DONE]``, or nothing."""
        return [b"data: [DONE]\n\n"] if self.done_line else []


CLASSIC = Dialect(
    name="classic",
    named_events=True,
    done_line=False,
    heartbeats=False,
    usage=True,
    blocks_in_structured=False,
    stream_auth_events=False,
    default_model="ftg-3.0",
    hidden_models=frozenset(),
)
CURRENT = Dialect(
    name="current",
    named_events=False,
    done_line=True,
    heartbeats=True,
    usage=False,
    blocks_in_structured=True,
    stream_auth_events=True,
    default_model="gpt-4o",
    hidden_models=frozenset({"ftg-3.0"}),
)
DIALECTS = {d.name: d for d in (CLASSIC, CURRENT)}


def pick(name: str | None) -> Dialect:
    """The dialect called ``name``; None means ``FREDDY_SANDBOX_DIALECT``, else ``classic``."""
    if name is None:
        name = os.environ.get(ENV_NAME, "").strip().lower() or CLASSIC.name
    dialect = DIALECTS.get(name)
    if dialect is None:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}")
    return dialect
