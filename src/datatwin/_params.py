"""Declarative checks of public parameters, in the style of scikit-learn's ``_parameter_constraints``.

An owner (a class or function) lists, per parameter, the values it accepts; any one of them
will do::

    CONSTRAINTS = {
        "engine": [Options(str, {"argn", "copula"})],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "max_training_time": [Interval(Real, 0, None, closed="neither")],
        "engine_options": [dict, None],       # a bare type means InstanceOf(type); None allows None
    }
    validate_params("Synthesizer", CONSTRAINTS, {"epochs": 0, ...})
    # InputError: The 'epochs' parameter of Synthesizer must be an int in [1, inf). Got 0 instead.

A bool is never a number here (``True`` is not an int in [0, inf)), and NaN is in no interval.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from ._exceptions import InputError

__all__ = ["InstanceOf", "Interval", "Options", "validate_params"]

Closed = Literal["left", "right", "both", "neither"]


class Interval:
    """Numbers of one kind (``numbers.Integral`` or ``numbers.Real``) between two bounds.

    ``None`` for a bound means unbounded on that side. ``closed`` says which bounds belong to the
    interval. Integral accepts Python and numpy integers; Real also accepts floats.
    """

    def __init__(self, kind: type, low: float | None, high: float | None, *, closed: Closed = "left") -> None:
        if kind not in (numbers.Integral, numbers.Real):
            raise TypeError(f"Interval kind must be numbers.Integral or numbers.Real, got {kind!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"Interval closed must be 'left', 'right', 'both' or 'neither', got {closed!r}")
        if low is not None and high is not None and low > high:
            raise ValueError(f"Interval low {low!r} is above high {high!r}")
        self.kind, self.closed = kind, closed
        self.low: Any = low  # compared with ints, floats and numpy numbers alike
        self.high: Any = high

    def accepts(self, value: Any) -> bool:
        if _is_bool(value) or not isinstance(value, self.kind):
            return False
        if value != value:  # NaN (of any float type) is in no interval
            return False
        low_ok = self.low is None or value > self.low or (value == self.low and self.closed in ("left", "both"))
        high_ok = self.high is None or value < self.high or (value == self.high and self.closed in ("right", "both"))
        return low_ok and high_ok

    def __str__(self) -> str:
        left_in, right_in = self.closed in ("left", "both"), self.closed in ("right", "both")
        if self.kind is numbers.Integral:
            low = "-inf" if self.low is None else str(self.low)
            high = "inf" if self.high is None else str(self.high)
            return f"an int in {'[' if left_in else '('}{low}, {high}{']' if right_in else ')'}"
        # Real, worded as the messages datatwin gave before ("a number > 0").
        if self.low is None and self.high is None:
            return "a number"
        if self.high is None:
            return f"a number {'>=' if left_in else '>'} {self.low}"
        if self.low is None:
            return f"a number {'<=' if right_in else '<'} {self.high}"
        return f"a number in {'[' if left_in else '('}{self.low}, {self.high}{']' if right_in else ')'}"

    def __repr__(self) -> str:
        return f"Interval({self.kind.__name__}, {self.low!r}, {self.high!r}, closed={self.closed!r})"


class Options:
    """One of a fixed set of values of one type (e.g. an engine name)."""

    def __init__(self, type_: type, allowed: Iterable[Any]) -> None:
        self.type, self.allowed = type_, frozenset(allowed)

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, self.type) or (_is_bool(value) and self.type is not bool):
            return False
        try:
            return value in self.allowed
        except TypeError:  # unhashable
            return False

    def __str__(self) -> str:
        return f"one of {self._sorted()!r}"

    def __repr__(self) -> str:
        return f"Options({self.type.__name__}, {self._sorted()!r})"

    def _sorted(self) -> list[Any]:
        try:
            return sorted(self.allowed)
        except TypeError:  # values that do not compare (None with text, ...)
            return sorted(self.allowed, key=repr)


class InstanceOf:
    """An instance of any of ``types``; a bool only where ``bool`` (or ``object``) is named."""

    def __init__(self, *types: type) -> None:
        if not types:
            raise TypeError("InstanceOf needs at least one type")
        self.types = types

    def accepts(self, value: Any) -> bool:
        if _is_bool(value) and not any(t in (bool, object) for t in self.types):
            return False
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return _join([_a(t.__name__) for t in self.types])

    def __repr__(self) -> str:
        return f"InstanceOf({', '.join(t.__name__ for t in self.types)})"


Constraint = Interval | Options | InstanceOf | type | None


def validate_params(owner: str, constraints: dict[str, list[Constraint]], values: dict[str, Any]) -> None:
    """Check ``values`` against ``constraints``, in the order of ``constraints``.

    Each parameter must satisfy one constraint of its list; ``None`` in a list allows ``None`` and
    a bare type means :class:`InstanceOf` that type. Parameters without constraints, and
    constraints of parameters absent from ``values``, are skipped.

    Raises:
        InputError: ``The 'epochs' parameter of Synthesizer must be an int in [1, inf). Got 0 instead.``
    """
    for name, options in constraints.items():
        if name not in values:
            continue
        value = values[name]
        checks = [_as_check(c) for c in options]
        if any(c is None and value is None or c is not None and c.accepts(value) for c in checks):
            continue
        wanted = _join(["None" if c is None else str(c) for c in checks])
        raise InputError(f"The {name!r} parameter of {owner} must be {wanted}. Got {value!r} instead.")


def _as_check(c: Constraint) -> Interval | Options | InstanceOf | None:
    if c is None or isinstance(c, (Interval, Options, InstanceOf)):
        return c
    if isinstance(c, type):
        return InstanceOf(c)
    raise TypeError(f"not a parameter constraint: {c!r}")


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))  # numpy's bool is not a Python bool


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"
