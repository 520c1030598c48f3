"""Generating rows from a :class:`Spec`: seeded blocks, constraint repair, chunked output.

Reproducibility contract: rows are generated in blocks of :data:`BLOCK` rows; block ``b`` draws
from ``SeedSequence(seed).spawn(n_blocks)[b]``, and inside a block every column has its own
stream keyed by the column's name, so adding a column never changes the others. The output
chunk size only regroups whole rows. See ``docs/spec.md`` for the format.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError, SpecError
from .._progress import ProgressCallback, report
from ._categories import _CategoryCol
from ._columns import _arrow_str, _Vals
from ._fake import _FakerCol
from ._model import Spec

__all__ = ["BLOCK", "generate", "generate_to_file", "iter_generate"]

#: Rows per generation block (part of the reproducibility contract: changing it changes rows).
BLOCK = 100_000
_MAX_CANDIDATES = 1_000_000  # rows drawn per repair round, at most
_MAX_REPAIR_ROWS = 20_000_000  # candidate rows per block before giving up on the constraints


class _Run:
    """Per-call state shared by every block: the row count and the Faker pools."""

    def __init__(self, spec: Spec, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self.pools: dict[str, Any] = {}
        for name, col in spec._cols.items():
            if isinstance(col, _FakerCol):
                self.pools[name] = col.build_pool(n, seed, spec.locale)


def _as_spec(spec: Any) -> Spec:
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping):
        return Spec.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return Spec.load(spec)
    raise InputError(f"spec must be a Spec, a mapping or a path to a YAML/JSON file, got {type(spec).__name__}")


def _check_int(v: Any, name: str, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _rows(spec: Spec, run: _Run, rows: np.ndarray, rngs: dict[str, np.random.Generator],
          stats: dict[str, int]) -> tuple[dict[str, _Vals], np.ndarray]:
    """Draw every column for the given row numbers; ``bad`` marks rows breaking a constraint."""
    n = len(rows)
    ctx: dict[str, _Vals] = {}
    bad = np.zeros(n, dtype=bool)
    for name in spec._order:
        col = spec._cols[name]
        rng = rngs[name]
        v = col.draw(rows, ctx, rng, run)
        if v.bad is not None:
            bad |= v.bad
            stats[f"bounds:{name}"] = stats.get(f"bounds:{name}", 0) + int(v.bad.sum())
            v.bad = None
        for other in ctx.values():  # own arrays: the repair below writes into them in place
            if other.values is v.values:
                v.values = v.values.copy()
            if v.mask is not None and other.mask is v.mask:
                v.mask = v.mask.copy()
        ctx[name] = v
    for i, (e, _, _) in enumerate(spec._constraints):
        ok, mask = e.evaluate(ctx, n)
        viol = ~ok if mask is None else (~ok & ~mask)
        stats[f"constraint:{i}"] = stats.get(f"constraint:{i}", 0) + int(viol.sum())
        bad |= viol
    return ctx, bad


def _block(spec: Spec, run: _Run, start: int, m: int, ss: np.random.SeedSequence) -> pd.DataFrame:
    import pyarrow as pa

    rngs = {name: np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(
        *ss.spawn_key, zlib.crc32(name.encode())))) for name in spec._order}
    rows = np.arange(start, start + m, dtype=np.int64)
    stats: dict[str, int] = {}
    ctx, bad = _rows(spec, run, rows, rngs, stats)
    tried, good = m, m - int(bad.sum())
    while bad.any():
        targets = np.flatnonzero(bad)
        k = len(targets)
        rate = (good + 1) / (tried + 2)
        reps = int(min(max(1, math.ceil(2.5 / rate)), max(1, _MAX_CANDIDATES // k)))
        cand_rows = np.tile(rows[targets], reps)
        cctx, cbad = _rows(spec, run, cand_rows, rngs, stats)
        ok = ~cbad.reshape(reps, k)
        has = ok.any(axis=0)
        pick = ok.argmax(axis=0) * k + np.arange(k)
        tried += len(cand_rows)
        good += int(ok.sum())
        fill, src = targets[has], pick[has]
        for name, v in ctx.items():
            c = cctx[name]
            v.values[fill] = c.values[src]
            if c.mask is not None or v.mask is not None:
                vm = v.mask if v.mask is not None else np.zeros(m, dtype=bool)
                vm[fill] = c.mask[src] if c.mask is not None else False
                v.mask = vm
        bad[fill] = False
        if bad.any() and (tried >= _MAX_REPAIR_ROWS or (good == 0 and tried >= 100_000)):
            raise _constraint_error(spec, stats, tried)
    # null_rate blanks cells at random once the rows are complete: other columns were computed
    # from the value before it was blanked, so the share is exact and constraints hold on it.
    for name in spec._order:
        col = spec._cols[name]
        if col.null_rate > 0:
            v = ctx[name]
            blank = rngs[name].random(m) < col.null_rate
            v.mask = blank if v.mask is None else (v.mask | blank)
            if isinstance(col, _CategoryCol):
                v.values = np.where(blank, -1, v.values).astype(v.values.dtype)
    out = {}
    for name, col in spec._cols.items():
        v = ctx[name]
        if isinstance(col, _FakerCol):
            out[name] = _arrow_str(run.pools[name].take(pa.array(v.values)), v.mask)
        else:
            out[name] = col.output(v)
    return pd.DataFrame(out, copy=False)


def _constraint_error(spec: Spec, stats: dict[str, int], tried: int) -> SpecError:
    key, fails = max(stats.items(), key=lambda kv: kv[1])
    share = 100.0 * (1 - fails / tried)
    held = f"{share:.2g}% of {tried:,}" if share > 0 else f"none of {tried:,}"
    if key.startswith("bounds:"):
        col = spec._cols[key.split(":", 1)[1]]
        lo = col.d.get("min")  # type: ignore[union-attr]
        hi = col.d.get("max")  # type: ignore[union-attr]
        return spec._where.error((*col.path, "min"), f"min ({lo}) is above max ({hi}) in {fails:,} of {tried:,} "
                                                     "generated rows; widen the range or change the columns it uses")
    i = int(key.split(":", 1)[1])
    _, text, path = spec._constraints[i]
    return spec._where.error(path, f"constraint {text!r} held in {held} generated rows, too few to repair; "
                                   "loosen the columns' ranges or build the dependency into a column "
                                   "(e.g. min: start_date)")


def iter_generate(spec: Spec | Mapping[str, Any] | str | os.PathLike[str], n: int, seed: int = 0, *,
                  chunk_size: int = BLOCK, progress: ProgressCallback | None = None) -> Iterator[pd.DataFrame]:
    """Generate ``n`` rows as DataFrames of ``chunk_size`` rows (memory stays at about one chunk).

    The rows do not depend on ``chunk_size``: they are generated in fixed blocks of
    :data:`BLOCK` rows, each from its own seed, and only regrouped.

    Example:
        >>> import datatwin
        >>> spec = {"columns": {"id": {"type": "sequence"}, "x": {"type": "integer", "min": 1, "max": 6}}}
        >>> [len(c) for c in datatwin.iter_generate(spec, 5, seed=1, chunk_size=2)]
        [2, 2, 1]
    """
    spec = _as_spec(spec)
    n = _check_int(n, "n (the number of rows)", 1)
    seed = _check_int(seed, "seed", 0)
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    run = _Run(spec, n, seed)
    n_blocks = math.ceil(n / BLOCK)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    pending: list[pd.DataFrame] = []
    have = done = 0
    for b, ss in enumerate(children):
        start = b * BLOCK
        m = min(BLOCK, n - start)
        pending.append(_block(spec, run, start, m, ss))
        have += m
        while have >= chunk_size:
            big = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
            yield big.iloc[:chunk_size].reset_index(drop=True)
            done += chunk_size
            report(progress, "generate", done, n)
            rest = big.iloc[chunk_size:]
            pending, have = ([rest] if len(rest) else []), len(rest)
    if have:
        yield pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0].reset_index(drop=True)
        report(progress, "generate", n, n)


def generate(spec: Spec | Mapping[str, Any] | str | os.PathLike[str], n: int, seed: int = 0) -> pd.DataFrame:
    """Generate ``n`` rows from a spec (a :class:`Spec`, a mapping, or a YAML/JSON path).

    The same spec and seed give the same rows, byte for byte; different seeds give different rows.

    Example:
        >>> import datatwin
        >>> df = datatwin.generate({"columns": {"age": {"type": "integer", "distribution": "normal",
        ...                         "mean": 40, "sd": 10, "min": 18}}}, 1000, seed=1)
        >>> int(df.age.min()) >= 18
        True
    """
    chunks = list(iter_generate(spec, n, seed, chunk_size=n if isinstance(n, int) and n > 0 else 1))
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def generate_to_file(spec: Spec | Mapping[str, Any] | str | os.PathLike[str], n: int,
                     path: str | os.PathLike[str], seed: int = 0, *, chunk_size: int = BLOCK,
                     progress: ProgressCallback | None = None) -> int:
    """Stream ``n`` generated rows into a CSV or Parquet file (atomic: no partial file on failure)."""
    from ..io import write_table_chunks

    return write_table_chunks(iter_generate(spec, n, seed, chunk_size=chunk_size, progress=progress), path)
