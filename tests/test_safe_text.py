"""Text fit for the wire: lone surrogates replaced (and counted), pairs joined, JSON decoded safe."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freddy_magic._safe_text import REPLACEMENT, loads, safe_value, wire_safe


@pytest.mark.parametrize(
    "text, fixed, replaced",
    [
        ("plain", "plain", 0),
        ("half \ud83d an emoji", f"half {REPLACEMENT} an emoji", 1),
        ("a pair \ud83d\ude00 joins", "a pair \U0001f600 joins", 0),
        ("\udc80\udcff", REPLACEMENT * 2, 2),
        (f"already {REPLACEMENT}", f"already {REPLACEMENT}", 0),
    ],
)
def test_wire_safe_replaces_lone_surrogates_and_joins_pairs(text, fixed, replaced):
    assert wire_safe(text) == (fixed, replaced)


@given(st.text(alphabet=st.characters(codec=None, categories=["Cs", "Ll", "So", "Nd"]), max_size=40))
def test_wire_safe_text_always_encodes_as_utf8(text):
    fixed, replaced = wire_safe(text)
    fixed.encode("utf-8")
    assert replaced == (fixed.count(REPLACEMENT) - text.count(REPLACEMENT))
    lone = fixed != text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    assert (replaced > 0) == lone


def test_decoded_json_is_safe_in_keys_and_values_and_untouched_without_escapes():
    value = loads(b'{"a\\ud83d": ["x\\udc80", {"k": "\\ud83d\\ude00"}], "n": 1}')
    assert value == {f"a{REPLACEMENT}": [f"x{REPLACEMENT}", {"k": "\U0001f600"}], "n": 1}
    json.dumps(value).encode("utf-8")
    plain = b'{"a": ["b", 1.5, null, true]}'
    assert loads(plain) == json.loads(plain)
    assert safe_value(["\ud83d", 3]) == [REPLACEMENT, 3]
