"""The live check: does this account's API answer the way freddy_magic expects?

A user with a real key or sign-in runs it once (``%freddy check``, ``python -m freddy_magic
check``). It walks every flow the product uses: the model catalog, a token refresh (bearer
sessions), one answer, one streamed answer that continues the first answer's thread, one
deliberate 4xx, and the rate-limit headers seen on the way. The answer and the stream are the
only paid calls, both capped at a few output tokens, announced before they are sent, and
skipped with ``paid=False``. The deliberate 4xx is an empty ``inputs`` list, which the API
refuses before any model runs.

The report is a table of expectation / observed shape / verdict meant to be pasted into a bug
report: observed shapes are field names and JSON types (:mod:`._shapes`), never values; a field
name that looks like a secret is not shown, and every error message and the base URL pass the
one redaction function. Expectations follow the API
reference; where the documentation disagrees with itself (usage absent, data-only stream
frames, ``[DONE]``, ``response_blocks`` without ``response``, FastAPI's bare 422) the deviation
is "tolerated" and the verdict says which form was seen. The model for the paid calls is the
configured one when the catalog lists it, else the catalog's first current model, so the check
never depends on a particular model key. Raw answers come through
:meth:`FreddyClient.exchange`, so transport, auth, refresh and retries are the product's own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._apierrors import one_line
from ._body import BodyReader, read_body
from ._errors import FreddyError
from ._expected import (
    ANSWER,
    BODY_CAP,
    COMPLETED,
    DELTA,
    ENVELOPE,
    FASTAPI_422,
    MEDIA_TYPE,
    MODELS,
    NOT_JSON,
    NUMBER,
    RATE_HEADERS,
    REFRESH,
    StreamShapes,
)
from ._payloads import build_response_body
from ._redaction import redact
from ._safe_text import loads
from ._shapes import Findings, compare, describe, field_name, shape

if TYPE_CHECKING:
    import requests
    from IPython.lib.pretty import RepresentationPrinter

    from ._client import FreddyClient

OK, DIFFERS, TOLERATED, SKIPPED = "ok", "differs", "tolerated", "skipped"
MAX_OUTPUT_TOKENS = 16
PAID_CALLS = 2
PROMPT = "Reply with the single word: ok"
FOLLOW_UP = "Once more, the single word."


@dataclass(frozen=True)
class CheckRow:
    """One line of the report. ``notes`` name what differs or was tolerated, never a value."""

    step: str
    expectation: str
    observed: str
    verdict: str
    notes: tuple[str, ...] = ()

    def cells(self) -> list[str]:
        verdict = self.verdict + (": " + "; ".join(self.notes) if self.notes else "")
        return [self.step, self.expectation, self.observed, verdict]


def judged(step: str, expectation: str, observed: str, found: Findings) -> CheckRow:
    """The row for a comparison: differs beats tolerated beats ok."""
    if found.differs:
        return CheckRow(step, expectation, observed, DIFFERS, tuple(found.differs + found.tolerated))
    if found.tolerated:
        return CheckRow(step, expectation, observed, TOLERATED, tuple(found.tolerated))
    return CheckRow(step, expectation, observed, OK)


class CheckReport:
    """The table, as Markdown source: it reads as plain text and renders in a bug tracker."""

    def __init__(self, context: Iterable[str], rows: Iterable[CheckRow]) -> None:
        self.context = list(context)
        self.rows = list(rows)

    @property
    def differences(self) -> list[CheckRow]:
        return [row for row in self.rows if row.verdict == DIFFERS]

    def text(self) -> str:
        lines = [
            "freddy_magic check: " + " · ".join(self.context),
            "",
            "| step | expectation | observed shape | verdict |",
            "|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(_cell(cell) for cell in row.cells()) + " |" for row in self.rows]
        counts = {verdict: sum(row.verdict == verdict for row in self.rows) for verdict in (OK, DIFFERS, TOLERATED)}
        counts[SKIPPED] = sum(row.verdict == SKIPPED for row in self.rows)
        lines += ["", ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) + "."]
        if self.differences:
            lines.append(
                "Something differs from what freddy_magic expects: paste this whole report (it holds "
                "shapes, no values or secrets) into a bug report."
            )
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: RepresentationPrinter, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        return {"text/plain": self.text()}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def run_check(
    client: FreddyClient,
    *,
    paid: bool = True,
    model: str | None = None,
    announce: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
) -> CheckReport:
    """Exercise each flow once and report what the server answered, as shapes.

    ``model`` is the configured model (used when the catalog lists it); ``announce`` is told
    about the paid calls before they are sent.
    """
    return _Run(client, announce, clock).report(paid, model)


class _Run:
    def __init__(self, client: FreddyClient, announce: Callable[[str], None], clock: Callable[[], float]) -> None:
        self.client = client
        self.announce = announce
        self.clock = clock
        self.limits: list[dict[str, str | None]] = []
        self.catalog: list[str] | None = None
        self.thread_id: str | None = None
        self.stream_threads: list[str] | None = None

    def report(self, paid: bool, configured: str | None) -> CheckReport:
        from . import __version__

        client, cred = self.client, self.client.credential
        sandbox = client.is_sandbox
        rows = [self._guard("models", "GET /v1/models: 200 " + describe(MODELS), self.models)]
        rows.append(self._guard("refresh", "POST /v1/auth/refresh: 200 " + describe(REFRESH), self.refresh))
        model, why = self._pick_model(configured)
        model_text = field_name(model) if model else "the server default"
        context = [
            f"freddy_magic {__version__}",
            f"Python {sys.version_info.major}.{sys.version_info.minor}",
            f"server {redact(client.base_url)}" + (" (the local sandbox: fake answers)" if sandbox else ""),
            f"auth {cred.method if cred is not None else 'none'}",
            f"model {model_text} ({why})",
        ]
        if paid:
            context.append(f"{PAID_CALLS} paid calls of at most {MAX_OUTPUT_TOKENS} output tokens")
            self.announce(
                f"freddy_magic check: {PAID_CALLS} paid calls follow (one answer and one streamed follow-up, "
                f"at most {MAX_OUTPUT_TOKENS} output tokens each, model {model_text})"
                + (", billed to nobody: this is the local sandbox" if sandbox else "")
                + "; --no-paid skips them."
            )
            rows.append(self._guard("answer", "POST /v1/model/response: 200 " + describe(ANSWER), self.answer, model))
            rows.append(self._guard("stream", _STREAM_EXPECTATION, self.stream, model))
            rows.append(self.thread())
        else:
            context.append("no paid calls (--no-paid)")
            rows += [
                CheckRow(step, expectation, "not sent", SKIPPED, ("--no-paid",))
                for step, expectation in (
                    ("answer", "POST /v1/model/response: 200 " + describe(ANSWER)),
                    ("stream", _STREAM_EXPECTATION),
                    ("thread", _THREAD_EXPECTATION),
                )
            ]
        rows.append(self._guard("error 4xx", _ERROR_EXPECTATION, self.error))
        rows.append(self.rate_limit())
        return CheckReport(context, rows)

    # -- plumbing ---------------------------------------------------------------------------

    def _guard(self, step: str, expectation: str, run: Callable[..., CheckRow], *args: Any) -> CheckRow:
        """The step's row; a call that got no answer at all is a difference, named by its error."""
        failure = None
        try:
            return run(step, expectation, *args)
        except FreddyError as exc:
            failure = f"no answer: {type(exc).__name__}: {one_line(exc, 160)}"
        return CheckRow(step, expectation, failure, DIFFERS, ("the call failed",))

    def _send(self, method: str, path: str, body: Any = None, stream: bool = False) -> tuple[requests.Response, float]:
        resp, deadline = self.client.exchange(method, path, body=body, stream=stream)
        self.limits.append({name: resp.headers.get(name) for name in RATE_HEADERS})
        return resp, deadline

    def _json(self, method: str, path: str, body: Any = None) -> tuple[int, object, str]:
        """(status, decoded JSON or NOT_JSON, "HTTP 200 {shape}") of one plain exchange."""
        resp, deadline = self._send(method, path, body)
        return self._decoded(resp, deadline)

    def _decoded(self, resp: requests.Response, deadline: float) -> tuple[int, object, str]:
        try:
            raw = read_body(resp, BODY_CAP, deadline, self.clock)
        finally:
            resp.close()
        try:
            data = loads(raw) if raw else {}
        except (ValueError, RecursionError):
            data = NOT_JSON
        if data is NOT_JSON:
            return resp.status_code, data, f"HTTP {resp.status_code}, not JSON ({_media_type(resp)})"
        return resp.status_code, data, f"HTTP {resp.status_code} {shape(data)}"

    # -- the steps --------------------------------------------------------------------------

    def models(self, step: str, expectation: str) -> CheckRow:
        status, data, observed = self._json("GET", "/v1/models")
        found = _status(status, 200) or compare(MODELS, data)
        if isinstance(data, dict) and isinstance(data.get("models"), list):
            current = [m for m in data["models"] if isinstance(m, dict) and isinstance(m.get("key"), str)]
            current.sort(key=lambda m: (m.get("is_deprecated") is True, m.get("is_visible_in_ui") is False))
            self.catalog = [m["key"] for m in current]
        return judged(step, expectation, observed, found)

    def refresh(self, step: str, expectation: str) -> CheckRow:
        cred = self.client.credential
        if cred is None or cred.method != "bearer":
            return CheckRow(step, expectation, "not sent", SKIPPED, ("an API key has nothing to refresh",))
        if not cred.can_refresh:
            return CheckRow(step, expectation, "not sent", SKIPPED, ("this bearer token has no refresh token",))
        seen: list[object] = []
        failure = None
        try:
            cred.refresh_now(seen.append)
        except FreddyError as exc:
            failure = f"{type(exc).__name__}: {one_line(exc, 160)}"
        if not seen:
            return CheckRow(step, expectation, f"no answer: {failure}", DIFFERS, ("the refresh failed",))
        found = Findings()
        payload = seen[0]
        if isinstance(payload, dict) and "access_token" not in payload and "token" in payload:
            payload = {**payload, "access_token": payload["token"]}
            found.tolerated.append("the access token came as `token` (older docs)")
        found.extend(compare(REFRESH, payload))
        if failure is not None:
            found.differs.append(f"freddy_magic could not use it ({failure})")
        return judged(step, expectation, f"HTTP 200 {shape(seen[0])}", found)

    def answer(self, step: str, expectation: str, model: str | None) -> CheckRow:
        body = self._body(PROMPT, model, stream=False)
        status, data, observed = self._json("POST", "/v1/model/response", body)
        found = _status(status, 200)
        if found is None:
            found = Findings()
            if isinstance(data, dict):
                data = dict(data)
                if isinstance(data.get("response"), str):
                    found.tolerated.append("response is a plain string (older docs)")
                    data["response"] = []
                if "response" not in data and isinstance(data.get("response_blocks"), list):
                    found.tolerated.append("response_blocks without response")
                    data["response"] = []
                thread = data.get("thread_id")
                self.thread_id = thread if isinstance(thread, str) else None
            found.extend(compare(ANSWER, data))
        return judged(step, expectation, observed, found)

    def stream(self, step: str, expectation: str, model: str | None) -> CheckRow:
        body = self._body(FOLLOW_UP, model, stream=True, thread_id=self.thread_id)
        resp, deadline = self._send("POST", "/v1/model/response", body, stream=True)
        if resp.status_code != 200:
            status, _, observed = self._decoded(resp, deadline)
            return judged(step, expectation, observed, _status(status, 200) or Findings())
        media = _media_type(resp)
        if media != "text/event-stream":
            resp.close()
            found = Findings([f"Content-Type {media}, expected text/event-stream"])
            return judged(step, expectation, f"HTTP 200 {media}", found)
        reader = StreamShapes()
        try:
            for chunk in BodyReader(resp, cap=BODY_CAP, deadline=deadline, clock=self.clock):
                reader.feed(chunk)
        finally:
            resp.close()
        self.stream_threads = reader.threads
        return judged(step, expectation, f"HTTP 200 text/event-stream; {reader.observed()}", reader.findings())

    def thread(self) -> CheckRow:
        step, expectation = "thread", _THREAD_EXPECTATION
        if self.thread_id is None:
            return CheckRow(step, expectation, "not sent", SKIPPED, ("the answer step gave no thread_id",))
        if self.stream_threads is None:
            return CheckRow(step, expectation, "no stream", SKIPPED, ("the stream step failed",))
        if not self.stream_threads:
            return judged(step, expectation, "no thread_id in the stream", Findings(["no thread_id in any event"]))
        if all(thread == self.thread_id for thread in self.stream_threads):
            return judged(step, expectation, "the stream's thread_id is the answer's", Findings())
        elsewhere = Findings(["the follow-up did not continue the thread"])
        return judged(step, expectation, "the stream named another thread", elsewhere)

    def error(self, step: str, expectation: str) -> CheckRow:
        body: dict[str, Any] = {"inputs": []}
        if self.client.organization_id:
            body["organization_id"] = self.client.organization_id
        status, data, observed = self._json("POST", "/v1/model/response", body)
        found = Findings()
        if not 400 <= status < 500:
            found.differs.append(f"HTTP {status}, expected a 4xx refusal")
        elif status != 422:
            found.tolerated.append(f"HTTP {status} (documented: 422)")
        if isinstance(data, dict) and "error" not in data and "detail" in data:
            found.tolerated.append("FastAPI's bare detail list instead of the envelope (documented)")
            found.extend(compare(FASTAPI_422, data))
        else:
            found.extend(compare(ENVELOPE, data))
            inner = data.get("error") if isinstance(data, dict) else None
            said = inner.get("status") if isinstance(inner, dict) else None
            if isinstance(said, int) and not isinstance(said, bool) and said != status:
                found.differs.append("error.status is not the HTTP status")
        return judged(step, expectation, observed, found)

    def rate_limit(self) -> CheckRow:
        step = "rate limit"
        expectation = ", ".join(RATE_HEADERS) + ": numbers, on every answer"
        if not self.limits:
            return CheckRow(step, expectation, "no answers", SKIPPED, ("no call was answered",))
        found = Findings()
        kinds = []
        for name in RATE_HEADERS:
            values = [limits[name] for limits in self.limits if limits[name] is not None]
            short = name.rsplit("-", 1)[-1]
            if not values:
                kinds.append(f"{short}: absent")
                continue
            numeric = all(NUMBER.fullmatch(value or "") for value in values)
            kinds.append(f"{short}: {'number' if numeric else 'text'} on {len(values)} of {len(self.limits)} answers")
            if not numeric:
                found.differs.append(f"{name}: not a number")
            elif len(values) < len(self.limits):
                found.tolerated.append(f"{name} missing on some answers")
        if all(kind.endswith("absent") for kind in kinds):
            found.tolerated.append("no X-RateLimit headers (documented, never observed live)")
        return judged(step, expectation, "; ".join(kinds), found)

    # -- helpers ----------------------------------------------------------------------------

    def _body(self, prompt: str, model: str | None, *, stream: bool, thread_id: str | None = None) -> dict[str, Any]:
        return build_response_body(
            prompt,
            model=model,
            max_output_tokens=MAX_OUTPUT_TOKENS,
            thread_id=thread_id,
            organization_id=self.client.organization_id,
            stream=stream,
        )

    def _pick_model(self, configured: str | None) -> tuple[str | None, str]:
        catalog = self.catalog
        if catalog is None:
            return (configured, "configured; the catalog was unreadable") if configured else (None, "no catalog")
        if configured in catalog:
            return configured, "configured"
        if not catalog:
            return None, "the catalog is empty"
        missing = f"; the configured {field_name(configured)} is not in it" if configured else ""
        return catalog[0], f"first in the catalog{missing}"


_STREAM_EXPECTATION = (
    "POST /v1/model/response, stream: 200 text/event-stream; response.content_delta "
    + describe(DELTA)
    + " …; response.completed "
    + describe(COMPLETED)
)
_THREAD_EXPECTATION = "the streamed follow-up (thread_id of the answer) stays in that thread"
_ERROR_EXPECTATION = "POST /v1/model/response, inputs []: 422 " + describe(ENVELOPE)


def _status(status: int, expected: int) -> Findings | None:
    return None if status == expected else Findings([f"HTTP {status}, expected {expected}"])


def _media_type(resp: requests.Response) -> str:
    kind = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return kind if MEDIA_TYPE.fullmatch(kind) else "no usable content type"
