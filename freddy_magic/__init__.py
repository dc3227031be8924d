"""freddy_magic: IPython magics for the Freddy API, and the client they are built on.

``%load_ext freddy_magic`` registers ``%freddy_auth``, ``%freddy`` and ``%%freddy``. The names in
``__all__`` are the public API; every module whose name starts with an underscore is private and
may change. Public names are resolved on first access (PEP 562), so importing the package, and
so ``%load_ext``, imports neither requests, ipywidgets, werkzeug nor pytest::

    from freddy_magic import FreddyClient, Credential, FreddyError
    from freddy_magic import Sandbox          # imports werkzeug, on first use only
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the private module that defines it
_EXPORTS = {
    **dict.fromkeys(
        [
            "FreddyError",
            "ConfigError",
            "NotAuthenticated",
            "AuthError",
            "PermissionDenied",
            "RateLimited",
            "APIError",
            "TransportError",
            "ConnectionFailed",
            "Timeout",
            "StreamInterrupted",
            "ResponseFormatError",
            "NotRecorded",
        ],
        "._errors",
    ),
    "FreddyClient": "._client",
    "Credential": "._auth",
    "Completion": "._payloads",
    "LoginChallenge": "._payloads",
    "Page": "._payloads",
    "DEFAULT_BASE_URL": "._payloads",
    "ResponseStream": "._stream",
    "StreamEvent": "._stream",
    "RateLimitStatus": "._ratelimit",
    "Timeouts": "._transport",
    **dict.fromkeys(["Sandbox", "start_sandbox", "Fault"], ".sandbox"),
    **dict.fromkeys(["Canary", "make_canary", "find_canary", "assert_no_canary"], ".testing"),
}

__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "AuthError",
    "Canary",
    "Completion",
    "ConfigError",
    "ConnectionFailed",
    "Credential",
    "Fault",
    "FreddyClient",
    "FreddyError",
    "LoginChallenge",
    "NotAuthenticated",
    "NotRecorded",
    "Page",
    "PermissionDenied",
    "RateLimitStatus",
    "RateLimited",
    "ResponseFormatError",
    "ResponseStream",
    "Sandbox",
    "StreamEvent",
    "StreamInterrupted",
    "Timeout",
    "Timeouts",
    "TransportError",
    "__version__",
    "assert_no_canary",
    "find_canary",
    "load_ipython_extension",
    "make_canary",
    "start_sandbox",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from ._auth import Credential
    from ._client import FreddyClient
    from ._errors import (
        APIError,
        AuthError,
        ConfigError,
        ConnectionFailed,
        FreddyError,
        NotAuthenticated,
        NotRecorded,
        PermissionDenied,
        RateLimited,
        ResponseFormatError,
        StreamInterrupted,
        Timeout,
        TransportError,
    )
    from ._payloads import DEFAULT_BASE_URL, Completion, LoginChallenge, Page
    from ._ratelimit import RateLimitStatus
    from ._stream import ResponseStream, StreamEvent
    from ._transport import Timeouts
    from .sandbox import Fault, Sandbox, start_sandbox
    from .testing import Canary, assert_no_canary, find_canary, make_canary


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'freddy_magic' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def load_ipython_extension(ipython: InteractiveShell) -> None:
    from ._magics import FreddyMagics

    ipython.register_magics(FreddyMagics(shell=ipython))


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Forget every secret and unregister the magics, so ``%reload_ext`` starts clean."""
    manager = ipython.magics_manager
    magics = manager.registry.pop("FreddyMagics", None)
    if magics is None:
        return
    magics.forget()
    for kind, names in magics.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
