"""Databases through SQLAlchemy 2: schema and rows read by URL, synthetic databases written.

SQLite (``sqlite:///file.db``) and PostgreSQL (``postgresql://...``, driven by psycopg 3) are
tested. Writing creates every table with its primary and foreign keys and loads every row in one
transaction: any failure rolls all of it back, so the target is never left half-written. Foreign
keys are created ``DEFERRABLE INITIALLY DEFERRED`` where the database supports it, so
self-references and cycles load in any row order and are checked at commit.

Column types are written as portable generic types chosen from the data (integer, float,
boolean, timestamp, text), so a SQLite source can become a PostgreSQL target and back.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import DatabaseError, InputError
from ._schema import ForeignKey, Schema, TableSchema

__all__ = ["is_url", "read_database", "read_sqlite_file", "safe_url", "write_database"]

_URL = re.compile(r"^[a-z][a-z0-9+]*://", re.I)


def is_url(text: str) -> bool:
    return bool(_URL.match(str(text)))


def _normalise(url: str) -> str:
    # psycopg 3 is the driver we ship; SQLAlchemy's bare "postgresql://" means psycopg2.
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def safe_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def _scrub(text: str, url: str) -> str:
    m = re.search(r"://[^:/@]*:([^@]*)@", url)
    first = str(text).strip().splitlines()[0] if str(text).strip() else type(text).__name__
    return first.replace(m.group(1), "***") if m and m.group(1) else first


def _engine(url: str) -> Any:
    import sqlalchemy as sa

    if not is_url(url):
        raise InputError(f"{url!r} is not a database URL (e.g. sqlite:///shop.db or postgresql://user@host/db)")
    try:
        eng = sa.create_engine(_normalise(url))
    except Exception as exc:  # unknown dialect, missing driver, malformed URL
        raise DatabaseError(f"cannot use database URL {safe_url(url)}: {_scrub(str(exc), url)}") from None
    if eng.dialect.name == "sqlite":
        # Python's sqlite3 runs CREATE TABLE outside any transaction; take over BEGIN so that the
        # tables and their rows commit or roll back together (SQLAlchemy's documented recipe).
        @sa.event.listens_for(eng, "connect")
        def _no_implicit(dbapi_conn: Any, record: Any) -> None:
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(eng, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")
    return eng


def _connect_error(url: str, exc: BaseException) -> DatabaseError:
    msg = getattr(exc, "orig", None) or exc
    return DatabaseError(f"cannot connect to {safe_url(url)}: {_scrub(str(msg), url)}")


def read_database(url: str, *, tables: list[str] | None = None) -> tuple[Schema, dict[str, pd.DataFrame]]:
    """Read tables, primary keys, foreign keys (with nullability) and rows from a database."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        from pathlib import Path

        p = Path(url[len("sqlite:///"):])
        if not p.is_file():  # SQLite would silently create an empty database
            raise DatabaseError(f"cannot connect to {safe_url(url)}: no such database file {str(p)!r}")
    return _read(_engine(url), url, tables)


def read_sqlite_file(path: str | os.PathLike[str], *, label: str | None = None,
                     tables: list[str] | None = None) -> tuple[Schema, dict[str, pd.DataFrame]]:
    """:func:`read_database` for a SQLite file opened read-only and immutable (for files from
    strangers): nothing in the file can make SQLite write, create a journal or open another file.

    ``label`` names the file in messages instead of its path.
    """
    import sqlite3
    import urllib.parse

    import sqlalchemy as sa

    # A URI built here, not parsed from a URL: SQLAlchemy would un-escape '#' or '?' in the path.
    uri = f"file:{urllib.parse.quote(os.fspath(path))}?mode=ro&immutable=1"
    eng = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
                           poolclass=sa.pool.NullPool)
    return _read(eng, label or os.fspath(path), tables)


def _read(eng: Any, url: str, tables: list[str] | None) -> tuple[Schema, dict[str, pd.DataFrame]]:
    import sqlalchemy as sa

    try:
        with eng.connect() as conn:
            insp = sa.inspect(conn)
            names = [t for t in insp.get_table_names() if not t.startswith("sqlite_")]
            if tables:
                unknown = [t for t in tables if t not in names]
                if unknown:
                    raise InputError(f"database has no table {unknown[0]!r}; tables: {', '.join(names)}")
                names = list(tables)
            if not names:
                raise InputError(f"database {safe_url(url)} has no tables")
            schema = Schema()
            frames: dict[str, pd.DataFrame] = {}
            for t in names:
                cols = insp.get_columns(t)
                nullable = {c["name"]: bool(c.get("nullable", True)) for c in cols}
                pk = insp.get_pk_constraint(t).get("constrained_columns") or []
                schema.tables[t] = TableSchema(t, list(pk))
                for fk in insp.get_foreign_keys(t):
                    if fk.get("referred_table") not in names and tables:
                        continue  # a parent left out of the chosen tables: a plain column
                    schema.foreign_keys.append(ForeignKey(
                        t, list(fk["constrained_columns"]), fk["referred_table"], list(fk["referred_columns"]),
                        all(nullable.get(c, True) for c in fk["constrained_columns"])))
                tbl = sa.Table(t, sa.MetaData(), *[sa.Column(c["name"]) for c in cols])
                frames[t] = pd.read_sql(sa.select(tbl), conn)
    except (InputError, DatabaseError):
        raise
    except sa.exc.OperationalError as exc:
        raise _connect_error(url, exc) from None
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read {safe_url(url)}: {_scrub(str(getattr(exc, 'orig', exc)), url)}") from None
    finally:
        eng.dispose()
    return schema, frames


def _sql_type(s: pd.Series) -> Any:
    import sqlalchemy as sa

    if pd.api.types.is_bool_dtype(s):
        return sa.Boolean()
    if pd.api.types.is_integer_dtype(s):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(s):
        v = s.dropna()
        # Whole-number floats (an integer column with gaps) stay integers in the database.
        if len(v) and np.all(np.mod(v.to_numpy(), 1) == 0) and v.abs().max() < 2**53:
            return sa.BigInteger()
        return sa.Float()
    if pd.api.types.is_datetime64_any_dtype(s):
        return sa.DateTime()
    return sa.Text()


def write_database(url: str, schema: Schema, frames: dict[str, pd.DataFrame] | Iterable[dict[str, pd.DataFrame]], *,
                   replace: bool = False, chunk_rows: int = 50_000) -> int:
    """Create the tables with their keys and insert every row, in one transaction; rows written.

    ``frames`` is ``{table: DataFrame}``, or an iterable of them (the shards of
    ``DatabaseSynthesizer.iter_sample``), appended one after the other inside the same
    transaction, so memory holds one shard; column types are chosen from the first.
    Tables that already exist are refused unless ``replace``, which drops them first (inside
    the same transaction where the database allows it).
    """
    import sqlalchemy as sa

    parts = iter([frames]) if isinstance(frames, dict) else iter(frames)
    frames = next(parts, None) or {t: pd.DataFrame() for t in schema.order()}
    eng = _engine(url)
    md = sa.MetaData()
    deferrable = eng.dialect.name != "sqlite"  # SQLite does not enforce keys by default anyway
    order = schema.order()
    types = {(t, str(c)): _sql_type(frames[t][c]) for t in order for c in frames[t].columns}
    for fk in schema.foreign_keys:  # a key column has its parent key's type, or the key cannot exist
        for c, pc in zip(fk.columns, fk.parent_columns, strict=True):
            if (fk.parent_table, pc) in types:
                types[(fk.table, c)] = types[(fk.parent_table, pc)]
    for t in order:
        df = frames[t]
        ts = schema.tables[t]
        cols = []
        for c in df.columns:
            cols.append(sa.Column(str(c), types[(t, str(c))], primary_key=c in ts.primary_key,
                                  nullable=c not in ts.primary_key, autoincrement=False))
        cons = [sa.ForeignKeyConstraint(fk.columns, [f"{fk.parent_table}.{c}" for c in fk.parent_columns],
                                        deferrable=deferrable or None,
                                        initially="DEFERRED" if deferrable else None)
                for fk in schema.parents_of(t)]
        sa.Table(t, md, *cols, *cons)
    written = 0
    try:
        with eng.begin() as conn:
            existing = set(sa.inspect(conn).get_table_names())
            clash = [t for t in order if t in existing]
            if clash and not replace:
                raise InputError(f"{safe_url(url)} already has table(s) {', '.join(clash)}; use --replace "
                                 f"(replace=True) to drop and rewrite them, or another database")
            if clash:
                drop = sa.MetaData()
                drop.reflect(conn, only=clash)
                drop.drop_all(conn)
            md.create_all(conn)
            for shard in itertools.chain([frames], parts):
                for t in order:
                    df = shard[t]
                    table = md.tables[t]
                    for start in range(0, len(df), chunk_rows):
                        part = df.iloc[start:start + chunk_rows]
                        rows = _records(part)
                        if rows:
                            conn.execute(table.insert(), rows)
                    written += len(df)
    except (InputError, DatabaseError):
        raise
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"writing {safe_url(url)} failed and was rolled back: "
                            f"{_scrub(str(getattr(exc, 'orig', exc)), url)}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"writing {safe_url(url)} failed and was rolled back: "
                            f"{_scrub(str(getattr(exc, 'orig', exc)), url)}") from None
    finally:
        eng.dispose()
    return written


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values (None for missing), the form every driver binds."""
    cols: dict[str, list[Any]] = {}
    for c in df.columns:
        s = df[c]
        miss = s.isna().to_numpy()
        if pd.api.types.is_float_dtype(s):
            v = s.dropna().to_numpy()
            whole = len(v) and np.all(np.mod(v, 1) == 0) and np.abs(v).max() < 2**53
            vals = [None if m else (int(x) if whole else float(x)) for x, m in zip(s.to_numpy(), miss, strict=True)]
        elif pd.api.types.is_datetime64_any_dtype(s):
            vals = [None if m else x.to_pydatetime() for x, m in zip(s, miss, strict=True)]
        elif pd.api.types.is_integer_dtype(s):
            vals = [None if m else int(x) for x, m in zip(s.to_numpy(dtype=object), miss, strict=True)]
        elif pd.api.types.is_bool_dtype(s):
            vals = [None if m else bool(x) for x, m in zip(s.to_numpy(dtype=object), miss, strict=True)]
        else:
            vals = [None if m else x for x, m in zip(s.to_numpy(dtype=object), miss, strict=True)]
        cols[str(c)] = vals
    names = list(cols)
    return [dict(zip(names, row, strict=True)) for row in zip(*cols.values(), strict=True)] if names else []
