"""Registry of streams in progress, so ``POST /v1/model/response/{thread_id}/cancel`` can stop one.

A stream registers before its first event and unregisters when its generator ends or the
client goes away. Cancelling sets an event the generator also sleeps on, so a cancel (or the
sandbox stopping) takes effect at once rather than after the next per-delta delay.
"""

from __future__ import annotations

import threading

from ._envelope import ApiError, json_response

QUICK_EDIT_WINDOW = 5.0


class StreamState:
    def __init__(self, thread, owner, started_at, user_message_ids):
        self.thread = thread
        self.owner = owner
        self.started_at = started_at
        self.user_message_ids = user_message_ids
        self.partial = ""
        self.cancel_mode = None
        self.event = threading.Event()
        self.lock = threading.Lock()

    def add_delta(self, text):
        """Record a delta unless cancelled; False means the stream must stop."""
        with self.lock:
            if self.event.is_set():
                return False
            self.partial += text
            return True


class ActiveStreams:
    def __init__(self):
        self._streams: dict[str, StreamState] = {}
        self._lock = threading.Lock()

    def open(self, state):
        with self._lock:
            self._streams[state.thread["id"]] = state
        state.thread["status"] = "streaming"

    def close(self, state):
        key = state.thread["id"]
        with self._lock:
            if self._streams.get(key) is state:
                del self._streams[key]
        state.thread["status"] = "inactive"

    def get(self, thread_id):
        with self._lock:
            return self._streams.get(thread_id)

    def cancel_all(self):
        with self._lock:
            states = list(self._streams.values())
        for state in states:
            state.event.set()


def cancel(world, call):
    thread = world.threads.get(call.principal, call.values["thread_id"])
    state = world.streams.get(thread["id"])
    if state is None:
        raise ApiError(
            404,
            "RESOURCE_NOT_FOUND",
            "No active stream for this thread.",
            f"No active stream for thread {thread['id']}",
        )
    if call.principal.kind == "user" and state.owner != call.principal.user.id:
        raise ApiError(
            403,
            "INSUFFICIENT_PERMISSIONS",
            "You cannot cancel another user's response.",
            "Stream belongs to another user",
        )
    elapsed = max(0.0, world.clock() - state.started_at)
    with state.lock:
        state.cancel_mode = "quick_edit" if elapsed < QUICK_EDIT_WINDOW else "keep_partial"
        state.event.set()
        partial = state.partial
    if state.cancel_mode == "quick_edit":
        world.threads.remove_messages(thread, set(state.user_message_ids))
    elif partial:
        world.threads.add_message(thread, "assistant", partial)
    quick = state.cancel_mode == "quick_edit"
    return json_response(
        {
            "success": True,
            "cancel_mode": state.cancel_mode,
            "elapsed_seconds": round(elapsed, 3),
            "user_message_deleted": quick,
            "assistant_response_deleted": quick,
            "partial_content_saved": None if quick else bool(partial),
        }
    )
