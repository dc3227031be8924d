"""Structured answers: the ``--fields`` spec, reading answers into columns, and ``--json`` cells
against the sandbox (its JSON mode follows the instruction the client sends)."""

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from freddy_magic._errors import ConfigError
from freddy_magic._results import ROW_COLUMNS, Row
from freddy_magic._structured import Field, Shape, columns, extract, instruction, parse_fields, read
from freddy_magic.sandbox._jsonmode import wanted_keys

from .json_values import PARSER_EXAMPLES

pd = pytest.importorskip("pandas")
RESPONSE = "/v1/model/response"
ALL = parse_fields("s:str, i:int, f:float, b:bool, l:list, d:dict")


# -- the spec -----------------------------------------------------------------------------------


def test_fields_spec_with_every_type_and_the_optional_marker_in_either_place():
    assert parse_fields(" sentiment:str,score : float, n:int, ok:bool, topics:list, meta:dict, note?:str, x:int? ") == (
        Field("sentiment", "str"),
        Field("score", "float"),
        Field("n", "int"),
        Field("ok", "bool"),
        Field("topics", "list"),
        Field("meta", "dict"),
        Field("note", "str", optional=True),
        Field("x", "int", optional=True),
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "at least one"),
        ("sentiment", "entry 1 must be name:type"),
        ("a:str, 2x:int", "entry 2 must be name:type"),
        ("a:str, b:number", r"entry 2 \(b\) needs a type, one of str, int, float, bool, list, dict"),
        ("a:str, a:int", "names a twice"),
        ("hunter-2:str", "entry 1 must be"),
    ],
)
def test_a_bad_spec_is_one_clear_line_that_does_not_repeat_a_malformed_entry(spec, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_fields(spec)
    assert "\n" not in str(caught.value) and "hunter" not in str(caught.value)


def test_the_instruction_is_the_documented_format_and_the_sandbox_reads_it_back():
    fields = parse_fields("sentiment:str, score:float, n:int, ok:bool, topics:list, meta:dict, note?:str")
    text = instruction(fields)
    assert text.splitlines()[:3] == [
        "Answer with one JSON object and nothing else: no Markdown fence, no text before or after it.",
        "Its keys, each with the JSON type of its value:",
        '- "sentiment": string',
    ]
    assert wanted_keys("Be kind.\n\n" + text) == [
        ("sentiment", "string", False),
        ("score", "number", False),
        ("n", "integer", False),
        ("ok", "boolean", False),
        ("topics", "array", False),
        ("meta", "object", False),
        ("note", "string", True),
    ]
    assert instruction(None).startswith("Answer with one JSON value") and wanted_keys(instruction(None)) == []


# -- reading answers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("s", "text", "text"),
        ("s", 7, "7"),
        ("s", 0.5, "0.5"),
        ("i", 3, 3),
        ("i", 3.0, 3),
        ("i", " -12 ", -12),
        ("f", 2, 2.0),
        ("f", 0.25, 0.25),
        ("f", "1e-3", 0.001),
        ("b", False, False),
        ("b", "TRUE", True),
        ("l", [1, "a"], [1, "a"]),
        ("d", {"k": [1]}, {"k": [1]}),
    ],
)
def test_each_type_takes_its_values_and_the_documented_coercions(field, value, expected):
    fields = tuple(f for f in ALL if f.name == field)
    reading = read(json.dumps({field: value}), fields)
    assert reading.problem is None and reading.values == {field: expected}
    assert type(reading.values[field]) is type(expected)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("s", True, "field s: expected string, got true"),
        ("s", ["a"], 'field s: expected string, got ["a"]'),
        ("i", 2.5, "field i: expected integer, got 2.5"),
        ("i", "3 apples", 'field i: expected integer, got "3 apples"'),
        ("i", True, "field i: expected integer, got true"),
        ("f", "high", 'field f: expected number, got "high"'),
        ("f", "nan", 'field f: expected number, got "nan"'),
        ("f", "1e999", 'field f: expected number, got "1e999"'),
        ("f", 10**400, "field f: expected number, got 1" + "0" * 38 + "…"),
        ("b", 1, "field b: expected boolean, got 1"),
        ("b", "yes", 'field b: expected boolean, got "yes"'),
        ("l", "a, b", 'field l: expected array, got "a, b"'),
        ("d", [], "field d: expected object, got []"),
    ],
)
def test_a_value_of_another_type_is_invalid_with_a_reason_naming_the_field(field, value, reason):
    fields = tuple(f for f in ALL if f.name == field)
    reading = read(json.dumps({field: value}), fields)
    assert reading.problem == reason and reading.data == {field: value}


def test_the_optional_marker_allows_missing_and_null_and_nothing_else():
    fields = parse_fields("a:int, note?:str")
    assert read('{"a": 1}', fields).values == {"a": 1, "note": None}
    assert read('{"a": 1, "note": null}', fields).values == {"a": 1, "note": None}
    assert read('{"a": 1, "note": 5}', fields).values == {"a": 1, "note": "5"}
    assert read('{"note": "x"}', fields).problem == "field a is missing"
    assert read('{"a": null}', fields).problem == "field a is null"
    assert read('{"a": 1, "extra": [1]}', fields).data == {"a": 1, "extra": [1]}, "extra keys stay in data"


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '  \n{"a": 1}\n',
        '```json\n{"a": 1}\n```',
        '```\n{"a": 1}\n```',
        'Sure! Here is the JSON:\n\n```JSON\n{"a": 1}\n```\nLet me know if you need more.',
        'Here is the JSON you asked for:\n{"a": 1}',
        'Result: {"b": "not this one {"} then {"a": 1}',
        'The answer (see {below}):\n{"a": 1}',
    ],
)
def test_fenced_and_prose_wrapped_json_is_unwrapped(text):
    assert read(text, parse_fields("a:int")).values == {"a": 1}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1} Hope this helps!', "the answer is not JSON (Extra data"),
        ("{'a': 1}", "the answer is not JSON (Expecting property name enclosed in double quotes"),
        ('{"a": 1,}', "the answer is not JSON (Expecting property name"),
        ('{"a": NaN}', "the answer is not JSON (NaN is not JSON)"),
        ('{"a": 1e999}', "the answer is not JSON (the number 1e999 is out of range)"),
        ('```json\n{"a": 1\n```', "the fenced block is not JSON (Expecting ',' delimiter"),
        ("```python\nprint(1)\n```", "the answer is not JSON (Expecting value"),
        ("", "the answer is empty, not JSON"),
        ("[" * 100_000, "the answer is not JSON (nested too deeply)"),
        ("[1, 2]", "the answer is a JSON array, not an object with the fields"),
        ('"a"', 'the answer is the JSON value "a", not an object with the fields'),
    ],
)
def test_nothing_else_is_guessed(text, reason):
    reading = read(text, parse_fields("a:int"))
    assert reading.problem is not None and reading.problem.startswith(reason) and reading.values is None
    assert "\n" not in reading.problem


def test_without_fields_any_json_value_is_the_data():
    assert extract('[1, {"k": null}]') == ([1, {"k": None}], None)
    assert read("```json\n3.5\n```", None).data == 3.5
    assert read("no", None).problem.startswith("the answer is not JSON")


# hypothesis: whatever a model answers gives a parsed row or an invalid one, never a traceback.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("sifbldx"), inner, max_size=6),
    max_leaves=12,
)
_answers = st.one_of(
    st.text(max_size=200),
    _json.map(json.dumps),
    st.tuples(st.text(max_size=30), _json.map(json.dumps), st.sampled_from(["", "```", "```json\n"])).map(
        lambda parts: parts[2] + parts[1] + ("\n```" if parts[2] else "") if not parts[0] else f"{parts[0]}\n{parts[1]}"
    ),
    st.text(alphabet='{}[]":,0123456789.eE-+ \ntruefalsn\\`json', max_size=80),
)


@pytest.mark.slow
@settings(max_examples=PARSER_EXAMPLES)
@given(text=_answers, spec=st.sampled_from([None, ALL, parse_fields("s?:str, i?:int, f:float?")]))
def test_any_answer_text_gives_a_parsed_or_an_invalid_row(text, spec):
    row = Row(status="ok", text=text)
    Shape(spec).apply(row)
    assert row["status"] in ("ok", "invalid")
    if row["status"] == "invalid":
        assert row["error"] and "\n" not in row["error"] and row["text"] == text
    else:
        assert all(name in row for name in columns(spec))
        for field in spec or ():
            value = row[field.name]
            kinds = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}
            assert (value is None and field.optional) or type(value) is kinds[field.type]
    json.dumps(row)  # every row stays JSON-safe (no NaN or infinity made up)


def test_shape_settle_asks_again_while_invalid_and_says_how_often():
    answers = iter(['{"a": "x"}', "still prose", '{"a": 2}', "prose again"])

    def again(invalid):
        assert invalid["status"] == "invalid"
        return Row(status="ok", text=next(answers), error=None)

    first = Row(status="ok", text="prose", error=None)
    row = Shape(parse_fields("a:int"), retries=5).settle(first, again)
    assert (row["status"], row["a"], row["retries_invalid"]) == ("ok", 2, 3), "stops at the first valid answer"
    stuck = Shape(parse_fields("a:int"), retries=1).settle(Row(status="ok", text="x", error=None), again)
    assert stuck["status"] == "invalid" and stuck["error"].endswith("(asked 2 times)")
    assert stuck["retries_invalid"] == 1
    plain = Shape(parse_fields("a:int")).settle(Row(status="ok", text="x", error=None), again)
    assert "retries_invalid" not in plain and plain["status"] == "invalid"


# -- %%freddy --json / --fields against the sandbox --------------------------------------------

SPEC = "sentiment:str, score:float, stars:int, fine:bool, topics:list, meta:dict, note?:str"


def test_fields_become_typed_columns_of_a_streamed_answer(connected, ip, shared_sandbox, shown):
    row = ip.run_cell_magic("freddy", f'--fields "{SPEC}" -o out', "Review: great phone, love the camera")
    assert row["status"] == "ok" and row["error"] is None
    assert list(row)[: len(ROW_COLUMNS)] == list(ROW_COLUMNS)
    assert list(row)[len(ROW_COLUMNS) :] == ["data", "sentiment", "score", "stars", "fine", "topics", "meta", "note"]
    assert row["sentiment"] == "positive" and isinstance(row["score"], float) and 1 <= row["stars"] <= 5
    assert isinstance(row["fine"], bool) and isinstance(row["topics"], list) and isinstance(row["meta"], dict)
    assert row["note"] is None or isinstance(row["note"], str)
    assert row["data"]["_sandbox"].startswith("fake answer by "), "sandbox JSON says where it came from"
    assert json.loads(json.dumps(row)) == row and pd.DataFrame([row])["stars"].dtype.kind == "i"


def test_the_request_asks_for_json_mode_with_the_keys_in_the_instructions(connected, ip, shared_sandbox):
    before = shared_sandbox.calls(RESPONSE)
    preview = ip.run_cell_magic("freddy", '--dry-run --fields "score:float, note?:str" -s "Be terse."', "Rate: ok")
    body = preview["json"]
    assert body["output_mode"] == "json" and shared_sandbox.calls(RESPONSE) == before
    assert body["instructions"] == "Be terse.\n\n" + instruction(parse_fields("score:float, note?:str"))
    plain = ip.run_cell_magic("freddy", "--dry-run --json", "Rate: ok")["json"]
    assert plain["output_mode"] == "json" and plain["instructions"] == instruction(None)
    assert "output_mode" not in ip.run_cell_magic("freddy", "--dry-run", "Rate: ok")["json"]


def test_json_without_fields_gives_the_parsed_value_for_several_models(connected, ip, shared_sandbox):
    rows = ip.run_cell_magic("freddy", "-m gpt-4o-mini,gpt-4o --json", "Explain tides")
    assert [r["model"] for r in rows] == ["gpt-4o-mini", "gpt-4o"] and all(r["status"] == "ok" for r in rows)
    assert all(r["data"]["answer"].startswith(f"[sandbox {r['model']}]") for r in rows)
    fielded = ip.run_cell_magic("freddy", '-m gpt-4o-mini,gpt-4o --no-stream --fields "topics:list"', "Explain tides")
    assert all(r["status"] == "ok" and r["topics"] for r in fielded) and fielded[0]["data"] != fielded[1]["data"]


@pytest.mark.parametrize(
    ("spec", "inputs", "message"),
    [
        ("text:str", [{"n": 1}], "--fields text clashes with the row column text"),
        ("retries_invalid:int", [{"n": 1}], "--fields retries_invalid clashes with the row column"),
        ("n:int", [{"n": 1}], "--fields n clashes with the input column n"),
        ("input_model:str", [{"model": "x"}], "--fields input_model clashes with the input column input_model"),
        ("n2:int", [{"data": 1}], "--json adds a column named data, and input already has one"),
        ("data:str", [{"n": 1}], "--fields data clashes with the row column data, which holds the whole answer"),
    ],
)
def test_a_field_that_clashes_with_a_column_fails_before_anything_is_sent(
    connected, ip, shared_sandbox, spec, inputs, message
):
    ip.user_ns["inputs"] = inputs
    before = shared_sandbox.calls(RESPONSE)
    with pytest.raises(UsageError, match=message) as caught:
        ip.run_cell_magic("freddy", f'--over inputs --fields "{spec}"', "About {n}" if "n" in inputs[0] else "x")
    assert "\n" not in str(caught.value) and shared_sandbox.calls(RESPONSE) == before


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--retries-invalid 2", "add --json or --fields"),
        ("--json --retries-invalid 11", "between 0 and 10"),
        ("--json --retries-invalid 1 --chat", "inside the --chat conversation"),
        ('--fields "a:str, b"', "entry 2 must be name:type"),
        ("--json -s " + "x" * 4990, "exceed the API's 5000-character limit"),
    ],
)
def test_option_mistakes_are_one_line_before_anything_is_sent(connected, ip, shared_sandbox, line, message):
    before = shared_sandbox.calls(RESPONSE)
    with pytest.raises(UsageError, match=message):
        ip.run_cell_magic("freddy", line, "Rate this")
    assert shared_sandbox.calls(RESPONSE) == before


def test_an_invalid_answer_keeps_its_text_and_names_the_field_and_is_not_a_failed_cell(make_connected, ip, shown):
    _, sb = make_connected(rate_limit=None, json_invalid=1.0)
    ip.user_ns["inputs"] = [{"n": i} for i in range(40)]
    rows = ip.run_cell_magic("freddy", '--over inputs --fields "score:float, topics:list"', "Item {n}")
    assert [r["n"] for r in rows] == list(range(40)) and all(r["status"] == "invalid" for r in rows)
    assert sb.json_spoiled == 40 and all(r["text"] and r["score"] is None for r in rows)
    reasons = Counter(r["error"].split(" (")[0].split(":")[0] for r in rows)
    assert set(reasons) == {
        "the answer is not JSON",
        "field score is missing",
        "field score",  # "field score: expected number, got \"high\""
    }, reasons
    assert all("\n" not in r["error"] for r in rows)
    progress = [m["data"]["text/plain"] for m in shown.messages if "rows ·" in m["data"].get("text/plain", "")]
    assert progress[-1].startswith("40/40 rows · 0 errors · 40 invalid")
    single = ip.run_cell_magic("freddy", '--no-stream --fields "score:float"', "Item 1")
    assert single["status"] == "invalid" and single["text"] and "invalid: " in str(shown.messages[-1])


def test_a_streamed_answer_asked_again_says_so_on_screen(make_connected, ip, capsys):
    magics, sb = make_connected(rate_limit=None, json_invalid=1.0)
    magics.terminal = True  # a terminal prints every piece, so the test sees what a throttled view may skip
    row = ip.run_cell_magic("freddy", '--fields "score:float" --retries-invalid 2', "Item 1")
    assert sb.json_spoiled == 3 and row["retries_invalid"] == 2 and row["error"].endswith("(asked 3 times)")
    out = capsys.readouterr().out
    assert out.count("; asking again]") == 2 and out.index(row["text"]) > out.rindex("asking again]")
    assert out.rstrip().endswith(f"[invalid: {row['error']}]")


def test_an_answer_cut_by_max_tokens_says_so(connected, ip):
    row = ip.run_cell_magic("freddy", '--no-stream --max-tokens 5 --fields "topics:list"', "Tag: tea, kettles")
    assert row["status"] == "invalid" and row["stop_reason"] == "max_tokens"
    assert row["error"].startswith("the answer is not JSON") and row["error"].endswith("(--max-tokens)")


def _spoiled_run(ip, line, rows):
    ip.user_ns["reviews"] = [{"review": f"review {i}: {'great' if i % 3 else 'broken'} kettle"} for i in range(rows)]
    return ip.run_cell_magic(
        "freddy", f'--over reviews --concurrency 8 --fields "sentiment:str, score:float" {line}', "{review}"
    )


@pytest.mark.slow
def test_over_1000_rows_with_a_tenth_invalid_keeps_every_row_in_order_and_counts_right(make_connected, ip):
    _, sb = make_connected(rate_limit=None, json_invalid=0.1)
    rows = _spoiled_run(ip, "", 1000)
    assert len(rows) == 1000 and [r["review"] for r in rows] == [r["review"] for r in ip.user_ns["reviews"]]
    statuses = Counter(r["status"] for r in rows)
    assert statuses["invalid"] == sb.json_spoiled and statuses["ok"] == 1000 - sb.json_spoiled, statuses
    assert 60 <= sb.json_spoiled <= 140, "about a tenth, by the sandbox's seeded draw"
    for row in rows:
        ok = row["status"] == "ok"
        assert (row["sentiment"] in ("positive", "negative")) is ok and (row["error"] is None) is ok
    assert all(
        r["sentiment"] == ("negative" if "broken" in r["review"] else "positive") for r in rows if r["sentiment"]
    )

    spoiled = sb.json_spoiled
    again = _spoiled_run(ip, "--retries-invalid 3", 1000)
    still = [r for r in again if r["status"] == "invalid"]
    # every spoiled answer was asked again, except the last of a row that ran out of re-asks
    assert sum(r["retries_invalid"] for r in again) + len(still) == sb.json_spoiled - spoiled
    assert all(r["retries_invalid"] == 3 and r["error"].endswith("(asked 4 times)") for r in still)
    assert len(again) == 1000 and Counter(r["status"] for r in again)["ok"] == 1000 - len(still)
    assert len(still) < 5, "a tenth invalid, four tries: about one row in 10,000 stays invalid"


def test_only_failed_re_asks_the_invalid_rows_and_keeps_the_others(make_connected, ip):
    _, sb = make_connected(rate_limit=None, json_invalid=0.5)
    first = _spoiled_run(ip, "-o rows", 30)
    invalid = [i for i, r in enumerate(first) if r["status"] == "invalid"]
    assert invalid and sb.json_spoiled == len(invalid)
    sb.json_invalid = 0.0
    before = sb.calls(RESPONSE)
    merged = ip.run_cell_magic("freddy", '--over rows --only-failed --fields "sentiment:str, score:float"', "{review}")
    assert sb.calls(RESPONSE) - before == len(invalid)
    assert all(r["status"] == "ok" for r in merged) and [r["review"] for r in merged] == [r["review"] for r in first]
    assert all(merged[i] is first[i] for i in range(30) if i not in invalid)
    assert "data" not in merged[invalid[0]]["prompt"] and merged[invalid[0]]["prompt"] == first[invalid[0]]["review"]
