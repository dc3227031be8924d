"""Exceptions and tracebacks (§4.F): our error class, a clean message, no chained library
exception, and no secret in any frame's locals (what ``%xmode Verbose`` and ``%debug`` show).

Transport failures are produced by a requests adapter mounted on the client's injected session,
one per exception family, each carrying the canary in its message the way requests does.
"""

import pytest
import requests
from IPython.core.ultratb import VerboseTB

from freddy_magic._auth import Credential
from freddy_magic._errors import ConfigError, FreddyError
from freddy_magic.testing import find_canary

from .hostile import HostileServer, Reply


def _past_the_test(tb):
    """The traceback from the first frame that is not the test itself (the test holds the canary)."""
    while tb is not None and "/tests/" in tb.tb_frame.f_code.co_filename:
        tb = tb.tb_next
    return tb


def _verbose(exc):
    """The traceback as ``%xmode Verbose`` renders it: every frame with its locals."""
    return "\n".join(VerboseTB().structured_traceback(type(exc), exc, _past_the_test(exc.__traceback__)))


def _frame_locals(exc, depth=2):
    """repr of every local of every frame below the test, two levels deep (§4 T-F4)."""
    seen = []
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if "/tests/" not in frame.f_code.co_filename:
            for name, value in frame.f_locals.items():
                seen.append(f"{frame.f_code.co_name}.{name}={value!r}"[:5000])
                if depth > 1 and isinstance(value, dict):
                    seen.extend(repr(v)[:2000] for v in value.values())
        tb = tb.tb_next
    return seen


@pytest.mark.parametrize("bad", ["{c}\n", "{c}\r\n", "\x00{c}", "{c}\x7f", "{c}\u200b", "\u0430{c}"],
                         ids=["LF", "CRLF", "NUL", "DEL", "zero-width", "cyrillic-a"])
def test_f1_malformed_keys_are_rejected_without_echo(canary, bad):
    with pytest.raises(ConfigError) as info:
        Credential.api_key(bad.format(c=canary.value))
    err = info.value
    assert find_canary([str(err), repr(err), repr(err.args), _verbose(err)], canary.value) == []
    assert err.__context__ is None


def test_f1_surrounding_space_is_stripped_before_sending(canary):
    with HostileServer(Reply(200, body=b'{"is_valid": true, "error": null}')) as api:
        from freddy_magic._client import FreddyClient

        client = FreddyClient(api.url, Credential.api_key(" \t" + canary.value + " \t"))
        try:
            client.validate()
        except FreddyError:  # the shape may not satisfy validate(); the header is what matters
            pass
        client.close()
        sent = [s.headers.get("api-key") for s in api.seen]
    assert sent and set(sent) == {canary.value}


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
    views = [str(err), repr(err), repr(err.args), _verbose(err), *_frame_locals(err)]
    assert find_canary(views, canary.value) == [], f"{family.__name__}: secret in message or frame locals"
