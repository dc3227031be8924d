"""The live check against the sandbox: all ok as it is, each planted wrong shape reported, each
documented variant tolerated, the paid calls announced first, and no secret in what it prints."""

import pytest
import requests

from freddy_magic._auth import Credential
from freddy_magic._check import DIFFERS, OK, SKIPPED, TOLERATED, run_check
from freddy_magic._client import FreddyClient
from freddy_magic.sandbox import Fault, Sandbox
from freddy_magic.sandbox._misshapes import DOCUMENTED_VARIANTS, WRONG_SHAPES, Misshapes

from .clients import signed_in
from .key_alias import KeyAlias

STEPS = ["models", "refresh", "answer", "stream", "thread", "error 4xx", "rate limit"]

# Each planted wrong shape and the one step whose row must report it.
CAUGHT_BY = {
    "models-renamed": "models",
    "models-count-as-text": "models",
    "model-without-key": "models",
    "answer-success-as-text": "answer",
    "answer-without-thread": "answer",
    "answer-text-as-number": "answer",
    "answer-usage-as-text": "answer",
    "error-without-code": "error 4xx",
    "error-status-as-text": "error 4xx",
    "error-as-500": "error 4xx",
    "refresh-without-access-token": "refresh",
    "ratelimit-remaining-as-text": "rate limit",
    "stream-delta-as-object": "stream",
    "stream-without-completion": "stream",
    "stream-completed-without-response-id": "stream",
    "stream-other-thread": "thread",
    "stream-as-json": "stream",
    "stream-not-json": "stream",
}
# Each documented variant and the step whose row must say "tolerated".
TOLERATED_BY = {
    "data-only-frames": "stream",
    "done-after-completed": "stream",
    "done-without-completed": "stream",
    "heartbeats": "stream",
    "no-usage": "answer",
    "no-usage-in-stream": "stream",
    "blocks-only": "answer",
    "string-response": "answer",
    "no-ratelimit-headers": "rate limit",
    "token-alias": "refresh",
    "fastapi-422": "error 4xx",
}


def verdicts(report):
    return {row.step: row.verdict for row in report.rows}


def checked(middleware=None, bearer=True, dialect="classic", **kw):
    """The check against a sandbox of ``dialect``: the planted shapes bend the classic one."""
    with Sandbox(rate_limit="100/60s", middleware=middleware, dialect=dialect) as sb:
        client = signed_in(sb) if bearer else FreddyClient(sb.url, Credential.api_key(sb.api_key))
        try:
            return run_check(client, announce=lambda text: None, **kw)
        finally:
            client.close()


def test_every_verdict_is_ok_against_the_sandbox_with_a_refreshable_session():
    report = checked()
    assert [row.step for row in report.rows] == STEPS
    assert set(verdicts(report).values()) == {OK}, report.text()
    assert report.differences == [] and "7 ok, 0 differs, 0 tolerated, 0 skipped." in report.text()


def test_against_the_newest_documented_dialect_nothing_differs():
    report = checked(dialect="current")
    found = verdicts(report)
    assert report.differences == [], report.text()
    assert {step for step, verdict in found.items() if verdict.startswith(TOLERATED)} == {"answer", "stream"}
    assert "usage absent" in report.text() and "[DONE]" in report.text()


def test_an_api_key_session_skips_only_the_refresh(sandbox):
    client = FreddyClient(sandbox.url, Credential.api_key(sandbox.api_key))
    report = run_check(client, announce=lambda text: None)
    rows = verdicts(report)
    assert rows.pop("refresh") == SKIPPED
    assert rows.pop("rate limit") == TOLERATED  # the fixture's sandbox has no rate limit: no headers
    assert set(rows.values()) == {OK}, report.text()


def test_the_refresh_renews_the_token_and_the_later_calls_use_the_new_one(sandbox):
    client = signed_in(sandbox)
    report = run_check(client, announce=lambda text: None)
    assert client.credential.refreshes == 1
    assert verdicts(report)["answer"] == OK and sandbox.calls("/v1/auth/refresh") == 1


def test_the_paid_calls_are_announced_before_they_are_sent(sandbox):
    client = FreddyClient(sandbox.url, Credential.api_key(sandbox.api_key))
    notices = []
    run_check(client, announce=lambda text: notices.append((text, sandbox.calls("/v1/model/response"))))
    ((notice, calls_then),) = notices
    assert calls_then == 0
    assert "2 paid calls follow" in notice and "--no-paid skips them" in notice and "billed to nobody" in notice
    assert sandbox.calls("/v1/model/response") == 3  # the answer, the stream, the deliberate 4xx


def test_no_paid_sends_only_the_refused_request(sandbox):
    client = FreddyClient(sandbox.url, Credential.api_key(sandbox.api_key))
    notices = []
    report = run_check(client, paid=False, announce=notices.append)
    assert notices == [] and sandbox.calls("/v1/model/response") == 1
    rows = verdicts(report)
    assert [rows[step] for step in ("answer", "stream", "thread")] == [SKIPPED] * 3
    assert rows["error 4xx"] == OK and "no paid calls" in report.text()


@pytest.mark.parametrize(
    "configured, expected",
    [
        ("gpt-4o", "model gpt-4o (configured)"),
        (
            "not-in-this-catalog",
            "model ftg-3.0 (first in the catalog; the configured not-in-this-catalog is not in it)",
        ),
        (None, "model ftg-3.0 (first in the catalog)"),
    ],
)
def test_the_model_is_the_configured_one_only_when_the_catalog_lists_it(sandbox, configured, expected):
    client = FreddyClient(sandbox.url, Credential.api_key(sandbox.api_key))
    report = run_check(client, model=configured, announce=lambda text: None)
    assert expected in report.text() and verdicts(report)["answer"] == OK


def test_every_wrong_shape_has_a_step_that_must_catch_it():
    assert set(CAUGHT_BY) == set(WRONG_SHAPES) and len(WRONG_SHAPES) == 18
    assert set(TOLERATED_BY) == set(DOCUMENTED_VARIANTS)


@pytest.mark.parametrize("misshape", sorted(WRONG_SHAPES))
def test_each_wrong_shape_is_reported_where_it_is(misshape):
    report = checked(Misshapes(misshape))
    rows = verdicts(report)
    assert rows.pop(CAUGHT_BY[misshape]) == DIFFERS, report.text()
    assert DIFFERS not in rows.values(), report.text()
    assert "paste this whole report" in report.text()


@pytest.mark.parametrize("variant", sorted(DOCUMENTED_VARIANTS))
def test_each_documented_variant_is_tolerated_not_failed(variant):
    report = checked(Misshapes(variant))
    rows = verdicts(report)
    assert rows.pop(TOLERATED_BY[variant]) == TOLERATED, report.text()
    assert set(rows.values()) == {OK}, report.text()


def test_the_newest_documented_stream_passes_as_a_whole():
    report = checked(Misshapes("data-only-frames", "heartbeats", "done-without-completed", "no-usage", "blocks-only"))
    assert not report.differences, report.text()
    assert verdicts(report)["thread"] == OK


def test_the_report_shows_names_and_types_never_values(sandbox):
    client = FreddyClient(sandbox.url, Credential.api_key(sandbox.api_key))
    report = run_check(client, announce=lambda text: None)
    text = report.text()
    assert "{delta: str}" in text and "total_count: int" in text
    (thread,) = client.threads().data
    values = [thread["id"], sandbox.organization_id, *(model["name"] for model in client.models())]
    values += [message["content"] for message in client.messages(thread["id"]).data]
    assert len(values) > 6 and all(value and value not in text for value in values)
    assert text == str(report) == report._repr_mimebundle_()["text/plain"]


@pytest.mark.security
def test_the_output_holds_no_planted_key_even_when_the_server_echoes_it(canary):
    alias = KeyAlias(canary.value)
    with Sandbox(rate_limit="100/60s", middleware=alias, dialect="classic") as sb:
        alias.real = sb.api_key
        client = FreddyClient(sb.url, Credential.api_key(canary.value))
        shown = []
        clean = run_check(client, announce=shown.append)
        assert set(verdicts(clean).values()) == {OK, SKIPPED}, clean.text()
        for method, path in (("GET", "/v1/models"), ("POST", "/v1/model/response")):
            sb.faults.add(Fault(method=method, path=path, kind="echo", times=None))
        hostile = run_check(client, announce=shown.append)
        client.close()
        echoed = requests.get(sb.url + "/v1/models", headers={"api-key": canary.value}, timeout=10).text
    assert canary.find(echoed), "control: the hostile server does echo the planted key"
    assert verdicts(hostile)["models"] == DIFFERS and "Api-Key: str" in hostile.text()  # the echo was read
    canary.assert_absent([clean.text(), hostile.text(), *shown, repr(clean.rows), repr(hostile.rows)])


# -- the magic --------------------------------------------------------------------------------


def test_freddy_check_announces_the_paid_calls_then_returns_the_report(connected, shared_sandbox, shown):
    before = shared_sandbox.calls("/v1/model/response")
    report = connected.shell.run_line_magic("freddy", "check")
    assert DIFFERS not in verdicts(report).values(), report.text()
    (notice,) = [text for text in shown.texts("text/plain") if text and "paid calls follow" in text]
    assert "billed to nobody" in notice
    assert shared_sandbox.calls("/v1/model/response") == before + 3
    assert connected.session.log == []  # the check is not the user's work: it stays out of %freddy log


def test_freddy_check_no_paid_sends_no_model_call(connected, shared_sandbox, shown):
    before = shared_sandbox.calls("/v1/model/response")
    report = connected.shell.run_line_magic("freddy", "check --no-paid")
    assert shared_sandbox.calls("/v1/model/response") == before + 1  # only the refused one
    assert verdicts(report)["answer"] == SKIPPED
    assert not [text for text in shown.texts("text/plain") if text and "paid calls" in text]


def test_freddy_check_uses_the_configured_model_when_the_catalog_has_it(connected):
    connected.model = "gpt-4o"
    assert "model gpt-4o (configured)" in connected.shell.run_line_magic("freddy", "check --no-paid").text()


def test_freddy_check_before_connecting_fails_with_the_remedy(magics):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError) as caught:
        magics.shell.run_line_magic("freddy", "check")
    assert "Not authenticated" in str(caught.value) and "%freddy_auth" in str(caught.value)


def test_no_paid_belongs_to_the_check_not_to_a_cell(connected, shared_sandbox):
    from IPython.core.error import UsageError

    before = shared_sandbox.calls("/v1/model/response")
    with pytest.raises(UsageError, match="--no-paid belongs to `%freddy check`"):
        connected.shell.run_cell_magic("freddy", "--no-paid", "hi")
    with pytest.raises(UsageError, match="`%freddy models` does not take --no-paid"):
        connected.shell.run_line_magic("freddy", "models --no-paid")
    assert shared_sandbox.calls("/v1/model/response") == before
