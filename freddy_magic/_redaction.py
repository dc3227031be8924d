"""The one redaction function for every user-visible string (security contract, rule 12).

Secrets are matched two ways: by value (every live key and token, registered here by the
credential holder, in the encodings a server or library might echo) and by shape (Bearer
headers, ``api-key: ...`` pairs, JWTs, known key prefixes) so that a secret we never saw, such
as one echoed by a hostile server, is still caught. The registry is process-wide on purpose:
loggers are process-wide, and a filter on urllib3 must know every live secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import threading
from collections.abc import Iterable, Iterator
from typing import NoReturn
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_live: dict[str, str] = {}  # secret -> fingerprint

_PATTERNS = [
    # name: value pairs keep the name so the message still says what was there
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [REDACTED]"),
    (
        re.compile(
            r"""(?i)\b((?:x-)?api[-_]?key|authorization|refresh_token|access_token|password)(["']?\s*[:=]\s*["']?)[^\s"',;}]+"""
        ),
        r"\1\2[REDACTED]",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[REDACTED:jwt]"),
    (re.compile(r"\b(?:ak|oak|sk|fl_user|rtok)[_-][A-Za-z0-9_-]{16,}"), "[REDACTED:key]"),
]

_KEY_PREFIX = re.compile(r"^(?:ak|oak|sk|fl_user|rtok)[_-]|^eyJ|^sk-frdy-", re.I)


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible label for a secret: ``fp=`` and 8 hex digits of SHA-256."""
    return "fp=" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


class Masked(str):
    """A secret that travels as a plain ``str`` (header values, request bodies, stored tokens)
    but whose ``repr`` is only its fingerprint.

    Tracebacks show the ``repr`` of every local of every frame (``%xmode Verbose``, ``%debug``,
    ``%tb``): a headers dict or a request body in a frame would otherwise print the secret. It is
    still the secret for everything that uses it as text (``str()``, JSON, HTTP). Pickling is
    refused and copies are the object itself, like the credential holder's.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'<secret {fingerprint(self)}>'"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("secrets cannot be pickled or stored")

    def __copy__(self) -> Masked:
        return self

    def __deepcopy__(self, memo: object) -> Masked:
        return self


def register(secret: str | None) -> None:
    """Make ``secret`` redactable everywhere until :func:`forget` is called."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        with _lock:
            _live[secret] = fingerprint(secret)


def forget(secret: str | None) -> None:
    if secret:
        with _lock:
            _live.pop(secret, None)


def _variants(secret: str) -> Iterator[str]:
    yield secret
    yield quote(secret, safe="")
    yield quote_plus(secret)
    yield json.dumps(secret)[1:-1]
    yield base64.b64encode(secret.encode()).decode()
    yield base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")


def redact(text: str) -> str:
    """Return ``text`` with every live secret and every secret-shaped string replaced."""
    if not text:
        return text
    text = str(text)
    with _lock:
        live = list(_live.items())
    for secret, fp in live:
        for variant in _variants(secret):
            if variant and variant in text:
                text = text.replace(variant, f"[REDACTED:{fp}]")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def holds_secret(text: str, also: Iterable[str] = ()) -> bool:
    """True when ``text`` holds a live secret, or one of ``also``, in any encoding :func:`redact` knows.

    For what is written to disk on purpose (recordings): there a secret is refused, not cleaned.
    """
    with _lock:
        secrets = [*_live, *also]
    return any(variant and variant in text for secret in secrets for variant in _variants(secret))


def looks_like_secret(word: str) -> bool:
    """True for an argument that is probably a key or token (used to refuse secrets on magic lines).

    Known key prefixes and JWTs always count. Otherwise the word must be long and its
    alphanumeric runs must mix letter cases or letters and digits over at least 12 characters:
    random tokens do, while model keys (``claude-3-5-sonnet``, ``gpt-4.1-mini-2025-04-14``),
    identifiers (``reviews_2024_v2``), paths and URLs are made of short or single-class runs.
    """
    word = word.strip().strip("\"'")
    if "=" in word and not word.startswith("eyJ"):
        word = word.split("=", 1)[1].strip("\"'")
    if _KEY_PREFIX.match(word):
        return len(word) >= 12
    if len(word) < 20 or "://" in word or _ID_PREFIX.match(word):
        return False
    runs = re.findall(r"[A-Za-z0-9]+", word)
    mixed = sum(len(run) for run in runs if _classes(run) >= 2)
    return mixed >= 12 and _entropy(word) >= 3.0


_ID_PREFIX = re.compile(r"^(?:thread|thrd|resp|msg|usr|org|mdl|file|prg)_")


def _classes(run: str) -> int:
    return sum(bool(re.search(p, run)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))


def _entropy(word: str) -> float:
    counts = {c: word.count(c) for c in set(word)}
    return -sum(n / len(word) * math.log2(n / len(word)) for n in counts.values())


class RedactingFilter(logging.Filter):
    """Formats each record once and stores the redacted text, so no handler sees raw args.

    The traceback of ``log.exception`` is rendered here too: handlers format ``exc_info`` after
    filters have run, and an exception message is as likely as any to carry a secret.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must not break logging; show it unformatted
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# Logger filters do not see records propagated from child loggers, so every emitting logger gets
# one: the named ones, plus whatever urllib3/requests loggers exist when a client is created.
# The package itself logs only through "freddy_magic".
_FILTERED_LOGGERS = (
    "freddy_magic",
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util",
    "urllib3.util.retry",
    "requests",
)
_FILTERED_ROOTS = ("freddy_magic", "urllib3", "requests")


def install_log_filters() -> None:
    """Attach one :class:`RedactingFilter` to our logger and the transport loggers (idempotent)."""
    existing = [name for name in list(logging.root.manager.loggerDict) if name.split(".")[0] in _FILTERED_ROOTS]
    for name in {*_FILTERED_LOGGERS, *existing}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
