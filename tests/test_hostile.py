"""Hostile inputs (#15): tampered, truncated and crafted model files, unreadable tables, wrong
argument types, bad CLI arguments. Each must end in a DatatwinError (API) or a non-zero exit
with a one-line message (CLI), write no output, leave no temp file and leave the input as it was.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datatwin
from datatwin import DatatwinError, InputError, ModelFileError
from helpers import run_cli as cli
from helpers import shared_csv

ENGINES = {"copula": None, "marginal": None, "argn": {"max_epochs": 2, "n_threads": 1, "hidden_size": 16}}




def _table(n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 30, n),
        "income": rng.normal(5e4, 1e4, n).round(2),
        "city": rng.choice(["Paris", "Rome", "Oslo"], n),
        "member": rng.random(n) < 0.4,
        "joined": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
                   ).strftime("%Y-%m-%d"),
        "id": np.arange(1, n + 1),
    })


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    out = {}
    for engine, opts in ENGINES.items():
        p = d / f"{engine}.dtw"
        datatwin.Synthesizer(engine=engine, engine_options=opts).fit(_table()).save(p)
        out[engine] = p
    return out


# ---------------------------------------------------------------------- model file helpers
def _open(path: Path) -> tuple[dict[str, Any], bytes]:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("manifest.json")), zf.read("arrays.safetensors")


def _write(path: Path, manifest: Any, arrays: bytes | dict[str, np.ndarray], *, raw_manifest: bytes | None = None
           ) -> Path:
    """A model file with valid checksums, so what is tested is validation, not the checksum."""
    from safetensors.numpy import save

    mbytes = raw_manifest if raw_manifest is not None else json.dumps(manifest, allow_nan=True).encode()
    abytes = arrays if isinstance(arrays, bytes) else (save(arrays) if arrays else b"")
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in
                   (("manifest.json", mbytes), ("arrays.safetensors", abytes)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", mbytes)
        zf.writestr("arrays.safetensors", abytes)
        zf.writestr("SHA256SUMS", sums)
    return path


def _arrays(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    return dict(load(_open(path)[1]))


def _refused(path: Path) -> ModelFileError:
    with pytest.raises(ModelFileError) as exc:
        datatwin.load(path)
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 1000, msg
    return exc.value


def _load_or_refuse(path: Path) -> None:
    """A mutation may be harmless (a version string); then the model must still sample."""
    try:
        syn = datatwin.load(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)
        return
    try:
        out = syn.sample(5, seed=1)
    except DatatwinError:
        return
    assert len(out) == 5


def _set(d: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    for k in path[:-1]:
        d = d[k]
    if value is _DELETE:
        del d[path[-1]]
    else:
        d[path[-1]] = value


_DELETE = object()

# (name, path in the manifest, new value); "{num}" / "{cat}" are the first numeric / categorical encoder.
MUTATIONS: list[tuple[str, tuple[Any, ...], Any]] = [
    *[(f"drop-{k}", (k,), _DELETE) for k in ("params", "metadata", "columns", "n_rows", "encoders",
                                             "generators", "engine", "format", "format_version")],
    ("params-list", ("params",), []),
    ("metadata-text", ("metadata",), "x"),
    ("columns-dict", ("columns",), {}),
    ("columns-empty", ("columns",), []),
    ("columns-ints", ("columns",), [1, 2, 3]),
    ("n_rows-text", ("n_rows",), "5"),
    ("n_rows-negative", ("n_rows",), -1),
    ("n_rows-huge", ("n_rows",), 10**20),
    ("n_rows-bool", ("n_rows",), True),
    ("n_rows-float", ("n_rows",), 1.5),
    ("encoders-dict", ("encoders",), {}),
    ("encoders-empty", ("encoders",), []),
    ("generators-list", ("generators",), []),
    ("generators-ghost", ("generators", "ghost"), {"na_rate": 0.0}),
    ("engine-list", ("engine",), []),
    ("engine-name-ghost", ("engine", "name"), "ghost"),
    ("engine-name-int", ("engine", "name"), 5),
    ("engine-param-unknown", ("engine", "params", "bogus"), 1),
    ("engine-param-huge", ("engine", "params", "bogus2"), 1e300),
    ("engine-state-int", ("engine", "state"), 5),
    ("format-other", ("format",), "other"),
    ("format_version-2", ("format_version",), 2),
    ("format_version-0", ("format_version",), 0),
    ("format_version-text", ("format_version",), "1"),
    ("format_version-bool", ("format_version",), True),
    ("unknown-field", ("surprise",), 1),
    ("privacy-text", ("privacy",), "x"),
    ("params-privacy-bad", ("params", "privacy"), {"epsilon": -1}),
    ("params-random_state", ("params", "random_state"), -1),
    ("params-locale", ("params", "locale"), 5),
    ("params-engine", ("params", "engine"), "ghost"),
    ("params-rare", ("params", "rare_threshold"), "x"),
    ("params-unknown", ("params", "bogus"), 1),
    ("params-constraints", ("params", "constraints"), ["nonsense <="]),
    ("meta-kind", ("metadata", "columns", "age", "kind"), "wizard"),
    ("meta-age-categorical", ("metadata", "columns", "age", "kind"), "categorical"),
    ("meta-drop-city", ("metadata", "columns", "city"), _DELETE),
    ("meta-version", ("metadata", "format_version"), 9),
    ("gen-na_rate", ("generators", "id", "na_rate"), 5.0),
    ("gen-state-list", ("generators", "id"), []),
    ("enc-type", ("encoders", "{num}", "type"), "categorical"),
    ("enc-type-ghost", ("encoders", "{num}", "type"), "ghost"),
    ("enc-name-ghost", ("encoders", "{num}", "name"), "ghost"),
    ("enc-name-dupe", ("encoders", "{cat}", "name"), "age"),
    ("enc-state-list", ("encoders", "{num}", "state"), []),
    ("enc-rare-negative", ("encoders", "{num}", "state", "rare_threshold"), -1),
    ("enc-mode", ("encoders", "{num}", "state", "mode"), "x"),
    ("enc-unit", ("encoders", "{num}", "state", "unit"), "Y"),
    ("enc-clip-text", ("encoders", "{num}", "state", "clip"), ["a", 1]),
    ("enc-clip-reversed", ("encoders", "{num}", "state", "clip"), [10, 1]),
    ("enc-clip-short", ("encoders", "{num}", "state", "clip"), [1]),
    ("enc-has_na-text", ("encoders", "{num}", "state", "has_na"), "yes"),
    ("enc-levels-text", ("encoders", "{cat}", "state", "levels"), "abc"),
    ("enc-levels-dupe", ("encoders", "{cat}", "state", "levels"), ["a", "a", "b"]),
    ("enc-levels-nested", ("encoders", "{cat}", "state", "levels"), [[1], {"a": 1}, None]),
    ("enc-levels-extra", ("encoders", "{cat}", "state", "levels"), ["a", "b", "c", "d", "e"]),
    ("enc-has_rare-int", ("encoders", "{cat}", "state", "has_rare"), 3),
]

ENGINE_MUTATIONS: dict[str, list[tuple[str, tuple[Any, ...], Any]]] = {
    "argn": [
        ("n_threads-100000", ("engine", "params", "n_threads"), 100000),
        ("hidden_size-1e9", ("engine", "params", "hidden_size"), 10**9),
        ("temperature-0", ("engine", "params", "temperature"), 0),
        ("state-hidden-1e9", ("engine", "state", "hidden"), 10**9),
        ("state-hidden-text", ("engine", "state", "hidden"), "16"),
        ("state-n_columns", ("engine", "state", "n_columns"), 99),
        ("state-n_context", ("engine", "state", "n_context"), 4),
        ("state-history", ("engine", "state", "history"), 5),
    ],
    "marginal": [
        ("order-dupe", ("engine", "state", "order"), [0, 0, 0, 0, 0]),
        ("order-short", ("engine", "state", "order"), [0]),
        ("parents-later", ("engine", "state", "parents"), [[4], [], [], [], []]),
        ("cards", ("engine", "state", "cards"), [2, 2, 2, 2, 2]),
    ],
    "copula": [("params-unknown", ("engine", "params", "rho"), 0.5)],
}


def _resolve(manifest: dict[str, Any], path: tuple[Any, ...]) -> tuple[Any, ...]:
    encs = manifest["encoders"]
    idx = {"{num}": next(i for i, e in enumerate(encs) if e["type"] == "numeric"),
           "{cat}": next(i for i, e in enumerate(encs) if e["type"] == "categorical")}
    return tuple(idx.get(k, k) for k in path)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_untouched_model_loads(models, engine):
    assert len(datatwin.load(models[engine]).sample(3)) == 3


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m[0] for m in MUTATIONS])
@pytest.mark.parametrize("engine", list(ENGINES))
def test_tampered_manifest_is_refused(models, tmp_path, engine, mutation):
    manifest, arrays = _open(models[engine])
    _, path, value = mutation
    path = _resolve(manifest, path)
    _set(manifest, path, value)
    _refused(_write(tmp_path / "t.dtw", manifest, arrays))


ENGINE_CASES = [(e, m) for e, ms in ENGINE_MUTATIONS.items() for m in ms]


@pytest.mark.parametrize(("engine", "mutation"), ENGINE_CASES, ids=[f"{e}-{m[0]}" for e, m in ENGINE_CASES])
def test_tampered_engine_is_refused(models, tmp_path, engine, mutation):
    manifest, arrays = _open(models[engine])
    _set(manifest, mutation[1], mutation[2])
    _refused(_write(tmp_path / "t.dtw", manifest, arrays))


ARRAY_MUTATIONS = ["drop-first", "drop-last", "nan", "inf", "reshape", "truncate", "extend", "bool", "complex",
                   "negative"]


@pytest.mark.parametrize("how", ARRAY_MUTATIONS)
@pytest.mark.parametrize("engine", list(ENGINES))
def test_tampered_arrays_are_refused(models, tmp_path, engine, how):
    manifest, _ = _open(models[engine])
    arrays = _arrays(models[engine])
    # The engine's arrays, where every value matters (an encoder's counts only weigh rebalancing).
    names = sorted(k for k in arrays if k.startswith("engine.") and arrays[k].ndim and arrays[k].size > 1)
    key = names[-1] if how == "drop-last" else names[0]
    a = arrays[key]
    if how.startswith("drop"):
        del arrays[key]
    elif how in ("nan", "inf"):
        a = a.astype(np.float64).copy()
        a.flat[0] = np.nan if how == "nan" else np.inf
        arrays[key] = a
    elif how == "reshape":
        arrays[key] = a.reshape(-1)[None, :] if a.ndim == 1 else a.reshape(-1)
    elif how == "truncate":
        arrays[key] = a.reshape(-1)[:-1]
    elif how == "extend":
        arrays[key] = np.concatenate([a.reshape(-1), a.reshape(-1)])
    elif how == "bool":
        arrays[key] = (a != 0)
    elif how == "complex":
        arrays[key] = a.astype(np.float16).astype(np.float32)[..., None].repeat(2, axis=-1)
    elif how == "negative":
        arrays[key] = -np.abs(a.astype(np.float64)) - 1
    _refused(_write(tmp_path / "t.dtw", manifest, arrays))


@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_manifest_mutations(models, tmp_path, data):
    """Any edit of any field: a ModelFileError, or a model that still samples; never another error."""
    engine = data.draw(st.sampled_from(list(ENGINES)))
    manifest, arrays = _open(models[engine])
    manifest = copy.deepcopy(manifest)
    paths = list(_paths(manifest))
    path = data.draw(st.sampled_from(paths))
    value = data.draw(st.one_of(
        st.just(_DELETE), st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
        st.text(max_size=5), st.lists(st.integers(-3, 3), max_size=4), st.dictionaries(st.text(max_size=3),
                                                                                        st.integers(), max_size=2)))
    if value is _DELETE and isinstance(_get(manifest, path[:-1]), list):
        _get(manifest, path[:-1]).pop(path[-1])
    else:
        _set(manifest, path, value)
    _load_or_refuse(_write(tmp_path / "h.dtw", manifest, arrays))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Any:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield (*prefix, k)
        if len(prefix) < 6:
            yield from _paths(v, (*prefix, k))


def _get(d: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        d = d[k]
    return d


@pytest.mark.parametrize("cut", [0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99])
def test_truncated_model(models, tmp_path, cut):
    data = models["copula"].read_bytes()
    p = tmp_path / "cut.dtw"
    p.write_bytes(data[: int(len(data) * cut)])
    _refused(p)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04", b"not a zip at all", os.urandom(2000),
                                     b"PK\x05\x06" + b"\x00" * 18], ids=["empty", "magic", "text", "random", "eocd"])
def test_garbage_model(tmp_path, content):
    p = tmp_path / "g.dtw"
    p.write_bytes(content)
    _refused(p)


def test_model_checksum_mismatch(models, tmp_path):
    manifest, arrays = _open(models["copula"])
    p = _write(tmp_path / "t.dtw", manifest, arrays)
    with zipfile.ZipFile(p) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["manifest.json"] = members["manifest.json"].replace(b'"n_rows": 150', b'"n_rows": 151')
    with zipfile.ZipFile(p, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    assert "checksum" in str(_refused(p))


@pytest.mark.parametrize("what", ["missing-member", "duplicate-member", "bad-json", "json-array", "deep-json",
                                  "arrays-garbage", "encrypted-flag"])
def test_malformed_members(models, tmp_path, what):
    manifest, arrays = _open(models["copula"])
    p = tmp_path / "m.dtw"
    if what == "missing-member":
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("manifest.json", json.dumps(manifest))
    elif what == "duplicate-member":
        _write(p, manifest, arrays)
        with pytest.warns(UserWarning), zipfile.ZipFile(p, "a") as zf:
            zf.writestr("manifest.json", b"{}")
    elif what == "bad-json":
        _write(p, None, arrays, raw_manifest=b"{not json")
    elif what == "json-array":
        _write(p, None, arrays, raw_manifest=b"[1, 2]")
    elif what == "deep-json":
        _write(p, None, arrays, raw_manifest=b"[" * 100_000 + b"]" * 100_000)
    elif what == "arrays-garbage":
        _write(p, manifest, b"\xff" * 64)
    elif what == "encrypted-flag":
        _write(p, manifest, arrays)
        data = bytearray(p.read_bytes())
        data[6] |= 1  # general-purpose flag bit 0 of the first local header: encrypted
        central = data.rfind(b"PK\x01\x02", 0, len(data))
        first_central = data.find(b"PK\x01\x02")
        data[first_central + 8] |= 1
        assert central >= first_central
        p.write_bytes(bytes(data))
    _refused(p)


def test_zip_bomb_is_refused_quickly(tmp_path):
    """A ~300 kB file that inflates to 300 MB: refused after reading the allowed budget, in
    bounded chunks (never the whole member in memory)."""
    import time
    import tracemalloc

    p = tmp_path / "bomb.dtw"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("manifest.json", b"{}")
        with zf.open("arrays.safetensors", "w") as f:
            block = b"\0" * 2**20
            for _ in range(300):
                f.write(block)
        zf.writestr("SHA256SUMS", b"")
    assert p.stat().st_size < 2_000_000
    tracemalloc.start()
    t0 = time.perf_counter()
    err = _refused(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "zip bomb" in str(err)
    assert time.perf_counter() - t0 < 10
    assert peak < 400 * 2**20


def test_zip_member_lying_about_its_size(models, tmp_path, monkeypatch):
    """The sizes in the zip directory are not trusted: inflation stops at the limit anyway."""
    import datatwin.io._model_file as mf

    monkeypatch.setattr(mf, "_FREE_BYTES", 1000)
    monkeypatch.setattr(mf, "_MAX_RATIO", 1)
    manifest, arrays = _open(models["argn"])
    p = _write(tmp_path / "big.dtw", manifest, arrays)
    assert "zip bomb" in str(_refused(p))


def test_model_size_limit_env(models, monkeypatch):
    monkeypatch.setenv("DATATWIN_MAX_MODEL_BYTES", "100")
    assert "DATATWIN_MAX_MODEL_BYTES" in str(_refused(models["copula"]))
    monkeypatch.setenv("DATATWIN_MAX_MODEL_BYTES", "lots")
    assert "DATATWIN_MAX_MODEL_BYTES" in str(_refused(models["copula"]))


@pytest.mark.parametrize("arg", [123, None, 1.5, b"m.dtw", ["m.dtw"], "", "\0bad", "x" * 5000],
                         ids=["int", "none", "float", "bytes", "list", "empty", "nul", "long"])
def test_load_bad_argument(arg):
    with pytest.raises(DatatwinError) as exc:
        datatwin.load(arg)
    assert "\n" not in str(exc.value)


def test_load_folder(tmp_path):
    with pytest.raises(ModelFileError):
        datatwin.load(tmp_path)


# ---------------------------------------------------------------------- tables
def _csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


BASE = _table(60)
BAD_FILES: list[tuple[str, str, Any, str]] = [
    # (id, file name, content, message fragment)
    ("empty", "e.csv", b"", "is empty"),
    ("header-only", "h.csv", b"a,b,c\n", "no data rows"),
    ("blank-lines", "b.csv", b"\n\n\n", "empty"),
    ("ragged", "r.csv", b"a,b\n1,2\n3,4,5\n", "ragged rows"),
    ("dup-header", "d.csv", b"a,a\n1,2\n3,4\n", "duplicate column names"),
    ("nul-bytes", "n.csv", b"a,b\n1,\x002\n3,4\n", "binary"),
    ("binary", "x.csv", bytes(range(256)) * 8, "binary"),
    ("cp1252-undecodable", "u.csv", b"a,b\n\x81\x8d,\x90\n", "not UTF-8"),
    ("one-row", "o.csv", b"a,b\n1,2\n", "at least 2 rows"),
    ("all-missing", "m.csv", b"a,b\n1,\n2,\n3,\n", "entirely missing"),
    ("unknown-suffix", "t.xlsx", b"a,b\n1,2\n", "unknown table format"),
    ("no-suffix", "t", b"a,b\n1,2\n", "unknown table format"),
    ("parquet-garbage", "g.parquet", b"PAR1 not really", "not a readable Parquet"),
    ("parquet-empty", "z.parquet", b"", "is empty"),
    ("parquet-truncated", "tr.parquet", "truncated-parquet", "not a readable Parquet"),
    ("parquet-list", "l.parquet", "list-parquet", "flatten"),
    ("parquet-struct", "s.parquet", "struct-parquet", "flatten"),
    ("date-0001", "d1.csv", _csv_text(BASE.assign(joined=["0001-01-01"] + ["2020-01-01"] * 59)), "sentinel"),
    ("date-9999", "d9.csv", _csv_text(BASE.assign(joined=["9999-12-31"] + ["2020-01-01"] * 59)), "sentinel"),
    ("text-in-numbers", "tn.csv", "age,city\n" + "1,a\n" * 30 + "x,b\n", None),
    ("utf32", "u32.csv", _csv_text(BASE).encode("utf-32"), None),
]


def _make(tmp_path: Path, name: str, content: Any) -> Path:
    p = tmp_path / name
    if content == "truncated-parquet":
        BASE.to_parquet(p)
        p.write_bytes(p.read_bytes()[:200])
    elif content == "list-parquet":
        BASE.assign(tags=[[1, 2]] * len(BASE)).to_parquet(p)
    elif content == "struct-parquet":
        BASE.assign(info=[{"x": 1}] * len(BASE)).to_parquet(p)
    elif isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return p


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {q.name: q.read_bytes() for q in folder.iterdir() if q.is_file()}


@pytest.mark.parametrize(("name", "content", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_table_api(tmp_path, name, content, message):
    p = _make(tmp_path, name, content)
    try:
        datatwin.Synthesizer(engine="copula").fit(p)
    except DatatwinError as exc:
        assert "\n" not in str(exc)
        if message:
            assert message in str(exc)
    else:
        assert message is None, "a hostile file was accepted"


@pytest.mark.parametrize(("name", "content", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_table_cli(tmp_path, capsys, name, content, message):
    p = _make(tmp_path, name, content)
    before = _snapshot(tmp_path)
    out = tmp_path / "out.csv"
    code = cli("synth", str(p), "-n", "5", "-o", str(out), "--engine", "copula")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 0:
        assert message is None
        out.unlink()
    else:
        assert code == 1
        assert len(err.strip().splitlines()) == 1, err
        if message:
            assert message in err
        assert not out.exists()
    assert _snapshot(tmp_path) == before  # input untouched, no temp file left


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_csv_is_read(tmp_path, encoding):
    p = tmp_path / "u.csv"
    p.write_bytes(_csv_text(BASE).encode(encoding))
    df = datatwin.read_table(p)
    assert list(df.columns) == list(BASE.columns) and len(df) == len(BASE)


@pytest.mark.parametrize("where", ["dataframe", "csv"])
def test_infinities_are_missing_with_a_warning(tmp_path, caplog, where):
    df = _table(80).assign(income=lambda d: d["income"].where(d.index > 2, np.inf))
    df.loc[1, "income"] = -np.inf
    data: Any = df
    if where == "csv":
        data = tmp_path / "inf.csv"
        df.to_csv(data, index=False)
    out = datatwin.Synthesizer(engine="copula").fit(data).sample(200)
    assert np.isfinite(out["income"].dropna()).all()
    assert "infinite" in caplog.text


def test_tz_aware_parquet_round_trips(tmp_path):
    p = tmp_path / "tz.parquet"
    BASE.assign(when=pd.date_range("2021-01-01", periods=len(BASE), freq="h", tz="Europe/Paris")).to_parquet(p)
    out = datatwin.Synthesizer(engine="copula").fit(p).sample(5)
    assert str(out["when"].dt.tz) == "Europe/Paris"


@pytest.mark.parametrize("column", ["income", "age"])
def test_number_declared_datetime(column):
    with pytest.raises(InputError, match="epoch_s"):
        datatwin.Synthesizer(engine="copula").fit(BASE, {"columns": {column: {"kind": "datetime"}}})


# ---------------------------------------------------------------------- API arguments
def _frame_with(columns: Any) -> pd.DataFrame:
    df = BASE.iloc[:, :3].copy()
    df.columns = columns
    return df


BAD_CALLS = {
    "int-column-names": lambda: datatwin.Synthesizer(engine="copula").fit(_frame_with([1, 2, 3])),
    "nan-column-name": lambda: datatwin.Synthesizer(engine="copula").fit(_frame_with(["a", "b", np.nan])),
    "multiindex-columns": lambda: datatwin.Synthesizer(engine="copula").fit(
        _frame_with(pd.MultiIndex.from_tuples([("x", "a"), ("x", "b"), ("y", "c")]))),
    "list-cells": lambda: datatwin.Synthesizer(engine="copula").fit(BASE.assign(l=[[1, 2]] * len(BASE))),
    "dict-cells": lambda: datatwin.Synthesizer(engine="copula").fit(BASE.assign(l=[{"a": 1}] * len(BASE))),
    "set-cells": lambda: datatwin.Synthesizer(engine="copula").fit(BASE.assign(l=[{1}] * len(BASE))),
    "mixed-list-cells": lambda: datatwin.Synthesizer(engine="copula").fit(
        BASE.assign(l=["a", [1]] * (len(BASE) // 2))),
    "fit-int": lambda: datatwin.Synthesizer(engine="copula").fit(123),
    "fit-list": lambda: datatwin.Synthesizer(engine="copula").fit([[1, 2]]),
    "fit-missing-file": lambda: datatwin.Synthesizer(engine="copula").fit("nope.csv"),
    "locale-int": lambda: datatwin.Synthesizer(locale=123).fit(BASE),
    "locale-unknown": lambda: datatwin.Synthesizer(locale="xx_YY", engine="copula").fit(
        BASE.assign(email=[f"u{i}@x.org" for i in range(len(BASE))])),
    "engine-int": lambda: datatwin.Synthesizer(engine=5).fit(BASE),
    "engine-unknown": lambda: datatwin.Synthesizer(engine="gan").fit(BASE),
    "random_state-neg": lambda: datatwin.Synthesizer(random_state=-1).fit(BASE),
    "random_state-float": lambda: datatwin.Synthesizer(random_state=1.5).fit(BASE),
    "rare-text": lambda: datatwin.Synthesizer(rare_threshold="5").fit(BASE),
    "engine_options-list": lambda: datatwin.Synthesizer(engine_options=[1]).fit(BASE),
    "engine_options-unknown": lambda: datatwin.Synthesizer(engine="argn", engine_options={"bogus": 1}).fit(BASE),
    "n_threads-huge": lambda: datatwin.Synthesizer(engine="argn", engine_options={"n_threads": 100000}).fit(BASE),
    "hidden-huge": lambda: datatwin.Synthesizer(engine="argn", engine_options={"hidden_size": 10**9}).fit(BASE),
    "metadata-int": lambda: datatwin.Synthesizer(engine="copula").fit(BASE, 5),
    "metadata-bad-kind": lambda: datatwin.Synthesizer(engine="copula").fit(BASE, {"columns": {"age": {"kind": "x"}}}),
    "constraints-bad": lambda: datatwin.Synthesizer(engine="copula", constraints=["age <<< 3"]).fit(BASE),
    "anonymize-text": lambda: datatwin.anonymize("x"),
    "anonymize-none": lambda: datatwin.anonymize(None),
    "anonymize-key-int": lambda: datatwin.anonymize(BASE, key=123),
    "anonymize-seed-neg": lambda: datatwin.anonymize(BASE, seed=-1),
    "anonymize-locale-int": lambda: datatwin.anonymize(BASE, locale=5),
    "anonymize-int-columns": lambda: datatwin.anonymize(_frame_with([1, 2, 3])),
    "anonymize-metadata-int": lambda: datatwin.anonymize(BASE, 7),
    "read_table-int": lambda: datatwin.read_table(5),
}


@pytest.mark.parametrize("call", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_bad_api_arguments(call):
    with pytest.raises(DatatwinError) as exc:
        call()
    assert "\n" not in str(exc.value)


@pytest.fixture(scope="module")
def fitted() -> datatwin.Synthesizer:
    return datatwin.Synthesizer(engine="copula").fit(_table(120))


BAD_SAMPLES = {
    "n-zero": {"n": 0}, "n-neg": {"n": -3}, "n-float": {"n": 2.5}, "n-text": {"n": "5"}, "n-nan": {"n": float("nan")},
    "n-huge": {"n": 10**30}, "n-bool": {"n": True}, "seed-neg": {"n": 3, "seed": -1},
    "seed-text": {"n": 3, "seed": "x"},
    "chunk-zero": {"n": 3, "chunk_size": 0}, "conditions-copula": {"n": 3, "conditions": {"city": "Paris"}},
    "conditions-unknown": {"n": 3, "conditions": {"ghost": 1}},
}


@pytest.mark.parametrize("kwargs", list(BAD_SAMPLES.values()), ids=list(BAD_SAMPLES))
def test_bad_sample_arguments(fitted, kwargs):
    with pytest.raises(DatatwinError) as exc:
        fitted.sample(**kwargs)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("target", ["nodir/out.csv", "out.json", "."], ids=["missing-folder", "bad-suffix", "folder"])
def test_bad_sample_to_file(fitted, tmp_path, target):
    before = _snapshot(tmp_path)
    with pytest.raises(DatatwinError):
        fitted.sample_to_file(5, tmp_path / target)
    assert _snapshot(tmp_path) == before


# ---------------------------------------------------------------------- CLI arguments
@pytest.fixture
def workdir(tmp_path, models):
    data = tmp_path / "data.csv"
    BASE.to_csv(data, index=False)
    model = tmp_path / "m.dtw"
    model.write_bytes(models["copula"].read_bytes())
    return tmp_path


CLI_CASES = {
    "sample-n-zero": ("sample", "{m}", "-n", "0", "-o", "{d}/x.csv"),
    "sample-n-text": ("sample", "{m}", "-n", "many", "-o", "{d}/x.csv"),
    "sample-n-huge": ("sample", "{m}", "-n", str(10**30), "-o", "{d}/x.csv"),
    "sample-no-model": ("sample", "{d}/nope.dtw", "-n", "5", "-o", "{d}/x.csv"),
    "sample-csv-as-model": ("sample", "{data}", "-n", "5", "-o", "{d}/x.csv"),
    "sample-out-folder-missing": ("sample", "{m}", "-n", "5", "-o", "{d}/nodir/x.csv"),
    "sample-out-suffix": ("sample", "{m}", "-n", "5", "-o", "{d}/x.xlsx"),
    "sample-out-is-model": ("sample", "{m}", "-n", "5", "-o", "{m}"),
    "sample-seed-neg": ("sample", "{m}", "-n", "5", "-o", "{d}/x.csv", "--seed", "-1"),
    "fit-out-is-input": ("fit", "{data}", "-o", "{data}"),
    "fit-engine-unknown": ("fit", "{data}", "-o", "{d}/x.dtw", "--engine", "gan"),
    "fit-metadata-missing": ("fit", "{data}", "-o", "{d}/x.dtw", "--metadata", "{d}/nope.json"),
    "fit-metadata-garbage": ("fit", "{data}", "-o", "{d}/x.dtw", "--metadata", "{m}"),
    "synth-out-is-input": ("synth", "{data}", "-n", "5", "-o", "{data}", "--engine", "copula"),
    "inspect-model-garbage": ("inspect", "{data}.dtw"),
    "unknown-command": ("frobnicate",),
    "generate-spec-missing": ("generate", "{d}/nope.yaml", "-n", "5", "-o", "{d}/x.csv"),
}


@pytest.mark.parametrize("args", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_bad_cli_arguments(workdir, capsys, args):
    argv = [a.format(m=workdir / "m.dtw", d=workdir, data=workdir / "data.csv") for a in args]
    before = _snapshot(workdir)
    code = cli(*argv)
    err = capsys.readouterr().err
    assert code != 0, argv
    assert "Traceback" not in err
    if code == 1:
        assert len(err.strip().splitlines()) == 1, err
    assert _snapshot(workdir) == before


# ---------------------------------------------------------------------- privacy
def _adult_like(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Numbers with few distinct values (modelled as exact values) and many rare ones."""
    rng = np.random.default_rng(seed)
    gain = np.where(rng.random(n) < 0.92, 0, rng.choice(np.r_[rng.integers(100, 99999, 90), [7688, 15024]], n))
    return pd.DataFrame({
        "age": np.clip(rng.normal(38, 13, n).round(), 17, 90).astype(int),
        "capital_gain": gain,
        "hours": np.clip(rng.normal(40, 12, n).round(), 1, 99).astype(int),
        "education_num": rng.integers(1, 17, n),
        "sex": rng.choice(["Male", "Female"], n),
    })


def _rare_values_emitted(real: pd.DataFrame, synth: pd.DataFrame, columns: list[str], k: int = 5) -> dict[str, list]:
    out = {}
    for c in columns:
        counts = real[c].value_counts()
        emitted = set(synth[c].dropna().unique())
        rare = sorted(v for v in emitted if 0 < counts.get(v, 0) < k)
        if rare:
            out[c] = rare
    return out


@pytest.mark.parametrize("engine", ["copula", "marginal"])
def test_no_rare_exact_number_is_emitted(engine):
    real = _adult_like()
    syn = datatwin.Synthesizer(engine=engine).fit(real)
    discrete = [e.name for e in syn.table_encoder_.encoders if getattr(e, "mode_", None) == "discrete"]
    assert {"capital_gain", "age", "hours"} <= set(discrete)
    assert _rare_values_emitted(real, syn.sample(20_000, seed=3), discrete) == {}


def test_no_rare_exact_number_from_adult():
    real = pd.read_csv(shared_csv("adult.csv")).sample(5000, random_state=0)
    syn = datatwin.Synthesizer(engine="copula").fit(real)
    discrete = [e.name for e in syn.table_encoder_.encoders
                if getattr(e, "mode_", None) == "discrete" and e.meta.kind == "numeric"]
    assert discrete
    assert _rare_values_emitted(real, syn.sample(20_000, seed=3), discrete) == {}


def test_rare_number_cannot_be_asked_for():
    real = _adult_like()
    counts = real["capital_gain"].value_counts()
    rare = int(counts[counts < 5].index[0])
    syn = datatwin.Synthesizer(engine="marginal").fit(real)
    with pytest.raises(datatwin.ConditionError):
        syn.sample(5, conditions={"capital_gain": rare})


def test_tiny_table_is_learned_column_by_column(caplog):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, 40)
    real = pd.DataFrame({"a": a.astype(str), "b": (1 - a).astype(str)})  # b is determined by a
    syn = datatwin.Synthesizer(engine="copula").fit(real)
    assert "columns are learned independently" in caplog.text
    out = syn.sample(4000, seed=0)
    # The deterministic pairing is no longer copied: mismatching pairs appear.
    assert (out["a"] == out["b"]).mean() > 0.2


def test_summary_case_count():
    """Not a check of behaviour: documents that the suite covers >= 150 hostile cases."""
    n = (len(MUTATIONS) * len(ENGINES) + len(ENGINE_CASES) + len(ARRAY_MUTATIONS) * len(ENGINES) + 8 + 5 + 7
         + 8 + 2 * len(BAD_FILES) + len(BAD_CALLS) + len(BAD_SAMPLES) + 3 + len(CLI_CASES))
    assert n >= 150


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_sample_the_disk_cannot_hold_is_refused_before_it_fills_the_disk(tmp_path, monkeypatch, suffix) -> None:
    import datatwin.io._tables as tables

    syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(_table())
    out = tmp_path / f"big{suffix}"
    # The disk as seen by the writer: 2 MB free (the seam in io._tables; the real call is
    # shutil.disk_usage, whose answer a test cannot shrink).
    monkeypatch.setattr(tables, "_free_bytes", lambda folder: 2 * 2**20)
    with pytest.raises(datatwin.OutputError, match=r"needs about .* only .* free"):
        syn.sample_to_file(5_000_000, out, chunk_size=20_000)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert syn.sample_to_file(20_000, out, chunk_size=5_000) == 20_000  # what fits is written


def test_a_temp_file_left_by_a_killed_writer_is_swept_by_the_next_run(tmp_path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = tmp_path / f".out.csv.{int(dead.stdout)}.abc123.tmp"  # a kill -9 left it: no handler ran
    live = tmp_path / f".out.csv.{os.getppid()}.def456.tmp"  # a live writer's: must be kept
    other = tmp_path / f".other.csv.{int(dead.stdout)}.x.tmp"  # another output's: not ours to judge
    for p in (stale, live, other):
        p.write_text("partial")
    datatwin.write_table(_table(20), tmp_path / "out.csv")
    assert not stale.exists() and live.exists() and other.exists()
    assert (tmp_path / "out.csv").exists()
