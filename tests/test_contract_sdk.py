"""The contract with the official SDK (``aitronos-sdk``, the backend's own schema, generated).

Three checks, each against a sandbox of both dialects:

* every route the sandbox serves is an SDK operation (its method and path are in the SDK), and
  what the sandbox answers there validates against the SDK's response type for it;
* the SDK itself, pointed at the sandbox, works: what it sends is accepted, what it gets parses;
* every request our client builds fits the SDK's request signature for that route: no field the
  SDK does not know, every required one present, every value of the type the SDK declares.

The operations are read from the installed SDK (:mod:`tests.sdk_contract`), so a divergence in
either direction fails the suite. ``POST /v1/model/response`` is typed ``Any`` by the SDK (its
answer has no schema there); its answers are checked by our own reader instead.
"""

import re
import threading
from urllib.parse import urlsplit

import pydantic
import pytest
import requests
from aitronos import Aitronos

from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._payloads import completion_from_json
from freddy_magic.sandbox import Sandbox
from freddy_magic.sandbox._app import ROUTES

from .sdk_contract import route_key, sdk_operations

OPS = sdk_operations()
#: Routes of the sandbox alone: where the "emailed" login codes can be read. Not an API route.
SANDBOX_ONLY = {("GET", "/sandbox/outbox")}
API_ROUTES = [(method, path) for path, method, _, _ in ROUTES if (method, path) not in SANDBOX_ONLY]
RESPONSE = "/v1/model/response"


def test_every_sandbox_route_is_an_sdk_operation():
    missing = [route for route in API_ROUTES if route_key(*route) not in OPS]
    assert missing == [], f"routes the SDK does not have: {missing}"


# what the sandbox answers -------------------------------------------------------------------------
def _sign_in(http, sb):
    login = http.post(sb.url + "/v1/auth/login", json={"email_or_username": sb.email, "password": sb.password})
    email_key = login.json()["email_key"]
    code = next(m["code"] for m in sb.outbox() if m["email_key"] == email_key)
    verify = http.post(sb.url + "/v1/auth/verify", json={"email_key": email_key, "verification_code": code})
    return login, verify


def _cancel_answer(sb, key):
    """A cancel needs a stream in progress: hold one between two deltas, cancel it, let it go."""
    sb.latency_per_delta = 30.0
    body = {"inputs": [{"role": "user", "content": "Tell me a long story."}], "model": "gpt-4o", "stream": True}
    try:
        with requests.post(sb.url + RESPONSE, json=body, headers=key, stream=True, timeout=30) as stream:
            lines = stream.iter_lines()
            thread_id = None
            for line in lines:
                found = re.search(rb'"thread_id":"(thread_[0-9a-f]+)"', line)
                thread_id = thread_id or (found and found.group(1).decode())
                if b"content_delta" in line:
                    break
            return requests.post(sb.url + f"{RESPONSE}/{thread_id}/cancel", headers=key, timeout=10)
    finally:
        sb.latency_per_delta = 0.0


def _answers(sb):
    """One real answer per API route of ``sb``: ``{(method, path): [response, ...]}``."""
    key = {"x-api-key": sb.api_key}  # the SDK's header
    http = requests.Session()
    got = {}

    def add(method, path, response):
        assert response.status_code == 200, (method, path, response.text)
        got.setdefault((method, path), []).append(response)

    add("GET", "/v1/health/", http.get(sb.url + "/v1/health/"))
    add("GET", "/v1/config/auth-mode", http.get(sb.url + "/v1/config/auth-mode"))
    login, verify = _sign_in(http, sb)
    add("POST", "/v1/auth/login", login)
    add("POST", "/v1/auth/verify", verify)
    tokens = verify.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    dev = http.post(sb.url + "/v1/auth/dev-login", json={"email_or_username": sb.email, "password": sb.password})
    add("POST", "/v1/auth/dev-login", dev)
    add(
        "POST",
        "/v1/auth/refresh",
        http.post(sb.url + "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
    )
    add("GET", "/v1/auth/validate", http.get(sb.url + "/v1/auth/validate", headers=key))
    add("GET", "/v1/models", http.get(sb.url + "/v1/models", headers=key))
    every = dict.fromkeys(OPS[route_key("GET", "/v1/models")].params, "true")
    add("GET", "/v1/models", http.get(sb.url + "/v1/models", headers=key, params=every))
    ask = {"inputs": [{"role": "user", "content": "Hello"}], "model": "gpt-4o"}
    answer = http.post(sb.url + RESPONSE, json=ask, headers=key)
    add("POST", RESPONSE, answer)
    add("POST", RESPONSE, http.post(sb.url + RESPONSE, json={**ask, "output_mode": "structured"}, headers=key))
    thread_id = answer.json()["thread_id"]
    add("GET", "/v1/model/response/output-modes", http.get(sb.url + "/v1/model/response/output-modes", headers=key))
    levels = http.get(sb.url + "/v1/model/response/reasoning-levels", headers=key)
    add("GET", "/v1/model/response/reasoning-levels", levels)
    add("POST", "/v1/model/response/<thread_id>/cancel", _cancel_answer(sb, key))
    add("GET", "/v1/threads", http.get(sb.url + "/v1/threads", headers=key, params={"include_total": "true"}))
    add("GET", "/v1/threads/<thread_id>", http.get(sb.url + f"/v1/threads/{thread_id}", headers=key))
    add("GET", "/v1/threads/<thread_id>/messages", http.get(sb.url + f"/v1/threads/{thread_id}/messages", headers=key))
    add("GET", "/v1/user/me", http.get(sb.url + "/v1/user/me", headers=bearer))
    add("GET", "/v1/organizations", http.get(sb.url + "/v1/organizations", headers=key))
    org = sb.organization_id
    add("GET", "/v1/organizations/<organization_id>", http.get(sb.url + f"/v1/organizations/{org}", headers=key))
    logout = http.post(sb.url + "/v1/auth/logout", headers=bearer, json={"refresh_token": tokens["refresh_token"]})
    add("POST", "/v1/auth/logout", logout)
    http.close()
    return got


@pytest.fixture(scope="module", params=["classic", "current"])
def dialect_sandbox(request):
    with Sandbox(rate_limit=None, dialect=request.param) as sb:
        yield sb


@pytest.fixture(scope="module")
def answers(dialect_sandbox):
    return _answers(dialect_sandbox)


def test_every_route_was_asked(answers):
    assert sorted(answers) == sorted(API_ROUTES)


@pytest.mark.parametrize("route", API_ROUTES, ids=[f"{m} {p}" for m, p in API_ROUTES])
def test_sandbox_answers_validate_against_the_sdk_types(answers, route):
    op = OPS[route_key(*route)]
    for response in answers[route]:
        data = response.json()
        if route == ("POST", RESPONSE):
            assert op.response is object or str(op.response) == "typing.Any"
            done = completion_from_json(data, model=None, retries=0, latency_s=0.0)
            assert done.text.startswith("[sandbox gpt-4o]") and done.thread_id
            continue
        try:
            op.validate_response(data)
        except pydantic.ValidationError as exc:
            pytest.fail(f"{op.name}: the sandbox's answer does not parse as {op.response.__name__}: {exc}")


# the SDK itself against the sandbox ----------------------------------------------------------------
def test_the_sdk_client_works_against_the_sandbox(dialect_sandbox):
    sb = dialect_sandbox
    sdk = Aitronos(api_key=sb.api_key, base_url=sb.url, timeout=10)
    models = sdk.models.list_models(include_details=True)
    assert models.total_count == len(models.models) and "gpt-4o" in [m.key for m in models.models]
    answer = sdk.responses.create_response(
        inputs=[{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        model="gpt-4o",
        tools=[{"type": "personalConnector", "configuration_ids": ["pc_1"]}],
        system_tools={"web_search": None, "file_search": {"mode": "off"}},
        reasoning=None,
        temperature=0.2,
    )
    assert answer["response"][0]["text"].startswith("[sandbox gpt-4o]")
    assert [m.mode for m in sdk.responses.get_output_modes().output_modes] == ["text", "plain", "blocks"]
    assert sdk.responses.get_reasoning_levels().reasoning_levels
    orgs = sdk.organizations.list_organizations()
    assert orgs.organizations[0].id == sb.organization_id
    assert sdk.organizations.get_organization(sb.organization_id).api_usage_limit >= 0
    threads = sdk.threads.list_threads(limit=5)
    assert sdk.threads.get_thread(threads.data[0].id).id == threads.data[0].id
    assert sdk.messages.get_thread_messages(threads.data[0].id).data
    challenge = sdk.authentication.login(email_or_username=sb.email, password=sb.password)
    code = next(m["code"] for m in sb.outbox() if m["email_key"] == challenge.email_key)
    tokens = sdk.authentication.verify_email(email_key=challenge.email_key, verification_code=code)
    user = Aitronos(api_key="", token=tokens.access_token, base_url=sb.url, timeout=10)
    assert user.user_management.get_current_user_profile().email == sb.email
    assert user.authentication.validate_token().is_valid
    renewed = user.authentication.refresh_token(refresh_token=tokens.refresh_token)
    assert renewed.access_token and renewed.refresh_token == tokens.refresh_token
    assert user.authentication.logout(refresh_token=tokens.refresh_token).message


# what our client sends ---------------------------------------------------------------------------
class RecordingSession(requests.Session):
    """A real session that also notes what each request carried (method, path, JSON, query, headers)."""

    def __init__(self):
        super().__init__()
        self.sent = []
        self._lock = threading.Lock()

    def request(self, method, url, **kw):
        with self._lock:
            self.sent.append(
                (method, urlsplit(url).path, kw.get("json"), kw.get("params"), dict(kw.get("headers") or {}))
            )
        return super().request(method, url, **kw)


def _operation_for(method, path):
    """The SDK operation whose path template matches ``path`` (the most literal one wins)."""
    matches = []
    for (op_method, template), op in OPS.items():
        pattern = "^" + re.escape(template).replace(re.escape("<>"), "[^/]+") + "$"
        if op_method == method and re.match(pattern, path):
            matches.append((template.count("<>"), op))
    assert matches, f"our client sent {method} {path}, which the SDK does not have"
    return min(matches, key=lambda match: match[0])[1]


def _check_fields(op, fields, what):
    unknown = sorted(set(fields) - set(op.params))
    assert unknown == [], f"{op.name}: {what} fields the SDK does not know: {unknown}"
    for name, value in fields.items():
        try:
            pydantic.TypeAdapter(op.params[name]).validate_python(value)
        except pydantic.ValidationError as exc:
            pytest.fail(f"{op.name}: {what} field {name}={value!r} does not fit the SDK's {op.params[name]}: {exc}")


def _client_requests(sb):
    """Every request our client builds, sent to ``sb`` and recorded on the way."""
    session = RecordingSession()
    client = FreddyClient(sb.url, Credential.api_key(sb.api_key), session=session)
    client.validate()
    client.models()
    client.models(include_details=True, include_deprecated=True, include_pricing=True, ui_models_only=False)
    client.organizations()
    done = client.create_response(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
        ],
        model="o3-preview",
        instructions="Answer in one line.",
        temperature=0.5,
        top_p=0.9,
        max_output_tokens=64,
        organization_id=sb.organization_id,
        output_mode="plain",
        reasoning="low",
    )
    client.create_response("Go on", thread_id=done.thread_id, model="gpt-4o")
    client.create_response("No model named")
    with client.stream_response("Stream it", model="gpt-4o") as stream:
        list(stream.text_deltas())
    client.threads(limit=5, order="desc", include_total=True)
    client.messages(done.thread_id, limit=10, order="asc")
    signed = FreddyClient(sb.url, session=session)
    challenge = signed.login(sb.email, sb.password)
    code = next(m["code"] for m in sb.outbox() if m["email_key"] == challenge.email_key)
    cred = signed.verify(challenge, str(code))
    signed.me()
    cred.refresh_after_401(cred.generation)
    resumed = FreddyClient(sb.url, session=session)
    resumed.resume(cred.session_token())
    resumed.credential = None
    signed.logout()
    return session.sent


@pytest.fixture(scope="module")
def client_requests(dialect_sandbox):
    return _client_requests(dialect_sandbox)


def test_our_requests_fit_the_sdk_signatures(client_requests):
    checked = set()
    for method, path, body, params, headers in client_requests:
        op = _operation_for(method, path)
        if body is not None:
            missing = sorted(op.required - set(body))
            assert missing == [], f"{op.name}: required fields missing from our body: {missing}"
            _check_fields(op, body, "body")
        _check_fields(op, params or {}, "query")
        if "X-API-Key" in headers or "Authorization" in headers:
            assert "X-API-Key" in headers or headers["Authorization"].startswith("Bearer "), headers.keys()
        checked.add(op.name)
    assert {
        "authentication.validate_token",
        "models.list_models",
        "organizations.list_organizations",
        "responses.create_response",
        "threads.list_threads",
        "messages.get_thread_messages",
        "authentication.login",
        "authentication.verify_email",
        "user_management.get_current_user_profile",
        "authentication.refresh_token",
        "authentication.logout",
    } <= checked


def test_a_divergent_body_is_caught():
    """The check itself can fail: the older docs' message shape and a renamed field are refused."""
    op = OPS[route_key("POST", RESPONSE)]
    with pytest.raises(pytest.fail.Exception, match="does not fit"):
        _check_fields(op, {"inputs": [{"role": "user", "texts": [{"text": "hi"}]}]}, "body")
    with pytest.raises(AssertionError, match="does not know"):
        _check_fields(op, {"max_tokens": 5}, "body")
    with pytest.raises(pydantic.ValidationError):
        OPS[route_key("GET", "/v1/organizations/<>")].validate_response(
            {"id": "org_1", "name": "n", "type": "t", "is_active": True, "api_usage_limit": None}
        )
