"""The :class:`Spec`: a validated spec, compiled into column objects in dependency order."""

from __future__ import annotations

import copy
import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._exceptions import SpecError
from .._graph import CycleError, topological
from .._json import plain
from ._categories import _BoolCol, _CategoryCol
from ._checks import _check_keys, _choices, _suggest
from ._columns import _COMMON, _Col
from ._computed import _FormulaCol
from ._expr import _Expr, _expr_names
from ._fake import _check_locale, _FakerCol
from ._numbers import _DateCol, _DatetimeCol, _FloatCol, _IntegerCol
from ._sequence import _SequenceCol
from ._source import SPEC_FORMAT_VERSION, _read_spec_file, _Where
from ._starter import starter_spec

_TOP = {"version", "locale", "columns", "constraints", "description"}
_TYPES = ("integer", "float", "category", "boolean", "date", "datetime", "sequence", "faker", "formula")

_CLASSES: dict[str, type[_Col]] = {
    "integer": _IntegerCol, "float": _FloatCol, "category": _CategoryCol, "boolean": _BoolCol,
    "date": _DateCol, "datetime": _DatetimeCol, "sequence": _SequenceCol, "faker": _FakerCol,
    "formula": _FormulaCol,
}
_KEYS: dict[str, set[str]] = {
    "integer": _COMMON | {"distribution", "min", "max", "by", "params", "mean", "sd", "mu", "sigma"},
    "float": _COMMON | {"distribution", "min", "max", "by", "params", "mean", "sd", "mu", "sigma", "decimals"},
    "category": _COMMON | {"values", "weights", "by", "params"},
    "boolean": _COMMON | {"p", "by", "params"},
    "date": _COMMON | {"min", "max", "format", "by", "params", "distribution"},
    "datetime": _COMMON | {"min", "max", "format", "by", "params", "distribution"},
    "sequence": _COMMON | {"start", "step", "format"},
    "faker": _COMMON | {"provider", "args", "pool"},
    "formula": _COMMON | {"expr", "as", "decimals", "format"},
}



class Spec:
    """A validated generation spec (columns, dependencies, constraints). Build it with
    :meth:`load`, :meth:`from_dict` or :meth:`from_data`; it never changes afterwards.

    Example:
        >>> import datatwin
        >>> spec = datatwin.Spec.from_dict({"columns": {
        ...     "id": {"type": "sequence", "format": "C-{:04d}"},
        ...     "price": {"type": "float", "distribution": "uniform", "min": 1, "max": 9, "decimals": 2},
        ...     "qty": {"type": "integer", "distribution": "poisson", "mean": 3, "min": 1},
        ...     "total": {"type": "formula", "expr": "price * qty", "decimals": 2}}})
        >>> df = datatwin.generate(spec, 5, seed=0)
        >>> list(df.columns), bool((df.total == (df.price * df.qty).round(2)).all())
        (['id', 'price', 'qty', 'total'], True)
    """

    __slots__ = ("_cols", "_constraints", "_data", "_order", "_where", "locale")

    def __init__(self, data: dict[str, Any], where: _Where) -> None:
        self._data = copy.deepcopy(data)
        self._where = where
        self._compile(copy.deepcopy(data), where)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spec:
        """Validate a spec given as plain data (what ``yaml.safe_load`` or ``json.load`` return)."""
        if not isinstance(d, Mapping):
            raise SpecError(f"a spec must be a mapping with a 'columns' mapping, got {type(d).__name__}")
        return cls(dict(d), _Where())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Spec:
        """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) spec file; errors name its line and field."""
        data, where = _read_spec_file(Path(path))
        if not isinstance(data, dict):
            raise where.error((), f"a spec must be a mapping with a 'columns' mapping, got {type(data).__name__}")
        return cls(data, where)

    @classmethod
    def from_data(cls, df: pd.DataFrame, metadata: Any = None, *, min_count: int = 5) -> Spec:
        """A starter spec from a real table: fitted distributions, never real extremes or rare values.

        Numbers get a normal or lognormal fit clipped to the 1st..99th percentiles, categories the
        levels seen in at least ``min_count`` rows with their shares, dates their 1st..99th
        percentile range, PII a Faker provider, ids a sequence. Edit it, then ``generate``.
        """
        return cls.from_dict(starter_spec(df, metadata, min_count=min_count))

    # ------------------------------------------------------------------ views
    @property
    def columns(self) -> list[str]:
        """Column names, in output order."""
        return list(self._cols)

    @property
    def constraints(self) -> list[str]:
        return [c[1] for c in self._constraints]

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (a copy)."""
        return copy.deepcopy(self._data)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(plain(self._data, strict=False), sort_keys=False, allow_unicode=True,
                              default_flow_style=None, width=110)

    def save(self, path: str | os.PathLike[str], *, comment: str | None = None) -> None:
        """Write the spec as YAML (``comment`` as ``#`` lines on top), or JSON when ``path`` ends in
        ``.json``; atomically."""
        from ..io import atomic_write_text

        p = Path(path)
        if p.suffix.lower() == ".json":
            text = json.dumps(plain(self._data, strict=False), indent=2) + "\n"
        else:
            head = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
            text = head + self.to_yaml()
        atomic_write_text(p, text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and plain(self._data, strict=False) == plain(other._data, strict=False)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Spec(columns={self.columns!r}, constraints={len(self._constraints)})"

    # ------------------------------------------------------------------ compile
    def _compile(self, d: dict[str, Any], w: _Where) -> None:
        d = _check_keys(d, _TOP, (), w, "a spec")
        if "version" in d and d["version"] != SPEC_FORMAT_VERSION:
            raise w.error(("version",), f"spec version {d['version']!r} is not supported (this datatwin reads "
                                        f"version {SPEC_FORMAT_VERSION})")
        self.locale = str(d.get("locale", "en_US"))
        if "columns" not in d:
            raise w.error((), "a spec needs a 'columns' mapping (name: {type: ..., ...})")
        cols_in = d["columns"]
        if not isinstance(cols_in, dict) or not cols_in:
            raise w.error(("columns",), "must be a non-empty mapping of column name to its definition")
        cols: dict[str, _Col] = {}
        for raw_name, cd in cols_in.items():
            name = str(raw_name)
            path = ("columns", name)
            if not name.strip():
                raise w.error(path, "column names must not be empty")
            if not isinstance(cd, dict):
                raise w.error(path, f"must be a mapping with a type, got {cd!r}")
            t = cd.get("type")
            if t is None:
                known = set().union(*_KEYS.values())
                for k in cd:
                    if str(k) not in known:
                        raise w.error((*path, str(k)), f"unknown field {str(k)!r} ({_suggest(k, known)}"
                                                       f"a column needs a type: {', '.join(_TYPES)})")
                raise w.error(path, f"needs a type ({', '.join(_TYPES)})")
            if t not in _CLASSES:
                raise w.error((*path, "type"), f"unknown type {t!r} ({_suggest(t, _TYPES)}choose "
                                               f"{', '.join(_TYPES)})")
            cd = _check_keys(cd, _KEYS[t], path, w, f"{'an' if t[0] in 'aeiou' else 'a'} {t} column")
            cols[name] = _CLASSES[t](name, cd, path, w)
        if any(isinstance(c, _FakerCol) for c in cols.values()):
            self.locale = _check_locale(d.get("locale", "en_US"), w)
            for c in cols.values():
                if isinstance(c, _FakerCol):
                    c.check(self.locale)
        elif "locale" in d:
            _check_locale(d["locale"], w)
        # dependencies: references must exist; no cycles
        deps: dict[str, list[str]] = {}
        for name, c in cols.items():
            deps[name] = []
            for ref, p in c.refs():
                if ref not in cols:
                    raise w.error(p, f"unknown column {ref!r} ({_suggest(ref, cols)}columns: {_choices(cols)})")
                if ref == name:
                    raise w.error(p, f"column {name!r} refers to itself")
                deps[name].append(ref)
        self._order = _toposort(deps, w)
        for name in self._order:
            cols[name].bind(cols)
        self._cols = cols
        self._constraints: list[tuple[_Expr, str, tuple[Any, ...]]] = []
        cons = d.get("constraints", [])
        if not isinstance(cons, list):
            raise w.error(("constraints",), "must be a list of conditions such as 'start_date <= end_date'")
        for i, text in enumerate(cons):
            p = ("constraints", i)
            for ref in _expr_names(text, p, w):
                if ref not in cols:
                    raise w.error(p, f"unknown column {ref!r} in {str(text)!r} ({_suggest(ref, cols)}"
                                     f"columns: {_choices(cols)})")
            e = _Expr(text, p, w, cols)
            if e.kind != "b":
                raise w.error(p, f"{str(text)!r} is not a condition; write a comparison such as 'a <= b'")
            self._constraints.append((e, str(text), p))
        keys = {zlib.crc32(n.encode()) for n in cols}
        if len(keys) < len(cols):  # two names with one CRC would share a random stream
            raise w.error(("columns",), "two column names collide in the random-stream hash; rename one")


def _toposort(deps: dict[str, list[str]], w: _Where) -> list[str]:
    """Columns in an order where every column comes after the ones it uses."""
    try:
        return topological(deps)
    except CycleError as exc:
        # graphlib's ring runs from a column to its users; say it as "a uses b", from the ring's
        # first column in spec order.
        ring = [str(c) for c in exc.cycle[::-1][:-1]]
        pos = list(deps)
        start = min(range(len(ring)), key=lambda i: pos.index(ring[i]))
        cycle = ring[start:] + ring[:start] + [ring[start]]
        raise w.error(("columns", cycle[0]), f"dependency cycle {' -> '.join(cycle)}; a column cannot depend "
                                              "on itself through other columns") from None
