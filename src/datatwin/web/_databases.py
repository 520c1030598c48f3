"""Uploaded SQLite databases: checked before they are kept, described, and their outputs packed.

A database upload is a stranger's SQLite file. It is only ever opened read-only and immutable
(``file:...?mode=ro&immutable=1``): SQLite then takes no lock, reads no journal or WAL, and
writes nothing, so nothing in the file can make the server write anywhere; it is never
ATTACHed. Before any row is read the file is checked from its header and catalogue alone:
a truncated or damaged file, or one past the table or column limits, is refused.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from .. import InputError
from ..io import escape_formula_cells
from ..relational import read_sqlite_file

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
SQLITE_MAGIC = b"SQLite format 3\x00"
DB_ENGINES = ("argn", "marginal")  # the copula engine cannot complete a child from its parent row
MAX_SCALE = 100.0
PREVIEW_ROWS = 5


def is_database_name(name: str) -> bool:
    return name.lower().endswith(SQLITE_SUFFIXES)


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro&immutable=1", uri=True)


def check_sqlite(path: Path, name: str, *, max_tables: int, max_columns: int) -> None:
    """Refuse a file that is not a whole, readable SQLite database within the limits (no rows read)."""
    with open(path, "rb") as f:
        header = f.read(100)
    if not header.startswith(SQLITE_MAGIC):
        raise InputError(f"{name!r} is named {Path(name).suffix} but its content is not a SQLite database")
    damaged = f"{name!r} is not a readable SQLite database (damaged or truncated)"
    if len(header) < 100:
        raise InputError(damaged)
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count in the header is trusted by SQLite when the change counters agree: a file
    # shorter than that has lost its end.
    if header[24:28] == header[92:96] and pages and page_size * pages > path.stat().st_size:
        raise InputError(f"{damaged}: the header says {page_size * pages:,} bytes, the file has "
                         f"{path.stat().st_size:,}")
    try:
        con = _connect_ro(path)
    except sqlite3.Error as exc:
        raise InputError(f"{damaged}: {exc}") from None
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")]
        if not tables:
            raise InputError(f"{name!r} has no tables")
        if len(tables) > max_tables:
            raise InputError(f"{name!r} has {len(tables):,} tables; the limit is {max_tables}")
        for t in tables:
            n = con.execute("SELECT count(*) FROM pragma_table_info(?)", (t,)).fetchone()[0]
            if n > max_columns:
                raise InputError(f"{name!r}: table {t!r} has {n:,} columns; the limit is {max_columns}")
        result = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
        if result != ["ok"]:
            raise InputError(f"{damaged}: {'; '.join(map(str, result))[:300]}")
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        raise InputError(f"{damaged}: {exc}") from None
    finally:
        con.close()


def analyse_database(path: Path, name: str) -> tuple[dict[str, Any], tuple[int, int]]:
    """Tables, row counts, keys and a few rows of each table (runs in the helper process).

    The relational package's checks run here, so keys that name a missing table, orphan rows or
    an empty table refuse the upload with its message rather than failing a fit later.
    """
    schema, frames = read_sqlite_file(path, label=name)
    schema.validate(frames)
    tables = []
    for t, ts in schema.tables.items():
        df = frames[t]
        head = df.head(PREVIEW_ROWS)
        rows = [["" if v is None else str(v) for v in r]
                for r in head.astype(object).where(head.notna(), None).itertuples(index=False)]
        tables.append({"name": t, "rows": len(df), "columns": [str(c) for c in df.columns],
                       "primary_key": list(ts.primary_key),
                       "foreign_keys": [{"columns": fk.columns, "parent_table": fk.parent_table,
                                         "parent_columns": fk.parent_columns, "nullable": fk.nullable}
                                        for fk in schema.parents_of(t)],
                       "preview": rows})
    info = {"database": {"tables": tables, "order": schema.order(), "schema": schema.to_dict(),
                         "foreign_keys": [str(fk) for fk in schema.foreign_keys]}}
    total_rows = sum(len(df) for df in frames.values())
    total_cols = sum(df.shape[1] for df in frames.values())
    return info, (total_rows, total_cols)


def safe_file_names(tables: list[str]) -> dict[str, str]:
    """A plain, unique file name for each table (a table may be called '../x' or 'a/b')."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for t in tables:
        base = re.sub(r"[^A-Za-z0-9_. -]", "_", t).strip(" .") or "table"
        base = base[:100]
        name, i = base, 1
        while name.lower() in used:
            i += 1
            name = f"{base}_{i}"
        used.add(name.lower())
        out[t] = f"{name}.csv"
    return out


def write_csv_zip(tables: dict[str, pd.DataFrame], dest: Path) -> None:
    """A zip of one CSV per table, formula cells escaped, written to a temp file then renamed."""
    names = safe_file_names(list(tables))
    fd, tmp = tempfile.mkstemp(prefix=".tables.", suffix=".zip", dir=dest.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for t, df in tables.items():
                zf.writestr(names[t], escape_formula_cells(df).to_csv(index=False))
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
