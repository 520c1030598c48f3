"""A synthetic database drawn on a Dask cluster (the ``[dask]`` extra): one folder per table, one
part per shard, keys identical to :meth:`DatabaseSynthesizer.sample`'s whatever the worker count.

A shard's rows depend on ``(seed, shard)`` alone, but its keys go on from the shards before it,
and how many keys a shard numbers is only known once it is drawn. So a run has two passes:

1. every shard is drawn on some worker with its keys numbered from 1
   (:meth:`DatabaseSynthesizer.local_shard`), written as hidden ``.local-<k>`` files, and its
   key counts come back to this process, which records them (``_datatwin_keys.json``);
2. once every count is known, each shard's offsets are the sums of the counts before it, and a
   worker moves the keys of its local files on (:meth:`DatabaseSynthesizer.number_keys`), writes
   the final ``part-<k>`` files atomically and deletes the local ones.

Pass 2 only reads, shifts and writes; the drawing is done once. The manifest
(``_datatwin_manifest.json``) records what the folder is a sample of and the finished shards, the
key file the drawn ones: a rerun after a crash skips both, and gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._exceptions import InputError, OutputError
from .._progress import ProgressCallback, report
from ..io import atomic_output, atomic_write_text, escape_formula_cells
from ..sampling import DatasetManifest, part_name
from ._schema import ENTITY

if TYPE_CHECKING:
    from ._model import DatabaseSynthesizer

__all__ = ["sample_database_to_dataset"]

KEYS_NAME = "_datatwin_keys.json"


class DatabaseBytes:
    """A database model file's bytes and their SHA-256, as the model travels to workers, with
    the class that loads them (carried, not imported here: ``_model`` imports this module)."""

    def __init__(self, data: bytes, cls: type[DatabaseSynthesizer]) -> None:
        self.sha256, self.data, self.cls = hashlib.sha256(data).hexdigest(), data, cls

    def __repr__(self) -> str:  # Dask shows it in errors and dashboards: not megabytes of bytes
        return f"DatabaseBytes(sha256={self.sha256[:12]}..., {len(self.data):,} bytes)"


_DBS: OrderedDict[str, DatabaseSynthesizer] = OrderedDict()
_DBS_LOCK = threading.Lock()


def db_of(ref: DatabaseBytes) -> DatabaseSynthesizer:
    """The database model in ``ref``, loaded once per worker process and digest."""
    with _DBS_LOCK:
        db = _DBS.get(ref.sha256)
        if db is None:
            with tempfile.TemporaryDirectory(prefix="datatwin-") as tmp:
                path = Path(tmp) / "db.dtw"
                path.write_bytes(ref.data)
                db = ref.cls.load(path)
            _DBS[ref.sha256] = db
            while len(_DBS) > 2:
                _DBS.popitem(last=False)
        return db


def _tables(db: DatabaseSynthesizer) -> list[str]:
    return [t for t in db.order_ if t != ENTITY]


def _local_name(k: int, n_parts: int, fmt: str) -> str:
    return "." + part_name(k, n_parts, fmt).replace("part-", "local-")


def _write(df: pd.DataFrame, target: Path, fmt: str) -> None:
    with atomic_output(target) as tmp:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            escape_formula_cells(df).to_csv(tmp, index=False, lineterminator="\n")


def _read(path: Path) -> pd.DataFrame:
    # Pass 2 reads what pass 1 wrote: always Parquet, which keeps the dtypes (see _draw_task).
    return pd.read_parquet(path)


def _draw_task(k: int, ref: DatabaseBytes, job: dict[str, Any], folder: str) -> tuple[int, dict[str, int]]:
    """Pass 1: shard ``k`` with keys from 1, written as hidden local Parquet files; its key counts."""
    db = db_of(ref)
    shard, used = db.local_shard(job["scale"], job["seed"], k, job["shards"], job["conds"], job["changes"],
                                 job["flowing"])
    for t in _tables(db):
        _write(shard[t], Path(folder) / t / _local_name(k, job["shards"], "parquet"), "parquet")
    return k, used


def _number_task(k: int, ref: DatabaseBytes, job: dict[str, Any], offsets: dict[str, int], folder: str,
                 fmt: str) -> int:
    """Pass 2: shard ``k``'s local files with their keys moved on by ``offsets``, as final parts."""
    db = db_of(ref)
    n_parts = job["shards"]
    local = {t: Path(folder) / t / _local_name(k, n_parts, "parquet") for t in _tables(db)}
    shard = db.number_keys({t: _read(p) for t, p in local.items()}, offsets)
    for t, df in shard.items():
        _write(df, Path(folder) / t / part_name(k, n_parts, fmt), fmt)
    for p in local.values():
        p.unlink(missing_ok=True)
    return k


def sample_database_to_dataset(db: DatabaseSynthesizer, folder: str | os.PathLike[str], *, scale: float,
                               seed: int | None, scheduler: Any, conditions: Any, what_if: Any, format: str,
                               progress: ProgressCallback | None) -> dict[str, int]:
    """See :meth:`DatabaseSynthesizer.sample_to_dataset`."""
    from ..synthesizer._dask import connect, import_dask, local_workers
    from ._conditions import check_conditions, flowing_tables

    import_dask("sample_to_dataset")
    local_workers(scheduler)
    if format not in ("parquet", "csv"):
        raise InputError(f"format must be 'parquet' or 'csv', got {format!r}")
    db._check()
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0 or scale != scale:
        raise InputError(f"scale must be a positive number, got {scale!r}")
    seed = db.random_state if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    conds, changes = check_conditions(db, conditions, what_if)
    if changes:
        raise InputError("what_if runs on one machine (its changes are functions); leave out the scheduler")
    with tempfile.TemporaryDirectory(prefix="datatwin-") as tmp:
        db.save(Path(tmp) / "db.dtw")
        ref = DatabaseBytes((Path(tmp) / "db.dtw").read_bytes(), type(db))
    shards = db.n_shards(scale)
    job = {"scale": float(scale), "seed": int(seed), "shards": shards, "conds": conds, "changes": {},
           "flowing": flowing_tables(db, set(conds)), "tables": _tables(db)}
    identity = {"model_sha256": ref.sha256, "scale": float(scale), "seed": int(seed), "parts": shards,
                "tables": _tables(db), "file_format": format, "conditions": repr(conds)}
    manifest = DatasetManifest.open(folder, identity, shards, format, files=_part_paths(db, shards, format))
    root = manifest.folder
    for t in _tables(db):
        (root / t).mkdir(exist_ok=True)
    counts = _read_counts(root, ref.sha256, shards)
    report(progress, "sample", len(manifest.finished), shards)
    todo = [k for k in range(shards) if k not in manifest.finished]
    if todo:
        client, to_close = connect(scheduler)
        try:
            _run(client, ref, job, todo, root, format, manifest, counts, progress)
        finally:
            for thing in to_close:
                thing.close()
    manifest.close()
    if manifest.complete:  # what killed runs left behind: local shards, half-written files
        for t in _tables(db):
            for p in [*(root / t).glob(".local-*"), *(root / t).glob(".*.tmp")]:
                p.unlink(missing_ok=True)
    totals: dict[str, int] = {}
    for t in _tables(db):
        totals[t] = sum(_rows(p, format) for p in sorted((root / t).glob(f"part-*.{format}")))
    return totals


def _part_paths(db: DatabaseSynthesizer, shards: int, fmt: str) -> Any:
    """A shard counts as finished while every table's part file is there."""
    tables = _tables(db)

    def names(k: int) -> list[str]:
        return [f"{t}/{part_name(k, shards, fmt)}" for t in tables]

    return names


def _rows(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with open(path, "rb") as f:
        return max(0, sum(1 for _ in f) - 1)


def _read_counts(root: Path, sha: str, shards: int) -> dict[int, dict[str, int]]:
    path = root / KEYS_NAME
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["model_sha256"] != sha:
            return {}
        return {int(k): {t: int(v) for t, v in used.items()} for k, used in record["used"].items()
                if int(k) < shards}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise OutputError(f"{str(path)!r} is not a readable datatwin key record; delete the folder and sample "
                          f"again") from None


def _save_counts(root: Path, sha: str, counts: dict[int, dict[str, int]]) -> None:
    record = {"model_sha256": sha, "used": {str(k): counts[k] for k in sorted(counts)}}
    atomic_write_text(root / KEYS_NAME, json.dumps(record, indent=1) + "\n")


def _run(client: Any, ref: DatabaseBytes, job: dict[str, Any], todo: list[int], root: Path, fmt: str,
         manifest: DatasetManifest, counts: dict[int, dict[str, int]], progress: ProgressCallback | None) -> None:
    from distributed import as_completed

    shards = job["shards"]
    tables = job["tables"]
    # A shard whose local files and counts are there was drawn by an earlier run: not again.
    drawn = {k for k in counts if all((root / t / _local_name(k, shards, "parquet")).is_file() for t in tables)}
    # Key counts are needed for every shard, finished ones included (their keys come first).
    missing = [k for k in range(shards) if k not in counts or (k in todo and k not in drawn)]
    model = client.scatter(ref, broadcast=True, hash=False)
    futures = client.map(_draw_task, missing, ref=model, job=job, folder=str(root), pure=False)
    try:
        for future in as_completed(futures, loop=client.loop):
            k, used = future.result()
            counts[k] = used
            _save_counts(root, ref.sha256, counts)
        offsets: dict[int, dict[str, int]] = {}
        running = dict.fromkeys(counts[0], 0)
        for k in range(shards):
            offsets[k] = dict(running)
            for t, m in counts[k].items():
                running[t] += m
        futures = [client.submit(_number_task, k, model, job, offsets[k], str(root), fmt, pure=False) for k in todo]
        done = len(manifest.finished)
        for future in as_completed(futures, loop=client.loop):
            manifest.mark(future.result())
            done += 1
            report(progress, "sample", done, shards)
    except BaseException:
        client.cancel(futures)
        manifest.save()
        raise

