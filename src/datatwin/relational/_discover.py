"""A folder of CSV/Parquet files as a database: tables read, keys detected or taken from a file.

Keys are detected the way a person would guess them, then checked on the values:
- primary key: a column named ``id``, ``<table>_id`` or ``<table>id`` (any case), else the first
  column whose name ends in ``id``, that is unique and never missing;
- foreign key: a column (not the table's own key) with the same name as another table's
  single-column primary key, or named ``<parent>_id``, whose values are (almost all) among that
  key's values. Containment below 90 % is taken as a coincidence of names, not a key; between
  that and 100 % the key is kept and the orphans are reported by :meth:`Schema.validate`.
``datatwin inspect FOLDER --json schema.json`` writes what was found, to edit and pass back.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .._exceptions import InputError
from ..io import read_table
from ._schema import ForeignKey, Schema, TableSchema, key_values

__all__ = ["SCHEMA_FILES", "detect_schema", "read_folder"]

SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
# A schema file in the folder is used instead of detection (metadata.json is the datasets' name).
SCHEMA_FILES = ("datatwin_schema.json", "metadata.json")
MIN_CONTAINMENT = 0.9


def read_folder(path: str | os.PathLike[str], schema: Schema | None = None) -> tuple[Schema, dict[str, pd.DataFrame]]:
    """Read every table file of a folder; keys from ``schema``, a schema file there, or detection."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"{str(folder)!r} is not a folder")
    if schema is None:
        for name in SCHEMA_FILES:
            if (folder / name).is_file():
                schema = Schema.load(folder / name)
                break
    frames: dict[str, pd.DataFrame] = {}
    if schema is not None:
        for t, ts in schema.tables.items():
            f = folder / (ts.file or f"{t}.csv")
            if not f.exists():
                cands = [p for p in folder.iterdir() if p.stem == t and p.suffix.lower() in SUFFIXES]
                if not cands:
                    raise InputError(f"table {t!r} of the schema has no file in {str(folder)!r}")
                f = cands[0]
            frames[t] = read_table(f)
        return schema, frames
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and not p.name.startswith("."))
    if not files:
        raise InputError(f"folder {str(folder)!r} holds no CSV or Parquet file")
    for p in files:
        frames[p.stem] = read_table(p)
    return detect_schema(frames), frames


def _norm(name: str) -> str:
    return name.lower().replace("_", "")


def _singular(name: str) -> str:
    n = _norm(name)
    return n[:-1] if n.endswith("s") and not n.endswith("ss") else n


def _unique_complete(s: pd.Series) -> bool:
    return bool(s.notna().all() and s.is_unique)


def detect_schema(frames: dict[str, pd.DataFrame]) -> Schema:
    """Guess primary and foreign keys from column names, uniqueness and value containment.

    Example:
        >>> import pandas as pd
        >>> from datatwin.relational import detect_schema
        >>> users = pd.DataFrame({"user_id": [1, 2, 3], "age": [30, 40, 50]})
        >>> orders = pd.DataFrame({"order_id": [1, 2, 3, 4], "user_id": [1, 1, 3, 2]})
        >>> [str(fk) for fk in detect_schema({"users": users, "orders": orders}).foreign_keys]
        ['orders.user_id -> users.user_id']
    """
    tables: dict[str, TableSchema] = {}
    for t, df in frames.items():
        names = {_norm(c): c for c in df.columns}
        pk = None
        for cand in ("id", f"{_norm(t)}id", f"{_singular(t)}id"):
            if cand in names and _unique_complete(df[names[cand]]):
                pk = names[cand]
                break
        if pk is None:
            pk = next((c for c in df.columns if _norm(c).endswith("id") and _unique_complete(df[c])), None)
        tables[t] = TableSchema(t, [pk] if pk else [])
    fks: list[ForeignKey] = []
    for t, df in frames.items():
        own = set(tables[t].primary_key)
        for c in df.columns:
            if c in own or not _norm(c).endswith("id"):
                continue
            for p, ps in tables.items():
                if p == t and not ps.primary_key:
                    continue
                if len(ps.primary_key) != 1:
                    continue
                pcol = ps.primary_key[0]
                named = _norm(c) == _norm(pcol) or _norm(c) in (f"{_singular(p)}id", f"{_norm(p)}id")
                if not named or (p == t and c == pcol):
                    continue
                values = df[c].dropna()
                if len(values) == 0:
                    continue
                parent = set(key_values(frames[p], [pcol]).dropna())
                if values.isin(parent).mean() >= MIN_CONTAINMENT:
                    fks.append(ForeignKey(t, [c], p, [pcol], bool(df[c].isna().any())))
                    break
    return Schema(tables, fks)
