"""Every finished answer ends with model, time and tokens, and says when it was cut off."""

import pytest

from freddy_magic._footer import footer_markdown, footer_text, seconds_text
from freddy_magic._results import make_row


def test_the_footer_names_model_seconds_and_tokens():
    row = make_row("ftg-3.0", "p", text="hi")
    row.update(latency_s=0.416641014000015275, input_tokens=14, output_tokens=110, stop_reason="end_turn")
    assert footer_text(row) == "ftg-3.0 · 0.42 s · 14 → 110 tokens"


def test_a_count_the_api_did_not_give_is_unknown_never_zero():
    row = make_row("ftg-3.0", "p", text="hi", latency_s=2.345)
    assert footer_text(row) == "ftg-3.0 · 2.3 s · tokens unknown"


@pytest.mark.parametrize(("reason", "said"), [("max_tokens", "stopped: max tokens"), ("tool_use", "stopped: tool use")])
def test_an_answer_that_did_not_finish_by_itself_says_why(reason, said):
    row = make_row("m", "p", text="Once upon", latency_s=0.1)
    row["stop_reason"] = reason
    assert footer_text(row).endswith(f" · {said}")


def test_seconds_read_like_a_person_would_say_them():
    assert [seconds_text(s) for s in (0.016641014000015275, 3.14159, 75.4, None)] == ["0.02 s", "3.1 s", "75 s", ""]


def test_the_markdown_footer_is_escaped_and_quiet():
    row = make_row("<b>m</b>", "p", text="hi")
    markdown = footer_markdown(row)
    assert "&lt;b&gt;m&lt;/b&gt;" in markdown and "var(--jp-ui-font-color2" in markdown


def test_a_cut_off_answer_says_so_under_it_in_the_cell(connected, ip, shown):
    row = ip.run_cell_magic("freddy", "-m gpt-4o-mini --max-tokens 5", "Tell me a long story about the sea.")
    assert row["stop_reason"] == "max_tokens"
    final = shown.messages[-1]["data"]["text/markdown"]
    assert final.startswith(row["text"]) and "stopped: max tokens</span>" in final
    counted = row["output_tokens"] is not None  # the current dialect sends no usage
    tokens = f"{row['input_tokens']} → {row['output_tokens']} tokens" if counted else "tokens unknown"
    assert "gpt-4o-mini · " in final and tokens in final


def test_dry_run_is_labelled_not_sent(connected, ip, shared_sandbox):
    preview = ip.run_cell_magic("freddy", "--dry-run -m ftg-3.0", "Hello")
    bundle = preview._repr_mimebundle_()
    assert bundle["text/markdown"].startswith(f"**Not sent (--dry-run): POST {shared_sandbox.url}/v1/model/response**")
    assert (
        bundle["text/plain"].startswith("Not sent (--dry-run): POST") and '"model": "ftg-3.0"' in bundle["text/plain"]
    )
    assert preview["json"]["model"] == "ftg-3.0"  # still the plain request dict
