"""Exceptions and tracebacks (§4.F): our error class, a clean message, no chained library
exception, and no secret in any frame's locals (what ``%xmode Verbose`` and ``%debug`` show).

Transport failures are produced by a requests adapter mounted on the client's injected session,
one per exception family, each carrying the canary in its message the way requests does.
"""

import pytest
import requests

from freddy_magic._auth import Credential
from freddy_magic._errors import FreddyError
from freddy_magic.testing import find_canary

from .frames import frame_locals, verbose_traceback


class Raising(requests.adapters.BaseAdapter):
    def __init__(self, exc):
        super().__init__()
        self.exc = exc

    def send(self, request, **kw):
        headers = dict(request.headers)  # a library frame holding the headers, as urllib3's do
        raise self.exc(f"failed for {request.url} with headers {headers}")

    def close(self):
        pass


FAMILIES = [requests.exceptions.InvalidHeader, requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout,
            requests.exceptions.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError, ValueError, RuntimeError, OSError]


@pytest.mark.parametrize("family", FAMILIES, ids=[f.__name__ for f in FAMILIES])
def test_f2_f3_f4_transport_exceptions_are_sanitised(canary, family):
    from freddy_magic._client import FreddyClient

    session = requests.Session()
    client = FreddyClient("http://127.0.0.1:9", Credential.api_key(canary.value), session=session, max_retries=0)
    session.mount("http://127.0.0.1:9", Raising(family))
    with pytest.raises(Exception) as info:
        client.create_response("hi")
    err = info.value
    client.close()
    assert isinstance(err, FreddyError), f"{family.__name__} escaped as {type(err).__name__}"
    assert err.__context__ is None and err.__cause__ is None, "a library exception is chained"
    assert not getattr(err, "__notes__", None)
    views = [str(err), repr(err), repr(err.args), verbose_traceback(err), *frame_locals(err)]
    assert find_canary(views, canary.value) == [], f"{family.__name__}: secret in message or frame locals"
