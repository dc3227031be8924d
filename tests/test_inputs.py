"""What a cell hands over, checked before anything is sent: IPython's names, columns, text."""

import pytest

from freddy_magic._errors import ConfigError
from freddy_magic._inputs import check_columns, fit_for_wire, refuse_ipython_name

HIDDEN = {"In", "Out", "get_ipython", "exit", "quit", "_ih", "_oh", "_dh", "open"}


@pytest.mark.parametrize("name", ["In", "Out", "get_ipython", "_", "__", "___", "_7", "_i", "_iii", "_i12", "__name__"])
def test_ipython_names_are_refused_for_o(name):
    with pytest.raises(ConfigError, match="IPython's own variables"):
        refuse_ipython_name(name, HIDDEN)


@pytest.mark.parametrize("name", [None, "answers", "_private", "i_3", "Input", "out", "__x"])
def test_ordinary_names_pass(name):
    refuse_ipython_name(name, HIDDEN)


@pytest.mark.parametrize("names", [["a", "a"], [0, "0"], [1.5, "1.5", "x"], ["x", ("a", "b"), "('a', 'b')"]])
def test_columns_that_read_the_same_are_refused(names):
    with pytest.raises(ConfigError, match="distinct column names"):
        check_columns(names)


def test_distinct_columns_of_any_type_pass():
    check_columns([0, 1, "topic", ("a", "b"), 2.5, None])


def test_fit_for_wire_counts_every_replacement_and_leaves_clean_text_alone():
    prompt, params, columns, warning = fit_for_wire(
        "ask \ud83d", {"instructions": "be \udc80 brief", "temperature": 0.2}, {"k\ud83d": "v\ud83d", 0: 3}
    )
    assert (prompt, params["instructions"], params["temperature"]) == ("ask \ufffd", "be \ufffd brief", 0.2)
    assert columns == {"k\ufffd": "v\ufffd", 0: 3}
    assert warning.startswith("4 character(s)")
    assert fit_for_wire("fine \U0001f600", {}, {"a": 1}) == ("fine \U0001f600", {}, {"a": 1}, None)
