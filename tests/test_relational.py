"""Databases and sequences: keys intact, children from parents, histories in order, bad input refused."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

import datatwin
from datatwin import DatabaseError, InputError, SchemaError
from datatwin.cli import main
from datatwin.relational import DatabaseSynthesizer, Schema, SequenceSynthesizer, detect_schema, write_database
from relational_helpers import FAST, check_keys, lag1, tiny_frames, tiny_sqlite


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    return tiny_sqlite(tmp_path_factory.mktemp("db") / "tiny.db")


@pytest.fixture(scope="module")
def fitted(url):
    schema, _ = datatwin.relational.read_database(url)
    schema.tables["trans"].sequence_key = "account_id"
    schema.tables["trans"].sequence_index = "date"
    return DatabaseSynthesizer(random_state=0, engine_options=FAST).fit(url, schema)


def test_schema_is_read_from_sqlite(url):
    schema, frames = datatwin.relational.read_database(url)
    assert schema.tables["account_tag"].primary_key == ["account_id", "tag_id"]
    fks = {str(fk): fk.nullable for fk in schema.foreign_keys}
    assert fks["employee.boss_id -> employee.employee_id"] is True
    assert fks["account.customer_id -> customer.customer_id"] is False
    assert schema.order().index("customer") < schema.order().index("account") < schema.order().index("trans")
    assert len(frames["trans"]) > 200


def test_every_key_intact(fitted):
    out = fitted.sample(seed=1)
    assert set(out) == {"customer", "employee", "account", "trans", "tag", "account_tag"}
    check_keys(fitted.schema_, out)
    real = tiny_frames()
    assert len(out["customer"]) == len(real["customer"])
    for t in ("account", "trans", "account_tag"):
        assert abs(len(out[t]) - len(real[t])) <= 0.1 * len(real[t]), t
    # nullable keys stay nullable; parents may have no children
    assert out["employee"]["boss_id"].isna().any()
    assert out["account"]["manager_id"].isna().any()
    assert (~out["customer"]["customer_id"].isin(out["account"]["customer_id"])).any()
    # histories: dates increase within each account
    dates = pd.to_datetime(out["trans"]["date"])
    assert dates.groupby(out["trans"]["account_id"]).apply(lambda s: s.is_monotonic_increasing).all()


def test_same_seed_same_bytes_and_scale(fitted, tmp_path):
    a, b = fitted.sample(seed=3), fitted.sample(seed=3)
    for t in a:
        assert a[t].to_csv(index=False) == b[t].to_csv(index=False), t
    path = tmp_path / "m.dtw"
    fitted.save(path)
    again = DatabaseSynthesizer.load(path).sample(seed=3)
    for t in a:
        assert a[t].to_csv(index=False) == again[t].to_csv(index=False), t
    big = fitted.sample(scale=2, seed=3)
    assert len(big["customer"]) == 2 * len(a["customer"])
    assert len(big["trans"]) > 1.6 * len(a["trans"])
    check_keys(fitted.schema_, big)


def test_folder_keys_detected(tmp_path):
    frames = tiny_frames()
    for t, df in frames.items():
        df.to_csv(tmp_path / f"{t}.csv", index=False)
    schema = detect_schema({t: pd.read_csv(tmp_path / f"{t}.csv") for t in frames})
    assert schema.tables["customer"].primary_key == ["customer_id"]
    found = {str(fk) for fk in schema.foreign_keys}
    assert "account.customer_id -> customer.customer_id" in found
    assert "trans.account_id -> account.account_id" in found


def test_sequences_keep_their_persistence():
    rng = np.random.default_rng(0)
    n_ent, n_steps = 12, 25
    df = pd.DataFrame({"store": np.repeat(np.arange(n_ent), n_steps),
                       "week": np.tile(pd.date_range("2024-01-05", periods=n_steps, freq="7D").strftime("%Y-%m-%d"),
                                       n_ent),
                       "price": (100 + np.cumsum(rng.normal(0, 1, n_ent * n_steps))).round(2)})
    out = SequenceSynthesizer("store", "week", engine_options={"max_epochs": 5}).fit(df).sample(seed=2)
    assert out["store"].nunique() == n_ent
    assert out.groupby("store").size().eq(n_steps).all()
    steps = pd.to_datetime(out["week"]).groupby(out["store"]).diff().dropna().dt.days
    assert steps.eq(7).all()
    assert lag1(out, "store", "price") > 0.5  # a random walk stays one: levels follow the previous step


# ------------------------------------------------------------------ CLI
def test_cli_inspect_fit_sample_synth(url, tmp_path, capsys):
    main(["inspect", url, "--json", str(tmp_path / "schema.json")])
    shown = capsys.readouterr().out
    assert "account_tag" in shown and "account_id+tag_id" in shown
    schema = Schema.load(tmp_path / "schema.json")
    assert len(schema.foreign_keys) == 6
    out = tmp_path / "out"
    main(["synth", url, "-o", str(out), "--max-training-time", "5"])
    assert {p.name for p in out.iterdir()} == {f"{t}.csv" for t in tiny_frames()}
    main(["fit", url, "-o", str(tmp_path / "m.dtw"), "--max-training-time", "5"])
    target = f"sqlite:///{tmp_path / 'syn.db'}"
    main(["sample", str(tmp_path / "m.dtw"), "-o", target, "--scale", "0.5"])
    con = sqlite3.connect(tmp_path / "syn.db")
    try:
        dangling = con.execute("SELECT COUNT(*) FROM account a LEFT JOIN customer c ON a.customer_id = c.customer_id "
                               "WHERE c.customer_id IS NULL").fetchone()[0]
        n_customers = con.execute("SELECT COUNT(*) FROM customer").fetchone()[0]
    finally:
        con.close()
    assert dangling == 0 and n_customers == 30
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(tmp_path / "m.dtw"), "-o", target])
    assert exc.value.code == 1
    assert "already has table(s)" in capsys.readouterr().err
    main(["sample", str(tmp_path / "m.dtw"), "-o", target, "--replace"])
    con = sqlite3.connect(tmp_path / "syn.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM customer").fetchone()[0] == 60
    finally:
        con.close()


def test_cli_sequence_csv(tmp_path, capsys):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"ticker": np.repeat(["A", "B", "C", "D"], 12), "day": np.tile(np.arange(12), 4),
                       "close": np.cumsum(rng.normal(0, 1, 48)).round(2)})
    df.to_csv(tmp_path / "s.csv", index=False)
    main(["synth", str(tmp_path / "s.csv"), "--sequence-key", "ticker", "--sequence-index", "day",
          "-o", str(tmp_path / "out.csv"), "--max-training-time", "5"])
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["ticker", "day", "close"]
    assert out.groupby("ticker")["day"].apply(lambda s: s.is_monotonic_increasing).all()


# ------------------------------------------------------------------ bad input
def _fit(frames, schema):
    return DatabaseSynthesizer(engine_options=FAST).fit(frames, schema)


def _two(orphans: int = 0):
    p = pd.DataFrame({"id": [1, 2, 3, 4], "x": ["a", "b", "a", "b"]})
    c = pd.DataFrame({"cid": range(1, 9), "pid": [1, 1, 2, 3, 3, 4, 4, 4], "y": [1.0, 2, 3, 4, 5, 6, 7, 8]})
    if orphans:
        c.loc[: orphans - 1, "pid"] = 99
    return {"p": p, "c": c}


FK = {"table": "c", "column": "pid", "parent_table": "p", "parent_column": "id"}
TABLES = {"p": {"primary_key": "id"}, "c": {"primary_key": "cid"}}


@pytest.mark.parametrize("schema, frames, message", [
    ({"tables": TABLES, "foreign_keys": [{**FK, "parent_table": "nope"}]}, _two(), "names table 'nope'"),
    ({"tables": TABLES, "foreign_keys": [{**FK, "parent_column": "nope"}]}, _two(), "names column 'nope'"),
    ({"tables": TABLES, "foreign_keys": [FK]}, _two(orphans=3), "3 row(s) of c.pid point to no row of p"),
    ({"tables": TABLES, "foreign_keys": [FK, {"table": "p", "column": "id", "parent_table": "c",
                                              "parent_column": "cid"}]}, _two(), "cycle with no nullable key"),
    ({"tables": TABLES, "foreign_keys": [FK]}, {"p": _two()["p"], "c": _two()["c"].iloc[:0]}, "has no rows"),
])
def test_bad_schemas_are_refused(schema, frames, message):
    with pytest.raises(InputError) as exc:
        _fit(frames, schema)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_orphans_and_cycles_are_schema_errors():
    with pytest.raises(SchemaError, match="orphans"):
        _fit(_two(orphans=1), {"tables": TABLES, "foreign_keys": [FK]})


def test_sequence_inputs_refused():
    one = pd.DataFrame({"k": [1, 2, 3], "t": [1, 2, 3], "v": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match="one row per entity"):
        SequenceSynthesizer("k", "t").fit(one)
    bad = pd.DataFrame({"k": [1, 1, 2, 2], "t": ["x", "y", "z", "w"], "v": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(InputError, match="cannot be ordered"):
        SequenceSynthesizer("k", "t").fit(bad)


def test_unreachable_database_never_shows_the_password(capsys):
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(SystemExit) as exc:
        main(["inspect", url])
    err = capsys.readouterr().err
    assert exc.value.code == 1
    assert "cannot connect" in err and "s3cret-pw" not in err and "***" in err
    with pytest.raises(DatabaseError, match="no such database file"):
        datatwin.relational.read_database("sqlite:///does/not/exist.db")


def test_failed_write_is_rolled_back(tmp_path):
    frames = _two()
    frames["c"] = pd.concat([frames["c"], frames["c"].iloc[:1]])  # a duplicate key fails the second table
    schema = Schema.from_dict({"tables": TABLES, "foreign_keys": [FK]})
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(DatabaseError, match="rolled back"):
        write_database(url, schema, frames)
    con = sqlite3.connect(tmp_path / "x.db")
    try:
        assert con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall() == []
    finally:
        con.close()


def test_table_names_that_need_quoting(tmp_path):
    frames = {"order": pd.DataFrame({"id": [1, 2], "select": ["a", "b"]})}
    schema = Schema.from_dict({"tables": {"order": {"primary_key": "id"}}})
    url = f"sqlite:///{tmp_path / 'q.db'}"
    assert write_database(url, schema, frames) == 2
    back_schema, back = datatwin.relational.read_database(url)
    assert back["order"]["select"].tolist() == ["a", "b"]
    assert back_schema.tables["order"].primary_key == ["id"]
