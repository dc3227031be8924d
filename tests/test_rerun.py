"""Batches that finish: ``--over`` repeats transiently failed rows and counts the repeats, and
``--only-failed`` re-runs the failed rows of an earlier result, merged back in order.

Failures are the sandbox's own faults on a sandbox of the test's own, so the server's request
count says exactly how many requests each run sent.
"""

import threading

import pytest
from IPython.core.error import UsageError

from freddy_magic._errors import APIError, ConnectionFailed, RateLimited, Timeout
from freddy_magic._rerun import RowRetry, transient
from freddy_magic._results import Row, Rows
from freddy_magic.sandbox._dialects import pick

pd = pytest.importorskip("pandas")
RESPONSE = "/v1/model/response"
TEMPLATE = "Explain {topic} to {who}."


@pytest.fixture
def own(make_connected, ip):
    """A sandbox of this test's own (exact request counts), the extension connected to it."""
    _magics, sandbox = make_connected(rate_limit=None)
    ip.user_ns["inputs"] = [{"topic": f"topic {i}", "who": f"reader {i}"} for i in range(10)]
    return sandbox


def statuses(rows):
    return [row["status"] for row in rows]


# which failures are repeated -------------------------------------------------------------------
@pytest.mark.security
@pytest.mark.parametrize(
    "error, repeated",
    [
        (APIError("x", status=503), True),
        (APIError("x", status=500), True),
        (APIError("x", status=502), True),
        (APIError("x", status=400), False),
        (APIError("x", status=422), False),
        (APIError("a stream event without a status"), False),
        (RateLimited("x", status=429), False),
        (ConnectionFailed("reset after sending", code="sent"), True),
        (ConnectionFailed("refused", code="connect"), True),
        (ConnectionFailed("TLS verification failed", code="fatal"), False),
        (Timeout("read timeout", code="sent"), True),
        (Timeout("the call's overall deadline passed"), False),
    ],
)
def test_j_over_repeats_only_passing_failures(error, repeated):
    assert transient(error) is repeated


def test_row_retry_keeps_its_budget_and_stops_with_the_batch():
    retry = RowRetry(2, rng=lambda: 0.0)
    stop = threading.Event()
    busy = APIError("x", status=503)
    assert retry.again(busy, 0, stop) and retry.again(busy, 1, stop)
    assert not retry.again(busy, 2, stop), "the budget is spent"
    assert not retry.again(APIError("x", status=400), 0, stop)
    stop.set()
    waiting = RowRetry(2, rng=lambda: 1.0)  # would wait 0.5 s, but the batch has stopped
    assert not waiting.again(busy, 0, stop)


class _Stop(threading.Event):
    """A batch's stop event that records each wait instead of waiting."""

    def __init__(self):
        super().__init__()
        self.waits = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return False


def test_a_row_waits_what_a_503_asks_for_up_to_the_cap_else_backs_off():
    retry, stop = RowRetry(3, rng=lambda: 1.0, max_wait=60.0), _Stop()
    asked = APIError("x", status=503)
    asked.retry_after = 7.0
    too_long = APIError("x", status=503)
    too_long.retry_after = 3600.0
    for error in (asked, too_long, APIError("x", status=503)):
        assert retry.again(error, 0, stop)
    assert stop.waits == [7.0, 0.5, 0.5]  # the backoff of a first repeat with the jitter at its top


# --over repeats transient failures -------------------------------------------------------------
@pytest.mark.parametrize("fault", ["status=503 times=6", "reset times=3", "status=502 times=2"])
def test_over_repeats_transient_failures_and_counts_them_in_retries(own, ip, fault):
    failures = int(fault.rsplit("=", 1)[1])
    # Which rows meet the faults depends on thread timing; a budget as large as the number of
    # faults lets even one row meet them all, so every row ends ok whatever the order.
    ip.run_line_magic("config", f"FreddyMagics.max_retries = {failures}")
    own.faults.add(f"POST {RESPONSE} {fault}")
    rows = ip.run_cell_magic("freddy", "--over inputs --concurrency 4", TEMPLATE)
    assert statuses(rows) == ["ok"] * 10, [row["error"] for row in rows]
    assert sum(row["retries"] for row in rows) == failures
    assert all(row["retries"] <= failures for row in rows), "each row within the retry budget"
    assert own.calls(RESPONSE, "POST") == 10 + failures
    assert [row["topic"] for row in rows] == [f"topic {i}" for i in range(10)]


@pytest.mark.security
def test_j_over_does_not_repeat_a_client_error(own, ip):
    own.faults.add(f"POST {RESPONSE} status=400 times=2")
    rows = ip.run_cell_magic("freddy", "--over inputs --concurrency 1", TEMPLATE)
    assert statuses(rows) == ["error"] * 2 + ["ok"] * 8
    assert [row["retries"] for row in rows[:2]] == [0, 0]
    assert own.calls(RESPONSE, "POST") == 10


def test_over_gives_up_when_the_budget_is_spent(own, ip):
    ip.run_line_magic("config", "FreddyMagics.max_retries = 1")
    ip.user_ns["inputs"] = ip.user_ns["inputs"][:3]
    own.faults.add(f"POST {RESPONSE} status=503 times=forever")
    with pytest.raises(UsageError, match="All 3 requests failed"):
        ip.run_cell_magic("freddy", "--over inputs", TEMPLATE)
    log = ip.run_line_magic("freddy", "log")
    assert [row["retries"] for row in log] == [1, 1, 1]
    assert own.calls(RESPONSE, "POST") == 6


@pytest.mark.security
def test_j_a_single_call_is_not_repeated_by_the_notebook(own, ip):
    own.faults.add(f"POST {RESPONSE} status=503 times=1")
    with pytest.raises(UsageError, match="HTTP 503"):
        ip.run_cell_magic("freddy", "--no-stream", "Say hi")
    assert own.calls(RESPONSE, "POST") == 1


# --only-failed ---------------------------------------------------------------------------------
def failed_run(own, ip, failures=3, line="--over inputs --concurrency 4 -o rows"):
    """A first run with ``failures`` rows lost to 503s (no retries left to save them)."""
    ip.run_line_magic("config", "FreddyMagics.max_retries = 0")
    own.faults.add(f"POST {RESPONSE} status=503 times={failures}")
    rows = ip.run_cell_magic("freddy", line, TEMPLATE)
    assert statuses(rows).count("error") == failures
    return list(rows)


def test_only_failed_reruns_just_the_failed_rows_and_merges_them_in_order(own, ip):
    first = failed_run(own, ip)
    sent = own.calls(RESPONSE, "POST")
    merged = ip.run_cell_magic("freddy", "--over rows --only-failed -o rows", TEMPLATE)
    assert isinstance(merged, Rows) and ip.user_ns["rows"] is merged
    assert statuses(merged) == ["ok"] * 10
    assert own.calls(RESPONSE, "POST") == sent + 3, "only the failed rows were sent again"
    for before, after in zip(first, merged):
        if before["status"] == "ok":
            assert after is before, "a row that was fine is kept as it was"
        else:
            assert after["prompt"] == before["prompt"] and after["topic"] == before["topic"]
            assert after["response_id"] and after["text"].startswith(f"[sandbox {pick(own.dialect).default_model}]")
    assert [row["topic"] for row in merged] == [f"topic {i}" for i in range(10)]
    log = ip.run_line_magic("freddy", "log")
    assert len(log) == 13, "the log has every call: ten, then the three again"


def test_only_failed_keeps_each_rows_model(own, ip):
    ip.user_ns["inputs"] = ip.user_ns["inputs"][:3]
    first = failed_run(own, ip, failures=4, line="--over inputs -m gpt-4o-mini,gpt-4o --concurrency 1 -o rows")
    merged = ip.run_cell_magic("freddy", "--over rows --only-failed", TEMPLATE)
    assert [row["model"] for row in merged] == [row["model"] for row in first] == ["gpt-4o-mini", "gpt-4o"] * 3
    assert statuses(merged) == ["ok"] * 6
    assert all(row["text"].startswith(f"[sandbox {row['model']}]") for row in merged)


def test_only_failed_from_a_dataframe_of_the_result(own, ip):
    failed_run(own, ip, failures=2)
    ip.user_ns["table"] = pd.DataFrame(ip.user_ns["rows"])
    merged = ip.run_cell_magic("freddy", "--over table --only-failed", TEMPLATE)
    assert statuses(merged) == ["ok"] * 10 and all(isinstance(row, Row) for row in merged)
    assert list(pd.DataFrame(merged)["topic"]) == [f"topic {i}" for i in range(10)]


def test_only_failed_gives_colliding_input_columns_back_their_names(own, ip):
    ip.user_ns["inputs"] = [{"topic": "tides", "who": "a sailor", "text": f"note {i}"} for i in range(3)]
    failed_run(own, ip, failures=1, line="--over inputs --concurrency 1 -o rows")
    assert "input_text" in ip.user_ns["rows"][0]
    merged = ip.run_cell_magic("freddy", "--over rows --only-failed", "About {topic} for {who}, see {text}")
    assert merged[0]["prompt"] == "About tides for a sailor, see note 0" and merged[0]["input_text"] == "note 0"


def test_only_failed_with_nothing_failed_sends_nothing(own, ip, shown):
    rows = ip.run_cell_magic("freddy", "--over inputs -o rows", TEMPLATE)
    sent = own.calls(RESPONSE, "POST")
    again = ip.run_cell_magic("freddy", "--over rows --only-failed", TEMPLATE)
    assert list(again) == list(rows) and own.calls(RESPONSE, "POST") == sent
    assert any("No failed rows in rows: nothing was sent." in m["data"].get("text/plain", "") for m in shown.messages)


def test_only_failed_dry_run_previews_just_the_failed_rows(own, ip):
    first = failed_run(own, ip, failures=2)
    sent = own.calls(RESPONSE, "POST")
    previews = ip.run_cell_magic("freddy", "--over rows --only-failed --dry-run", TEMPLATE)
    failed_prompts = [row["prompt"] for row in first if row["status"] != "ok"]
    assert [p["json"]["inputs"][0]["content"] for p in previews] == failed_prompts
    assert own.calls(RESPONSE, "POST") == sent


@pytest.mark.parametrize(
    "line, words",
    [
        ("--only-failed", "name it with --over"),
        ("--over rows --only-failed -m gpt-4o", "leave out -m"),
        ("--over inputs --only-failed", "is not the result of an earlier %%freddy --over run"),
        ("--over nothing_here --only-failed", "no variable of that name"),
    ],
)
def test_only_failed_misuse_is_a_one_line_error(own, ip, line, words):
    ip.user_ns["rows"] = [Row(model="ftg-3.0", prompt="p", status="error", topic="t", who="w")]
    sent = own.calls(RESPONSE, "POST")
    with pytest.raises(UsageError) as refused:
        ip.run_cell_magic("freddy", line, TEMPLATE)
    assert words in str(refused.value) and "\n" not in str(refused.value)
    assert own.calls(RESPONSE, "POST") == sent
