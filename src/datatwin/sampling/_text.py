"""Conditions written as text (``age=30..40``, ``plan=gold|plus``), as the CLI and the web app take them."""

from __future__ import annotations

from typing import Any

from .._exceptions import InputError

__all__ = ["parse_condition", "parse_scalar"]


def parse_scalar(text: str) -> Any:
    """``"3"`` -> 3, ``"2.5"`` -> 2.5, anything else stays text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_condition(item: str, what: str = "condition") -> tuple[str, Any]:
    """``col=value``, ``col=a|b|c`` (any of), ``col=lo..hi`` (inclusive; either end may be empty).

    Returns the column and its condition in the form ``Synthesizer.sample(conditions=...)`` takes.

    Example:
        >>> parse_condition("age=30..40"), parse_condition("plan=gold|plus")
        (('age', (30, 40)), ('plan', ['gold', 'plus']))
    """
    name, sep, value = (p.strip() for p in item.partition("="))
    if not sep or not name:
        raise InputError(f"{what} {item!r}: write column=value, column=a|b or column=low..high")
    if ".." in value:
        lo, hi = value.split("..", 1)
        return name, (parse_scalar(lo) if lo else None, parse_scalar(hi) if hi else None)
    if "|" in value:
        return name, [parse_scalar(v) for v in value.split("|")]
    return name, parse_scalar(value)
