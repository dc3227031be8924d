"""Library errors are neutral; the magic boundary adds the notebook remedy from one table."""

import getpass
import json
import pickle
import re
from pathlib import Path

import pytest
import responses
from ipywidgets.widgets import widget as widget_module

import freddy_magic
from freddy_magic import _remedies
from freddy_magic._apierrors import _ADVICE, error_from_event, error_from_response
from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._errors import (
    APIError,
    AuthError,
    ConfigError,
    FreddyError,
    NotAuthenticated,
    PermissionDenied,
    RateLimited,
)
from freddy_magic._remedies import (
    CONNECT,
    HEADLESS,
    NEW_KEY,
    ORGANIZATION,
    REMEDIES,
    SIGN_IN,
    explain,
    remedy,
)
from freddy_magic._results import ROW_COLUMNS, make_row
from freddy_magic.sandbox import Fault

from .shown import usage_error

MAGIC_WORDS = re.compile(r"%freddy|%config|FreddyMagics|FREDDY_API_KEY|FREDDY_ORGANIZATION_ID|--sandbox|--login|--env")
API_LAYER = [
    "_apierrors",
    "_auth",
    "_client",
    "_errors",
    "_expiry",
    "_payloads",
    "_ratelimit",
    "_redaction",
    "_sender",
    "_sse",
    "_stream",
    "_transport",
]
RESP = "/v1/model/response"


@pytest.fixture(autouse=True)
def no_ambient_key(monkeypatch, tmp_path):
    """No key from the developer's environment or a stray .env may change what is asked for."""
    for name in ("FREDDY_API_KEY", "FREDDY_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def neutral(message):
    assert not MAGIC_WORDS.search(message), message
    return message


# -- the library says what happened, never which magic to run --------------------------------


@pytest.mark.parametrize("module", API_LAYER)
def test_no_api_layer_module_names_a_magic_or_its_settings(module):
    source = (Path(freddy_magic.__file__).parent / f"{module}.py").read_text()
    assert not MAGIC_WORDS.search(source), MAGIC_WORDS.search(source).group()


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("code", [*_ADVICE, None, "SOMETHING_NEW"])
@pytest.mark.parametrize("auth_method", ["api-key", "bearer", None])
def test_every_401_and_403_message_is_neutral_and_keeps_what_the_server_said(status, code, auth_method):
    body = {"error": {"code": code, "message": "Told by the server", "trace_id": "req_1"}}
    error = error_from_response(status, {}, _json(body), method="POST", path=RESP, auth_method=auth_method)
    assert isinstance(error, AuthError if status == 401 else PermissionDenied) and error.code == code
    assert "Told by the server" in neutral(str(error)) and "req_1" in str(error)


def test_a_401_without_a_code_says_what_the_request_carried():
    def message(method):
        return str(error_from_response(401, {}, b"{}", method="GET", path="/v1/models", auth_method=method))

    assert "API key" in message("api-key") and "session" in message("bearer")
    assert "without credentials" in neutral(message(None))


@pytest.mark.parametrize(
    "data",
    [
        {"error": {"code": "TOKEN_EXPIRED", "message": "expired"}},
        {"error": {"status": 401, "message": "rejected"}},
        {"error": {"status": 403, "code": "ACCESS_DENIED", "message": "no"}},
    ],
)
def test_stream_error_events_are_neutral(data):
    neutral(str(error_from_event(data)))


def test_a_client_without_a_credential_says_how_a_script_sets_one():
    with pytest.raises(NotAuthenticated) as info:
        FreddyClient("https://api.example.test").create_response("hi")
    assert "credential=Credential.api_key(...)" in neutral(str(info.value))


def test_credential_errors_are_neutral():
    now = [1000.0]
    bare = Credential.bearer("access-token-abcdef-123456", expires_in=10, clock=lambda: now[0])
    now[0] += 11
    with pytest.raises(AuthError) as expired:
        bare.authorize({})
    assert expired.value.code == "TOKEN_EXPIRED" and "sign in again" in neutral(str(expired.value))
    key = Credential.api_key("ak_remedy_test_0123456789")
    key.clear()
    with pytest.raises(NotAuthenticated) as cleared:
        key.authorize({})
    neutral(str(cleared.value))


def test_a_refused_refresh_is_neutral():
    base = "https://api.example.test"
    client = FreddyClient(
        base, Credential.bearer("access-token-old-abcdef", "refresh-token-abcdef123", expires_in=3600)
    )
    with responses.RequestsMock() as mock:
        mock.post(base + RESP, status=401, json={"error": {"code": "TOKEN_EXPIRED"}})
        mock.post(base + "/v1/auth/refresh", status=400, json={"error": {"code": "invalid_grant"}})
        with pytest.raises(AuthError) as info:
            client.create_response("hi")
    assert "could not be renewed" in neutral(str(info.value))


# -- the table ------------------------------------------------------------------------------


def test_every_table_entry_names_a_freddy_error_and_a_notebook_action():
    for (kind, code), fix in REMEDIES.items():
        assert issubclass(kind, FreddyError) and (code is None or isinstance(code, str))
        assert fix is None or MAGIC_WORDS.search(fix), fix


@pytest.mark.parametrize(
    "kind, code, expect",
    [
        (NotAuthenticated, None, CONNECT),
        (NotAuthenticated, "unlisted", CONNECT),
        (NotAuthenticated, _remedies.NO_PROMPT, HEADLESS),
        (NotAuthenticated, _remedies.CANCELLED, None),
        (AuthError, "API_KEY_EXPIRED", NEW_KEY),
        (AuthError, "TOKEN_EXPIRED", SIGN_IN),
        (AuthError, "invalid_grant", REMEDIES[(AuthError, None)]),
        (PermissionDenied, "ORGANIZATION_ACCESS_DENIED", ORGANIZATION),
        (PermissionDenied, "ACCOUNT_SUSPENDED", None),
        (APIError, "AMBIGUOUS_ORGANIZATION", ORGANIZATION),
        (APIError, "INVALID_FIELD_VALUE", None),
        (RateLimited, None, None),
        (ConfigError, None, None),
    ],
)
def test_remedy_is_chosen_by_class_then_code(kind, code, expect):
    assert remedy(kind, code) == expect


def test_explain_keeps_the_first_line_and_adds_the_remedy_only_when_there_is_one():
    assert explain(AuthError("Rejected.\nsecond line", code="TOKEN_INVALID")) == f"Rejected. To fix: {SIGN_IN}"
    assert explain(ConfigError("-m takes model keys")) == "-m takes model keys"
    assert explain(NotAuthenticated("")) == f"NotAuthenticated. To fix: {CONNECT}"


def test_a_failed_row_keeps_its_error_kind_beside_its_columns():
    row = make_row("m", "p", status="error", error="AuthError: no", failure=AuthError("no", code="X"))
    assert row.failure == (AuthError, "X") and list(row) == list(ROW_COLUMNS)
    assert pickle.loads(pickle.dumps(row)).failure == (AuthError, "X")
    assert make_row("m", "p").failure is None


# -- the notebook says how to fix it ---------------------------------------------------------


def test_a_cell_before_auth_gets_the_connect_remedy(magics):
    message = usage_error(lambda: magics.shell.run_cell_magic("freddy", "", "hello"))
    assert message == f"Not authenticated. To fix: {CONNECT}"


def test_status_before_auth_says_how_to_connect(magics):
    assert magics.shell.run_line_magic("freddy_auth", "--status")["how"] == CONNECT


@pytest.mark.parametrize(
    "key_name, library_words",
    [
        ("expired", "the key has expired"),
        ("deactivated", "the key was deactivated"),
    ],
)
def test_a_rejected_key_reads_neutral_in_the_library_and_gets_new_key_in_the_notebook(
    magics, shared_sandbox, monkeypatch, key_name, library_words
):
    monkeypatch.setenv("FREDDY_API_KEY", shared_sandbox.extra_keys[key_name])
    with pytest.raises(AuthError) as library:
        FreddyClient(shared_sandbox.url, Credential.api_key(shared_sandbox.extra_keys[key_name])).validate()
    assert library_words in neutral(str(library.value))
    message = usage_error(lambda: magics.shell.run_line_magic("freddy_auth", "--env"))
    assert library_words in message and f"To fix: {NEW_KEY} (details: " in message
    assert shared_sandbox.extra_keys[key_name] not in message


@pytest.mark.parametrize(
    "line, code, status, fix",
    [
        ("--no-stream", "TOKEN_EXPIRED", 401, SIGN_IN),
        ("", "INVALID_API_KEY", 401, NEW_KEY),
        ("", "ORGANIZATION_ACCESS_DENIED", 403, ORGANIZATION),
        ("--no-stream", "INSUFFICIENT_PERMISSIONS", 403, REMEDIES[(PermissionDenied, None)]),
    ],
)
def test_a_failed_cell_keeps_the_error_kind_so_the_remedy_follows(connected, shared_sandbox, line, code, status, fix):
    shared_sandbox.faults.add(Fault(method="POST", path=RESP, kind="status", status=status, code=code, times=1))
    message = usage_error(lambda: connected.shell.run_cell_magic("freddy", line, "hi"))
    assert code in message and f"To fix: {fix} (details: " in message
    assert connected.session.log[-1]["status"] == "error"


def test_a_batch_where_every_row_failed_carries_the_first_rows_remedy(connected, shared_sandbox):
    shared_sandbox.faults.add(
        Fault(method="POST", path=RESP, kind="status", status=401, code="API_KEY_EXPIRED", times=2)
    )
    message = usage_error(lambda: connected.shell.run_cell_magic("freddy", "-m a,b --no-stream", "hi"))
    assert message.startswith("All 2 requests failed") and f"To fix: {NEW_KEY} (details: " in message


def test_headless_auth_gets_the_headless_remedy_and_a_cancel_gets_none(magics, monkeypatch):
    message = usage_error(lambda: magics.shell.run_line_magic("freddy_auth", ""))
    assert message.startswith("Cannot ask for a key here") and message.endswith(f"To fix: {HEADLESS}")
    magics.terminal = True
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "")
    assert usage_error(lambda: magics.shell.run_line_magic("freddy_auth", "")) == "No key entered: nothing changed"


def test_the_key_widget_shows_the_neutral_reason_without_a_magic_to_run(magics, shared_sandbox, shown):
    magics.shell.run_line_magic("config", "FreddyMagics.key_prompt = 'widget'")
    magics.shell.run_line_magic("freddy_auth", "")
    views = [
        m["data"]["application/vnd.jupyter.widget-view+json"]
        for m in shown.messages
        if "application/vnd.jupyter.widget-view+json" in m.get("data", {})
    ]
    box = widget_module._instances[views[-1]["model_id"]]
    box.children[0].children[0].value = shared_sandbox.extra_keys["expired"]
    reason = box.children[1].value
    assert "has expired" in reason and not MAGIC_WORDS.search(reason)


def _json(value):
    return json.dumps(value).encode()


def test_an_unknown_model_points_at_freddy_models_with_the_details_after(connected):
    message = usage_error(lambda: connected.shell.run_cell_magic("freddy", "--no-stream -m no-such-model", "hi"))
    fix, _, details = message.partition(" (details: ")
    assert fix == "Unknown model 'no-such-model': see %freddy models"
    assert "HTTP 422" in details and "trace_id=" in details


def test_plain_words_keep_the_fix_first_and_the_server_and_tag_as_details():
    error = AuthError(
        "Invalid API key: verify the key is correct and not expired — server said: nope [HTTP 401 INVALID_API_KEY]",
        code="INVALID_API_KEY",
    )
    assert _remedies.plain(error) == (
        "Invalid API key: verify the key is correct and not expired",
        NEW_KEY,
        "nope; HTTP 401 INVALID_API_KEY",
    )
    assert _remedies.plain(error, in_prompt=True)[1] is None
    expired = AuthError("Authentication failed [HTTP 401 VERIFICATION_CODE_EXPIRED]", code="VERIFICATION_CODE_EXPIRED")
    assert explain(expired) == (
        "The code has expired. To fix: run %freddy_auth --login for a new one "
        "(details: HTTP 401 VERIFICATION_CODE_EXPIRED)"
    )
