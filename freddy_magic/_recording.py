"""Recordings: answered calls kept as JSON lines, so a notebook can re-run with no key and no cost.

One line per call, keys sorted, so a recording diffs well in git and a teacher can read it. A
line holds what identifies the request (the body the client would send, minus the two fields
that do not change the answer: ``stream`` and ``organization_id``), the answer (text, blocks,
stop reason, usage, ids, and the timing of each streamed piece), and when and from which host it
was recorded. It never holds a header, key, token, password, code or organization id: every
line is checked against the live secrets before it is written, and one that would hold any is
refused (:class:`SecretInEntry`), not cleaned, since a secret inside an answer means something
upstream already went wrong.

Lines are appended with one ``os.write`` each, with Ctrl-C held back until it returns, so a
crash or an interrupt loses at most the call in flight and never leaves half a line. Reading
is forgiving: a corrupt or hand-edited line is skipped and named (file and line), the others
stay usable; only a recording from a newer format version is refused as a whole.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import _redaction
from ._errors import ConfigError, FreddyError
from ._interrupts import shielded
from ._payloads import Completion, build_response_body

FORMAT = 1
_NOT_IDENTIFYING = ("stream", "organization_id")
_ANSWER_FIELDS = ("text", "stop_reason", "input_tokens", "output_tokens", "response_id", "thread_id", "model")


class SecretInEntry(FreddyError):
    """An answer was not recorded because its entry would hold a live secret."""


def request_key(inputs: str | Sequence[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a request: the body the client would send, minus what does not change the answer."""
    body = build_response_body(inputs, **{k: v for k, v in params.items() if k not in _NOT_IDENTIFYING})
    return {name: value for name, value in body.items() if name not in _NOT_IDENTIFYING}


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Entry:
    """One recorded call: its request, its answer, and where and when it was recorded."""

    request: dict[str, Any]
    answer: dict[str, Any]
    recorded_at: str
    host: str
    sandbox: bool
    deltas: list[tuple[float, str]] | None = None

    @property
    def key(self) -> str:
        return _canonical(self.request)

    def completion(self) -> Completion:
        """The recorded answer as the client returned it, marked as a replay (no retries: none were made)."""
        answer = self.answer
        return Completion(
            text=answer.get("text") or "",
            response_id=answer.get("response_id"),
            thread_id=answer.get("thread_id"),
            stop_reason=answer.get("stop_reason"),
            input_tokens=answer.get("input_tokens"),
            output_tokens=answer.get("output_tokens"),
            latency_s=answer.get("latency_s"),
            ttft_s=answer.get("ttft_s"),
            model=answer.get("model"),
            raw={"blocks": answer["blocks"]} if answer.get("blocks") else {},
            source="replay",
            recorded_at=self.recorded_at or None,
        )

    def line(self) -> str:
        data: dict[str, Any] = {
            "format": FORMAT,
            "request": self.request,
            "answer": self.answer,
            "recorded_at": self.recorded_at,
            "host": self.host,
            "sandbox": self.sandbox,
        }
        if self.deltas is not None:
            data["deltas"] = [[round(at, 4), piece] for at, piece in self.deltas]
        return _canonical(data)


def make_entry(
    request: dict[str, Any],
    completion: Completion,
    *,
    host: str,
    sandbox: bool,
    deltas: list[tuple[float, str]] | None = None,
) -> Entry:
    answer: dict[str, Any] = {name: getattr(completion, name, None) for name in _ANSWER_FIELDS}
    answer["latency_s"] = None if completion.latency_s is None else round(completion.latency_s, 4)
    answer["ttft_s"] = None if completion.ttft_s is None else round(completion.ttft_s, 4)
    blocks = getattr(completion, "blocks", None) or (completion.raw or {}).get("response_blocks")
    if blocks:
        answer["blocks"] = blocks
    return Entry(
        request=request,
        answer=answer,
        recorded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        host=host,
        sandbox=sandbox,
        deltas=deltas,
    )


class Recorder:
    """Appends entries to one file, from any thread; a line is whole or absent."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.written = 0
        try:
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"Cannot record to {self.path}: {exc.strerror}") from None

    def write(self, entry: Entry, forbidden: Iterable[str] = ()) -> None:
        """Append ``entry``; :class:`SecretInEntry` if it would hold a live secret or one of
        ``forbidden`` (the organization ids this kernel knows)."""
        line = entry.line()
        if _redaction.holds_secret(line, forbidden):
            raise SecretInEntry(
                f"An answer of {entry.request.get('model') or 'the default model'} was not recorded: "
                "it would hold a key, token or organization id"
            )
        data = (line + "\n").encode()
        with self._lock, shielded():
            if self._fd is None:
                raise ConfigError(f"The recording to {self.path} was stopped")
            while data:
                data = data[os.write(self._fd, data) :]
            self.written += 1

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class _Answers:
    """The recorded answers to one request, and how many of them were served so far."""

    __slots__ = ("entries", "served")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.served = 0


@dataclass
class Recording:
    """A loaded recording: entries by request, and the lines that could not be used."""

    path: Path
    by_request: dict[str, _Answers] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    count: int = 0
    threads: set[str] = field(default_factory=set)  # the conversation threads its answers belong to
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, missing_ok: bool = False) -> Recording:
        """The entries of ``path``; ``missing_ok`` gives an empty recording for a file not made yet."""
        recording = cls(Path(path))
        if missing_ok and not recording.path.exists():
            return recording
        try:
            with open(recording.path, encoding="utf-8", errors="replace") as lines:
                for number, line in enumerate(lines, 1):
                    if line.strip():
                        recording._add(number, line)
        except FileNotFoundError:
            raise ConfigError(f"No recording at {recording.path}") from None
        except IsADirectoryError:
            raise ConfigError(f"{recording.path} is a folder, not a recording") from None
        return recording

    def _add(self, number: int, line: str) -> None:
        try:
            entry = _parse(line)
        except ValueError as exc:
            self.skipped.append(f"{self.path.name} line {number}: {exc}")
            return
        self.add(entry)

    def add(self, entry: Entry) -> None:
        with self._lock:
            self.by_request.setdefault(entry.key, _Answers()).entries.append(entry)
            self.count += 1
            thread = entry.answer.get("thread_id")
            if isinstance(thread, str):
                self.threads.add(thread)

    def find(self, request: Mapping[str, Any]) -> Entry | None:
        """The entry for ``request``; the same request asked again gets the next recorded answer
        to it (then the last one again), as a re-run notebook asks in the order it recorded."""
        found = self.by_request.get(_canonical(request))
        if found is None:
            return None
        with self._lock:
            index, found.served = found.served, found.served + 1
        return found.entries[min(index, len(found.entries) - 1)]

    def models(self) -> list[dict[str, Any]]:
        """The models this recording answers for, as catalog-like entries: what ``-m`` can
        take while replaying, and how many answers each has."""
        counts: dict[str, int] = {}
        for answers in self.by_request.values():
            key = answers.entries[0].request.get("model") or "server default"
            counts[key] = counts.get(key, 0) + len(answers.entries)
        return [
            {"key": key, "availability_status": f"recorded: {n} answer{'s' * (n != 1)}", "answers": n}
            for key, n in sorted(counts.items())
        ]

    def summary(self) -> dict[str, Any]:
        """What the status line says: how many answers, when, from where, and whether from the sandbox."""
        every = [entry for answers in self.by_request.values() for entry in answers.entries]
        dates = sorted(entry.recorded_at[:10] for entry in every)
        return {
            "answers": self.count,
            "recorded": (dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}") if dates else None,
            "hosts": sorted({entry.host for entry in every}),
            "sandbox": any(entry.sandbox for entry in every),
        }


def _parse(line: str) -> Entry:
    """One line as an entry; ValueError says what is wrong with it, without quoting it."""
    try:
        data = json.loads(line)
    except ValueError:
        raise ValueError("not valid JSON (cut short or edited by hand?); skipped") from None
    if not isinstance(data, dict):
        raise ValueError("not an entry (expected a JSON object); skipped")
    version = data.get("format")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT:
        raise ConfigError(
            f"This recording was written by a newer freddy_magic (format {version}, this one reads "
            f"{FORMAT}): upgrade freddy_magic to replay it"
        )
    request, answer = data.get("request"), data.get("answer")
    if version != FORMAT or not isinstance(request, dict) or not isinstance(answer, dict):
        raise ValueError("not an entry (format, request or answer missing); skipped")
    if not isinstance(answer.get("text", ""), (str, type(None))):
        raise ValueError("its answer text is not text; skipped")
    return Entry(
        request=request,
        answer=answer,
        recorded_at=str(data.get("recorded_at") or ""),
        host=str(data.get("host") or "unknown host"),
        sandbox=data.get("sandbox") is True,
        deltas=_deltas(data.get("deltas")),
    )


def _deltas(value: object) -> list[tuple[float, str]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("its streamed pieces are not a list; skipped")
    deltas = []
    for item in value:
        ok = isinstance(item, list) and len(item) == 2 and isinstance(item[1], str)
        if not ok or isinstance(item[0], bool) or not isinstance(item[0], (int, float)) or not item[0] >= 0:
            raise ValueError("a streamed piece is not [seconds, text]; skipped")
        deltas.append((float(item[0]), item[1]))
    return deltas
