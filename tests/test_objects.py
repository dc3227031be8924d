"""Object hygiene (§4.D): every public object, in every state, shows no secret and refuses to
be serialised with one.

A notebook user meets our objects through ``repr`` (the last expression of a cell), ``str``
(``print``, f-strings, ``%whos``), the object inspector, pickling (``%store``, dill sessions,
multiprocessing) and copies. Each path is tried on the credential holder (fresh, refreshed,
expired, cleared), the client, the results and the errors.
"""

import pickle

import pytest

from freddy_magic._auth import Credential
from freddy_magic.testing import find_canary


def _views(obj):
    """Every way a notebook turns an object into text."""
    out = [repr(obj), str(obj), format(obj, ""), f"{obj!r}", f"{obj!s}", f"{obj}"]
    try:
        out.append(format(obj, "s"))
    except (TypeError, ValueError):  # a format spec the type does not support is not a leak
        pass
    try:
        out.append(repr(vars(obj)))
    except TypeError:  # __slots__ and no __dict__: nothing to show
        pass
    for name in ("_repr_html_", "_repr_markdown_", "_repr_pretty_"):
        render = getattr(obj, name, None)
        if name != "_repr_pretty_" and callable(render):
            out.append(str(render()))
    return out


def test_d1_client_views_and_pickling(canary, sandbox):
    from freddy_magic._client import FreddyClient

    client = FreddyClient(sandbox.url, Credential.api_key(sandbox.api_key))
    client.validate()
    for obj in (client, client.credential, client.rate_limit, client.stats):
        assert find_canary(_views(obj), sandbox.api_key) == []
    with pytest.raises(TypeError):
        pickle.dumps(client)
    client.logout()
    assert find_canary(_views(client), sandbox.api_key) == []
    client.close()


def test_d1_results_and_streams_hold_no_secret(sandbox):
    from freddy_magic._client import FreddyClient

    key = sandbox.api_key
    client = FreddyClient(sandbox.url, Credential.api_key(key))
    completion = client.create_response("hello")
    with client.stream_response("hello") as stream:
        deltas = list(stream.text_deltas())
        views = _views(stream)
    assert deltas
    assert find_canary([*_views(completion), repr(completion.raw), *views, *_views(stream.completion)], key) == []
    blob = pickle.dumps(completion)  # plain data: picklable, and clean
    assert find_canary(blob, key) == []
    client.close()


def test_d1_login_challenge_and_bearer_client(sandbox):
    from freddy_magic._client import FreddyClient

    client = FreddyClient(sandbox.url)
    challenge = client.login(sandbox.email, sandbox.password)
    code = str(sandbox.outbox()[-1]["code"])
    cred = client.verify(challenge, code)
    views = [*_views(challenge), *_views(cred), *_views(client)]
    assert find_canary(views, sandbox.password) == []
    assert all(code not in v for v in _views(cred))
    assert "eyJ" not in "".join(views), "a JWT-shaped token is shown"
    client.close()


def test_d1_errors_show_no_secret(canary, sandbox):
    from freddy_magic._client import FreddyClient
    from freddy_magic._errors import FreddyError

    client = FreddyClient(sandbox.url, Credential.api_key(canary.value))
    with pytest.raises(FreddyError) as info:
        client.validate()
    err = info.value
    assert find_canary([*_views(err), repr(err.args)], canary.value) == []
    assert err.__context__ is None and err.__cause__ is None
    client.close()


def _reachable(roots, limit=20000):
    """Every object reachable from ``roots`` through gc referents (bounded)."""
    import gc

    seen, todo, found = set(), list(roots), []
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type) or type(obj).__name__ in ("module", "function", "builtin_function_or_method"):
            continue
        seen.add(id(obj))
        found.append(obj)
        todo.extend(gc.get_referents(obj))
    return found


def test_a4_magic_results_hold_no_credential_or_transport_reference(sandbox, monkeypatch):
    import requests
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("FREDDY_API_KEY", sandbox.api_key)
    ip = InteractiveShell.instance()
    ip.extension_manager.load_extension("freddy_magic")
    try:
        ip.run_line_magic("config", f"FreddyMagics.base_url = {sandbox.url!r}")
        ip.run_line_magic("freddy_auth", "--env")
        ip.user_ns["topics"] = [{"topic": "a"}, {"topic": "b"}]
        results = [ip.run_cell_magic("freddy", "--no-stream -o one", "hello"),
                   ip.run_cell_magic("freddy", "-m ftg-3.0,gpt-4o --no-stream", "hello"),
                   ip.run_cell_magic("freddy", "--over topics --no-stream", "about {topic}"),
                   ip.run_line_magic("freddy", "models"), ip.run_line_magic("freddy", "log"),
                   ip.run_line_magic("freddy_auth", "--status")]
        reached = _reachable([*results, ip.user_ns["one"]])
    finally:
        ip.extension_manager.unload_extension("freddy_magic")
    kinds = (Credential, requests.Session, requests.Response, requests.PreparedRequest)
    held = [type(o).__name__ for o in reached if isinstance(o, kinds) or type(o).__name__ == "FreddyClient"]
    assert held == [], f"results reach {held}"
    assert not any(isinstance(o, str) and sandbox.api_key in o for o in reached)
