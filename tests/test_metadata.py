import json

import numpy as np
import pandas as pd
import pytest

from datatwin import Metadata, MetadataError


def kinds(df):
    return Metadata.infer(df).kinds()


def test_infers_each_kind():
    n = 200
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "customer_id": [f"C-{i:05d}" for i in range(n)],
        "row": np.arange(1, n + 1),
        "age": rng.integers(18, 90, n),
        "price": np.round(rng.random(n) * 100, 2),
        "color": rng.choice(["red", "green", "blue"], n),
        "flag": rng.random(n) > 0.5,
        "born": pd.date_range("1990-01-01", periods=n, freq="7D").strftime("%d/%m/%Y"),
        "seen": pd.date_range("2021-03-01 10:00", periods=n, freq="37min").strftime("%Y-%m-%d %H:%M:%S"),
        "email": [f"user{i}@example.com" for i in range(n)],
        "phone": [f"+1 (555) {i:03d}-{(i * 7) % 10000:04d}" for i in range(n)],
        "first_name": rng.choice(["Ann", "Bob", "Cid", "Dee", "Eve", "Fay"] * 10, n),
        "country": "Norway",
        "note": [" ".join(rng.choice(["the", "cat", "sat", "on", "a", "mat", "dog", "ran"], 8)) + f" {i}"
                 for i in range(n)],
    })
    k = kinds(df)
    assert k == {
        "customer_id": "id", "row": "id", "age": "numeric", "price": "numeric", "color": "categorical",
        "flag": "boolean", "born": "datetime", "seen": "datetime", "email": "pii", "phone": "pii",
        "first_name": "pii", "country": "constant", "note": "text",
    }
    meta = Metadata.infer(df)
    assert meta.columns["born"].datetime_format == "%d/%m/%Y"
    assert meta.columns["seen"].datetime_format == "%Y-%m-%d %H:%M:%S"
    assert meta.columns["price"].decimals == 2
    assert meta.columns["age"].integer
    assert meta.columns["email"].pii_type == "email"


@pytest.mark.parametrize(("values", "fmt"), [
    (["03/25/2020", "12/01/2021", "01/13/2019"], "%m/%d/%Y"),
    (["25/03/2020", "01/12/2021", "13/01/2019"], "%d/%m/%Y"),
    (["2020-03-25T10:11:12", "2021-12-01T00:00:01", "2019-01-13T23:59:59"], "%Y-%m-%dT%H:%M:%S"),
    (["25.03.2020", "01.12.2021", "13.01.2019"], "%d.%m.%Y"),
])
def test_date_formats_decided_by_the_data(values, fmt):
    df = pd.DataFrame({"d": values * 10})
    meta = Metadata.infer(df)
    assert meta.columns["d"].kind == "datetime"
    assert meta.columns["d"].datetime_format == fmt


def test_numbers_as_text_are_not_dates():
    df = pd.DataFrame({"zip": ["12345", "23456", "34567", "45678"] * 10})
    assert kinds(df)["zip"] != "datetime"


def test_json_round_trip(tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3] * 10, "b": ["x", "y", "z"] * 10})
    meta = Metadata.infer(df)
    path = tmp_path / "meta.json"
    meta.save(path)
    assert Metadata.load(path) == meta
    assert json.loads(path.read_text())["format_version"] == 1


def test_override_unknown_column_is_refused():
    meta = Metadata.infer(pd.DataFrame({"a": [1, 2, 3] * 10}))
    with pytest.raises(MetadataError, match=r"column\(s\) \['nope'\]"):
        meta.update({"columns": {"nope": {"kind": "numeric"}}})


@pytest.mark.parametrize(("doc", "match"), [
    ({"columns": {"a": {"kind": "banana"}}}, "unknown kind 'banana'"),
    ({"columns": {"a": {"kind": "pii", "pii_type": "shoe_size"}}}, "pii_type 'shoe_size'"),
    ({"columns": {"a": {"kind": "numeric", "colour": 1}}}, "unknown field"),
    ({"columns": {"a": {}}}, "lacks 'kind'"),
    ({"format_version": 99, "columns": {}}, "format_version 99"),
    ({"cols": {}}, "'columns' object"),
])
def test_bad_metadata_messages(doc, match):
    with pytest.raises(MetadataError, match=match):
        Metadata.from_dict(doc)


def test_bad_json_file(tmp_path):
    p = tmp_path / "m.json"
    p.write_text("{not json")
    with pytest.raises(MetadataError, match="not valid JSON"):
        Metadata.load(p)
    with pytest.raises(MetadataError, match="does not exist"):
        Metadata.load(tmp_path / "missing.json")


def test_counting_rules_shared_with_evaluation():
    from datatwin.evaluation._prepare import infer_kinds
    from datatwin.metadata import Counts

    assert Counts.of(pd.Series([None, None])).constant
    assert Counts.of(pd.Series(["a", "a"])).constant
    assert not Counts.of(pd.Series(["a", None])).constant
    assert Counts.of(pd.Series(range(21))).all_distinct
    assert not Counts.of(pd.Series(range(20))).all_distinct  # too short to call an id
    # Where the evaluation follows the judge it differs on purpose: constant before the dtype.
    df = pd.DataFrame({"flag": [True] * 30, "row": range(30)})
    assert kinds(df) == {"flag": "boolean", "row": "id"}
    assert infer_kinds(df) == {"flag": "constant", "row": "id"}
