"""Incremental Server-Sent Events decoder (the WHATWG event-stream rules).

Bytes arrive in arbitrary pieces: a frame, a line, even a CRLF pair may be split between two
network reads, so the decoder keeps the unfinished line and a pending "was the last byte a CR"
flag between calls. Lines end in LF, CRLF or CR; a leading BOM is dropped; comments and unknown
fields are ignored; several ``data:`` lines join with newlines. It yields events as soon as
their blank line arrives, which is what lets the first token show within milliseconds.
"""

from __future__ import annotations

from ._errors import ResponseFormatError

MAX_LINE = 1024 * 1024
_BOM = "\ufeff"


class SSEDecoder:
    """``feed(bytes) -> [(event, data)]``; ``event`` defaults to ``"message"``."""

    __slots__ = ("_data", "_event", "_max_line", "_pending", "_skip_lf", "_started")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._pending = b""
        self._skip_lf = False
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._max_line = max_line

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._pending + chunk if self._pending else chunk
        lines = buffer.splitlines(keepends=True)
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            self._pending = lines.pop()
            if len(self._pending) > self._max_line:
                raise ResponseFormatError(f"A stream line exceeds {self._max_line // 1024} KB; the stream was stopped")
        else:
            self._pending = b""
        if lines and lines[-1].endswith(b"\r"):
            self._skip_lf = True
        events = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r\n").decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> tuple[str, str] | None:
        if not self._started:
            self._started = True
            if line.startswith(_BOM):
                line = line[1:]
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> tuple[str, str] | None:
        data, event = self._data, self._event or "message"
        self._data, self._event = [], ""
        if not data:
            return None
        return event, "\n".join(data)
