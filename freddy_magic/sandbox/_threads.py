"""Conversation threads and their messages, with the API's cursor pagination.

Threads are created or continued by ``POST /v1/model/response``; listing follows the cursor
convention (``limit``, ``order``, ``after``, ``before`` -> ``object/data/first_id/last_id/
has_more``). A caller sees its organization's threads: an API key all of them, a user only
their own; ``store: false`` threads are reachable by id but hidden from lists.
"""

from __future__ import annotations

import itertools
import threading

from ._accounts import new_id
from ._bodies import query_bool, query_int
from ._envelope import ApiError, json_response


class ThreadStore:
    def __init__(self, clock):
        self._clock = clock
        self._threads = {}  # id -> dict (public fields) + "_seq", "_messages", "_listed"
        self._seq = itertools.count()
        self.lock = threading.RLock()

    def create(self, principal, org_id, title, listed):
        now = self._clock()
        thread = {
            "id": new_id("thread_"),
            "object": "thread",
            "created_at": now,
            "updated_at": now,
            "last_message_at": None,
            "metadata": {},
            "assistant_id": None,
            "organization_id": org_id,
            "user_id": principal.user.id,
            "title": title,
            "status": "inactive",
            "message_count": 0,
            "visible_in_ui": listed,
            "last_model_used": None,
            "is_pinned": False,
            "pinned_at": None,
            "space_ids": [],
            "_seq": next(self._seq),
            "_messages": [],
            "_listed": listed,
            "_owner": principal.user.id,
        }
        with self.lock:
            self._threads[thread["id"]] = thread
        return thread

    def get(self, principal, thread_id):
        with self.lock:
            thread = self._threads.get(thread_id)
        if thread is None or not self._visible(principal, thread):
            raise ApiError(404, "RESOURCE_NOT_FOUND", "Thread not found.", f"Thread {thread_id} not found")
        return thread

    @staticmethod
    def _visible(principal, thread):
        if thread["organization_id"] not in principal.org_ids:
            return False
        return principal.kind == "api_key" or thread["_owner"] == principal.user.id

    def add_message(self, thread, role, content, model=None):
        now = self._clock()
        message = {
            "id": new_id("msg_"),
            "created_at": now,
            "thread_id": thread["id"],
            "role": role,
            "content": content,
            "attachments": [],
            "metadata": {},
            "tool_calls": None,
            "iterations": None,
            "response_blocks": None,
            "_seq": next(self._seq),
        }
        with self.lock:
            thread["_messages"].append(message)
            thread["message_count"] = len(thread["_messages"])
            thread["updated_at"] = thread["last_message_at"] = now
            if model:
                thread["last_model_used"] = model
        return message

    def conversation(self, thread):
        """The thread's messages so far as ``(role, content)`` pairs: what a model would see."""
        with self.lock:
            return [(m["role"], m["content"]) for m in thread["_messages"]]

    def remove_messages(self, thread, ids):
        with self.lock:
            thread["_messages"] = [m for m in thread["_messages"] if m["id"] not in ids]
            thread["message_count"] = len(thread["_messages"])

    def listed(self, principal, org_id=None):
        with self.lock:
            return [
                t
                for t in self._threads.values()
                if t["_listed"] and self._visible(principal, t) and (org_id is None or t["organization_id"] == org_id)
            ]


def public(item, stamp):
    out = {k: v for k, v in item.items() if not k.startswith("_")}
    for key in ("created_at", "updated_at", "last_message_at", "pinned_at"):
        if isinstance(out.get(key), float):
            out[key] = stamp(out[key])
    return out


def paginate(items, args):
    """One page of ``items`` (sorted by creation) per the cursor query parameters."""
    limit = query_int(args, "limit", 20, 1, 100)
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(
            422, "VALIDATION_ERROR", "Query parameter 'order' must be 'asc' or 'desc'", details={"field": "order"}
        )
    items = sorted(items, key=lambda i: i["_seq"], reverse=order == "desc")
    ids = [i["id"] for i in items]
    after, before = args.get("after"), args.get("before")
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and cursor not in ids:
            raise ApiError(422, "INVALID_FIELD_VALUE", f"Unknown cursor for '{name}'", details={"field": name})
    if before is not None:
        window = items[: ids.index(before)]
        page = window[-limit:]
        has_more = len(window) > limit
    else:
        window = items[ids.index(after) + 1 :] if after is not None else items
        page = window[:limit]
        has_more = len(window) > limit
    return page, has_more, limit


def _page_body(page, has_more, stamp):
    data = [public(i, stamp) for i in page]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def list_threads(world, call):
    args = call.request.args
    org_id = args.get("organization_id")
    if org_id is not None and org_id not in call.principal.org_ids:
        raise ApiError(
            403,
            "ORGANIZATION_ACCESS_DENIED",
            "You don't have access to this organization.",
            f"Caller is not a member of {org_id}",
        )
    items = world.threads.listed(call.principal, org_id)
    page, has_more, limit = paginate(items, args)
    body = _page_body(page, has_more, world.stamp)
    body["limit"] = limit
    if query_bool(args, "include_total", False):
        body["total"] = len(items)
    return json_response(body)


def get_thread(world, call):
    return json_response(public(world.threads.get(call.principal, call.values["thread_id"]), world.stamp))


def list_messages(world, call):
    thread = world.threads.get(call.principal, call.values["thread_id"])
    with world.threads.lock:
        messages = list(thread["_messages"])
    page, has_more, _ = paginate(messages, call.request.args)
    return json_response(_page_body(page, has_more, world.stamp))
