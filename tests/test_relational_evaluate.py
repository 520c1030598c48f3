"""Database and sequence evaluation, conditions that flow from parents to children, Parquet folders."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

import datatwin
from datatwin import ConditionError, InputError
from datatwin.cli import main
from datatwin.evaluation import (
    DatabaseEvaluationResult,
    EvaluationResult,
    evaluate_database,
    evaluate_sequence,
    split_database,
)
from datatwin.relational import DatabaseSynthesizer, read_source
from relational_helpers import FAST, tiny_frames, tiny_sqlite


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    return tiny_sqlite(tmp_path_factory.mktemp("db") / "tiny.db")


@pytest.fixture(scope="module")
def real(url):
    schema, frames = read_source(url)
    schema.tables["trans"].sequence_key = "account_id"
    schema.tables["trans"].sequence_index = "date"
    return schema, frames


def walks(n_ent: int, length: int, seed: int, shuffle: bool = False) -> pd.DataFrame:
    """Random walks per entity (lag-1 autocorrelation near 1); shuffled in time if asked (near 0)."""
    rng = np.random.default_rng(seed)
    parts = []
    for e in range(n_ent):
        x = np.cumsum(rng.normal(0, 1, length)) + rng.normal(0, 5)
        if shuffle:
            x = rng.permutation(x)
        parts.append(pd.DataFrame({"store": f"s{e}", "week": np.arange(length), "sales": x.round(3),
                                   "promo": rng.choice(["yes", "no"], length)}))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------ the figures
def test_real_database_against_itself_passes_every_measured_check(real):
    schema, frames = real
    res = evaluate_database(frames, frames, schema)
    s = res.summary
    assert s["fk_integrity_min"] == 1.0 and s["pk_unique_min"] == 1.0
    assert s["cardinality_mean"] == 1.0
    assert s["table_quality_mean"] == pytest.approx(1.0)
    assert res.verdict("fk_integrity")["status"] == "pass"
    assert res.verdict("children:trans.account_id -> account")["value"] == 1.0
    assert res["figures"]["sequences"]["trans"]["acf_distance_mean"] == pytest.approx(0.0)
    failing = [v["key"] for v in res.verdicts if v["status"] == "fail"]
    assert not failing


def test_broken_keys_counts_and_trends_fail_with_the_reason(real):
    schema, frames = real
    bad = {t: df.copy() for t, df in frames.items()}
    bad["customer"].loc[1, "customer_id"] = bad["customer"].loc[0, "customer_id"]  # duplicate primary key
    bad["trans"].loc[:9, "account_id"] = 9999  # dangling foreign keys
    # every account given to the same two customers: the children-per-parent shape is lost
    bad["account"]["customer_id"] = np.where(np.arange(len(bad["account"])) % 2, 3, 5)
    res = evaluate_database(frames, bad, schema)
    pk, fk = res.verdict("pk_unique"), res.verdict("fk_integrity")
    assert pk["status"] == "fail" and "'customer'" in pk["message"]
    assert fk["status"] == "fail" and "10 row(s) of trans.account_id -> account" in fk["message"]
    card = res.verdict("children:account.customer_id -> customer")
    assert card["status"] == "fail" and card["value"] < 0.5
    assert res.overall == "fail"


def test_sequence_figures_tell_histories_from_shuffled_ones():
    real = walks(40, 30, 0)
    alike = walks(40, 30, 1)
    shuffled = walks(40, 30, 1, shuffle=True)
    good = evaluate_sequence(real, alike, "store", "week")
    bad = evaluate_sequence(real, shuffled, "store", "week")
    g, b = good["figures"]["sequences"]["data"], bad["figures"]["sequences"]["data"]
    assert g["acf"]["sales"]["1"]["real_mean"] > 0.6
    assert g["acf_distance_mean"] < 0.15 < 0.5 < b["acf_distance_mean"]
    assert good.verdict("seq_acf:data")["status"] == "pass"
    assert bad.verdict("seq_acf:data")["status"] == "fail"
    # steps: shuffled values jump far more than a walk's unit steps
    assert g["steps"]["sales"]["score"] > 0.85 > b["steps"]["sales"]["score"]
    assert good.verdict("seq_detection:data")["value"] < 0.7 < bad.verdict("seq_detection:data")["value"]
    assert g["length"]["score"] == 1.0
    assert set(g["acf"]["sales"]) == {"1", "2", "3"}


def test_an_index_of_few_step_numbers_or_text_dates_still_orders_the_histories():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"k": np.repeat(np.arange(60), 5), "t": np.tile(np.arange(1, 6), 60),
                       "v": np.cumsum(rng.normal(size=300))})
    shuffled = df.sample(frac=1.0, random_state=0)  # row order must not matter, the index orders
    steps = evaluate_sequence(df, shuffled, "k", "t")["figures"]["sequences"]["data"]["steps"]
    assert steps["t (step)"]["score"] == 1.0 and steps["v"]["score"] == 1.0
    dated = df.assign(t=(pd.Timestamp("2020-01-06") + pd.to_timedelta(df["t"] * 7, "D")).dt.strftime("%Y-%m-%d"))
    steps = evaluate_sequence(dated, dated, "k", "t")["figures"]["sequences"]["data"]["steps"]
    assert steps["t (step in days)"]["real"]["p50"] == 7.0


def test_split_keeps_entities_whole_and_the_holdout_is_the_reference(real):
    schema, frames = real
    train, hold = split_database(frames, schema, share=0.25, seed=3)
    for side in (train, hold):  # each side is a database with its keys intact
        schema.validate({t: df for t, df in side.items()})
    a, b = set(train["account"]["account_id"]), set(hold["account"]["account_id"])
    assert a and b and not a & b
    assert set(hold["trans"]["account_id"]) <= b and set(train["trans"]["account_id"]) <= a
    res = evaluate_database(train, hold, schema, holdout=hold)
    assert res["reference"] is not None
    v = res.verdict("children:trans.account_id -> account")
    assert v["reference"] == pytest.approx(v["value"]) and "holdout" in v["message"]
    assert res.verdict("seq_acf:trans")["status"] == "pass"  # as good as the holdout: passes by definition


def test_bad_inputs_say_what_is_wrong(real):
    schema, frames = real
    with pytest.raises(InputError, match="synthetic database has no table 'trans'"):
        evaluate_database(frames, {t: df for t, df in frames.items() if t != "trans"}, schema)
    with pytest.raises(InputError, match="lacks column 'amount'"):
        evaluate_database(frames, {**frames, "trans": frames["trans"].drop(columns="amount")}, schema)
    with pytest.raises(InputError, match="dict"):
        evaluate_database(frames, frames["trans"], schema)
    with pytest.raises(InputError, match="sequence key / index"):
        evaluate_sequence(walks(3, 5, 0), walks(3, 5, 1), "shop", "week")


def test_report_and_json_round_trip(real, tmp_path):
    schema, frames = real
    res = evaluate_database(frames, frames, schema)
    html = res.to_html()
    assert "Synthetic database evaluation report" in html and "trans.account_id -&gt; account" in html
    assert "<script" not in html and "http://" not in html and "data:image/png;base64," in html
    back = EvaluationResult.from_dict(json.loads(res.to_json()))
    assert isinstance(back, DatabaseEvaluationResult) and back.summary == res.summary
    res.save_html(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


# ------------------------------------------------------------------ conditions flow to children
@pytest.fixture(scope="module")
def regions():
    """Northern parents have 1-2 children, southern ones 5-7; the learned counts must follow."""
    rng = np.random.default_rng(0)
    n = 300
    region = rng.choice(["north", "south"], n)
    k = np.where(region == "north", rng.integers(1, 3, n), rng.integers(5, 8, n))
    parent = pd.DataFrame({"id": np.arange(1, n + 1), "region": region,
                           "size": np.where(region == "north", rng.normal(10, 2, n), rng.normal(30, 3, n)).round(1)})
    kid = pd.DataFrame({"kid_id": np.arange(1, k.sum() + 1), "parent_id": np.repeat(parent["id"], k).to_numpy(),
                        "amount": rng.normal(0, 1, k.sum()).round(2)})
    schema = {"tables": {"parent": {"primary_key": "id"}, "kid": {"primary_key": "kid_id"}},
              "foreign_keys": [{"table": "kid", "column": "parent_id", "parent_table": "parent",
                                "parent_column": "id"}]}
    db = DatabaseSynthesizer(random_state=0, engine_options={"max_epochs": 20}).fit({"parent": parent, "kid": kid},
                                                                                     schema)
    return db, k[region == "south"], k


def _kids_per_parent(out):
    return out["kid"]["parent_id"].value_counts().reindex(out["parent"]["id"]).fillna(0).to_numpy()


def test_condition_on_a_parent_flows_to_its_children(regions):
    db, south_counts, all_counts = regions
    out = db.sample(seed=1, conditions={"parent": {"region": "south"}})
    assert (out["parent"]["region"] == "south").all() and len(out["parent"]) == 300
    assert out["kid"]["parent_id"].isin(out["parent"]["id"]).all()
    got = _kids_per_parent(out)
    # the learned per-parent distribution of southern parents, not the overall one
    assert abs(got.mean() - south_counts.mean()) < 0.6 < abs(got.mean() - all_counts.mean())
    assert datatwin.evaluation._fidelity.ks_complement(got.astype(float), south_counts.astype(float)) > 0.7
    again = db.sample(seed=1, conditions={"parent": {"region": "south"}})
    assert all(again[t].equals(out[t]) for t in out)
    base = db.sample(seed=1)  # the unconditional sample is untouched by the feature
    assert abs(_kids_per_parent(base).mean() - all_counts.mean()) < 0.5


def test_what_if_on_a_parent_moves_its_children(regions):
    db, _, all_counts = regions
    out = db.sample(seed=1, what_if={"parent": {"size": lambda s: s + 20}})
    assert out["kid"]["parent_id"].isin(out["parent"]["id"]).all()
    assert _kids_per_parent(out).mean() > all_counts.mean() + 1  # bigger parents have more children


def test_a_table_of_histories_cannot_be_conditioned():
    seq = datatwin.SequenceSynthesizer("store", "week", engine_options=FAST).fit(walks(6, 8, 0))
    with pytest.raises(ConditionError, match="generated step by step"):
        seq.database_.sample(conditions={"data": {"promo": "yes"}})


@pytest.mark.parametrize("kwargs, message", [
    ({"conditions": {"kid": {"amount": (0, 1)}}}, "generated from their parent 'parent'"),
    ({"conditions": {"nope": {"region": "x"}}}, "table 'nope'"),
    ({"conditions": {"parent": {"id": 3}}}, "a key column"),
    ({"conditions": {"parent": {"region": "west"}}}, "region"),
    ({"conditions": {"parent": "south"}}, "{table: {column"),
])
def test_bad_conditions_are_refused(regions, kwargs, message):
    with pytest.raises(InputError, match=message):
        regions[0].sample(**kwargs)


def test_cli_where_flows_to_children(regions, tmp_path, capsys):
    db = regions[0]
    db.save(tmp_path / "m.dtw")
    main(["sample", str(tmp_path / "m.dtw"), "-o", str(tmp_path / "out"), "--where", "parent.region=south",
          "--format", "parquet"])
    parent = pd.read_parquet(tmp_path / "out" / "parent.parquet")
    kid = pd.read_parquet(tmp_path / "out" / "kid.parquet")
    assert (parent["region"] == "south").all() and kid["parent_id"].isin(parent["id"]).all()
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(tmp_path / "m.dtw"), "-o", str(tmp_path / "o2"), "--where", "region=south"])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "name the table and the column" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(tmp_path / "m.dtw"), "-o", str(tmp_path / "o3"), "--where", "kid.amount=0..1"])
    assert exc.value.code == 1 and "generated from their parent" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


# ------------------------------------------------------------------ CLI and Parquet folders
def test_parquet_folder_in_and_out(tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    frames = tiny_frames()
    for t in ("customer", "account", "trans"):
        frames[t].to_parquet(folder / f"{t}.parquet", index=False)
    schema, read = read_source(folder)
    assert {str(fk) for fk in schema.foreign_keys} == {"account.customer_id -> customer.customer_id",
                                                        "trans.account_id -> account.account_id"}
    assert read["trans"]["amount"].dtype == frames["trans"]["amount"].dtype
    main(["synth", str(folder), "-o", str(tmp_path / "out"), "--format", "parquet", "--max-training-time", "3"])
    out = {p.name for p in (tmp_path / "out").iterdir()}
    assert out == {"customer.parquet", "account.parquet", "trans.parquet"}
    _, syn = read_source(tmp_path / "out", schema)
    assert syn["trans"]["account_id"].isin(syn["account"]["account_id"]).all()


def test_cli_evaluate_database_and_synth_report(url, tmp_path, capsys):
    out = tmp_path / "syn"
    main(["synth", url, "-o", str(out), "--max-training-time", "3", "--report", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert "report written" in err and "Foreign keys resolve" in err
    html = (tmp_path / "r.html").read_text()
    assert "Synthetic database evaluation report" in html and "fresh real sample" in html
    main(["evaluate", url, str(out), "--report", str(tmp_path / "e.html"), "--json", str(tmp_path / "e.json")])
    data = json.loads((tmp_path / "e.json").read_text())
    assert data["kind"] == "database" and data["summary"]["fk_integrity_min"] == 1.0
    assert (tmp_path / "e.html").exists()
    (out / "trans.csv").unlink()
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", url, str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "'trans'" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", url, str(out / "customer.csv")])
    assert exc.value.code == 1 and "same form as the real one" in capsys.readouterr().err


def test_cli_evaluate_sequence_csv(tmp_path, capsys):
    walks(30, 20, 0).to_csv(tmp_path / "real.csv", index=False)
    walks(30, 20, 1, shuffle=True).to_csv(tmp_path / "syn.csv", index=False)
    main(["evaluate", str(tmp_path / "real.csv"), str(tmp_path / "syn.csv"), "--sequence-key", "store",
          "--sequence-index", "week", "--report", str(tmp_path / "s.html")])
    err = capsys.readouterr().err
    assert "persistence" in err and "fail" in err
    assert "rows with their previous row" in (tmp_path / "s.html").read_text()
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path / "real.csv"), str(tmp_path / "syn.csv"), "--sequence-key", "shop",
              "--sequence-index", "week"])
    assert exc.value.code == 1 and "'shop'" in capsys.readouterr().err
    # two tables without --sequence-key: the single-table evaluation
    main(["evaluate", str(tmp_path / "real.csv"), str(tmp_path / "syn.csv"), "--json", str(tmp_path / "t.json")])
    assert "kind" not in json.loads((tmp_path / "t.json").read_text())
    assert "Column distributions" in capsys.readouterr().err


def test_written_sqlite_database_can_be_evaluated(url, tmp_path):
    schema, frames = read_source(url)
    db = DatabaseSynthesizer(random_state=0, engine_options=FAST).fit(frames, schema)
    target = tmp_path / "syn.db"
    datatwin.relational.write_database(f"sqlite:///{target}", schema, db.sample(seed=0))
    _, syn = read_source(f"sqlite:///{target}", schema)
    res = evaluate_database(frames, syn, schema)
    assert res.verdict("fk_integrity")["status"] == "pass" and res.verdict("pk_unique")["status"] == "pass"
    con = sqlite3.connect(target)
    try:
        assert con.execute("SELECT COUNT(*) FROM trans").fetchone()[0] == len(syn["trans"])
    finally:
        con.close()
