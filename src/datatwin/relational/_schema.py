"""Tables, keys and their order: the schema of a database, and its editable JSON file.

The JSON form is the one ``shared/datasets/*/metadata.json`` uses, so a dataset's own metadata
file can be given as is::

    {"tables": {"account": {"primary_key": "account_id", "file": "account.csv"},
                "trans": {"primary_key": "trans_id", "sequence_key": "account_id",
                          "sequence_index": "date"}},
     "foreign_keys": [{"table": "trans", "column": "account_id",
                       "parent_table": "account", "parent_column": "account_id"}]}

``column`` / ``parent_column`` may be lists (composite keys); ``primary_key`` too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError, SchemaError

__all__ = ["ForeignKey", "Schema", "TableSchema", "key_values"]


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    return [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)]


def _one_or_list(cols: list[str]) -> str | list[str]:
    return cols[0] if len(cols) == 1 else list(cols)


ENTITY = "__entity"  # the virtual parent of a standalone sequence table


@dataclass
class ForeignKey:
    """``table.columns`` points to ``parent_table.parent_columns`` (one or several columns)."""

    table: str
    columns: list[str]
    parent_table: str
    parent_columns: list[str]
    nullable: bool = False

    @property
    def name(self) -> str:
        return f"{self.table}.{'+'.join(self.columns)}"

    def __str__(self) -> str:
        return f"{self.name} -> {self.parent_table}.{'+'.join(self.parent_columns)}"

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": _one_or_list(self.columns), "parent_table": self.parent_table,
                "parent_column": _one_or_list(self.parent_columns)}


@dataclass
class TableSchema:
    """One table: its primary key (possibly composite), and for a sequence table the entity key
    and the column that orders each entity's rows."""

    name: str
    primary_key: list[str] = field(default_factory=list)
    sequence_key: str | None = None
    sequence_index: str | None = None
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.primary_key:
            out["primary_key"] = _one_or_list(self.primary_key)
        for k in ("sequence_key", "sequence_index", "file"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        return out


@dataclass
class Schema:
    """Tables and foreign keys.

    Example:
        >>> from datatwin.relational import Schema
        >>> s = Schema.from_dict({"tables": {"a": {"primary_key": "id"}, "b": {"primary_key": "id"}},
        ...     "foreign_keys": [{"table": "b", "column": "a_id", "parent_table": "a", "parent_column": "id"}]})
        >>> s.order()
        ['a', 'b']
    """

    tables: dict[str, TableSchema] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {"tables": {t: ts.to_dict() for t, ts in self.tables.items()},
                "foreign_keys": [fk.to_dict() for fk in self.foreign_keys]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        if not isinstance(d, dict) or not isinstance(d.get("tables"), dict) or not d["tables"]:
            raise SchemaError("a schema needs {'tables': {name: {...}}, 'foreign_keys': [...]}")
        tables = {}
        for name, td in d["tables"].items():
            td = td or {}
            if not isinstance(td, dict):
                raise SchemaError(f"schema entry for table {name!r} must be an object")
            tables[str(name)] = TableSchema(str(name), _as_list(td.get("primary_key")), td.get("sequence_key"),
                                            td.get("sequence_index"), td.get("file"))
        fks = []
        for i, f in enumerate(d.get("foreign_keys") or []):
            try:
                fks.append(ForeignKey(str(f["table"]), _as_list(f["column"]), str(f["parent_table"]),
                                      _as_list(f["parent_column"]), bool(f.get("nullable", False))))
            except (KeyError, TypeError):
                raise SchemaError(f"foreign key #{i + 1} needs table, column, parent_table and parent_column"
                                  ) from None
        return cls(tables, fks)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Schema:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise SchemaError(f"cannot read schema file {str(path)!r}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        from ..io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    # ------------------------------------------------------------------ structure
    def parents_of(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys if fk.table == table]

    def children_of(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys if fk.parent_table == table]

    def check_names(self) -> None:
        """Every foreign key names existing tables (the columns are checked against the data)."""
        for fk in self.foreign_keys:
            for t in (fk.table, fk.parent_table):
                if t not in self.tables:
                    raise SchemaError(f"foreign key {fk} names table {t!r}, which is not in the schema "
                                      f"(tables: {', '.join(self.tables)})")
            if len(fk.columns) != len(fk.parent_columns):
                raise SchemaError(f"foreign key {fk} has {len(fk.columns)} column(s) but its parent key has "
                                  f"{len(fk.parent_columns)}")

    def deferred(self) -> list[ForeignKey]:
        """Foreign keys filled in after every table exists: self-references, and one nullable key
        per cycle (so the remaining graph has an order). A cycle without a nullable key is an error."""
        self.check_names()
        out = [fk for fk in self.foreign_keys if fk.table == fk.parent_table]
        while True:
            live = [fk for fk in self.foreign_keys if fk not in out]
            cycle = _find_cycle(list(self.tables), live)
            if cycle is None:
                return out
            breakable = [fk for fk in cycle if fk.nullable]
            if not breakable:
                path = " -> ".join([fk.parent_table for fk in cycle] + [cycle[-1].table])
                raise SchemaError(f"the foreign keys form a cycle with no nullable key ({path}); make one of "
                                  f"them nullable, or drop it from the schema")
            out.append(breakable[0])

    def order(self) -> list[str]:
        """Tables with every parent before its children (ties keep the schema's order)."""
        live = [fk for fk in self.foreign_keys if fk not in self.deferred()]
        done: list[str] = []
        pending = list(self.tables)
        while pending:
            for t in pending:
                if all(fk.parent_table in done for fk in live if fk.table == t):
                    done.append(t)
                    pending.remove(t)
                    break
        return done

    # ------------------------------------------------------------------ data checks
    def validate(self, frames: dict[str, pd.DataFrame]) -> None:
        """Check the data against the schema: one clear error for the first problem found."""
        self.check_names()
        for t, ts in self.tables.items():
            if t not in frames:
                raise SchemaError(f"table {t!r} is in the schema but no data was found for it")
            df = frames[t]
            if len(df) == 0:
                raise InputError(f"table {t!r} has no rows, so there is nothing to learn; drop it from the schema "
                                 f"or add rows")
            for c in ts.primary_key + [x for x in (ts.sequence_key, ts.sequence_index) if x]:
                if c not in df.columns:
                    raise SchemaError(f"table {t!r} has no column {c!r} (named by its primary or sequence key)")
            if ts.primary_key:
                dup = int(key_values(df, ts.primary_key).duplicated().sum())
                if dup:
                    raise SchemaError(f"primary key {t}.{'+'.join(ts.primary_key)} has {dup:,} duplicate value(s); "
                                      f"fix the data or the key")
        for fk in self.foreign_keys:
            for t, cols in ((fk.table, fk.columns), (fk.parent_table, fk.parent_columns)):
                missing = [c for c in cols if c not in frames[t].columns]
                if missing:
                    raise SchemaError(f"foreign key {fk} names column {missing[0]!r}, which table {t!r} lacks")
            child = key_values(frames[fk.table], fk.columns)
            parent = set(key_values(frames[fk.parent_table], fk.parent_columns).dropna())
            orphans = int((child.notna() & ~child.isin(parent)).sum())
            if orphans:
                raise SchemaError(f"{orphans:,} row(s) of {fk.name} point to no row of {fk.parent_table} "
                                  f"(orphans); delete them or set their key to empty")
        self.deferred()


def key_values(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """One comparable value per row for a (possibly composite) key; missing if any part is missing."""
    if len(cols) == 1:
        s = df[cols[0]]
        return s.astype(object).where(s.notna(), None) if s.dtype == object else s
    parts = [df[c].astype(str).where(df[c].notna(), None) for c in cols]
    miss = np.zeros(len(df), dtype=bool)
    for p in parts:
        miss |= p.isna().to_numpy()
    joined = parts[0].fillna("")
    for p in parts[1:]:
        joined = joined + "\x1f" + p.fillna("")
    return joined.where(~miss, None)


def _find_cycle(tables: list[str], fks: list[ForeignKey]) -> list[ForeignKey] | None:
    """One cycle of foreign keys (parent -> child edges), or None."""
    out_edges: dict[str, list[ForeignKey]] = {t: [] for t in tables}
    for fk in fks:
        out_edges[fk.parent_table].append(fk)
    state: dict[str, int] = {}
    stack: list[ForeignKey] = []

    def visit(t: str) -> list[ForeignKey] | None:
        state[t] = 1
        for fk in out_edges[t]:
            if state.get(fk.table) == 1:
                start = next(i for i, e in enumerate(stack) if e.parent_table == fk.table) if stack else 0
                return [*stack[start:], fk] if any(e.parent_table == fk.table for e in stack) else [fk]
            if fk.table not in state:
                stack.append(fk)
                found = visit(fk.table)
                if found:
                    return found
                stack.pop()
        state[t] = 2
        return None

    for t in tables:
        if t not in state:
            found = visit(t)
            if found:
                return found
    return None
