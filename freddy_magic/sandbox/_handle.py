"""The public handle: :class:`Sandbox` (context manager) and :func:`start_sandbox`.

The server runs on daemon threads, so a kernel or a test run never hangs on exit; ``stop()``
also wakes sleeping streams and closes keep-alive connections, so a stopped sandbox really is
gone (a pooled client connection gets a clean failure, not a zombie answer).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._faults import Fault, FaultList
from ._jsonmode import check_share
from ._pacing import check_pace
from ._server import SandboxServer, is_loopback
from ._world import World

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class Sandbox:
    """A local Freddy API on ``host:port`` (loopback and a free port by default).

    Knobs: ``token_lifetime`` (access-token seconds, float ok), ``rate_limit`` (``"N/<s>s"`` per
    API key and per user, ``None`` = unlimited), ``latency_per_delta`` / ``latency_per_request``
    (seconds), ``pace`` (0 answers at once; 1 makes each model wait before its first chunk and
    between chunks like a real one, at its own speed; 2 twice as slow), ``verbose`` (access log on
    stderr), ``faults`` (:class:`Fault` objects or CLI-style strings), ``json_invalid`` (the share,
    0 to 1, of JSON-mode answers made invalid; see ``_jsonmode``), ``clock`` (epoch-seconds
    callable; tests advance it instead of sleeping), ``dialect`` (``"classic"``, today's shapes, or
    ``"current"``, the newest documented ones; None reads ``FREDDY_SANDBOX_DIALECT``, else
    classic). All but host/port/clock can also be changed while running: :meth:`set_rate_limit`,
    :meth:`set_token_lifetime`, the latency, ``pace`` and ``json_invalid`` attributes /
    :meth:`set_latency`, ``faults.add``. ``middleware`` wraps the WSGI application once, at start
    (e.g. :class:`~._misshapes.Misshapes`, which serves deliberately wrong shapes).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
        token_lifetime: float = 3600.0,
        rate_limit: str | None = "100/60s",
        latency_per_delta: float = 0.0,
        latency_per_request: float = 0.0,
        pace: float = 0.0,
        verbose: bool = False,
        faults: Iterable[Fault | str] = (),
        json_invalid: float = 0.0,
        clock: Callable[[], float] | None = None,
        middleware: Callable[[WSGIApplication], WSGIApplication] | None = None,
        dialect: str | None = None,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ConfigError(
                f"Refusing to bind the sandbox to non-loopback host {host!r} without allow_remote=True (--allow-remote)"
            )
        problem: str | None = None
        try:
            self._world = World(
                clock=clock,
                token_lifetime=token_lifetime,
                rate_limit=rate_limit,
                latency_per_delta=latency_per_delta,
                latency_per_request=latency_per_request,
                pace=pace,
                verbose=verbose,
                dialect=dialect,
                json_invalid=json_invalid,
            )
        except ValueError as exc:
            problem = str(exc)
        if problem:
            raise ConfigError(problem)
        for fault in faults:
            self.faults.add(fault)
        self._host, self._port = host, port
        self._middleware = middleware
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._log_handler: logging.Handler | None = None
        self._log_level = logging.NOTSET

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._server is None:
            self._attach_stderr_log()
            self._server = SandboxServer(self._host, self._port, self._world)
            if self._middleware is not None:
                self._server.app = self._middleware(self._server.app)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="freddy-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._world.stopping.set()
        self._world.streams.cancel_all()
        server.shutdown()
        server.server_close()
        server.close_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._log_handler is not None:
            logger = logging.getLogger("freddy_magic")
            logger.removeHandler(self._log_handler)
            logger.setLevel(self._log_level)
            self._log_handler = None

    def _attach_stderr_log(self) -> None:
        """``verbose=True`` promises an access log on stderr, even when nobody configured logging."""
        logger = logging.getLogger("freddy_magic")
        if not self._world.verbose or logger.handlers:
            return
        handler = self._log_handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        self._log_level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # connection details ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise ConfigError("The sandbox is not running; call start() or use it as a context manager")
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def dialect(self) -> str:
        """``"classic"`` or ``"current"``: which documented shapes this sandbox speaks."""
        return self._world.dialect.name

    @property
    def api_key(self) -> str:
        return self._world.directory.api_key

    @property
    def extra_keys(self) -> dict[str, str]:
        return dict(self._world.directory.extra_keys)

    @property
    def email(self) -> str:
        return self._world.directory.user.email

    @property
    def username(self) -> str:
        return self._world.directory.user.username

    @property
    def password(self) -> str:
        return self._world.directory.user.password

    @property
    def organization_id(self) -> str:
        return self._world.directory.org.id

    @property
    def foreign_organization_id(self) -> str:
        """An organization the demo user does not belong to (for 403 tests)."""
        return self._world.directory.foreign_org.id

    @property
    def teacher_email(self) -> str:
        """A user in two organizations: responses without organization_id are ambiguous (403)."""
        return self._world.directory.teacher.email

    @property
    def second_organization_id(self) -> str:
        """The teacher's second organization."""
        return self._world.directory.second_org.id

    @property
    def deactivated_email(self) -> str:
        """A user whose login answers 403 (account deactivated)."""
        return self._world.directory.deactivated.email

    def credentials(self) -> dict[str, str]:
        """What ``--json`` prints: url, api_key, email, password, organization_id."""
        return {
            "url": self.url,
            "api_key": self.api_key,
            "email": self.email,
            "password": self.password,
            "organization_id": self.organization_id,
        }

    # observation and knobs ---------------------------------------------------------------------
    def outbox(self, to: str | None = None) -> list[dict[str, Any]]:
        return self._world.login.outbox(to)

    @property
    def faults(self) -> FaultList:
        return self._world.faults

    def calls(self, path: str, method: str | None = None) -> int:
        return self._world.calls(path, method.upper() if method else None)

    def wait_for_calls(self, path: str, count: int = 1, method: str | None = None, timeout: float = 30.0) -> bool:
        """Block until ``path`` was requested ``count`` times in all (counted on arrival, before
        any fault); False on timeout. Tests use it to act while a ``slow`` fault holds a request."""
        return bool(self._world.wait_for_calls(path, count, method.upper() if method else None, timeout))

    def set_rate_limit(self, spec: str | None) -> None:
        try:
            self._world.limiter.set(spec)
        except ValueError as exc:
            problem = str(exc)
        else:
            return
        raise ConfigError(problem)

    def set_token_lifetime(self, seconds: float) -> None:
        if not seconds > 0:
            raise ConfigError("token_lifetime must be a positive number of seconds")
        self._world.tokens.lifetime = float(seconds)

    @property
    def latency_per_delta(self) -> float:
        return self._world.latency_per_delta

    @latency_per_delta.setter
    def latency_per_delta(self, seconds: float) -> None:
        self._world.latency_per_delta = float(seconds)

    @property
    def latency_per_request(self) -> float:
        return self._world.latency_per_request

    @latency_per_request.setter
    def latency_per_request(self, seconds: float) -> None:
        self._world.latency_per_request = float(seconds)

    @property
    def pace(self) -> float:
        """How fast the fake models write: 0 at once, 1 like a real model, 2 twice as slow."""
        return self._world.pace

    @pace.setter
    def pace(self, pace: float) -> None:
        self._world.pace = _checked(check_pace, pace)

    @property
    def json_invalid(self) -> float:
        """The share (0 to 1) of JSON-mode answers made invalid, by a seeded draw."""
        return float(self._world.json_spoiler.share)

    @json_invalid.setter
    def json_invalid(self, share: float) -> None:
        self._world.json_spoiler.share = _checked(check_share, share)

    @property
    def json_spoiled(self) -> int:
        """How many JSON-mode answers the ``json_invalid`` knob has made invalid so far."""
        return int(self._world.json_spoiler.spoiled)

    def set_latency(self, per_delta: float | None = None, per_request: float | None = None) -> None:
        if per_delta is not None:
            self.latency_per_delta = per_delta
        if per_request is not None:
            self.latency_per_request = per_request

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<Sandbox {where}>"


def _checked(check: Callable[[float], float], value: float) -> float:
    """``check(value)``; its ValueError becomes a ConfigError raised outside the ``except``, so no
    chained exception rides along."""
    try:
        return check(value)
    except ValueError as exc:
        problem = str(exc)
    raise ConfigError(problem)


def start_sandbox(**kwargs: Any) -> Sandbox:
    """A started :class:`Sandbox` on daemon threads; the caller keeps it and calls ``stop()``."""
    return Sandbox(**kwargs).start()
