"""Option text -> API arguments, and the checks made before any work starts.

Every failure is an ``InputError`` or ``OutputError``: one line on stderr, status 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._exceptions import InputError, OutputError
from ..sampling import parse_condition, parse_scalar


def check_output(path: Path, inputs: tuple[Path | None, ...] = (), others: tuple[Path | None, ...] = ()) -> None:
    """Fail now, not after training, when ``path`` cannot be written, or writing it would destroy an
    input (the same file, a hard link or a symlink to it) or another output of the same command.

    Only a regular file is ever replaced: a symlink is not followed into a replacement, and a
    device or other special file (``/dev/full``) is refused.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist; create it first")
    if path.is_symlink():
        raise OutputError(f"cannot write {str(path)!r}: it is a symbolic link; write to a plain file name instead")
    if path.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: it is a folder")
    if path.exists() and not path.is_file():
        raise OutputError(f"cannot write {str(path)!r}: it is not a regular file (a device or a pipe); "
                          f"write to a plain file instead")
    for other in inputs:
        if other is not None and _same_file(path, other):
            raise OutputError(f"cannot write {str(path)!r}: it is the input {str(other)!r}, which would be "
                              f"overwritten; write to another file")
    for other in others:
        if other is not None and _same_file(path, other):
            raise OutputError(f"cannot write {str(path)!r} twice: it is also the output {str(other)!r}; "
                              f"give each output its own file")


def _same_file(a: Path, b: Path) -> bool:
    """The same file on disk (hard links and symlinks included), or the same path before it exists."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        return False
    return a.resolve() == b.resolve()


def check_table_suffix(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".parquet", ".pq", ".tsv", ".txt"):
        raise InputError(f"output {str(path)!r} must end in .csv or .parquet")


def check_n(n: int) -> None:
    if n <= 0:
        raise InputError(f"-n must be a positive number of rows, got {n}")


def parse_conditions(items: list[str] | None) -> dict[str, object] | None:
    """``col=value``, ``col=a|b|c`` (any of), ``col=lo..hi`` (inclusive; either end may be empty)."""
    if not items:
        return None
    return dict(parse_condition(item, "--where") for item in items)


def parse_rebalance(items: list[str] | None) -> dict[str, dict[object, float]] | None:
    """``col=value:share`` (repeatable)."""
    if not items:
        return None
    out: dict[str, dict[object, float]] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        value, sep2, share = rest.rpartition(":")
        try:
            out.setdefault(name, {})[parse_scalar(value)] = float(share)
        except ValueError:
            raise InputError(f"--rebalance {item!r}: write column=value:share, e.g. income=>50K:0.5") from None
        if not (sep and sep2 and name):
            raise InputError(f"--rebalance {item!r}: write column=value:share, e.g. income=>50K:0.5")
    return out


def parse_what_if(items: list[str] | None) -> dict[str, object] | None:
    """``col=*1.1``, ``col=+5``, ``col=-5``, ``col=/2`` (a change to every value of a numeric column)."""
    if not items:
        return None
    ops = {"*": lambda s, v: s * v, "+": lambda s, v: s + v, "-": lambda s, v: s - v, "/": lambda s, v: s / v}
    out: dict[str, object] = {}
    for item in items:
        name, _, change = item.partition("=")
        try:
            op, value = ops[change[:1]], float(change[1:])
        except (KeyError, ValueError):
            raise InputError(f"--what-if {item!r}: write column=*1.1, column=+5, column=-5 or column=/2") from None

        def apply(s: Any, op: Any = op, value: float = value) -> Any:
            return op(s, value)

        out[name] = apply
    return out
