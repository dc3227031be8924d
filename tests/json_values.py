"""What a server (or a proxy in front of it) may answer: any JSON value, for the parser fuzzers.

Every type JSON has, as Python's ``json.loads`` returns it (``NaN`` and ``Infinity`` included,
since it accepts them), nested, with lone surrogates in strings (a ``\\ud83d`` escape decodes to
one). Object keys lean towards the names the readers look up, so the fuzzers reach the nested
cases (a ``text`` that is a number, a ``loc`` that is not a list) instead of stopping at the top.
"""

from hypothesis import strategies as st

# Examples per fuzzed reader: pure functions, and readers driven through a scripted HTTP answer
# (a few ms each). The fuzzers are marked slow, so make check leaves them out.
PARSER_EXAMPLES = 500
HTTP_EXAMPLES = 200

KEYS = (
    "response",
    "output",
    "content",
    "choices",
    "message",
    "text",
    "type",
    "usage",
    "input_tokens",
    "output_tokens",
    "response_id",
    "id",
    "thread_id",
    "stop_reason",
    "finish_reason",
    "model",
    "models",
    "organizations",
    "current_organization_id",
    "data",
    "has_more",
    "first_id",
    "last_id",
    "error",
    "code",
    "status",
    "system_message",
    "trace_id",
    "details",
    "retry_after",
    "detail",
    "loc",
    "msg",
    "email_key",
    "email",
    "access_token",
    "token",
    "refresh_token",
    "refreshToken",
    "expires_in",
    "event",
    "delta",
)
TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["\ud83d", "a\udc80b", "text", "TOKEN_EXPIRED", "response.completed", "thread_x", "", " "]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXTS,
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy:
    """Any JSON value, nested (see the module docstring)."""
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=6),
        ),
        max_leaves=max_leaves,
    )


def json_objects() -> st.SearchStrategy:
    """JSON objects only (what an envelope or an event's data usually is), keys as above."""
    return st.dictionaries(st.sampled_from(KEYS), json_values(), max_size=8)


def answers() -> st.SearchStrategy:
    """A whole answer body: mostly objects, sometimes any other JSON value at the top."""
    return st.one_of(json_objects(), json_values())
