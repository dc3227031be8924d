"""The one redaction function, checked against every form a secret takes in a message.

redact() is the last line for every message we show; looks_like_secret() decides whether a
magic argument is refused. Both are fuzzed: redaction must hold for any registered secret, and
the key detector must fire for every key shape yet leave model names and identifiers alone
(a false positive refuses a legitimate cell).
"""

import base64
import copy
import hashlib
import json
import logging
import pickle
import pprint
import random
import secrets
import string
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.ultratb import VerboseTB

from freddy_magic import _redaction
from freddy_magic._redaction import Masked
from freddy_magic.testing import find_canary, make_canary

from .fakes import captured_logs

pytestmark = pytest.mark.security


SECRET_TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + '-_.~+/=!$&*@:%"\\ ', min_size=8, max_size=80
).filter(lambda s: s.strip() == s and len(set(s)) > 4)


@pytest.fixture
def live(canary):
    _redaction.register(canary.value)
    yield canary
    _redaction.forget(canary.value)


# fingerprints --------------------------------------------------------------------------------
def test_fingerprint_is_a_truncated_hash_not_key_material():
    keys = [make_canary() for _ in range(40)] + ["ak_" + secrets.token_urlsafe(30) for _ in range(40)]
    for key in keys:
        fp = _redaction.fingerprint(key)
        assert fp == "fp=" + hashlib.sha256(key.encode()).hexdigest()[:8]
        assert key[-4:] not in fp and key[:4] not in fp  # not the "last four" convention


def test_fingerprint_changes_completely_when_one_character_changes():
    key = make_canary()
    a, b = _redaction.fingerprint(key), _redaction.fingerprint(key[:-1] + ("0" if key[-1] != "0" else "1"))
    assert sum(x != y for x, y in zip(a[3:], b[3:])) >= 4


# every encoding of a registered secret ----------------------------------------------------------
FORMS = {
    "raw": lambda s: s,
    "url": lambda s: quote(s, safe=""),
    "url-plus": quote_plus,
    "json": lambda s: json.dumps(s)[1:-1],
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64url": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_registered_secret_redacted_in_every_encoding(live, form):
    text = f"server said: <{FORMS[form](live.value)}> (echo)"
    out = _redaction.redact(text)
    assert find_canary(out, live.value) == [], out
    assert _redaction.fingerprint(live.value) in out


@settings(max_examples=100)
@given(secret=SECRET_TEXT, form=st.sampled_from(sorted(FORMS)), before=st.text(max_size=30), after=st.text(max_size=30))
def test_any_registered_secret_is_redacted_in_every_encoding(secret, form, before, after):
    _redaction.register(secret)
    try:
        out = _redaction.redact(before + FORMS[form](secret) + after)
    finally:
        _redaction.forget(secret)
    assert FORMS[form](secret) not in out


def test_basic_auth_base64_of_user_colon_secret_is_redacted(live):
    """Basic auth sends base64 of ``user:secret``; a proxy echoing an Authorization header shows it."""
    header = "Authorization: Basic " + base64.b64encode(b"x:" + live.value.encode()).decode()
    out = _redaction.redact("echo: " + header)
    assert find_canary(out, live.value) == [], out


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer {s}",
        "api-key: {s}",
        "x-api-key={s}",
        '{{"refresh_token": "{s}"}}',
        "access_token={s}&x=1",
    ],
)
def test_unregistered_secret_in_known_positions_is_redacted(text):
    secret = "zz" + secrets.token_urlsafe(24)
    out = _redaction.redact(text.format(s=secret))
    assert secret not in out and "[REDACTED" in out


def test_jwt_shape_and_key_prefixes_redacted_without_registration():
    header = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
    jwt = f"{header}.eyJzdWIiOiIxMjMifQ.{secrets.token_urlsafe(32)}"
    key = "ak_" + secrets.token_urlsafe(24)
    out = _redaction.redact(f"tokens {jwt} and {key} here")
    assert jwt not in out and key not in out


def test_forget_stops_value_matching(canary):
    _redaction.register(canary.value)
    _redaction.forget(canary.value)
    assert _redaction.redact(canary.value) == canary.value  # no stale secrets kept around


def test_short_values_are_not_registered():
    _redaction.register("abc1234")
    assert _redaction.redact("abc1234 is fine") == "abc1234 is fine"


# the log filter redacts by value, not only by header name --------------------------------------
def _emit_through(name, live_value):
    """What reaches the root's handlers (message and arguments) of three DEBUG records on ``name``."""
    _redaction.install_log_filters()
    logger = logging.getLogger(name)
    with captured_logs(debug=(name,)) as records:
        logger.debug("sent headers %s", {"X-Unusual-Name": live_value})
        logger.debug("free text with %s inside", live_value)
        logger.debug("url-encoded %s", quote(live_value, safe=""))
    return [(r["message"], r["args"]) for r in records]


@pytest.mark.parametrize("name", ["freddy_magic", "urllib3", "urllib3.connectionpool", "requests"])
def test_filter_redacts_by_value_on_filtered_loggers(live, name):
    records = _emit_through(name, live.value)
    assert len(records) == 3
    assert find_canary(records, live.value) == []


def test_filter_covers_every_transport_logger_that_exists(live):
    """Filters on a logger do not see records of its children, so each emitting logger needs one.

    Every urllib3/requests logger that exists once requests is imported must redact.
    """
    import requests  # noqa: F401 - importing it creates the transport loggers

    names = sorted(n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("urllib3", "requests"))
    leaking = [n for n in names if find_canary(_emit_through(n, live.value), live.value)]
    assert leaking == [], f"loggers without a redacting filter: {leaking}"


def test_filter_survives_malformed_records(live):
    _redaction.install_log_filters()
    with captured_logs(on="freddy_magic") as records:
        logging.getLogger("freddy_magic").warning("two args %s %s but one given " + live.value, "x")
    assert records and find_canary(records, live.value) == []


# key-like argument detection -------------------------------------------------------------------
HEX = "0123456789abcdef"
URLSAFE = string.ascii_letters + string.digits + "-_"


def _random_token(alphabet):
    """Real-looking random tokens from a seed hypothesis picks (so runs repeat, and shrinking
    changes the seed rather than making the token degenerate)."""

    def make(seed, n):
        rng = random.Random(seed)
        return "".join(rng.choice(alphabet) for _ in range(n))

    return st.builds(make, st.integers(0, 2**32), st.integers(24, 64))


KEY_SHAPES = st.one_of(
    st.builds(
        lambda p, t: p + t,
        st.sampled_from(["ak_", "sk-", "oak_", "fl_user_", "rtok_", "sk-frdy-"]),
        st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=16, max_size=64),
    ),
    _random_token(URLSAFE),
    _random_token(HEX),
    _random_token(HEX).map(lambda t: "fm-canary-" + t[:32].ljust(32, "0")),
    st.builds(
        lambda a, b: "eyJ" + a + "." + b + ".sig",
        st.text(alphabet=string.ascii_letters + string.digits, min_size=10, max_size=40),
        st.text(alphabet=string.ascii_letters + string.digits, min_size=10, max_size=40),
    ),
)


@settings(max_examples=100)
@given(key=KEY_SHAPES, quoting=st.sampled_from(["{}", "'{}'", '"{}"', "--key={}", "key={}"]))
def test_every_key_shape_is_detected(key, quoting):
    assert _redaction.looks_like_secret(quoting.format(key))


CATALOG_AND_OPTIONS = [
    "ftg-3.0",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "claude-3-5-sonnet",
    "o3-preview",
    "0.2",
    "--concurrency",
    "8",
    "-o",
    "answer",
    "rows",
    "--over",
    "df",
    "--dry-run",
    "https://api.freddy.aitronos.com",
    "http://127.0.0.1:8080",
    "notebooks/quickstart.ipynb",
    "FREDDY_API_KEY",
    "markdown",
    "json",
    "text",
]


@pytest.mark.parametrize("word", CATALOG_AND_OPTIONS)
def test_model_names_urls_and_options_are_never_flagged(word):
    assert not _redaction.looks_like_secret(word)


WORDS = [
    "customer",
    "reviews",
    "results",
    "final",
    "data",
    "df",
    "answers",
    "prompt",
    "rows",
    "summary",
    "train",
    "test",
    "eval",
    "batch",
    "topic",
    "question",
    "model",
    "output",
    "table",
    "sales",
]


def _identifier(rng):
    parts = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
    digits = rng.choice(["", "2", "v2", "2023", "2024", "q3"])
    return rng.choice("_-").join(parts + ([digits] if digits else []))


def test_identifier_false_positive_rate_within_budget():
    """Variable and column names a user passes to -o / --over must almost never be refused.

    Budget: at most 1 in 50 realistic snake/kebab-case identifiers (a fixed-seed sample).
    """
    rng = random.Random(6)
    samples = sorted({_identifier(rng) for _ in range(400)})
    flagged = [w for w in samples if _redaction.looks_like_secret(w)]
    assert len(flagged) <= len(samples) // 50, f"{len(flagged)}/{len(samples)} flagged, e.g. {flagged[:8]}"


def test_filter_redacts_the_traceback_of_log_exception(live):
    """``log.exception`` carries exc_info; handlers format it *after* filters run, so the filter
    must render and redact the traceback itself or the exception message leaks."""
    lines = []

    class Formatting(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    _redaction.install_log_filters()
    handler = Formatting()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("freddy_magic")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("header value rejected: " + live.value)
        except ValueError:
            logger.exception("prompt callback failed")
    finally:
        logger.removeHandler(handler)
    assert lines and "ValueError" in lines[0]
    assert find_canary(lines, live.value) == [], lines[0]


@pytest.mark.security
def test_f3_a_masked_secret_is_text_to_its_users_and_a_fingerprint_to_every_repr(canary):
    secret = Masked(canary.value)
    assert str(secret) == canary.value and f"{secret}" == canary.value and secret.encode() == canary.value.encode()
    assert json.dumps({"k": secret}) == json.dumps({"k": canary.value}) and secret == canary.value
    assert repr(secret) == f"'<secret {_redaction.fingerprint(canary.value)}>'"
    assert copy.copy(secret) is secret and copy.deepcopy({"k": secret})["k"] is secret
    with pytest.raises(TypeError):
        pickle.dumps(secret)

    def send(headers, body):  # a frame holding the secret as a transport would
        raise KeyboardInterrupt

    try:
        send({"api-key": secret}, {"refresh_token": secret})
    except KeyboardInterrupt as exc:
        frame = exc.__traceback__.tb_next  # send's own frame, as %xmode Verbose and %debug show it
        verbose = "\n".join(VerboseTB().structured_traceback(type(exc), exc, frame))
        shown = [verbose, repr(frame.tb_frame.f_locals), pprint.pformat(frame.tb_frame.f_locals)]
    assert "refresh_token" in shown[0] and "<secret fp=" in shown[0], "control: the locals were not rendered"
    assert canary.find(shown) == []
