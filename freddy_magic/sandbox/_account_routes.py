"""Who-am-I routes: health, the current user's profile, and the caller's organizations."""

from __future__ import annotations

from ._bodies import query_int
from ._envelope import ApiError, json_response


def health(world, call):
    # "sandbox" is an addition to the real {"status": "ok"} so clients can label their connection.
    return json_response({"status": "ok", "sandbox": True})


def me(world, call):
    # The profile belongs to a user session; an organization API key has no user behind it.
    if call.principal.kind == "api_key":
        raise ApiError(
            403,
            "INSUFFICIENT_PERMISSIONS",
            "This endpoint needs a signed-in user; API keys have no user profile.",
            "GET /v1/user/me requires a Bearer access token",
        )
    return json_response(call.principal.user.profile(world.stamp))


def organizations(world, call):
    orgs = [world.directory.orgs[org_id] for org_id in call.principal.org_ids]
    skip = query_int(call.request.args, "skip", 0, 0, 10**6)
    limit = query_int(call.request.args, "limit", 100, 1, 1000)
    owner = world.directory.user.id
    page = [o.as_json(owner, world.stamp) for o in orgs[skip : skip + limit]]
    return json_response({"organizations": page, "total": len(orgs), "skip": skip, "limit": limit})


def organization(world, call):
    org_id = call.values["organization_id"]
    if org_id not in call.principal.org_ids:
        raise ApiError(
            403,
            "ORGANIZATION_ACCESS_DENIED",
            "You don't have access to this organization.",
            f"Caller is not a member of {org_id}",
        )
    return json_response(world.directory.orgs[org_id].as_json(world.directory.user.id, world.stamp))
