"""Golden outputs: model-file bytes and sampled CSV bytes for fixed seeds.

Recorded before the architecture change (#16) and kept byte-identical after it: a refactor that
moves code must not move a single output byte. ``python tests/golden/cases.py --write`` records
them again (only when a change of behaviour is intended, and said so in the commit).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import datatwin
from datatwin.relational import _sequence

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
INSURANCE = ROOT / "src" / "datatwin" / "datasets" / "insurance.csv"
CUSTOMERS = ROOT.parent / "shared" / "datasets" / "customers.csv"
FAST = {"max_epochs": 3, "n_threads": 1}


def _csv(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode()


def _model(syn: datatwin.Synthesizer) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.dtw"
        syn.save(p)
        return p.read_bytes()


def _orders(n: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    price = np.round(rng.uniform(1, 100, n), 2)
    qty = rng.integers(1, 6, n)
    ordered = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    shipped = ordered + pd.to_timedelta(rng.integers(0, 20, n), unit="D")
    country = rng.choice(["FR", "DE", "IT"], n)
    city = np.where(country == "FR", "Paris", np.where(country == "DE", "Berlin", "Rome"))
    return pd.DataFrame({"order_id": np.arange(1, n + 1), "price": price, "qty": qty,
                         "total": np.round(price * qty, 2), "ordered": ordered.strftime("%Y-%m-%d"),
                         "shipped": shipped.strftime("%Y-%m-%d"), "country": country, "city": city,
                         "age": rng.integers(18, 80, n)})


def _walks(n_ent: int = 60) -> pd.DataFrame:
    """Histories of uneven length: a random walk with a high that moves with it (a spread), an
    integer count with gaps, a category with gaps, dated weekly with a few skipped weeks."""
    rng = np.random.default_rng(5)
    parts = []
    for e in range(n_ent):
        n = int(rng.integers(6, 30))
        week = pd.Timestamp("2023-01-06") + pd.to_timedelta(7 * np.cumsum(rng.integers(1, 3, n)), unit="D")
        price = 50 + np.cumsum(rng.normal(0, 1, n))
        volume = rng.poisson(20, n).astype(float)
        volume[rng.random(n) < 0.1] = np.nan
        promo = rng.choice(["none", "tv", "web", None], n, p=[0.5, 0.2, 0.2, 0.1])
        parts.append(pd.DataFrame({"store": f"s{e}", "week": week.strftime("%Y-%m-%d"), "price": price.round(2),
                                   "high": (price + np.abs(rng.normal(0, 0.3, n))).round(2), "volume": volume,
                                   "promo": promo}))
    return pd.concat(parts, ignore_index=True)


def _database() -> tuple[dict[str, pd.DataFrame], Any]:
    sys.path.insert(0, str(HERE.parent))
    from datatwin.relational._discover import detect_schema
    from relational_helpers import tiny_frames

    frames = tiny_frames()
    frames["customer"].loc[frames["customer"].index % 7 == 0, "age"] = np.nan  # a parent's missing number
    schema = detect_schema(frames)
    schema.tables["trans"].sequence_key = "account_id"
    schema.tables["trans"].sequence_index = "date"
    return frames, schema


def _db_csv(tables: dict[str, pd.DataFrame]) -> bytes:
    return b"".join(name.encode() + b"\n" + _csv(tables[name]) for name in sorted(tables))


def _small_blocks(make: Callable[[], bytes]) -> bytes:
    """``make()`` with histories cut into many seeded blocks (as a large table is)."""
    old = _sequence.HISTORY_BLOCK_ROWS
    _sequence.HISTORY_BLOCK_ROWS = 60
    try:
        return make()
    finally:
        _sequence.HISTORY_BLOCK_ROWS = old


def cases() -> Iterator[tuple[str, Callable[[], bytes]]]:
    ins = pd.read_csv(INSURANCE)
    argn = datatwin.Synthesizer(random_state=0, engine_options=FAST).fit(ins)
    yield "insurance.argn.model", lambda: _model(argn)
    yield "insurance.argn.sample", lambda: _csv(argn.sample(3000, seed=1))
    yield "insurance.argn.chunks", lambda: _csv(argn.sample(2500, seed=2, chunk_size=700))
    yield "insurance.argn.conditions", lambda: _csv(argn.sample(800, seed=3, conditions={
        "smoker": "yes", "age": (30, 50)}))
    yield "insurance.argn.rebalance", lambda: _csv(argn.sample(800, seed=4, rebalance={
        "region": {"northeast": 0.5}}))
    yield "insurance.argn.boost", lambda: _csv(argn.sample(800, seed=5, boost={
        "where": {"children": 3}, "share": 0.3}))
    seed_rows = ins.head(50)[["age", "smoker"]].copy()
    yield "insurance.argn.seed_rows", lambda: _csv(argn.sample(seed=seed_rows))
    yield "insurance.argn.what_if", lambda: _csv(argn.what_if(600, {"bmi": lambda s: s + 2}, seed=6))
    cop = datatwin.Synthesizer(engine="copula", random_state=0).fit(ins)
    yield "insurance.copula.model", lambda: _model(cop)
    yield "insurance.copula.sample", lambda: _csv(cop.sample(3000, seed=1))

    orders = _orders()
    con = datatwin.Synthesizer(random_state=1, engine_options=FAST, constraints=[
        "ordered <= shipped", "total = price * qty", datatwin.Range("age", 25, 65),
        datatwin.FixedCombinations(["country", "city"])]).fit(orders)
    yield "orders.constraints.model", lambda: _model(con)
    yield "orders.constraints.sample", lambda: _csv(con.sample(1500, seed=1))
    yield "orders.constraints.conditions", lambda: _csv(con.sample(500, seed=2, conditions={"country": "FR"}))
    cop_con = datatwin.Synthesizer(engine="copula", random_state=1, constraints=["ordered <= shipped"]).fit(orders)
    yield "orders.copula.constraints", lambda: _csv(cop_con.sample(1000, seed=1))

    if CUSTOMERS.exists():
        cust = pd.read_csv(CUSTOMERS).head(1500)
        pii = datatwin.Synthesizer(random_state=2, engine_options=FAST,
                                   constraints=[datatwin.Unique(["email"])]).fit(cust)
        yield "customers.pii.model", lambda: _model(pii)
        yield "customers.pii.sample", lambda: _csv(pii.sample(2000, seed=1))
        yield "customers.anonymize.keyed", lambda: _csv(datatwin.anonymize(cust.head(300), key="k"))
        yield "customers.anonymize.seeded", lambda: _csv(datatwin.anonymize(cust.head(300), seed=3))

    # Histories (#12): sampled bytes of a sequence table and of a database with a sequence child,
    # so that the generation loop can be made faster without moving a byte.
    seq = datatwin.SequenceSynthesizer("store", "week", random_state=3, engine_options=FAST).fit(_walks())
    yield "walks.sequence.sample", lambda: _csv(seq.sample(seed=1))
    yield "walks.sequence.blocks", lambda: _small_blocks(lambda: _csv(seq.sample(2.0, seed=2)))
    frames, schema = _database()
    db = datatwin.DatabaseSynthesizer(random_state=4, engine_options=FAST).fit(frames, schema)
    yield "tinydb.database.sample", lambda: _db_csv(db.sample(seed=1))
    yield "tinydb.database.blocks", lambda: _small_blocks(lambda: _db_csv(db.sample(3.0, seed=2)))

    spec = {"columns": {
        "id": {"type": "sequence", "start": 1, "format": "C-{:05d}"},
        "region": {"type": "category", "values": {"n": 0.5, "s": 0.3, "e": 0.2}},
        "age": {"type": "integer", "distribution": "normal", "mean": 40, "sd": 12, "min": 18, "max": 90},
        "price": {"type": "float", "distribution": "uniform", "min": 1, "max": 100, "decimals": 2},
        "qty": {"type": "integer", "distribution": "poisson", "mean": 3, "min": 1},
        "total": {"type": "formula", "expr": "price * qty", "decimals": 2},
        "start": {"type": "date", "min": "2020-01-01", "max": "2024-12-31"},
        "end": {"type": "date", "min": "start", "max": "2025-06-30", "format": "%d/%m/%Y"},
        "email": {"type": "faker", "provider": "email", "null_rate": 0.05, "pool": 300}},
        "constraints": ["total >= price", "end - start <= 90"]}
    yield "spec.generate", lambda: _csv(datatwin.generate(spec, 3000, seed=7))


def digests() -> dict[str, str]:
    return {name: hashlib.sha256(make()).hexdigest() for name, make in cases()}


if __name__ == "__main__":
    out = digests()
    if "--write" in sys.argv:
        (HERE / "golden.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(json.dumps(out, indent=1, sort_keys=True))
