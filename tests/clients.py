"""Building a FreddyClient for a test: against scripted answers, a sandbox, or any URL.

Scripted answers (the ``scripted`` fixture, ``responses``) use ``BASE`` and the fake clock and
sleeper, so retry timing is asserted rather than lived; the sandbox and hostile servers are real
HTTP on 127.0.0.1.
"""

import time

from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._errors import FreddyError

BASE = "https://api.example.test"
RESP = BASE + "/v1/model/response"
REFRESH = BASE + "/v1/auth/refresh"
KEY = "ak_unit_client_0123456789abcdef"
OK = {
    "success": True,
    "thread_id": "thread_1",
    "response": [{"type": "text", "text": "hello"}],
    "response_id": "resp_1",
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
}


# For hostile servers: a stuck answer fails in seconds, not the client's minutes.
SHORT_TIMEOUTS = {"connect": 2.0, "read": 2.0, "total": 8.0, "stream_idle": 2.0, "token": 2.0}


def envelope(status, code, message="m"):
    """An error answer in the API's envelope."""
    return {
        "success": False,
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "system_message": "sys",
            "trace_id": "req_abc123",
        },
    }


def key_client(clock, sleeper, **kw):
    """A client of ``BASE`` holding ``KEY``."""
    return FreddyClient(BASE, Credential.api_key(KEY), clock=clock, sleep=sleeper, **kw)


def bearer_client(clock, sleeper):
    """A client of ``BASE`` holding a refreshable bearer token valid for an hour."""
    client = FreddyClient(BASE, clock=clock, sleep=sleeper)
    client.credential = Credential.bearer(
        "access-token-old-abcdef", "refresh-token-abcdef123", expires_in=3600, clock=clock
    )
    return client


def count(scripted, url):
    """How many requests the script answered for ``url`` (query string ignored)."""
    return sum(1 for call in scripted.calls if call.request.url.split("?")[0] == url)


def client_for(url, key, **kw):
    """A client of any server (a sandbox, a hostile one) holding ``key`` as an API key."""
    return FreddyClient(url, Credential.api_key(key), **kw)


def signed_in(sandbox, client=None, **kw):
    """Sign in to the sandbox with its demo user and the emailed code; returns the client."""
    client = client or FreddyClient(sandbox.url, **kw)
    challenge = client.login(sandbox.email, sandbox.password)
    code = [m["code"] for m in sandbox.outbox() if m["email_key"] == challenge.email_key][-1]
    client.verify(challenge, code)
    return client


def sandbox_tokens(sandbox):
    """``(access, refresh)`` of a sign-in made outside the kernel, as a user would hold them in a
    variable or paste them; the session stays valid server-side (only logout revokes it)."""
    client = signed_in(sandbox)
    headers = {}
    client.credential.authorize(headers)
    access, refresh = headers["Authorization"].split(" ", 1)[1], client.credential.session_token()
    client.close()
    return str(access), str(refresh)


def outcome(client, call):
    """``(result, None)`` or ``(None, error)`` for ``call(client)``: our typed errors only, each
    without a library exception chained to it."""
    try:
        return call(client), None
    except FreddyError as exc:
        assert exc.__context__ is None and exc.__cause__ is None, "a library exception rides along"
        return None, exc


def timed(call):
    """``(error or None, seconds)`` for ``call()``."""
    start = time.monotonic()
    try:
        call()
    except FreddyError as exc:
        return exc, time.monotonic() - start
    return None, time.monotonic() - start
