"""The sandbox tests' HTTP helper, bound to the session's shared sandbox."""

import pytest

from .http_api import SandboxHTTP


@pytest.fixture
def sandbox_http(shared_sandbox):
    """A raw HTTP session (``get``, ``post``, ``respond``, ``login``, ``tokens``) to the shared sandbox."""
    with SandboxHTTP(shared_sandbox) as http:
        yield http
