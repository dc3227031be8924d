"""A tiny scripted HTTP server for the answers the sandbox will not give.

The sandbox is a well-behaved Freddy API with fault knobs; a security review also needs a server
that lies: wrong JSON shapes, garbage SSE, bodies far over any cap, redirects to a second origin,
connections that trickle one byte at a time. Each test scripts the replies and then reads back
exactly which requests arrived, with which headers, so "the second host received nothing" and
"the server saw 3 attempts" are assertions, not hopes.
"""

import http.client
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One scripted answer. ``body`` is bytes or an iterable of bytes chunks (sent as they come);
    a float in the iterable pauses that many seconds (abortable at shutdown). ``reset`` closes the
    socket with RST instead of answering; ``chunked`` uses Transfer-Encoding: chunked and
    ``finish_chunked=False`` cuts it without the terminating chunk."""

    status: int = 200
    headers: dict = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: object = b"{}"
    reset: bool = False
    chunked: bool = False
    finish_chunked: bool = True


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: the test reads `seen`, not stderr
        pass

    def _handle(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, dict(self.headers.items()), body)
        with server.lock:
            server.seen.append(seen)
        reply = server.responder(seen)
        if reply.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        chunks = [reply.body] if isinstance(reply.body, bytes) else reply.body
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif isinstance(reply.body, bytes):
            self.send_header("Content-Length", str(len(reply.body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            for chunk in chunks:
                if isinstance(chunk, (int, float)):
                    if server.stopping.wait(chunk):
                        return
                    continue
                if reply.chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if reply.chunked and reply.finish_chunked:
                self.wfile.write(b"0\r\n\r\n")
            elif reply.chunked:
                self.close_connection = True
        except OSError:  # the client hung up at its cap: that is the behaviour under test
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


def _as_responder(responder):
    """A callable ``seen -> Reply`` from a Reply, a list of Replies (in order, the last repeats) or None."""
    if responder is None:
        responder = Reply()
    if isinstance(responder, Reply):
        responder = [responder]
    if not isinstance(responder, list):
        return responder
    replies, position = list(responder), {"n": 0}

    def scripted(_seen):
        index = min(position["n"], len(replies) - 1)
        position["n"] += 1
        return replies[index]

    return scripted


class HostileServer:
    """``with HostileServer(responder) as srv:`` — ``srv.url``, ``srv.seen``, ``srv.count(path)``.

    ``responder(seen) -> Reply`` may also be a list of Replies, served in order (the last repeats).
    """

    def __init__(self, responder=None, tls=None):
        responder = _as_responder(responder)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.scheme = "http"
        if tls is not None:  # (certfile, keyfile): a server whose certificate nobody trusts
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._httpd.socket = context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
            self.scheme = "https"
        self._httpd.daemon_threads = True
        self._httpd.responder = responder
        self._httpd.seen = []
        self._httpd.lock = threading.Lock()
        self._httpd.stopping = threading.Event()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        host, port = self._httpd.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    @property
    def seen(self):
        with self._httpd.lock:
            return list(self._httpd.seen)

    def reset(self, responder=None):
        """Serve ``responder`` from now on and forget what was seen: one server, many examples."""
        with self._httpd.lock:
            self._httpd.responder = _as_responder(responder)
            self._httpd.seen = []

    def count(self, path=None):
        return sum(1 for s in self.seen if path is None or s.path.split("?")[0] == path)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def sse(*events):
    """SSE bytes for ``(event, data_json_str)`` pairs."""
    return b"".join(f"event: {name}\ndata: {data}\n\n".encode() for name, data in events)


_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"}


def forward(seen, base_url):
    """Replay ``seen`` against a real server (the sandbox) and return its answer as a Reply,
    so a hostile script can start from an answer of the right shape and then damage it."""
    from urllib.parse import urlsplit

    target = urlsplit(base_url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    headers = {k: v for k, v in seen.headers.items() if k.lower() not in ("host", "connection", "content-length")}
    conn.request(seen.method, seen.path, body=seen.body or None, headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP}
    return Reply(answer.status, kept, body)
