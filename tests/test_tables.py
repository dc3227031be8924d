"""The table of a list of rows reads like a preview: few columns, one line each, failures marked."""

import re
from html.parser import HTMLParser

from freddy_magic._results import Rows, make_row, model_rows
from freddy_magic._tables import table_html, tokens_text


class _Cells(HTMLParser):
    """Header texts, and per body row its class and its cells' (classes, title, text)."""

    def __init__(self, page):
        super().__init__()
        self.head, self.rows, self._cell, self._in_head = [], [], None, False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self.rows.append({"class": attrs.get("class", ""), "cells": []})
        elif tag in ("td", "th"):
            self._cell = [attrs.get("class", ""), attrs.get("title"), ""]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            (self.head if self._in_head else self.rows[-1]["cells"]).append(tuple(self._cell))
            self._cell = None


def _batch(n, **kwargs):
    rows = [
        make_row(
            "ftg-3.0",
            f"Explain {i}",
            text=f"Answer {i} " + "word " * 300,
            latency_s=0.016641014000015275,
            extra={"term": f"t{i}", "audience": "kids", "doc_id": f"d{i}", "essay": "x" * 500},
        )
        for i in range(n)
    ]
    return Rows(rows, **kwargs)


def test_a_batch_shows_inputs_model_status_excerpt_latency_tokens_and_hides_ids_and_long_fields():
    rows = _batch(3)
    rows[1].update(input_tokens=12, output_tokens=80, response_id="resp_" + "a" * 36)
    cells = _Cells(rows._repr_html_())
    assert [text for _, _, text in cells.head] == [
        "",
        "term",
        "audience",
        "model",
        "status",
        "latency",
        "tokens",
        "answer",
    ]
    first = [text for _, _, text in cells.rows[1]["cells"]]
    assert first[:5] == ["1", "t1", "kids", "ftg-3.0", "ok"]
    assert first[5:7] == ["0.02 s", "12 → 80"]
    assert first[7].startswith("Answer 1 word") and first[7].endswith("…") and len(first[7]) <= 160
    assert "resp_" not in rows._repr_html_() and "xxxxx" not in rows._repr_html_()
    assert rows[1]["essay"] == "x" * 500 and rows[1]["text"].count("word") == 300  # the value keeps all


def test_many_input_columns_share_a_width_budget_and_the_left_out_ones_are_named():
    rows = Rows([make_row("m", "p", text="an answer", extra={f"c{i}": f"v{i}" for i in range(6)})])
    page = rows._repr_html_()
    cells = _Cells(page)
    assert [text for _, _, text in cells.head][1:6] == ["c0", "c1", "c2", "c3", "model"]
    assert [klass for klass, _, _ in cells.rows[0]["cells"][1:6]] == ["freddy-input"] * 4 + [""]
    assert "freddy-in4" in page and "not shown: c4, c5" in page
    wide = re.findall(r"table\.freddy-in(\d) \.freddy-input\{max-width:(\d+)em", page)[:4]
    widths = {int(n): int(em) for n, em in wide}
    assert widths[4] * 4 <= 28 and widths[1] > widths[4]  # the inputs share a budget; the answer keeps the rest
    assert rows[0]["c5"] == "v5"


def test_unknown_tokens_are_unknown_never_zero():
    ok = make_row("m", "p", text="hi")
    assert tokens_text(ok) == "unknown"
    assert tokens_text({**ok, "output_tokens": 7}) == "? → 7"
    assert tokens_text(make_row("m", "p", status="error", error="boom")) == ""


def test_a_failed_row_is_marked_and_shows_its_error_where_the_answer_would_be():
    rows = _batch(2)
    rows[1].update(status="error", text=None, error="RateLimited: slow down")
    cells = _Cells(rows._repr_html_())
    failed = cells.rows[1]
    assert failed["class"] == "freddy-failed" and cells.rows[0]["class"] == ""
    by_text = {text: classes for classes, _, text in failed["cells"]}
    assert "freddy-error" in by_text["RateLimited: slow down"] and "freddy-error" in by_text["error"]
    assert "2 rows · 1 failed" in rows._repr_html_()
    assert "[1] ftg-3.0 error: RateLimited: slow down" in rows._repr_mimebundle_()["text/plain"]


def test_source_is_a_column_only_when_rows_differ_in_it():
    rows = _batch(2)
    assert "source" not in [t for _, _, t in _Cells(rows._repr_html_()).head]
    rows[0]["source"], rows[1]["source"] = "replay", "live"
    assert [t for _, _, t in _Cells(rows._repr_html_()).head][-2:] == ["source", "answer"]


def test_about_ten_rows_by_default_and_zero_turns_the_table_off():
    rows = _batch(60)
    assert len(_Cells(rows._repr_html_()).rows) == 10
    rows[3].update(status="error", error="boom")
    assert "Showing the first 10 of 60 rows · 1 failed · the value holds all of them" in rows._repr_html_()
    rows.display_limit = 0
    assert rows._repr_html_() is None
    assert rows._repr_mimebundle_() == {"text/plain": "60 rows · 1 failed (table off: FreddyMagics.display_limit = 0)"}


def test_text_is_escaped_cut_to_one_line_and_left_aligned_in_a_bounded_scrolling_box():
    rows = Rows([make_row("m", "p", text="<script>x</script>\n\nsecond line " + "a" * 1000)])
    page = rows._repr_html_()
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt; second line" in page
    assert re.search(r"\.freddy-table\{max-height:\d+em;overflow:auto", page)
    assert "text-align:left" in page and "text-overflow:ellipsis" in page and "white-space:nowrap" in page
    assert "var(--jp-ui-font-color1" in page and "var(--jp-error-color1" in page


def test_the_model_catalog_shows_its_readable_fields_not_ids_or_descriptions():
    rows = model_rows(
        [
            {
                "id": "mdl_1234",
                "key": "gpt-4o",
                "name": "GPT-4o",
                "provider": "openai",
                "description": "A long description " * 20,
                "capabilities": ["streaming", "vision"],
            }
        ]
    )
    cells = _Cells(rows._repr_html_())
    assert [t for _, _, t in cells.head] == ["", "key", "name", "provider", "capabilities"]
    assert "mdl_1234" not in rows._repr_html_() and "A long description" not in rows._repr_html_()


def test_rows_of_no_known_shape_show_their_short_columns():
    page = table_html([{"id": "x1", "label": "a", "count": 3}], 10)
    assert [t for _, _, t in _Cells(page).head] == ["", "label", "count"]
