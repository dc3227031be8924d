"""Property tests: whatever JSON a client sends, the sandbox answers with a documented shape.

Never a 500, never a hang, never a traceback: a 2xx success, or a 4xx in the error envelope.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "inputs",
        "model",
        "temperature",
        "top_p",
        "instructions",
        "stream",
        "thread_id",
        "organization_id",
        "max_output_synapses",
        "reasoning",
        "output_mode",
        "tools",
        "system_tools",
        "metadata",
        "include",
        "store",
        "bogus",
    ]
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", "x"]) | values},
    optional={"content": values, "texts": values, "tool_call_id": values},
)
bodies = st.dictionaries(field_names, values, max_size=6) | st.builds(
    lambda msgs, extra: {"inputs": msgs, **extra},
    st.lists(message, max_size=3),
    st.dictionaries(field_names, values, max_size=3),
)

FUZZ = settings(max_examples=150)


def assert_documented(response):
    assert response.status_code < 500, response.text
    if response.headers.get("Content-Type", "").startswith("text/event-stream"):
        assert response.text.rstrip().split("\n\n")[-1].startswith("event: response.completed")
        return
    body = response.json()
    if response.status_code >= 400:
        assert body["success"] is False and body["error"]["status"] == response.status_code
        assert "Traceback" not in json.dumps(body)


@FUZZ
@given(body=bodies)
def test_response_endpoint_never_fails_badly(sandbox_http, body):
    assert_documented(sandbox_http.post("/v1/model/response", json=body))


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from(
            ["email_or_username", "password", "email_key", "verification_code", "refresh_token", "device_information"]
        ),
        values,
        max_size=4,
    )
)
def test_auth_endpoints_never_fail_badly(sandbox_http, body):
    for path in ("/v1/auth/login", "/v1/auth/verify", "/v1/auth/refresh", "/v1/auth/dev-login"):
        assert_documented(sandbox_http.post(path, key=False, json=body))


@FUZZ
@given(
    data=st.binary(max_size=200),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/x+json"]),
)
def test_raw_bytes_never_fail_badly(sandbox_http, data, content_type):
    assert_documented(sandbox_http.post("/v1/model/response", data=data, headers={"Content-Type": content_type}))


@pytest.mark.parametrize("where", ["content", "instructions", "model"])
def test_a_lone_surrogate_escape_is_refused_as_invalid_text_not_a_crash(sandbox_http, where):
    body = {"inputs": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}
    if where == "content":
        body["inputs"][0]["content"] = "half an emoji: \ud83d"
    else:
        body[where] = "\udc00"
    response = sandbox_http.post("/v1/model/response", json=body)  # json.dumps escapes it as \ud83d
    assert response.status_code == 422, response.text
    assert response.json()["error"]["system_message"].endswith("a lone UTF-16 surrogate, which is not text")
    paired = sandbox_http.respond("a whole emoji: \U0001f600 and an escaped one")
    assert paired.status_code == 200, paired.text
