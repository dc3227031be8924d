"""Shapes of JSON values and comparisons against expectations: names and types, never values."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freddy_magic import _redaction
from freddy_magic._shapes import Arr, Field, Obj, compare, describe, field_name, shape

from .json_values import json_values

MODEL = Obj({"key": Field("str"), "context_window": Field("int", required=False, nullable=True)})
LIST = Obj({"models": Field(Arr(MODEL)), "usage": Field("object", tolerated="usage absent")})


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, "null"),
        ({"a": 1, "b": 1.5, "c": True, "d": "x", "e": None}, "{a: int, b: float, c: bool, d: str, e: null}"),
        ([], "[]"),
        ([1, "x", 2], "[int or str]"),
        ([{"id": "a", "badge": None}, {"id": "b"}, {"id": "c", "badge": "new"}], "[{id: str, badge?: null or str}]"),
        ([[1], [2.5], []], "[[int or float]]"),
        (
            {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
            "{a: {b: {c: {d: {e: {f: {g: {h: {…}}}}}}}}}",
        ),
    ],
)
def test_shape_names_types_merges_items_and_stops_at_depth(value, expected):
    assert shape(value) == expected


def test_a_wide_object_is_cut_with_a_count():
    assert shape({f"f{i}": i for i in range(45)}).endswith(", f39: int, +5 more}")


@pytest.mark.parametrize("name", ["ak_" + "A1b2" * 10, "has space", "", "9starts-with-digit", "x" * 80, 7])
def test_names_that_are_not_field_names_or_look_like_keys_are_hidden(name):
    assert field_name(name) == "<name>"
    assert shape({name: 1}) == "{<name>: int}"


@pytest.mark.security
def test_a_live_secret_used_as_a_field_name_is_hidden(canary):
    _redaction.register(canary.value)
    try:
        assert field_name(canary.value) == "<name>"
    finally:
        _redaction.forget(canary.value)


def test_compare_words_findings_from_the_expectation_alone():
    value = {"models": [{"key": 5}, {"key": "k", "context_window": None}, {"context_window": "wide"}]}
    found = compare(LIST, value)
    assert found.differs == [
        "models[].key: int, expected str",
        "models[].key: absent",
        "models[].context_window: str, expected int",
    ]
    assert found.tolerated == ["usage absent"]
    assert compare(LIST, []).differs == ["the answer: array, expected object"]
    assert compare(Arr("number"), [1, 2.5]).differs == []
    assert compare(Obj({"x": Field("int")}), {"x": True}).differs == ["x: bool, expected int"]


def test_describe_leaves_out_optional_fields_and_marks_tolerated_ones():
    assert describe(LIST) == "{models: [{key: str}], usage?: object}"
    assert describe(Obj({"s": Field("str", nullable=True)})) == "{s: str or null}"


CANARY = "fm-canary-0123456789abcdef0123456789abcdef"


@given(json_values(), st.sampled_from(["text", "key", "delta", "error"]))
def test_no_value_ever_reaches_a_shape_or_a_finding(value, name):
    planted = {"models": [{name: CANARY}, value], "usage": {"input_tokens": CANARY}, name: [CANARY, value]}
    spec = Obj({**LIST.fields, name: Field(Arr(Obj({"text": Field("str")})))})
    found = compare(spec, planted)
    for text in (shape(planted), *found.differs, *found.tolerated):
        assert CANARY not in text
