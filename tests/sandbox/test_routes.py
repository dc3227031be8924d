"""Sandbox catalog and account routes, framework 404/405 shapes, and the sandbox marker header."""

import pytest

from .http_api import SandboxHTTP, bearer, error_of


def keys(response):
    return [m["key"] for m in response.json()["models"]]


def test_models_default_listing(sandbox_http):
    r = sandbox_http.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["total_count"] == len(body["models"])
    assert {"ftg-3.0", "gpt-4o", "gpt-4o-mini", "gpt-4.1", "claude-3-5-sonnet", "o3-preview"} <= set(keys(r))
    assert "gpt-4-turbo" not in keys(r) and "ftg-1.5" not in keys(r)
    model = body["models"][0]
    assert {"id", "key", "name", "is_visible_in_ui", "is_deprecated", "availability_status"} <= set(model)
    assert model["id"].startswith("mdl_") and "context_window" not in model and "pricing" not in model
    assert "private" in r.headers["Cache-Control"] and "Authorization" in r.headers["Vary"]


def test_models_query_switches(sandbox_http):
    assert "gpt-4-turbo" in keys(sandbox_http.get("/v1/models", params={"include_deprecated": "true"}))
    assert "ftg-1.5" in keys(sandbox_http.get("/v1/models", params={"include_legacy": "1"}))
    assert "claude-3-haiku" not in keys(sandbox_http.get("/v1/models", params={"ui_models_only": "true"}))
    assert "claude-3-haiku" in keys(sandbox_http.get("/v1/models"))
    bare = sandbox_http.get("/v1/models", params={"include_capabilities": "false"}).json()["models"][0]
    assert bare["capabilities"] is None and "description" not in bare and "provider" not in bare
    detailed = sandbox_http.get("/v1/models", params={"include_details": "yes", "include_pricing": "on"}).json()[
        "models"
    ]
    assert all(m["context_window"] > 0 and m["pricing"] == {"message": "Pricing not yet implemented"} for m in detailed)
    assert "reasoning" in next(m for m in detailed if m["key"] == "o3-preview")["capabilities"]


def test_recent_usage_is_per_api_key(sandbox):
    with SandboxHTTP(sandbox) as client:
        assert client.respond(model="gpt-4.1").status_code == 200
        models = client.get("/v1/models", params={"include_recent_usage": "true"}).json()["models"]
        used = {m["key"]: m["last_used_at"] for m in models}
        assert used["gpt-4.1"] is not None and used["claude-3-5-sonnet"] is None
        access = client.tokens()["access_token"]
        by_user = client.get(
            "/v1/models", key=False, headers=bearer(access), params={"include_recent_usage": "true"}
        ).json()["models"]
        assert all(m.get("last_used_at") is None for m in by_user)


def test_models_bad_boolean_is_422(sandbox_http):
    error_of(sandbox_http.get("/v1/models", params={"include_details": "maybe"}), 422, "VALIDATION_ERROR")


def test_models_with_bearer_token(sandbox_http):
    access = sandbox_http.tokens()["access_token"]
    assert sandbox_http.get("/v1/models", key=False, headers=bearer(access)).status_code == 200


def test_output_modes_and_reasoning_levels(sandbox_http):
    modes = sandbox_http.get("/v1/model/response/output-modes").json()
    assert modes["success"] is True and len(modes["output_modes"]) == 3
    assert [m["mode"] for m in modes["output_modes"] if m["is_default"]] == ["text"]
    levels = sandbox_http.get("/v1/model/response/reasoning-levels").json()["reasoning_levels"]
    assert [lv["level"] for lv in levels] == ["off", "low", "medium", "high", "maximum"]
    assert [lv["level"] for lv in levels if lv["is_default"]] == ["medium"]


def test_user_me_needs_a_user_session(sandbox_http, shared_sandbox):
    """An API key has no user profile: only a Bearer session reads /v1/user/me."""
    error_of(sandbox_http.get("/v1/user/me"), 403, "INSUFFICIENT_PERMISSIONS")
    me = sandbox_http.get("/v1/user/me", key=False, headers=bearer(sandbox_http.tokens()["access_token"])).json()
    assert (
        me["id"].startswith("usr_")
        and me["email"] == shared_sandbox.email
        and me["current_organization_id"] == shared_sandbox.organization_id
    )


def test_organizations(sandbox_http, shared_sandbox):
    body = sandbox_http.get("/v1/organizations").json()
    assert body["total"] == 1 and body["skip"] == 0 and body["limit"] == 100
    assert body["organizations"][0]["id"] == shared_sandbox.organization_id
    assert (
        sandbox_http.get(f"/v1/organizations/{shared_sandbox.organization_id}").json()["id"]
        == shared_sandbox.organization_id
    )
    error_of(
        sandbox_http.get(f"/v1/organizations/{shared_sandbox.foreign_organization_id}"),
        403,
        "ORGANIZATION_ACCESS_DENIED",
    )
    assert sandbox_http.get("/v1/organizations", params={"skip": 1}).json()["organizations"] == []


def test_health_needs_no_auth_and_says_sandbox(sandbox_http):
    r = sandbox_http.get("/v1/health/", key=False)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["X-Freddy-Sandbox"] == "1"


def test_missing_trailing_slash_redirects_like_fastapi(sandbox_http):
    r = sandbox_http.get("/v1/health", key=False)
    assert r.status_code == 307 and r.headers["Location"].endswith("/v1/health/")
    r = sandbox_http.get("/v1/models/", key=False, params={"include_details": "true"})
    assert r.status_code == 307 and r.headers["Location"] == "/v1/models?include_details=true"


@pytest.mark.parametrize("path", ["/", "/v1/nope", "/v2/models", "/v1/model/response/x/y/z"])
def test_unknown_routes_are_framework_404s(sandbox_http, path):
    r = sandbox_http.get(path, key=False)
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert r.headers["X-Freddy-Sandbox"] == "1"


@pytest.mark.parametrize(
    "method, path",
    [("POST", "/v1/models"), ("DELETE", "/v1/model/response"), ("GET", "/v1/auth/login"), ("PUT", "/v1/user/me")],
)
def test_wrong_methods_are_framework_405s(sandbox_http, method, path):
    r = sandbox_http.request(method, path)
    assert r.status_code == 405 and r.json() == {"detail": "Method Not Allowed"}
    assert r.headers["Allow"]


def test_head_of_a_get_route_has_headers_but_no_body(sandbox_http):
    r = sandbox_http.request("HEAD", "/v1/health/")
    assert r.status_code == 200 and r.content == b"" and int(r.headers["Content-Length"]) > 0
    assert sandbox_http.get("/v1/health/", key=False).status_code == 200  # the connection is still in sync


def test_every_error_carries_the_sandbox_header(sandbox_http):
    assert sandbox_http.get("/v1/models", key=False).headers["X-Freddy-Sandbox"] == "1"
    assert sandbox_http.request("POST", "/v1/models").headers["X-Freddy-Sandbox"] == "1"
