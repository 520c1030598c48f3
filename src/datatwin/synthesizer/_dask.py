"""Sampling on Dask (the optional ``[dask]`` extra): a lazy Dask DataFrame, or a partitioned
dataset written by the workers of a cluster.

How the model reaches workers: as the bytes of its model file, with their SHA-256. The model
file is datatwin's stable, checked, pickle-free format, and its bytes are deterministic, so
their digest names the model (the manifest of a dataset records it to refuse a resume with
another model). Each worker process loads a given digest once and keeps it (:func:`model_of`).
Pickling the fitted model instead would tie workers to the driver's exact object layout (torch
modules, encoder internals) and make a worker unpickle arbitrary objects; a few megabytes of
bytes, sent once per worker, cost less than the first block they draw.

Dask is imported only inside these functions, so ``import datatwin`` never imports it.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._exceptions import InputError
from .._progress import ProgressCallback, report
from ..sampling import (
    BLOCK,
    DatasetManifest,
    FittedModel,
    SampleJob,
    check_distributable,
    check_key_space,
    draw_rows,
    partitions,
    write_part,
)
from ._persistence import read_model

if TYPE_CHECKING:
    from ._estimator import Synthesizer

__all__ = ["ModelBytes", "model_of", "sample_to_dask", "sample_to_dataset"]

DASK_HINT = "pip install 'datatwin[dask]'"
META_ROWS = 64  # rows of the sample that gives the Dask DataFrame its columns and dtypes


def import_dask(what: str) -> Any:
    """The ``distributed`` module, or a clear error naming the extra to install."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed
    except ImportError as exc:
        raise InputError(f"{what} needs Dask, an optional extra of datatwin ({exc.name} is not installed); "
                         f"install it with: {DASK_HINT}") from None
    return distributed


# ---------------------------------------------------------------------- the model on workers
@dataclass(frozen=True)
class ModelBytes:
    """A model file's bytes and their SHA-256: the model as it travels to workers."""

    sha256: str
    data: bytes = b""

    @classmethod
    def of(cls, data: bytes) -> ModelBytes:
        return cls(hashlib.sha256(data).hexdigest(), data)

    def __repr__(self) -> str:  # shown in Dask's dashboards and errors: not megabytes of bytes
        return f"ModelBytes(sha256={self.sha256[:12]}..., {len(self.data):,} bytes)"


_MODELS: OrderedDict[str, FittedModel] = OrderedDict()
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 2  # a worker seldom serves more than one model at a time; a few MB each


def model_of(ref: ModelBytes) -> FittedModel:
    """The fitted model in ``ref``, loaded once per process and digest (a model is read-only and
    thread-safe, so every task and thread of a worker shares it)."""
    with _MODELS_LOCK:
        model = _MODELS.get(ref.sha256)
        if model is not None:
            _MODELS.move_to_end(ref.sha256)
            return model
        _, model, _ = read_model(ref.data)  # under the lock: a model is loaded once, not once per thread
        _MODELS[ref.sha256] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
        return model


def model_bytes(syn: Synthesizer) -> ModelBytes:
    """The bytes :meth:`Synthesizer.save` writes, with their digest."""
    with tempfile.TemporaryDirectory(prefix="datatwin-") as tmp:
        path = Path(tmp) / "model.dtw"
        syn.save(path)
        return ModelBytes.of(path.read_bytes())


# ---------------------------------------------------------------------- a lazy Dask DataFrame
class _Piece:
    """Draws one partition (a row range) on whichever worker Dask picks."""

    def __init__(self, ref: ModelBytes, job: SampleJob) -> None:
        self.ref, self.job = ref, job

    def __call__(self, rows: tuple[int, int], columns: list[str] | None = None) -> pd.DataFrame:
        df, _ = draw_rows(model_of(self.ref), self.job, rows[0], rows[1])
        # Every column is drawn (they depend on each other); only the ones asked for are kept.
        return df if columns is None else df[list(columns)]

    def __dask_tokenize__(self) -> tuple[str, str, int]:
        return self.ref.sha256, self.job.key(), self.job.partition_size


def _job(syn: Synthesizer, n: int, seed: int | None, conditions: Any, rebalance: Any, boost: Any,
         partition_size: Any) -> tuple[SampleJob, pd.DataFrame]:
    """The checked job and a small sample with its columns and dtypes; every argument is checked
    here, on the caller's side, before anything reaches a worker."""
    from ..sampling import check_n

    model = syn._check_fitted()
    n = check_n(n)
    if isinstance(partition_size, bool) or not isinstance(partition_size, int) or partition_size < 1:
        raise InputError(f"partition_size must be a positive whole number of rows, got {partition_size!r}")
    seed = syn._check_seed(seed)
    if n > BLOCK:
        check_key_space(model, n)  # before the small sample, which would fail less clearly
    # The small sample checks the conditions, rebalancing and boost the way sample() does.
    meta = syn.sample(min(n, META_ROWS), seed=seed, conditions=conditions, rebalance=rebalance, boost=boost)
    model.check_unique_pools(n)
    check_distributable(model, n)
    return SampleJob(n, seed, conditions, rebalance, boost, partition_size), meta


def sample_to_dask(syn: Synthesizer, n: int, *, seed: int | None, conditions: Any, rebalance: Any, boost: Any,
                   partition_size: int) -> Any:
    """See :meth:`Synthesizer.sample_to_dask`."""
    import_dask("sample_to_dask")
    import dask
    import dask.dataframe as dd

    job, meta = _job(syn, n, seed, conditions, rebalance, boost, partition_size)
    pieces = partitions(job.n, job.partition_size)
    divisions = (*[a for a, _ in pieces], job.n - 1)
    # Dask would turn text columns into its own string dtype; the rows keep the dtypes of
    # sample(), so a computed frame is the very frame sample() gives.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(_Piece(model_bytes(syn), job), pieces, meta=meta.iloc[:0], divisions=divisions,
                           label="datatwin-sample")


# ---------------------------------------------------------------------- a dataset written by workers
def _write_part_task(i: int, ref: ModelBytes, job: SampleJob, folder: str, fmt: str,
                     schema: Any) -> tuple[int, int, dict[str, int]]:
    rows, stats = write_part(model_of(ref), job, i, folder, fmt, schema)
    return i, rows, stats


def local_workers(scheduler: Any) -> int:
    """The worker count of ``"local:N"`` (0 for a client, an address or None); refuses malformed values
    before anything is drawn or written."""
    distributed = import_dask("sampling on a Dask cluster")
    if scheduler is None or isinstance(scheduler, distributed.Client):
        return 0
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise InputError(f"scheduler must be a distributed.Client, an address such as 'tcp://host:8786', or "
                         f"'local:N'; got {scheduler!r}")
    if scheduler != "local" and not scheduler.startswith("local:"):
        return 0
    workers = scheduler.partition(":")[2] or str(os.cpu_count() or 1)
    if not workers.isdigit() or int(workers) < 1:
        raise InputError(f"scheduler {scheduler!r}: write local:N with N a positive number of workers")
    return int(workers)


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded worker processes on 127.0.0.1,
    without a dashboard, as ``scheduler="local:N"`` starts it."""
    import dask
    import distributed

    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in every worker to hand freed memory back to the
    # OS at once; it also turns off glibc's adaptive mmap threshold, so each block's large arrays
    # are mapped and faulted in afresh: drawing a block cost 1.7x the CPU (adult, argn). Workers
    # keep glibc's defaults instead (a block's memory is reused by the next block anyway).
    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        # The scheduler's small HTTP server (health checks) takes a free port rather than 8787,
        # which another cluster on the machine may hold.
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


def connect(scheduler: Any) -> tuple[Any, list[Any]]:
    """A Dask client for ``scheduler`` and what to close after: a ``distributed.Client`` is used as
    it is; ``"local:4"`` starts a local cluster of 4 single-threaded worker processes (``"local"``:
    one per core); any other text is a scheduler address such as ``"tcp://host:8786"``; ``None``
    takes the client already running in this process."""
    distributed = import_dask("sampling on a Dask cluster")
    workers = local_workers(scheduler)
    if isinstance(scheduler, distributed.Client):
        return scheduler, []
    if scheduler is None:
        try:
            return distributed.get_client(), []
        except ValueError:
            raise InputError("no Dask client is running; pass scheduler='tcp://host:8786' (a running scheduler) "
                             "or 'local:4' (a local cluster of 4 workers)") from None
    if workers:
        cluster = local_cluster(workers)
        client = distributed.Client(cluster, set_as_default=False)
        return client, [client, cluster]
    try:
        client = distributed.Client(scheduler, timeout="30s", set_as_default=False)
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start it with "
                         f"'dask scheduler' or check the address") from None
    return client, [client]


def sample_to_dataset(syn: Synthesizer, n: int, folder: str | os.PathLike[str], *, seed: int | None,
                      scheduler: Any, conditions: Any, rebalance: Any, boost: Any, partition_size: int,
                      format: str, progress: ProgressCallback | None) -> int:
    """See :meth:`Synthesizer.sample_to_dataset`."""
    import_dask("sample_to_dataset")
    local_workers(scheduler)
    if format not in ("parquet", "csv"):
        raise InputError(f"format must be 'parquet' or 'csv', got {format!r}")
    job, meta = _job(syn, n, seed, conditions, rebalance, boost, partition_size)
    ref = model_bytes(syn)
    n_parts = math.ceil(job.n / job.partition_size)
    identity = {"model_sha256": ref.sha256, "n": job.n, "seed": job.seed, "block_rows": BLOCK,
                "partition_rows": job.partition_size, "parts": n_parts, "file_format": format,
                "conditions": repr(job.conditions), "rebalance": repr(job.rebalance), "boost": repr(job.boost)}
    manifest = DatasetManifest.open(folder, identity, n_parts, format)
    schema = None
    if format == "parquet":
        import pyarrow as pa

        schema = pa.Schema.from_pandas(meta, preserve_index=False)
    done = sum(min(job.partition_size, job.n - i * job.partition_size) for i in manifest.finished)
    report(progress, "sample", done, job.n)
    todo = [i for i in range(n_parts) if i not in manifest.finished]
    stats: dict[str, int] = {}
    if todo:
        client, to_close = connect(scheduler)
        try:
            done = _run_parts(client, ref, job, todo, str(manifest.folder), format, schema, manifest, done,
                              stats, progress)
        finally:
            for thing in to_close:
                thing.close()
    manifest.close()
    model = syn._check_fitted()
    if progress is not None and model.constraints.checked and stats:
        report(progress, "constraints", 1, 1, **stats)
    return job.n


def _run_parts(client: Any, ref: ModelBytes, job: SampleJob, todo: list[int], folder: str, fmt: str, schema: Any,
               manifest: DatasetManifest, done: int, stats: dict[str, int], progress: ProgressCallback | None
               ) -> int:
    from distributed import as_completed

    # The model goes to every worker once; tasks then refer to it by key.
    model_future = client.scatter(ref, broadcast=True, hash=False)
    # pure=False: fresh task keys, so a rerun never attaches to tasks of a killed driver.
    futures = client.map(_write_part_task, todo, ref=model_future, job=job, folder=folder, fmt=fmt, schema=schema,
                         pure=False)
    try:
        for future in as_completed(futures, loop=client.loop):
            i, rows, part_stats = future.result()
            manifest.mark(i)
            for k, v in part_stats.items():
                stats[k] = stats.get(k, 0) + v
            done += rows
            report(progress, "sample", done, job.n)
    except BaseException:
        client.cancel(futures)
        manifest.save()  # the parts finished so far count on the next run
        raise
    return done
