"""The HTTP server and the public :class:`Sandbox` handle.

werkzeug's own ``run_wsgi`` sends ``Connection: close`` on every response and then polls the
socket for 10 ms, which makes each request cost tens of milliseconds; its headers and body also
go out in separate small writes, which Nagle plus delayed ACK can stall by 40 ms. This handler
keeps HTTP/1.1 connections alive, sets ``TCP_NODELAY``, writes a buffered response (status,
headers, body) in one ``sendall`` and streams use chunked encoding with one write per chunk.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import struct
import threading
import time
from email.utils import formatdate

from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

from ._app import ResetConnection, SandboxApp

log = logging.getLogger("freddy_magic")
_DRAIN_LIMIT = 16 * 1024 * 1024
_date_cache = [0, ""]


def _http_date():
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, formatdate(now, usegmt=True)]
    return _date_cache[1]


class KeepAliveHandler(WSGIRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    server_version = "freddy-sandbox"
    timeout = 300  # an idle keep-alive connection is dropped after five minutes

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, format, *args):
        pass

    def run_wsgi(self):
        # "Expect: 100-continue" was already answered by BaseHTTPRequestHandler.parse_request.
        environ = self.make_environ()
        body = environ["wsgi.input"]
        if not environ.get("wsgi.input_terminated"):
            length = environ.get("CONTENT_LENGTH", "")
            size = int(length) if length.isdigit() else 0
            body = LimitedStream(self.rfile, size)  # type: ignore[arg-type]  # a socket file is IO[bytes]
            environ["wsgi.input"], environ["wsgi.input_terminated"] = body, True
        started = time.perf_counter()
        status = "-"
        try:
            status = self._respond(environ, body)
        except ResetConnection:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
        except Exception:  # the app catches its own errors; this guards the transport glue
            log.exception("sandbox: failed to send a response")
            self.close_connection = True
        if self.server.world.verbose:
            log.info(
                "sandbox: %s %s %s %.1fms", self.command, self.path, status, (time.perf_counter() - started) * 1000
            )

    def _respond(self, environ, body):
        state = {}

        def start_response(status, headers, exc_info=None):
            state["status"], state["headers"] = status, headers

        result = self.server.app(environ, start_response)
        try:
            self._drain(body)
            names = {k.lower() for k, _ in state["headers"]}
            head_only = environ["REQUEST_METHOD"] == "HEAD"
            if "content-length" in names or head_only:
                payload = b"".join(result)
                self._send(state, b"" if head_only else payload)
            else:
                self._send_chunked(state, result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return state["status"].split(" ", 1)[0]

    def _drain(self, body):
        """Read and discard an unread request body, so the connection stays in sync and the client
        sees our answer (a 413, a 401) instead of a reset; a body past the limit closes it."""
        try:
            if isinstance(body, LimitedStream):
                if body.limit - body.tell() > _DRAIN_LIMIT:
                    self.close_connection = True
                else:
                    body.exhaust()
                return
            drained = 0
            while not getattr(body, "_done", True) and drained <= _DRAIN_LIMIT:
                chunk = body.read(64 * 1024)
                if not chunk:
                    break
                drained += len(chunk)
        except (OSError, ClientDisconnected):
            self.close_connection = True
        if not getattr(body, "_done", True):
            self.close_connection = True

    def _head(self, state, extra=()):
        lines = [f"HTTP/1.1 {state['status']}", f"Server: {self.server_version}", f"Date: {_http_date()}"]
        lines += [f"{k}: {v}" for k, v in state["headers"]]
        lines += list(extra)
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, state, payload):
        self.wfile.write(self._head(state) + payload)

    def _send_chunked(self, state, result):
        if self.request_version != "HTTP/1.1":
            self.close_connection = True
            self.wfile.write(self._head(state))
            for data in result:
                self.wfile.write(data)
            return
        self.wfile.write(self._head(state, ["Transfer-Encoding: chunked"]))
        for data in result:
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")


class SandboxServer(ThreadedWSGIServer):
    """Threaded server that remembers open connections so :meth:`close_all` can end keep-alives."""

    def __init__(self, host, port, world):
        self.world = world
        self._open = set()
        self._open_lock = threading.Lock()
        super().__init__(host, port, SandboxApp(world), handler=KeepAliveHandler)

    def track(self, conn, alive):
        with self._open_lock:
            (self._open.add if alive else self._open.discard)(conn)

    def close_all(self):
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
