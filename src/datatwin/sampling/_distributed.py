"""A sample drawn in independent pieces (Dask partitions), and the manifest of a partitioned dataset.

A piece is a row range ``[start, stop)``; it draws the seeded blocks that overlap it
(:class:`BlockPlan`) and keeps its rows, so any process draws any piece alone and the pieces,
put together, are byte for byte ``sample(n, seed)``. Nothing here imports Dask: the Dask side
(graphs, futures, shipping the model) lives with the estimator.

A partitioned dataset is a folder of ``part-000000.parquet`` ... files, each written atomically,
and a manifest (``_datatwin_manifest.json``, also written atomically) that records what the parts
are a sample of (model digest, ``n``, seed, block and part sizes, steering arguments) and which
parts are finished, so a run stopped at any point (even ``kill -9``) resumes where it was.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .._exceptions import ConstraintError, OutputError
from .._version import __version__
from ..io import atomic_output, atomic_write_text, escape_formula_cells
from ._blocks import BLOCK
from ._fitted import FittedModel
from ._run import MAX_KEY_SHARES, BlockPlan, learned_unique, needs_earlier_keys

__all__ = ["MANIFEST_NAME", "DatasetManifest", "SampleJob", "check_distributable", "draw_rows", "part_name",
           "partitions", "write_part"]

MANIFEST_NAME = "_datatwin_manifest.json"  # "_" first: Parquet dataset readers skip it
MANIFEST_FORMAT = "datatwin-sample-dataset"
DATASET_FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class SampleJob:
    """What one distributed sample is: the arguments of ``sample`` plus the piece size.

    Plain values only, so it travels to workers cheaply and keys their caches.
    """

    n: int
    seed: int
    conditions: dict[str, Any] | None = None
    rebalance: dict[str, dict[Any, float]] | None = None
    boost: dict[str, Any] | None = None
    partition_size: int = BLOCK

    def key(self) -> str:
        # repr keeps what JSON would lose: a (low, high) range is not a [value, value] list.
        return repr((self.n, self.seed, self.conditions, self.rebalance, self.boost))

    def plan(self, model: FittedModel) -> BlockPlan:
        return BlockPlan(model, self.n, self.seed, conditions=self.conditions, rebalance=self.rebalance,
                         boost=self.boost)


def partitions(n: int, size: int) -> list[tuple[int, int]]:
    """Row ranges of ``size`` rows (the last may be shorter) covering ``0 .. n``."""
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def check_distributable(model: FittedModel, n: int) -> None:
    """Refuse what independent pieces cannot reproduce: a ``Unique`` rule on learned columns
    over more than :data:`MAX_KEY_SHARES` blocks.

    Ids and unique fakes are unique by row position, so pieces need no shared state for them.
    A rule on learned columns splits its key space into one share per block (up to
    ``MAX_KEY_SHARES`` blocks), so pieces need none either; beyond, it is met on one machine by
    remembering every earlier block's keys, which pieces drawn apart cannot know.
    """
    if not needs_earlier_keys(model, n):
        return
    rows = MAX_KEY_SHARES * BLOCK
    c = learned_unique(model)[0]
    raise ConstraintError(
        f"the rule {c.describe()!r} is on learned columns: over more than {rows:,} rows it needs the keys "
        f"of every earlier block, which distributed workers do not share; sample on one machine "
        f"(no scheduler), ask for at most {rows:,} rows, or make the column an 'id' or a unique fake")


# Plans are kept per process: a worker draws many pieces of one job, and a plan under
# rebalancing holds codes for all n rows (4 bytes per row and rebalanced column).
_PLANS: OrderedDict[tuple[int, str], tuple[FittedModel, BlockPlan]] = OrderedDict()
_PLANS_LOCK = threading.Lock()
_PLANS_KEPT = 4


def _plan_for(model: FittedModel, job: SampleJob) -> BlockPlan:
    key = (id(model), job.key())
    with _PLANS_LOCK:
        hit = _PLANS.get(key)
        if hit is not None and hit[0] is model:  # the model itself is kept, so its id is not reused
            _PLANS.move_to_end(key)
            return hit[1]
    plan = job.plan(model)  # built outside the lock: two threads may both build it, both get equal plans
    with _PLANS_LOCK:
        _PLANS[key] = (model, plan)
        while len(_PLANS) > _PLANS_KEPT:
            _PLANS.popitem(last=False)
    return plan


def draw_rows(model: FittedModel, job: SampleJob, start: int, stop: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows ``start .. stop`` of ``sample(job.n, seed=job.seed, ...)``, and the constraint statistics.

    Example:
        >>> import pandas as pd, datatwin
        >>> from datatwin.sampling import SampleJob, draw_rows
        >>> syn = datatwin.Synthesizer(engine="copula").fit(pd.DataFrame({"x": [1.0, 2.5, 4.0] * 20}))
        >>> rows, _ = draw_rows(syn.model_, SampleJob(n=10, seed=3), 4, 7)
        >>> rows.equals(syn.sample(10, seed=3).iloc[4:7])
        True
    """
    plan = _plan_for(model, job)
    run = plan.new_run()
    first, last = start // BLOCK, (stop - 1) // BLOCK
    # Each block is drawn with an empty memory of earlier keys: check_distributable has refused
    # the rules that would need it; the others keep to their block's share of the key space.
    blocks = [plan.block(run, i, {}) for i in range(first, last + 1)]
    df = pd.concat(blocks) if len(blocks) > 1 else blocks[0]
    df = df.iloc[start - first * BLOCK: stop - first * BLOCK]
    df.index = pd.RangeIndex(start, stop)
    return df, run.stats


def part_name(i: int, n_parts: int, fmt: str) -> str:
    return f"part-{i:0{max(6, len(str(n_parts - 1)))}d}.{fmt}"


def write_part(model: FittedModel, job: SampleJob, i: int, folder: str, fmt: str, schema: Any = None
               ) -> tuple[int, dict[str, int]]:
    """Draw piece ``i`` and write it atomically as ``folder/part-<i>.<fmt>``; returns its row count
    and constraint statistics. ``schema`` (a ``pyarrow.Schema``) keeps every Parquet part alike."""
    n_parts = math.ceil(job.n / job.partition_size)
    start, stop = i * job.partition_size, min((i + 1) * job.partition_size, job.n)
    df, stats = draw_rows(model, job, start, stop)
    df = df.reset_index(drop=True)
    target = Path(folder) / part_name(i, n_parts, fmt)
    with atomic_output(target) as tmp:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if schema is not None:
                table = table.cast(_fill_nulls(schema, table.schema))
            pq.write_table(table, tmp)
        else:
            escape_formula_cells(df).to_csv(tmp, index=False, lineterminator="\n")
    return len(df), stats


def _fill_nulls(schema: Any, actual: Any) -> Any:
    """``schema`` with its untyped (all-missing in the meta sample) fields taken from ``actual``."""
    import pyarrow as pa

    fields = [actual.field(f.name) if pa.types.is_null(f.type) else f for f in schema]
    return pa.schema(fields, metadata=actual.metadata)


# ---------------------------------------------------------------------- manifest
class DatasetManifest:
    """The record of a partitioned dataset in ``folder``: what it is a sample of, which parts are done.

    Opening checks that an existing record describes the same sample; :meth:`mark` records a
    finished part and saves at most every ``flush_every`` seconds (a part finished but not yet
    recorded is drawn again after a crash, with the same bytes), :meth:`close` saves for good.
    """

    def __init__(self, folder: Path, identity: dict[str, Any], n_parts: int, finished: set[int],
                 flush_every: float = 0.5) -> None:
        self.folder, self.identity, self.n_parts = folder, identity, n_parts
        self.finished, self.flush_every = finished, flush_every
        self._saved = 0.0

    @classmethod
    def open(cls, folder: str | os.PathLike[str], identity: dict[str, Any], n_parts: int, fmt: str,
             files: Callable[[int], list[str]] | None = None) -> DatasetManifest:
        """Open (or start) the record in ``folder``, creating the folder if its parent exists.

        ``files(i)``: the paths (relative to ``folder``) part ``i`` writes, all of which must be
        there for it to count as finished (default: ``part-<i>.<fmt>``; a database writes one
        file per table)."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"cannot write a partitioned dataset to {str(folder)!r}: it is a file; give a folder")
        if not folder.parent.is_dir():
            raise OutputError(f"cannot write {str(folder)!r}: folder {str(folder.parent)!r} does not exist; "
                              f"create it first")
        folder.mkdir(exist_ok=True)
        path = folder / MANIFEST_NAME
        if not path.exists():
            others = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
            if others:
                raise OutputError(f"folder {str(folder)!r} already holds files ({others[0]!r}, ...) and no datatwin "
                                  f"manifest; write the dataset to an empty or new folder")
            # Saved before any part exists: a run killed before its first part was recorded must
            # find its folder again, parts finished by workers included, not a folder of strangers.
            new = cls(folder, identity, n_parts, set())
            new.save()
            new._saved = 0.0  # and the first finished part is recorded at once
            return new
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            recorded = {k: old[k] for k in identity}
            finished = {i for a, b in old["finished"] for i in range(int(a), int(b))}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OutputError(f"{str(path)!r} is not a readable datatwin manifest ({type(exc).__name__}); "
                              f"delete the folder and sample again") from None
        differ = [k for k in identity if recorded[k] != identity[k]]
        if differ:
            what = ", ".join(f"{k} {recorded[k]!r} (now {identity[k]!r})" for k in differ)
            raise OutputError(f"folder {str(folder)!r} holds a sample of another run: it was written with {what}; "
                              f"write to a new folder, or delete this one to start over")
        # A part counts as finished only while its file is there (a deleted part is drawn again).
        if files is None:
            finished = {i for i in finished if (folder / part_name(i, n_parts, fmt)).is_file()}
        else:
            finished = {i for i in finished if all((folder / f).is_file() for f in files(i))}
        return cls(folder, identity, n_parts, finished)

    def mark(self, i: int) -> None:
        self.finished.add(i)
        if time.monotonic() - self._saved >= self.flush_every:
            self.save()

    @property
    def complete(self) -> bool:
        return len(self.finished) == self.n_parts

    def save(self) -> None:
        record = {"format": MANIFEST_FORMAT, "format_version": 1, "datatwin_version": __version__, **self.identity,
                  "complete": self.complete, "finished": _ranges(sorted(self.finished))}
        atomic_write_text(self.folder / MANIFEST_NAME, json.dumps(record, indent=1) + "\n")
        self._saved = time.monotonic()

    def close(self) -> None:
        """Save, and once every part is there, remove temporary files a killed run left behind."""
        self.save()
        if self.complete:
            for p in self.folder.glob(".part-*.tmp"):
                p.unlink(missing_ok=True)


def _ranges(items: list[int]) -> list[list[int]]:
    """Sorted part numbers as ``[start, stop)`` runs: a finished run of 10,000 parts is one pair."""
    out: list[list[int]] = []
    for i in items:
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out
