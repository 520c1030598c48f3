"""datatwin._params: declarative parameter checks and the wording of their messages."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datatwin._exceptions import InputError
from datatwin._params import InstanceOf, Interval, Options, validate_params

SYNTH = {
    "engine": [Options(str, {"copula", "argn"})],
    "random_state": [Interval(Integral, 0, None, closed="left")],
    "max_categories": [Interval(Integral, 1, None, closed="left")],
    "max_training_time": [Interval(Real, 0, None, closed="neither")],
    "engine_options": [dict, None],
    "epochs": [Interval(Integral, 0, None, closed="left"), None],
}


def _message(name: str, value: object) -> str:
    with pytest.raises(InputError) as exc:
        validate_params("Synthesizer", SYNTH, {name: value})
    return str(exc.value)


def test_messages_keep_the_synthesizer_wording():
    assert _message("engine", "gan") == \
        "The 'engine' parameter of Synthesizer must be one of ['argn', 'copula']. Got 'gan' instead."
    assert _message("random_state", -1) == \
        "The 'random_state' parameter of Synthesizer must be an int in [0, inf). Got -1 instead."
    assert _message("max_categories", 0) == \
        "The 'max_categories' parameter of Synthesizer must be an int in [1, inf). Got 0 instead."
    assert _message("max_training_time", 0) == \
        "The 'max_training_time' parameter of Synthesizer must be a number > 0. Got 0 instead."
    assert _message("engine_options", [1]).startswith(
        "The 'engine_options' parameter of Synthesizer must be a dict or None.")
    assert _message("epochs", -2) == \
        "The 'epochs' parameter of Synthesizer must be an int in [0, inf) or None. Got -2 instead."


def test_checks_run_in_constraint_order_and_skip_absent_or_unconstrained():
    validate_params("X", SYNTH, {"other": object(), "engine": "argn"})
    with pytest.raises(InputError, match="'engine'"):
        validate_params("X", SYNTH, {"random_state": -1, "engine": "gan"})


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_bool_is_never_a_number(value):
    assert not Interval(Integral, None, None).accepts(value)
    assert not Interval(Real, None, None).accepts(value)
    assert not InstanceOf(int).accepts(value)
    assert InstanceOf(bool).accepts(value) == isinstance(value, bool)


def test_interval_text():
    assert str(Interval(Integral, 1, 5, closed="both")) == "an int in [1, 5]"
    assert str(Interval(Integral, None, 5, closed="neither")) == "an int in (-inf, 5)"
    assert str(Interval(Real, 0, 1, closed="left")) == "a number in [0, 1)"
    assert str(Interval(Real, 0, None, closed="left")) == "a number >= 0"
    assert str(Interval(Real, None, 1, closed="right")) == "a number <= 1"
    assert str(Interval(Real, None, None)) == "a number"
    assert str(InstanceOf(int, dict)) == "an int or a dict"


def test_bad_constraints_are_programming_errors():
    with pytest.raises(TypeError):
        Interval(float, 0, 1)
    with pytest.raises(ValueError):
        Interval(Real, 0, 1, closed="open")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Interval(Real, 2, 1)
    with pytest.raises(TypeError):
        validate_params("X", {"a": ["int"]}, {"a": 1})  # type: ignore[list-item]


bounds = st.one_of(st.none(), st.integers(-100, 100))
closed = st.sampled_from(["left", "right", "both", "neither"])


@given(low=bounds, high=bounds, closed=closed, value=st.integers(-150, 150))
def test_integral_interval_matches_its_definition(low, high, closed, value):
    if low is not None and high is not None and low > high:
        low, high = high, low
    interval = Interval(Integral, low, high, closed=closed)
    above = low is None or value > low or (value == low and closed in ("left", "both"))
    below = high is None or value < high or (value == high and closed in ("right", "both"))
    assert interval.accepts(value) == (above and below)
    assert interval.accepts(np.int64(value)) == (above and below)
    assert not interval.accepts(float(value))  # a float is not an int, even a whole one
    try:
        validate_params("Owner", {"p": [interval]}, {"p": value})
        assert above and below
    except InputError as exc:
        assert not (above and below)
        assert str(exc) == f"The 'p' parameter of Owner must be {interval}. Got {value!r} instead."


@given(low=st.floats(-1e6, 1e6), width=st.floats(0, 1e6), closed=closed,
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**7), 10**7)))
def test_real_interval_matches_its_definition(low, width, closed, value):
    high = low + width
    interval = Interval(Real, low, high, closed=closed)
    if isinstance(value, float) and math.isnan(value):
        expected = False
    else:
        above = value > low or (value == low and closed in ("left", "both"))
        below = value < high or (value == high and closed in ("right", "both"))
        expected = above and below
    assert interval.accepts(value) == expected
    assert Interval(Real, None, None).accepts(value) == (not (isinstance(value, float) and math.isnan(value)))


@given(value=st.one_of(st.text(max_size=8), st.integers(), st.none(), st.lists(st.integers(), max_size=2)))
def test_options_accept_exactly_their_values(value):
    opt = Options(str, {"copula", "argn"})
    assert opt.accepts(value) == (value in ("copula", "argn"))
    none_ok = {"p": [opt, None]}
    if value is None or value in ("copula", "argn"):
        validate_params("O", none_ok, {"p": value})
    else:
        with pytest.raises(InputError, match=r"must be one of \['argn', 'copula'\] or None\. Got "):
            validate_params("O", none_ok, {"p": value})
