"""Raw HTTP to a sandbox, for the sandbox tests: a session with short helpers, and checkers.

Tests talk real HTTP to 127.0.0.1. Time-dependent behaviour (token and code expiry, bucket
refill, cancel modes) is driven through the sandbox's ``clock`` seam, never by sleeping.
"""

import contextlib
import json

import requests

from freddy_magic.sandbox import Sandbox

from ..fakes import FakeClock


class SandboxHTTP:
    """A keep-alive session bound to one sandbox, with short helpers for the common calls."""

    def __init__(self, sb):
        self.sb = sb
        self.session = requests.Session()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 10)
        kw.setdefault("allow_redirects", False)
        return self.session.request(method, self.sb.url + path, **kw)

    def get(self, path, key=True, **kw):
        return self.request("GET", path, headers=self._auth(key, kw.pop("headers", None)), **kw)

    def post(self, path, key=True, **kw):
        return self.request("POST", path, headers=self._auth(key, kw.pop("headers", None)), **kw)

    def _auth(self, key, headers):
        out = {"api-key": self.sb.api_key} if key is True else {}
        out.update(headers or {})
        return out

    def respond(self, prompt="Explain recursion to a first-year student.", **fields):
        body = {"inputs": [{"role": "user", "content": prompt}], **fields}
        return self.post("/v1/model/response", json=body)

    def login(self, who=None):
        r = self.post(
            "/v1/auth/login", key=False, json={"email_or_username": who or self.sb.email, "password": self.sb.password}
        )
        assert r.status_code == 200, r.text
        return r.json()

    def tokens(self):
        """Complete login + verify with the code from the outbox; returns the verify body."""
        email_key = self.login()["email_key"]
        code = next(m["code"] for m in self.sb.outbox() if m["email_key"] == email_key)
        r = self.post("/v1/auth/verify", key=False, json={"email_key": email_key, "verification_code": code})
        assert r.status_code == 200, r.text
        return r.json()

    def close(self):
        self.session.close()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def error_of(response, status, code=None):
    """Assert the documented envelope and return its ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    error = body["error"]
    assert set(error) >= {"code", "message", "system_message", "type", "status", "trace_id", "timestamp"}
    assert error["status"] == status
    assert error["timestamp"].endswith("Z")
    if code is not None:
        assert error["code"] == code, error
    return error


def sse_events(raw_bytes):
    """Parse raw SSE bytes into (event, data) pairs, checking the framing on the way."""
    text = raw_bytes.decode("utf-8")
    assert text.endswith("\n\n"), "every frame ends with a blank line"
    events = []
    for block in text.split("\n\n")[:-1]:
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: ") and len(lines) == 2, block
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["event"] == name
        events.append((name, data))
    return events


@contextlib.contextmanager
def sandbox_on_fake_clock(**knobs):
    """``(clock, sandbox, http)``: a sandbox of its own whose time moves only with ``clock``."""
    clock = FakeClock.epoch()
    knobs.setdefault("rate_limit", None)
    with Sandbox(clock=clock, **knobs) as sandbox, SandboxHTTP(sandbox) as http:
        yield clock, sandbox, http
