"""``POST /v1/model/response``: organization and thread resolution, the JSON answer and
the SSE stream, plus the two static helper lists.

A stream is ``response.created`` -> (reasoning events) -> several ``response.content_delta`` ->
``response.completed``; faults can end it early (truncate) or with ``response.error``, and a
cancel ends it with ``response.cancelled``. How the frames are written, and whether the answer
carries ``usage`` or ``response_blocks``, is the sandbox's dialect's choice (:mod:`._dialects`).
"""

from __future__ import annotations

import json

from werkzeug.wrappers import Response

from . import _fakemodel, _jsonmode, _pacing, _validation
from ._accounts import new_id
from ._bodies import read_json
from ._envelope import ApiError, error_payload, json_response
from ._streams import StreamState

OUTPUT_MODES = [
    {"mode": "text", "description": "Markdown-formatted text (default).", "is_default": True},
    {"mode": "plain", "description": "Plain text without Markdown.", "is_default": False},
    {"mode": "blocks", "description": "Structured content blocks.", "is_default": False},
]
REASONING_LEVELS = [
    {"level": "off", "description": "No reasoning.", "is_default": False},
    {"level": "low", "description": "Quick reasoning.", "is_default": False},
    {"level": "medium", "description": "Balanced reasoning.", "is_default": True},
    {"level": "high", "description": "Thorough reasoning.", "is_default": False},
    {"level": "maximum", "description": "Deepest reasoning.", "is_default": False},
]


def output_modes(world, call):
    return json_response({"success": True, "output_modes": OUTPUT_MODES})


def reasoning_levels(world, call):
    return json_response({"success": True, "reasoning_levels": REASONING_LEVELS})


def resolve_org(principal, requested):
    if requested is not None:
        if requested not in principal.org_ids:
            raise ApiError(
                403,
                "ORGANIZATION_ACCESS_DENIED",
                "You don't have access to this organization.",
                f"Caller is not a member of {requested}",
            )
        return requested
    if len(principal.org_ids) == 1:
        return principal.org_ids[0]
    raise ApiError(
        403,
        "AMBIGUOUS_ORGANIZATION",
        "Please specify which organization to use.",
        "Caller belongs to several organizations; organization_id is required",
    )


def _thread_for(world, principal, req, org_id):
    if req.thread_id is not None:
        thread = world.threads.get(principal, req.thread_id)
        if thread["organization_id"] != org_id:
            raise ApiError(404, "RESOURCE_NOT_FOUND", "Thread not found.", "Thread is in another organization")
        if world.streams.get(thread["id"]) is not None:
            raise ApiError(409, "THREAD_BUSY", "This thread is still answering.", "Thread has an active stream")
        return thread
    title = " ".join(req.prompt.split())[:60] or "New conversation"
    return world.threads.create(principal, org_id, title, listed=req.store)


class Answer:
    """Everything one request produces, computed before the first byte is sent.

    The model sees the whole conversation: the thread's earlier messages and those of this
    request. Its answer refers to the earlier turns, and they count in ``input_tokens``, as on
    the real API, where a long conversation costs more per question.
    """

    def __init__(self, req, thread, earlier, pace, dialect, spoil=None):
        context = [*earlier, *req.messages]
        history = context[: _last_user_index(context)]
        if req.output_mode == "json":
            full = _jsonmode.answer(req.model, req.prompt, req.instructions, spoil)
        else:
            full = _fakemodel.answer(req.model, req.prompt, req.instructions, history)
        self.text = full
        self.stop_reason = "end_turn"
        if req.max_output_synapses is not None:
            self.text = _fakemodel.truncate(full, req.max_output_synapses)
            if self.text != full:
                self.stop_reason = "max_tokens"
        self.chunks = _fakemodel.deltas(self.text)
        self.first_wait, self.chunk_waits = _pacing.schedule(req.model, self.text, len(self.chunks), pace)
        input_tokens = sum(_fakemodel.count_tokens(t) for _, t in context)
        input_tokens += _fakemodel.count_tokens(req.instructions or "")
        output_tokens = _fakemodel.count_tokens(self.text)
        self.usage = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        self.response_id = new_id("resp_")
        self.thread = thread
        self.dialect = dialect
        self.blocks_only = dialect.blocks_in_structured and req.output_mode == "structured"
        self.reasoning = None
        if req.reasoning and req.reasoning["effort"] != "off":
            self.reasoning = _fakemodel.reasoning(req.model, req.prompt)

    @property
    def generation_time(self):
        """How long the paced model takes to write the whole answer (what a plain request waits)."""
        return self.first_wait + sum(self.chunk_waits)

    def body(self):
        out = {"success": True, "thread_id": self.thread["id"]}
        if self.blocks_only:
            out["response_blocks"] = [{"type": "text", "content": self.text}]
        else:
            out["response"] = [{"type": "text", "text": self.text}]
        out.update(response_id=self.response_id, is_summarized=False, stop_reason=self.stop_reason)
        if self.dialect.usage:
            out["usage"] = self.usage
        if self.reasoning:
            out["reasoning_content"] = self.reasoning
        return out


def _last_user_index(messages):
    """Where the current question starts: everything before the last user message is history."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index][0] == "user":
            return index
    return len(messages) - 1


def create_response(world, call):
    req = _validation.parse(read_json(call.request), call.principal, world)
    org_id = resolve_org(call.principal, req.organization_id)
    thread = _thread_for(world, call.principal, req, org_id)
    if call.principal.kind == "api_key":
        world.last_used[(call.principal.api_key, req.model)] = world.clock()
    world.wait(world.latency_per_request)
    spoil = world.json_spoiler.draw() if req.output_mode == "json" else None
    answer = Answer(req, thread, world.threads.conversation(thread), world.pace, world.dialect, spoil)
    user_ids = [world.threads.add_message(thread, role, text)["id"] for role, text in req.messages]
    if req.stream:
        return _stream(world, call, req, answer, user_ids)
    # a status fault fails before the answer is stored; a truncate fault is left to the app,
    # which cuts the finished body in half
    if call.deferred_fault is not None and call.deferred_fault.kind == "status":
        raise fault_error(call.take_deferred_fault())
    world.wait(answer.generation_time)
    world.threads.add_message(thread, "assistant", answer.text, req.model)
    return json_response(answer.body())


def fault_error(fault):
    headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else None
    details = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
    return ApiError(
        fault.status,
        fault.code or _default_code(fault.status),
        "Injected sandbox failure.",
        f"Sandbox fault injection: status {fault.status}",
        details=details,
        headers=headers,
    )


def _default_code(status):
    return {429: "RATE_LIMIT_EXCEEDED", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}.get(
        status, "INTERNAL_ERROR"
    )


def _stream(world, call, req, answer, user_ids):
    fault = call.take_deferred_fault()
    cut = None if fault is None else (2 if fault.after_deltas is None else fault.after_deltas)
    thread = answer.thread
    state = StreamState(thread, call.principal.user.id, world.clock(), user_ids)
    world.streams.open(state)
    dialect = world.dialect
    frame = dialect.frame

    def events():
        try:
            if dialect.heartbeats:
                yield frame("response.processing", {"status": "processing", "thread_id": thread["id"]})
            yield frame(
                "response.created",
                {
                    "status": "in_progress",
                    "thread_id": thread["id"],
                    "is_summarized": False,
                    "output_mode": req.output_mode,
                },
            )
            if answer.reasoning:
                yield frame("reasoning.started", {"thread_id": thread["id"]})
                yield frame("reasoning.content", {"content": answer.reasoning})
                yield frame("reasoning.completed", {"thread_id": thread["id"]})
            for index, delta in enumerate(answer.chunks):
                if cut is not None and index >= cut:
                    yield from _fault_frames(fault, thread, dialect)
                    return
                wait = answer.chunk_waits[index - 1] + world.latency_per_delta if index else answer.first_wait
                if wait:
                    if dialect.heartbeats and not index:
                        yield dialect.heartbeat()
                    state.event.wait(wait)
                if not state.add_delta(delta):
                    yield frame(
                        "response.cancelled",
                        {"status": "cancelled", "thread_id": thread["id"], "cancel_mode": state.cancel_mode},
                    )
                    return
                yield frame("response.content_delta", {"delta": delta})
            world.threads.add_message(thread, "assistant", answer.text, req.model)
            yield frame("response.completed", {"status": "completed", **answer.body()})
            yield from dialect.ending()
        finally:
            world.streams.close(state)

    response = Response(events(), mimetype="text/event-stream", direct_passthrough=True)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def wants_stream(request):
    """True for ``POST /v1/model/response`` with ``"stream": true`` (read without failing)."""
    if request.method != "POST" or request.path.rstrip("/") != "/v1/model/response":
        return False
    if (request.content_length or 0) > 1024 * 1024:
        return False
    try:
        body = json.loads(request.get_data(cache=True) or b"{}")
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("stream") is True


def auth_error_stream(dialect, exc):
    """A 200 stream carrying only the auth error, as the real streaming path may answer."""
    error = error_payload(exc.status, exc.code, exc.message, exc.system_message)["error"]
    data = {"status": "failed", "message": error["message"], "code": error["code"], "error": error}
    body = dialect.frame("response.error", data) + b"".join(dialect.ending())
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _fault_frames(fault, thread, dialect):
    if fault.kind == "truncate":
        return
    payload = error_payload(fault.status, fault.code or _default_code(fault.status), "Injected sandbox failure.")
    yield dialect.frame(
        "response.error",
        {
            "status": "failed",
            "thread_id": thread["id"],
            "message": payload["error"]["message"],
            "code": payload["error"]["code"],
            "error": payload["error"],
        },
    )
    yield from dialect.ending()
