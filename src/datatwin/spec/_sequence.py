"""Sequence columns: ``start + step * row``, unique and independent of chunking, optionally as text."""

from __future__ import annotations

import re
import string
from typing import Any

import numpy as np
import pandas as pd

from ._checks import _number
from ._columns import RunState, _arrow_str, _Col, _Vals
from ._source import _Where


class _SequenceCol(_Col):
    """``start + step * row``, optionally formatted (``CUST-{:06d}``): unique, chunk-independent."""

    type = "sequence"
    fkind = "i"

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        self.start = int(_number(d.get("start", 1), (*path, "start"), w, integer=True, lo=-(2.0**62), hi=2.0**62))
        self.step = int(_number(d.get("step", 1), (*path, "step"), w, integer=True, lo=-(2.0**40), hi=2.0**40))
        if self.step == 0:
            raise self.err("step", "must not be 0 (ids must be unique)")
        self.fmt = _IdFormat(d["format"], (*path, "format"), w) if "format" in d else None
        self.fkind = "text" if self.fmt is not None else "i"

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: RunState) -> _Vals:
        return _Vals(self.start + self.step * rows.astype(np.int64), None)

    def output(self, v: _Vals) -> Any:
        if self.fmt is not None:
            return _arrow_str(self.fmt.format(v.values), v.mask)
        if self.nullable:
            m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
            return pd.arrays.IntegerArray(v.values, m)
        return v.values


class _IdFormat:
    """A ``str.format`` pattern with one integer field; common patterns run in pyarrow."""

    def __init__(self, fmt: Any, path: tuple[Any, ...], w: _Where) -> None:
        if not isinstance(fmt, str):
            raise w.error(path, f"must be a pattern such as 'CUST-{{:06d}}', got {fmt!r}")
        try:
            parts = list(string.Formatter().parse(fmt))
            fields = [p for p in parts if p[1] is not None]
            if len(fields) != 1 or fields[0][1] not in ("", "0"):
                raise ValueError("needs exactly one {} field")
            fmt.format(12345)
        except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
            raise w.error(path, f"{fmt!r} is not a pattern with one number field such as "
                                f"'CUST-{{:06d}}' ({exc})") from None
        self.fmt = fmt
        self.fast = None
        at = next(i for i, p in enumerate(parts) if p[1] is not None)
        prefix = "".join(p[0] for p in parts[: at + 1])
        suffix = "".join(p[0] for p in parts[at + 1:])
        _, _, spec, conv = parts[at]
        m = re.fullmatch(r"(0?)(\d*)d?", spec or "")
        if conv is None and m is not None:
            self.fast = (prefix, suffix, m.group(1) == "0", int(m.group(2) or 0))

    def format(self, x: np.ndarray) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.fast is not None and (len(x) == 0 or x.min() >= 0):
            prefix, suffix, zero, width = self.fast
            s = pc.cast(pa.array(x), pa.string())
            if width:
                s = pc.utf8_lpad(s, width, "0" if zero else " ")
            if prefix or suffix:
                s = pc.binary_join_element_wise(prefix, s, suffix, "")
            return s
        return pa.array([self.fmt.format(int(i)) for i in x], type=pa.string())

