"""Dates in specs: literals read as days/seconds since 1970, and fast ``strftime`` output."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np

from ._columns import _arrow_str
from ._source import _Where

_EPOCH = dt.datetime(1970, 1, 1)


def _parse_when(v: Any, fmt: str | None, unit: str) -> float | None:
    """A date/datetime literal as days (unit 'date') or seconds since 1970 (unit 'datetime')."""
    if isinstance(v, dt.datetime):
        t = v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif isinstance(v, dt.date):
        t = dt.datetime(v.year, v.month, v.day)
    elif isinstance(v, str):
        t = None
        for parse in (dt.datetime.fromisoformat, lambda s: dt.datetime.strptime(s, fmt or "%Y-%m-%d")):
            try:
                t = parse(v.strip())
                break
            except (ValueError, TypeError):
                continue
        if t is None:
            return None
        if t.tzinfo is not None:
            t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    else:
        return None
    assert t is not None
    secs = (t - _EPOCH) // dt.timedelta(seconds=1)
    return float(secs // 86400) if unit == "date" else float(secs)


def _when_text(x: float, unit: str) -> str:
    t = _EPOCH + dt.timedelta(seconds=float(x) * (86400 if unit == "date" else 1))
    return t.strftime("%Y-%m-%d") if unit == "date" else t.isoformat(sep=" ")


_DATE_DIRS = set("aAbBCdDeFgGhjmuUVwWxyY")
_TIME_DIRS = {"H": 3600, "I": 3600, "p": 3600, "M": 60, "S": 1}
_EXPAND = {"D": "%m/%d/%y", "F": "%Y-%m-%d", "R": "%H:%M", "T": "%H:%M:%S", "X": "%H:%M:%S",
           "r": "%I:%M:%S %p", "c": "%a %b %e %H:%M:%S %Y", "x": "%m/%d/%y"}


def _check_strftime(fmt: Any, path: tuple[Any, ...], w: _Where) -> None:
    if not isinstance(fmt, str) or not fmt:
        raise w.error(path, f"must be a strftime format such as '%Y-%m-%d', got {fmt!r}")
    try:
        dt.datetime(2024, 1, 31, 13, 5, 9).strftime(fmt)
    except ValueError as exc:
        raise w.error(path, f"{fmt!r} is not a valid strftime format ({exc})") from None
    if not re.search(r"%[A-Za-z]", fmt):
        raise w.error(path, f"{fmt!r} has no date directive such as %Y, %m or %d")


class _DateFormatter:
    """``strftime`` for millions of rows: each run of date directives is formatted once per distinct
    day (Python's ``strftime``, so the output is exactly Python's), each time directive once per
    hour/minute/second; rows are assembled with pyarrow ``take`` and joins."""

    def __init__(self, fmt: str, unit: str) -> None:
        self.fmt, self.unit = fmt, unit
        # Expand %T, %D, ... token by token, so a literal "%%" followed by "T" stays "%%T".
        fmt = re.sub(r"%.", lambda m: _EXPAND.get(m[0][1], m[0]), fmt)
        tokens = re.findall(r"%.|[^%]+|%", fmt)
        self.pieces: list[tuple[str, str]] = []  # ("date", subformat) | ("time", directive)
        self._tables: dict[str, tuple[int, int, Any]] = {}
        self.slow = False
        run = ""
        for t in tokens:
            if t.startswith("%") and len(t) == 2 and t[1] in _TIME_DIRS:
                if run:
                    self.pieces.append(("date", run))
                    run = ""
                self.pieces.append(("time", t))
            elif t == "%%":
                run += "%%"
            elif t.startswith("%") and len(t) == 2 and t[1] in ("z", "Z"):
                continue  # naive times: empty, as in Python
            elif t.startswith("%") and len(t) == 2 and t[1] == "f":
                run += "000000"
            elif t.startswith("%") and (len(t) < 2 or t[1] not in _DATE_DIRS):
                self.slow = True
                run += t
            else:
                run += t
        if run:
            self.pieces.append(("date", run))

    def format(self, secs: np.ndarray, mask: np.ndarray | None) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if len(secs) == 0:
            return _arrow_str(pa.array([], type=pa.string()), None)
        if mask is not None and mask.any():
            secs = np.where(mask, secs[~mask][0] if (~mask).any() else 0, secs)
        if self.slow:
            uniq, inv = np.unique(secs, return_inverse=True)
            table = pa.array([(_EPOCH + dt.timedelta(seconds=int(s))).strftime(self.fmt) for s in uniq])
            return _arrow_str(table.take(pa.array(inv.ravel())), mask)
        days, sod = np.divmod(secs, 86400)
        parts: list[Any] = []
        for kind, f in self.pieces:
            if kind == "date":
                lo, hi = int(days.min()), int(days.max())
                if "%" not in f.replace("%%", ""):
                    parts.append(f.replace("%%", "%"))
                    continue
                cached = self._tables.get(f)
                if cached is not None and cached[0] <= lo and hi <= cached[1]:
                    parts.append(cached[2].take(pa.array(days - cached[0])))
                elif hi - lo <= 400_000:
                    if cached is not None and max(hi, cached[1]) - min(lo, cached[0]) <= 400_000:
                        lo, hi = min(lo, cached[0]), max(hi, cached[1])
                    base = dt.date(1970, 1, 1) + dt.timedelta(days=lo)
                    table = pa.array([(base + dt.timedelta(days=i)).strftime(f) for i in range(hi - lo + 1)])
                    self._tables[f] = (lo, hi, table)
                    parts.append(table.take(pa.array(days - lo)))
                else:
                    uniq, inv = np.unique(days, return_inverse=True)
                    table = pa.array([(dt.date(1970, 1, 1) + dt.timedelta(days=int(d))).strftime(f) for d in uniq])
                    parts.append(table.take(pa.array(inv.ravel())))
            else:
                step = _TIME_DIRS[f[1]]
                key = (sod // step) % (24 if step == 3600 else 60)
                size = 24 if step == 3600 else 60
                table = pa.array([dt.datetime(2000, 1, 1, h if step == 3600 else 0, h if step == 60 else 0,
                                              h if step == 1 else 0).strftime(f) for h in range(size)])
                parts.append(table.take(pa.array(key)))
        if all(isinstance(p, str) for p in parts):  # no directive that varies (e.g. only %z)
            parts.append(pa.array([""] * len(secs)))
        out = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]
        return _arrow_str(out, mask)

