"""The sandbox tests' HTTP helper, bound to the session's shared sandbox."""

import pytest

from .http_api import SandboxHTTP


@pytest.fixture
def sandbox_http(shared_sandbox):
    """A raw HTTP session (``get``, ``post``, ``respond``, ``login``, ``tokens``) to the shared sandbox."""
    with SandboxHTTP(shared_sandbox) as http:
        yield http


# These tests read the sandbox's own wire shapes, which differ by dialect: they pin the classic one
# (today's shapes); test_dialects.py covers the current one, and the client and notebook tests run
# against whichever dialect the run chose (pytest --dialect).
@pytest.fixture(scope="session")
def shared_sandbox():
    """The sandbox tests' own session sandbox, in the classic dialect."""
    from freddy_magic.sandbox import Sandbox

    with Sandbox(rate_limit=None, dialect="classic") as shared:
        yield shared


@pytest.fixture
def sandbox():
    """A fresh classic sandbox for this test alone (no rate limit)."""
    from freddy_magic.sandbox import Sandbox

    with Sandbox(rate_limit=None, dialect="classic") as fresh:
        yield fresh


@pytest.fixture(autouse=True)
def _classic_dialect(monkeypatch):
    """Sandboxes a test builds itself speak the classic dialect too."""
    monkeypatch.setenv("FREDDY_SANDBOX_DIALECT", "classic")
