"""Scale-out on Dask (the [dask] extra): on a real local cluster of worker processes, the rows are
the bytes of the single-process sample whatever the number of workers or partitions, ids stay
unique without coordination, and a partitioned dataset resumes after a crash (kill -9 included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import datatwin
from helpers import run_cli as cli

distributed = pytest.importorskip("distributed")

N = 120_000  # two seeded blocks, the last one short
SEED = 5




def local_cluster(workers, processes=True):
    # No dashboard; the scheduler's health-check HTTP server on a free port, not a busy 8787.
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, host="127.0.0.1",
                                    protocol="tcp://", dashboard_address=None,
                                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


@pytest.fixture(scope="module")
def client():
    # One cluster for the module: starting worker processes (and importing torch in them) is the
    # slow part. Not the default client, so every test says where it computes.
    with local_cluster(2) as cluster, distributed.Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    n = 400
    first = np.array(["anna", "ben", "carl", "dora", "emil", "fay", "gus", "hana"])
    age = rng.integers(18, 80, n)
    return pd.DataFrame({
        "cid": [f"C-{i:08d}" for i in range(n)],  # an id: 10**8 distinct values
        "age": age,
        "plan": np.where(age > 50, "gold", rng.choice(["basic", "plus"], n)),
        "score": np.where(rng.random(n) < 0.1, np.nan, np.round(rng.normal(50, 10, n), 1)),
        "email": [f"{first[i % 8]}.{i}@example.com" for i in range(n)],  # PII: fakes from a pool
    })


@pytest.fixture(scope="module")
def models(frame, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for engine, options in (("copula", None), ("argn", {"max_epochs": 2})):
        syn = datatwin.Synthesizer(engine, random_state=0, engine_options=options).fit(frame)
        syn.save(folder / f"{engine}.dtw")
        out[engine] = (syn, folder / f"{engine}.dtw")
    return out


def part_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("part-*"))}


@pytest.mark.parametrize("engine", ["copula", "argn"])
def test_a_dask_frame_computed_on_the_cluster_is_the_sample(models, client, engine):
    syn, _ = models[engine]
    expected = syn.sample(N, seed=SEED)
    ddf = syn.sample_to_dask(N, seed=SEED)
    assert ddf.npartitions == 2 and ddf.divisions == (0, 100_000, N - 1)
    pd.testing.assert_frame_equal(client.compute(ddf, sync=True), expected)
    # Partitions that cut a block (70,000 rows) give the same rows; a lazy aggregate runs there too.
    ddf = syn.sample_to_dask(N, seed=SEED, partition_size=70_000)
    pd.testing.assert_frame_equal(client.compute(ddf, sync=True), expected)
    assert client.compute(ddf["age"].sum(), sync=True) == expected["age"].sum()
    # Each worker loaded the model once, from the model file's bytes, and keeps it by digest.
    cached = client.run(lambda: len(datatwin.synthesizer._dask._MODELS))
    assert set(cached.values()) <= {1, 2} and len(cached) == 2


def test_conditions_and_rebalancing_reach_the_workers(models, client):
    syn, _ = models["argn"]
    args = {"conditions": {"age": (30, 60)}, "rebalance": {"plan": {"gold": 0.5}}}
    expected = syn.sample(20_000, seed=2, **args)
    got = client.compute(syn.sample_to_dask(20_000, seed=2, partition_size=8_000, **args), sync=True)
    pd.testing.assert_frame_equal(got, expected)
    assert got["age"].between(30, 60).all()


def test_a_dataset_is_the_same_bytes_on_one_or_two_workers(models, client, tmp_path):
    syn, _ = models["argn"]
    events = []
    assert syn.sample_to_dataset(N, tmp_path / "two", seed=SEED, scheduler=client, progress=events.append) == N
    # The lone worker runs in this process (no second process start-up to pay for): the parts are the
    # same bytes whether drawn here or in the two worker processes.
    with local_cluster(1, processes=False) as cluster, distributed.Client(cluster, set_as_default=False) as one:
        syn.sample_to_dataset(N, tmp_path / "one", seed=SEED, scheduler=one)
    two = part_bytes(tmp_path / "two")
    assert list(two) == ["part-000000.parquet", "part-000001.parquet"]
    assert part_bytes(tmp_path / "one") == two
    back = pd.read_parquet(tmp_path / "two")  # the manifest starts with "_": readers skip it
    pd.testing.assert_frame_equal(back, syn.sample(N, seed=SEED))
    assert back["cid"].is_unique  # ids from the row number: unique with no coordination
    assert events[-1].completed == N and events[-1].total == N
    manifest = json.loads((tmp_path / "two" / "_datatwin_manifest.json").read_text())
    assert manifest["complete"] and manifest["finished"] == [[0, 2]] and manifest["n"] == N


def test_a_rerun_draws_only_the_missing_parts(models, client, tmp_path):
    syn, _ = models["copula"]
    out = tmp_path / "ds"
    syn.sample_to_dataset(N, out, seed=SEED, scheduler=client, partition_size=20_000)
    before = part_bytes(out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    for name in ("part-000001.parquet", "part-000004.parquet"):  # a crash, or a careless rm
        (out / name).unlink()
    (out / ".part-000002.parquet.x1y2.tmp").write_bytes(b"half a part")  # left by a killed writer
    syn.sample_to_dataset(N, out, seed=SEED, scheduler=client, partition_size=20_000)
    assert part_bytes(out) == before
    redrawn = {p.name for p in out.glob("part-*") if p.stat().st_mtime_ns != stamps[p.name]}
    assert redrawn == {"part-000001.parquet", "part-000004.parquet"}
    assert not list(out.glob(".*.tmp"))


def test_a_rerun_of_another_sample_into_the_folder_is_refused(models, client, tmp_path):
    syn, _ = models["argn"]
    out = tmp_path / "ds"
    syn.sample_to_dataset(1000, out, seed=1, scheduler=client, partition_size=400)
    for other, what in (({"seed": 2}, "seed 1 (now 2)"), ({"n": 2000}, "n 1000 (now 2000)"),
                        ({"conditions": {"plan": "gold"}}, "conditions")):
        args = {"n": 1000, "seed": 1, **other}
        with pytest.raises(datatwin.OutputError, match="holds a sample of another run") as exc:
            syn.sample_to_dataset(args.pop("n"), out, scheduler=client, partition_size=400, **args)
        assert what in str(exc.value)
    with pytest.raises(datatwin.OutputError, match="model_sha256"):
        models["copula"][0].sample_to_dataset(1000, out, seed=1, scheduler=client, partition_size=400)
    syn.sample_to_dataset(1000, tmp_path / "csv", seed=1, scheduler=client, partition_size=400, format="csv")
    parts = sorted((tmp_path / "csv").glob("part-*.csv"))
    back = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)
    assert len(parts) == 3 and list(back.columns) == list(syn.columns_) and len(back) == 1000
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(datatwin.OutputError, match="no datatwin manifest"):
        syn.sample_to_dataset(1000, tmp_path / "busy", seed=1, scheduler=client)


def test_kill_9_of_the_driver_then_a_rerun_gives_the_whole_identical_dataset(models, client, tmp_path):
    syn, path = models["copula"]
    n, out = 600_000, tmp_path / "killed"
    address = client.scheduler.address
    cmd = [sys.executable, "-m", "datatwin", "sample", str(path), "-n", str(n), "-o", str(out), "--seed", "7",
           "--scheduler", address]
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / "_datatwin_manifest.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and driver.poll() is None:
        if manifest.exists() and json.loads(manifest.read_text())["finished"]:
            break
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.communicate(timeout=30)
    record = json.loads(manifest.read_text())
    assert not record["complete"], "the driver finished before it was killed; nothing was resumed"
    assert cli("sample", str(path), "-n", str(n), "-o", str(out), "--seed", "7", "--scheduler", address) == 0
    record = json.loads(manifest.read_text())
    assert record["complete"] and record["finished"] == [[0, 6]]
    pd.testing.assert_frame_equal(pd.read_parquet(out), syn.sample(n, seed=7))


def test_cli_with_a_local_cluster(models, tmp_path, capsys):
    syn, path = models["argn"]
    out = tmp_path / "out"
    assert cli("sample", str(path), "-n", "30000", "-o", str(out), "--format", "parquet", "--scheduler", "local:2",
               "--partition-size", "10000", "--where", "plan=gold") == 0
    assert "30,000 synthetic rows written" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_parquet(out), syn.sample(30_000, seed=0, conditions={"plan": "gold"}))
    assert sorted(p.name for p in out.iterdir())[:2] == ["_datatwin_manifest.json", "part-000000.parquet"]
    for args, message in ((("--partition-size", "10"), "add --scheduler"),
                          (("--format", "csv"), "does not match the output"),
                          (("--scheduler", "local:x"), "local:N"),
                          (("--scheduler", "local:1", "--what-if", "age=+1"), "--what-if runs on one machine")):
        assert cli("sample", str(path), "-n", "10", "-o", str(tmp_path / "x.parquet"), *args) == 1
        assert message in capsys.readouterr().err


def test_unique_rules_on_learned_columns_hold_across_workers_with_the_bytes_of_sample(client, tmp_path):
    """Each block keeps to its own share of the key space: no worker needs another's keys."""
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"amount": np.round(rng.uniform(0, 30_000, 500), 2), "kind": rng.choice(["a", "b"], 500)})
    syn = datatwin.Synthesizer("copula", random_state=0, constraints=[datatwin.Unique(["amount"])]).fit(df)
    n = 250_000  # 3 blocks; 3M amounts of 2 decimals: blocks drawn blind would share ~10,000 of them
    expected = syn.sample(n, seed=3)
    assert expected["amount"].is_unique
    syn.sample_to_dataset(n, tmp_path / "two", seed=3, scheduler=client, partition_size=60_000)
    with local_cluster(1, processes=False) as cluster, distributed.Client(cluster, set_as_default=False) as one:
        syn.sample_to_dataset(n, tmp_path / "one", seed=3, scheduler=one, partition_size=60_000)
    two = part_bytes(tmp_path / "two")
    assert len(two) == 5 and part_bytes(tmp_path / "one") == two
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "two"), expected)
    # The lazy frame, cut across the blocks another way, is the same rows.
    got = client.compute(syn.sample_to_dask(n, seed=3, partition_size=90_000), sync=True)
    pd.testing.assert_frame_equal(got, expected)


def test_a_key_space_too_small_for_the_rows_is_refused_before_drawing(frame):
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"kind": rng.choice(list("abcd"), 400), "grade": rng.integers(1, 11, 400),
                       "x": rng.normal(size=400)})
    syn = datatwin.Synthesizer("copula", constraints=[datatwin.Unique(["kind", "grade"])]).fit(df)
    for call in (lambda: syn.sample(100_001), lambda: syn.sample_to_dask(100_001)):
        with pytest.raises(datatwin.ConstraintError, match=r"needs 100,001 distinct values, and the model can "
                                                           r"produce at most 40 "):
            call()
    # Over more shares than MAX_KEY_SHARES, blocks would need each other's keys: refused on Dask.
    from datatwin.sampling import BLOCK, MAX_KEY_SHARES

    wide = datatwin.Synthesizer("copula", constraints=[datatwin.Unique(["age", "score"])]).fit(frame)
    with pytest.raises(datatwin.ConstraintError, match="distributed workers do not share"):
        wide.sample_to_dask(MAX_KEY_SHARES * BLOCK + 1)
    # Within one block nothing is shared, and the rows are the sample's.
    ddf = wide.sample_to_dask(300, seed=1, partition_size=100)
    pd.testing.assert_frame_equal(ddf.compute(scheduler="sync"), wide.sample(300, seed=1))


def test_importing_datatwin_imports_no_dask_and_a_missing_dask_says_what_to_install():
    code = ("import sys; import datatwin; assert not {'dask', 'distributed'} & set(sys.modules), 'imported'; "
            "sys.modules['dask'] = sys.modules['distributed'] = None; import pandas as pd; "
            "syn = datatwin.Synthesizer(engine='copula').fit(pd.DataFrame({'x': [1.0, 2.0, 3.0] * 5}))\n"
            "try:\n    syn.sample_to_dask(10)\nexcept datatwin.InputError as exc:\n    print(exc)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "pip install 'datatwin[dask]'" in out.stdout


# ---------------------------------------------------------------------- databases
@pytest.fixture(scope="module")
def database(tmp_path_factory):
    from relational_helpers import FAST, tiny_frames

    frames = tiny_frames(0)
    for t in ("customer", "account"):  # a text key too: "customer_id_<n>" numbered on across shards
        frames[t]["customer_id"] = "C" + frames[t]["customer_id"].astype(str)
    db = datatwin.DatabaseSynthesizer("argn", random_state=0, engine_options=FAST).fit(frames)
    path = tmp_path_factory.mktemp("db") / "db.dtw"
    db.save(path)
    return db, path


def table_bytes(folder):
    return {f"{t.name}/{p.name}": p.read_bytes() for t in sorted(folder.iterdir()) if t.is_dir()
            for p in sorted(t.glob("part-*"))}


def test_a_database_drawn_by_workers_has_the_tables_and_keys_of_sample(database, client, tmp_path):
    """Shards are drawn side by side with keys from 1, then moved on by the keys of the shards
    before them: the tables are sample()'s, whatever the worker count."""
    from relational_helpers import check_keys

    db, _ = database
    scale = 400  # about 280,000 rows: 2 shards
    assert db.n_shards(scale) == 2
    expected = db.sample(scale, seed=3)
    counts = db.sample_to_dataset(tmp_path / "two", scale, seed=3, scheduler=client)
    assert counts == {t: len(df) for t, df in expected.items()}
    for t, df in expected.items():
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "two" / t), df)
    check_keys(db.schema_, expected)
    assert expected["account"]["customer_id"].iloc[-1].startswith("customer_id_")
    with local_cluster(1, processes=False) as cluster, distributed.Client(cluster, set_as_default=False) as one:
        db.sample_to_dataset(tmp_path / "one", scale, seed=3, scheduler=one)
    two = table_bytes(tmp_path / "two")
    assert len(two) == 2 * len(expected) and table_bytes(tmp_path / "one") == two
    assert not [p for p in (tmp_path / "two").rglob(".*")]  # no local shard or temporary file is left
    # A lost part is drawn again alone (its key offsets come from the recorded key counts).
    lost = tmp_path / "two" / "trans" / "part-000001.parquet"
    lost.unlink()
    db.sample_to_dataset(tmp_path / "two", scale, seed=3, scheduler=client)
    assert table_bytes(tmp_path / "two") == two


def test_cli_samples_a_database_model_on_a_local_cluster(database, tmp_path, capsys):
    db, path = database
    out = tmp_path / "out"
    assert cli("sample", str(path), "-o", str(out), "--scale", "2", "--seed", "1", "--format", "parquet",
               "--scheduler", "local:2") == 0
    assert "partitioned dataset per table" in capsys.readouterr().err
    for t, df in db.sample(2, seed=1).items():
        pd.testing.assert_frame_equal(pd.read_parquet(out / t), df)
    for args, message in ((("--what-if", "customer.age=+1"), "--what-if runs on one machine"),
                          (("--replace",), "a rerun into it resumes"),
                          (("-o", str(tmp_path / "x.csv")), "give a folder")):
        assert cli("sample", str(path), "-o", str(tmp_path / "o2"), "--scheduler", "local:1", *args) == 1
        assert message in capsys.readouterr().err
