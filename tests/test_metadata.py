import json

import numpy as np
import pandas as pd
import pytest

import datatwin
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


# ---------------------------------------------------------------------- timestamps as exported
def _stamps(n: int = 600) -> pd.Series:
    rng = np.random.default_rng(0)
    return pd.Timestamp("2013-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 365 * 24, n), unit="h")


@pytest.mark.parametrize(("text", "fmt", "offset"), [
    ("%Y-%m-%d %H:%M:%S+00:00", "%Y-%m-%d %H:%M:%S%z", "+00:00"),
    ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S.%f%z", "Z"),
    ("%Y-%m-%dT%H:%M+0530", "%Y-%m-%dT%H:%M%z", "+0530"),
])
def test_timestamps_with_a_utc_offset_are_datetimes_written_back_with_it(text, fmt, offset):
    df = pd.DataFrame({"when": _stamps().strftime(text), "x": np.arange(600) % 7})
    meta = datatwin.Metadata.infer(df).columns["when"]
    assert (meta.kind, meta.datetime_format, meta.utc_offset) == ("datetime", fmt, offset)
    out = datatwin.Synthesizer(engine="copula", random_state=0).fit(df).sample(300, seed=1)
    assert out["when"].str.endswith(offset).all()
    parsed = pd.to_datetime(out["when"], format=fmt, utc=True)
    assert parsed.notna().all() and parsed.between("2012-12-31", "2014-01-02").all()
    assert out["when"].nunique() > 100  # not one rare bucket


def test_mixed_offsets_parse_as_instants_and_come_back_at_the_common_offset():
    local = _stamps().tz_convert("Europe/Paris").map(lambda t: t.isoformat())
    df = pd.DataFrame({"when": local, "x": np.arange(600) % 5})
    meta = datatwin.Metadata.infer(df).columns["when"]
    assert meta.kind == "datetime" and meta.utc_offset in ("+01:00", "+02:00")
    out = datatwin.Synthesizer(engine="copula", random_state=0).fit(df).sample(200, seed=1)
    assert out["when"].str.endswith(meta.utc_offset).all()


def test_epoch_numbers_named_like_times_are_datetimes_and_stay_numbers():
    secs = (_stamps().astype("datetime64[s, UTC]").astype("int64")).to_numpy()
    df = pd.DataFrame({"created_at": secs, "event_time_ms": secs * 1000, "count": secs % 1000})
    cols = datatwin.Metadata.infer(df).columns
    assert cols["created_at"].datetime_format == "epoch_s" and cols["event_time_ms"].datetime_format == "epoch_ms"
    assert cols["count"].kind == "numeric"  # a big number with no time-like name stays a number
    out = datatwin.Synthesizer(engine="copula", random_state=0).fit(df).sample(300, seed=1)
    assert out["created_at"].dtype == np.int64 and out["event_time_ms"].dtype == np.int64
    assert out["created_at"].between(secs.min() - 86_400, secs.max() + 86_400).all()
    assert (out["event_time_ms"] % 1000 == 0).all()


def test_timezone_aware_columns_keep_their_zone():
    df = pd.DataFrame({"when": _stamps().tz_convert("America/New_York"), "x": np.arange(600) % 3})
    out = datatwin.Synthesizer(engine="copula", random_state=0).fit(df).sample(100, seed=1)
    assert str(out["when"].dt.tz) == "America/New_York"
    assert out["when"].between(df["when"].min() - pd.Timedelta(days=1), df["when"].max() + pd.Timedelta(days=1)).all()


# ---------------------------------------------------------------------- places, codes, reasons
def _places(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    zips = {"MA": ["02134", "02139", "01002"], "NJ": ["07030", "08540"], "CA": ["94103", "90210", "95014"]}
    state = rng.choice(list(zips), n)
    zip_ = [str(rng.choice(zips[s])) for s in state]
    cities = [f"Town{z[-3:]}" for z in zip_]
    return pd.DataFrame({"state": state, "zip": zip_, "City": cities, "Company": rng.choice(["Acme", "Initech"], n),
                         "user_name": [f"u{i % 40}" for i in range(n)], "sales": rng.gamma(2, 100, n).round(2)})


def test_repeated_places_and_companies_are_categories_and_say_why():
    df = _places()
    cols, why = datatwin.Metadata.infer(df).columns, datatwin.Metadata.reasons(df)
    assert {c: cols[c].kind for c in ("zip", "City", "Company")} == dict.fromkeys(("zip", "City", "Company"),
                                                                                   "categorical")
    assert "values repeat" in why["City"] and "category" in why["City"]
    assert cols["user_name"].kind == "pii"  # a user name identifies a person, repeated or not
    assert "direct identifier" in why["user_name"]


def test_near_unique_places_are_still_pii():
    df = pd.DataFrame({"city": [f"Town {i}" for i in range(300)], "x": np.arange(300) % 4})
    meta, why = datatwin.Metadata.infer(df).columns["city"], datatwin.Metadata.reasons(df)["city"]
    assert (meta.kind, meta.pii_type) == ("pii", "city") and "near-unique" in why


def test_zero_padded_codes_are_read_as_text_and_stay_tied_to_their_place(tmp_path):
    p = tmp_path / "places.csv"
    _places().to_csv(p, index=False)
    df = datatwin.read_table(p)
    assert df["zip"].str.startswith("0").any() and set(df["zip"].str.len()) == {5}
    out = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 15}).fit(df).sample(1000, seed=1)
    assert out["zip"].str.fullmatch(r"\d{5}").all() and out["zip"].str.startswith("0").any()
    real_pairs = set(zip(df["state"], df["zip"], strict=True))
    assert np.mean([pair in real_pairs for pair in zip(out["state"], out["zip"], strict=True)]) > 0.9


def test_two_digit_years_are_dates():
    df = pd.DataFrame({"day": ["1/5/80", "2/28/81", "12/1/99", "3/15/05"] * 30, "x": np.arange(120)})
    meta = datatwin.Metadata.infer(df).columns["day"]
    assert (meta.kind, meta.datetime_format) == ("datetime", "%m/%d/%y")
    out = datatwin.Synthesizer(engine="copula", random_state=0).fit(df).sample(200, seed=1)
    assert pd.to_datetime(out["day"], format="%m/%d/%y").notna().all()
