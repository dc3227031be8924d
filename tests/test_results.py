"""Rows are flat, exact, DataFrame-ready; displays say when they truncate."""

import copy
import pickle
import subprocess
import sys
from types import SimpleNamespace

import pytest

from freddy_magic._results import ROW_COLUMNS, Row, Rows, Status, make_row, model_rows

pd = pytest.importorskip("pandas")

COMPLETION = SimpleNamespace(
    text="Hello *there*",
    response_id="resp_1",
    thread_id="thread_1",
    stop_reason="end_turn",
    input_tokens=3,
    output_tokens=5,
    retries=0,
    latency_s=0.12,
    ttft_s=0.01,
    model="ftg-3.0",
    raw={"nested": {"never": "in a row"}},
)


def test_row_has_exactly_the_design_columns_in_order():
    row = make_row("ftg-3.0", "Hi", completion=COMPLETION)
    assert tuple(row) == ROW_COLUMNS
    assert row["text"] == "Hello *there*" and row["status"] == "ok" and row["error"] is None
    assert row["created_at"].endswith("+00:00")
    assert all(value is None or isinstance(value, (str, int, float)) for value in row.values())


def test_error_row_keeps_prompt_and_reason():
    row = make_row("gpt-4o", "Hi", status="error", error="RateLimited: slow down", latency_s=0.123456)
    assert row["status"] == "error" and row["error"] == "RateLimited: slow down"
    assert row["text"] is None and row["latency_s"] == 0.1235 and row["model"] == "gpt-4o"


def test_input_columns_come_first_and_collisions_are_renamed():
    row = make_row("m", "p", completion=COMPLETION, extra={"topic": "owls", "text": "input text"})
    assert list(row)[:2] == ["topic", "input_text"]
    assert row["input_text"] == "input text" and row["text"] == "Hello *there*"
    assert tuple(row)[2:] == ROW_COLUMNS


@pytest.mark.parametrize("shape", ["one row wrapped", "rows", "rows with inputs", "models", "empty"])
def test_every_result_shape_makes_a_dataframe(shape):
    ok = make_row("m", "p", completion=COMPLETION)
    bad = make_row("m", "p", status="error", error="APIError: 500")
    data = {
        "one row wrapped": [ok],
        "rows": Rows([ok, bad]),
        "rows with inputs": Rows([make_row("m", "p", completion=COMPLETION, extra={"topic": t}) for t in "ab"]),
        "models": model_rows(
            [
                {
                    "id": "mdl_1",
                    "key": "gpt-4o",
                    "capabilities": ["streaming", "vision"],
                    "pricing": {"message": "n/a"},
                    "context_window": 128000,
                }
            ]
        ),
        "empty": Rows(),
    }[shape]
    frame = pd.DataFrame(data)
    assert len(frame) == len(data)
    if shape == "rows":
        assert list(frame.columns) == list(ROW_COLUMNS)
        assert list(frame["status"]) == ["ok", "error"]
    if shape == "models":
        assert frame.loc[0, "key"] == "gpt-4o" and frame.loc[0, "capabilities"] == "streaming, vision"
        assert frame.loc[0, "pricing"] == '{"message": "n/a"}'


def test_rows_table_truncates_and_says_so():
    rows = Rows([make_row("m", f"p{i}", completion=COMPLETION) for i in range(7)], display_limit=3)
    html = rows._repr_html_()
    assert html.count("<tr>") == 4  # header + 3
    assert "Showing the first 3 of 7 rows" in html
    assert "Showing the first 3 of 7 rows" in rows._repr_mimebundle_()["text/plain"]
    assert "Showing" not in Rows(rows[:3], display_limit=3)._repr_html_()


def test_table_escapes_html_and_shortens_long_cells_only_in_display():
    long_text = "<script>x</script>" + "a" * 1000
    rows = Rows([make_row("m", "p", text=long_text)])
    html = rows._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "…" in html
    assert rows[0]["text"] == long_text


def test_a_result_shown_by_the_magic_is_not_displayed_twice_but_stays_displayable(ip, shown):
    ip.user_ns["row"] = make_row("m", "p", completion=COMPLETION).mark_shown()
    ip.run_cell("row")
    assert shown.messages == [] and ip.user_ns["_"] is ip.user_ns["row"]
    ip.run_cell("row")
    assert shown.texts() == ["Hello *there*"]


def test_rows_pickle_and_copy_as_plain_data():
    rows = Rows([make_row("m", "p", completion=COMPLETION)], display_limit=9)
    again = pickle.loads(pickle.dumps(rows))
    assert again == rows and again.display_limit == 9 and isinstance(again[0], Row)
    assert copy.deepcopy(rows) == rows


def test_status_is_loud_about_the_sandbox():
    status = Status(title="Connected", method="api-key", key="fp=1a2b3c4d", sandbox=True, notice="Answers are FAKE")
    assert "SANDBOX: answers are fake" in status.line()
    assert "<strong" in status._repr_html_() and "**SANDBOX" in status._repr_markdown_()
    assert "SANDBOX" not in Status(title="Connected", method="api-key").line()


def test_results_module_imports_neither_ipython_nor_pandas():
    code = (
        "import sys, freddy_magic._results as r; r.make_row('m','p'); "
        "print([m for m in ('IPython', 'pandas', 'requests') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_usage_reads_unknown_not_zero():
    """An answer without ``usage`` keeps None in the data and says "unknown" where it is shown."""
    row = make_row(None, "p", text="t", latency_s=0.5)
    assert row["model"] == "server default" and row["input_tokens"] is None and row["output_tokens"] is None
    assert "tokens unknown" in row.summary() and "0+0" not in row.summary()
    counted = make_row("m", "p", text="t")
    counted.update(input_tokens=3, output_tokens=0)
    assert "3+0 tokens" in counted.summary()
    table = Rows([row])._repr_html_()
    assert "<td class='freddy-num'>unknown</td>" in table and "0 →" not in table and "→ 0" not in table
    failed = Rows([make_row("m", "p", status="error", error="e")])._repr_html_()
    assert "unknown" not in failed, "a failed call has no tokens to be unknown about"


def test_blocks_are_a_column_of_the_row():
    from freddy_magic._payloads import completion_from_json

    call = {"type": "tool_call", "tool_name": "f"}
    done = completion_from_json({"response_blocks": [call]}, model="m", retries=0, latency_s=0.1)
    row = make_row("m", "p", completion=done)
    assert row["blocks"] == [call] and row["text"] == ""
    assert make_row("m", "p", text="t")["blocks"] is None
