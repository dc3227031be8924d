"""The WSGI application: routing, auth gate, rate limiting, faults, and envelopes on every path.

Order per request mirrors the real stack: injected faults (they stand for the network and the
gateway) -> routing (FastAPI answers unknown paths and wrong methods before any auth) -> auth
-> rate limit -> the handler, which validates the body. Every response carries
``X-Freddy-Sandbox: 1`` so a client can tell it is talking to the sandbox.
"""

from __future__ import annotations

import logging

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from . import _account_routes, _auth_routes, _models, _responses, _streams, _threads
from ._accounts import authenticate
from ._envelope import SANDBOX_HEADER, ApiError, error_payload, error_response, fastapi_detail, json_response

log = logging.getLogger("freddy_magic")

_PUBLIC, _PROTECTED = False, True
ROUTES = [
    ("/v1/health/", "GET", _account_routes.health, _PUBLIC),
    ("/v1/config/auth-mode", "GET", _auth_routes.auth_mode, _PUBLIC),
    ("/v1/auth/login", "POST", _auth_routes.login, _PUBLIC),
    ("/v1/auth/verify", "POST", _auth_routes.verify, _PUBLIC),
    ("/v1/auth/dev-login", "POST", _auth_routes.dev_login, _PUBLIC),
    ("/v1/auth/refresh", "POST", _auth_routes.refresh, _PUBLIC),
    ("/v1/auth/logout", "POST", _auth_routes.logout, _PROTECTED),
    ("/v1/auth/validate", "GET", _auth_routes.validate, _PROTECTED),
    ("/v1/models", "GET", _models.list_models, _PROTECTED),
    ("/v1/model/response", "POST", _responses.create_response, _PROTECTED),
    ("/v1/model/response/output-modes", "GET", _responses.output_modes, _PROTECTED),
    ("/v1/model/response/reasoning-levels", "GET", _responses.reasoning_levels, _PROTECTED),
    ("/v1/model/response/<thread_id>/cancel", "POST", _streams.cancel, _PROTECTED),
    ("/v1/threads", "GET", _threads.list_threads, _PROTECTED),
    ("/v1/threads/<thread_id>", "GET", _threads.get_thread, _PROTECTED),
    ("/v1/threads/<thread_id>/messages", "GET", _threads.list_messages, _PROTECTED),
    ("/v1/user/me", "GET", _account_routes.me, _PROTECTED),
    ("/v1/organizations", "GET", _account_routes.organizations, _PROTECTED),
    ("/v1/organizations/<organization_id>", "GET", _account_routes.organization, _PROTECTED),
    ("/sandbox/outbox", "GET", _auth_routes.outbox, _PUBLIC),
]

_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
    b"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class ResetConnection(Exception):
    """Raised to the server: drop the connection without any answer."""


class StreamedAuthError(Exception):
    """An auth failure answered as a 200 event stream (the current dialect's streaming path)."""

    def __init__(self, response):
        super().__init__("auth failure on a stream")
        self.response = response


class Call:
    """One request as handlers see it: the werkzeug request, URL values, caller, pending fault."""

    __slots__ = ("deferred_fault", "principal", "request", "values")

    def __init__(self, request, values, deferred_fault):
        self.request = request
        self.values = values
        self.principal = None
        self.deferred_fault = deferred_fault

    def take_deferred_fault(self):
        fault, self.deferred_fault = self.deferred_fault, None
        return fault


class SandboxApp:
    def __init__(self, world):
        self.world = world
        self.map = Map(
            [Rule(path, methods=[method], endpoint=(handler, protected)) for path, method, handler, protected in ROUTES]
        )

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except ResetConnection:
            raise
        except Exception:  # a sandbox bug must still produce an envelope, never a traceback body
            log.exception("sandbox: unhandled error on %s %s", request.method, request.path)
            payload = error_payload(500, "INTERNAL_ERROR", "Something went wrong. Please try again later.")
            response = json_response(payload, 500)
        response.headers[SANDBOX_HEADER[0]] = SANDBOX_HEADER[1]
        return response(environ, start_response)

    def dispatch(self, request):
        world = self.world
        world.count(request.method, request.path)
        fault = world.faults.take(request.method, request.path)
        deferred = None
        if fault is not None:
            if fault.kind == "slow":
                world.wait(fault.delay)
            elif fault.kind == "truncate" or (fault.kind == "status" and fault.after_deltas is not None):
                deferred = fault
            else:
                return self.immediate_fault(fault, request)
        adapter = self.map.bind_to_environ(request.environ)
        try:
            (handler, protected), values = adapter.match()
        except RequestRedirect as redirect:
            return Response(b"", status=307, headers={"Location": redirect.new_url})
        except MethodNotAllowed as exc:
            return fastapi_detail(405, "Method Not Allowed", {"Allow": ", ".join(exc.valid_methods or [])})
        except NotFound:
            return self.not_found(adapter, request)
        call = Call(request, values, deferred)
        limit_headers = {}
        try:
            if protected:
                call.principal = self.caller(request)
                limit_headers = world.limiter.take(call.principal.bucket)
            response = handler(world, call)
        except ApiError as exc:
            response = error_response(exc)
        except StreamedAuthError as exc:
            response = exc.response
        for name, value in limit_headers.items():
            response.headers.setdefault(name, value)
        if call.deferred_fault is not None:
            response = self.late_fault(call.take_deferred_fault(), response)
        return response

    def caller(self, request):
        """The authenticated caller. A streamed answer in the current dialect checks auth the
        "lightweight" way: a failure becomes a 200 stream whose first event is the error."""
        world = self.world
        try:
            return authenticate(request.headers, world.directory, world.tokens)
        except ApiError as exc:
            if world.dialect.stream_auth_events and _responses.wants_stream(request):
                raise StreamedAuthError(_responses.auth_error_stream(world.dialect, exc)) from None
            raise

    def not_found(self, adapter, request):
        """FastAPI redirects a stray trailing slash (307); anything else is its bare 404."""
        path = request.path
        if path.endswith("/") and len(path) > 1:
            try:
                adapter.match(path.rstrip("/"), method=request.method)
            except (NotFound, MethodNotAllowed, RequestRedirect):
                pass
            else:
                query = request.query_string.decode("latin-1")
                return Response(
                    b"", status=307, headers={"Location": path.rstrip("/") + ("?" + query if query else "")}
                )
        return fastapi_detail(404, "Not Found")

    def immediate_fault(self, fault, request):
        if fault.kind == "reset":
            raise ResetConnection()
        if fault.kind == "html":
            return Response(_HTML_502, status=502, mimetype="text/html")
        if fault.kind == "echo":
            headers = dict(request.headers.items())
            echoed = "; ".join(f"{k}: {v}" for k, v in headers.items())
            message = f"Upstream failure while handling request with headers {echoed}"
            payload = error_payload(500, "INTERNAL_ERROR", message, details={"request_headers": headers})
            return json_response(payload, 500)
        return error_response(_responses.fault_error(fault))

    @staticmethod
    def late_fault(fault, response):
        """A deferred fault that no stream consumed: truncate the body, or replace it with the error."""
        if fault.kind == "status":
            return error_response(_responses.fault_error(fault))
        if response.is_streamed:
            return response
        body = response.get_data()
        response.set_data(body[: len(body) // 2])
        return response
