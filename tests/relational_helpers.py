"""Tiny databases for the relational tests: every kind of key, a few hundred rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

FAST = {"max_epochs": 2}


def tiny_frames(seed: int = 0) -> dict[str, pd.DataFrame]:
    """customer <- account <- trans (dated), customer.referrer (nullable self-ref is on employee),
    account.manager -> employee (nullable), employee.boss -> employee (self-reference),
    tag <- account_tag -> account (composite primary key), customers without accounts."""
    rng = np.random.default_rng(seed)
    n_c = 60
    customer = pd.DataFrame({"customer_id": np.arange(1, n_c + 1),
                             "segment": rng.choice(["retail", "sme", "corp"], n_c), "age": rng.integers(20, 80, n_c)})
    n_e = 12
    boss = np.r_[[np.nan], rng.integers(1, 4, n_e - 1).astype(float)]
    employee = pd.DataFrame({"employee_id": np.arange(1, n_e + 1), "boss_id": boss,
                             "dept": rng.choice(["a", "b"], n_e)})
    owners = rng.choice(np.arange(1, 46), 80)  # customers 46..60 have no account
    n_a = len(owners)
    manager = rng.integers(1, n_e + 1, n_a).astype(float)
    manager[rng.random(n_a) < 0.3] = np.nan
    account = pd.DataFrame({"account_id": np.arange(1, n_a + 1), "customer_id": owners, "manager_id": manager,
                            "kind": rng.choice(["current", "savings"], n_a)})
    rows = []
    tid = 1
    for a in account["account_id"]:
        k = int(rng.integers(2, 8))
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 30)))
        bal = float(rng.integers(100, 1000))
        for _ in range(k):
            day += pd.Timedelta(days=int(rng.integers(1, 10)))
            amt = float(rng.integers(-50, 80))
            bal += amt
            rows.append((tid, int(a), day.strftime("%Y-%m-%d"), amt, bal))
            tid += 1
    trans = pd.DataFrame(rows, columns=["trans_id", "account_id", "date", "amount", "balance"])
    tag = pd.DataFrame({"tag_id": np.arange(1, 9), "label": [f"t{i}" for i in range(8)]})
    pairs = {(int(a), int(t)) for a, t in zip(rng.integers(1, n_a + 1, 150), rng.integers(1, 9, 150), strict=True)}
    account_tag = pd.DataFrame(sorted(pairs), columns=["account_id", "tag_id"])
    account_tag["weight"] = rng.integers(1, 4, len(account_tag))
    return {"customer": customer, "employee": employee, "account": account, "trans": trans, "tag": tag,
            "account_tag": account_tag}


DDL = """
CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, segment TEXT, age INTEGER);
CREATE TABLE employee (employee_id INTEGER PRIMARY KEY, boss_id INTEGER REFERENCES employee(employee_id), dept TEXT);
CREATE TABLE account (account_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customer(customer_id),
                      manager_id INTEGER REFERENCES employee(employee_id), kind TEXT);
CREATE TABLE trans (trans_id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES account(account_id),
                    date TEXT, amount REAL, balance REAL);
CREATE TABLE tag (tag_id INTEGER PRIMARY KEY, label TEXT);
CREATE TABLE account_tag (account_id INTEGER NOT NULL REFERENCES account(account_id),
                          tag_id INTEGER NOT NULL REFERENCES tag(tag_id), weight INTEGER,
                          PRIMARY KEY (account_id, tag_id));
"""


def tiny_sequence_db():
    """The tiny database fitted fast with its transactions as histories (account, date)."""
    from datatwin import DatabaseSynthesizer
    from datatwin.relational._discover import detect_schema

    frames = tiny_frames()
    schema = detect_schema(frames)
    schema.tables["trans"].sequence_key = "account_id"
    schema.tables["trans"].sequence_index = "date"
    return DatabaseSynthesizer(engine_options=FAST).fit(frames, schema)


def tiny_sqlite(path: Path, seed: int = 0) -> str:
    frames = tiny_frames(seed)
    con = sqlite3.connect(path)
    try:
        con.executescript(DDL)
        for t, df in frames.items():
            df = df.astype(object).where(df.notna(), None)
            con.executemany(f"INSERT INTO {t} VALUES ({','.join('?' * df.shape[1])})",
                            [tuple(r) for r in df.itertuples(index=False)])
        con.commit()
    finally:
        con.close()
    return f"sqlite:///{path}"


def check_keys(db_schema, tables: dict[str, pd.DataFrame]) -> None:
    from datatwin.relational._schema import key_values

    for t, ts in db_schema.tables.items():
        if t in tables and ts.primary_key:
            assert not key_values(tables[t], ts.primary_key).duplicated().any(), t
    for fk in db_schema.foreign_keys:
        if fk.table not in tables or fk.parent_table not in tables:
            continue
        child = key_values(tables[fk.table], fk.columns).dropna()
        parent = set(key_values(tables[fk.parent_table], fk.parent_columns).dropna())
        assert child.isin(parent).all(), str(fk)


def lag1(df: pd.DataFrame, key: str, col: str) -> float:
    vals = [s.autocorr(1) for _, s in df.groupby(key)[col] if len(s) > 3 and s.std() > 0]
    return float(np.nanmean(vals))
