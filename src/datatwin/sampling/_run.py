"""One sampling call: its seeds, its prepared generators, its statistics, and the rows it draws.

Every piece of per-call state lives in a :class:`SamplingRun`, never on the fitted model, so
two calls (two threads, two interleaved ``iter_sample`` generators, two web requests) give
exactly what each gives alone.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ConditionError, ConstraintError, InputError
from .._progress import ProgressCallback, report
from ..encoding import NumericEncoder
from ..engines import CONDITIONS, block_worker, engines_that_can, free_cores, keep_torch_threads
from ..generators import ColumnGenerator, FakerGenerator
from ._blocks import BLOCK, SAMPLE_TAG, child_seed, rechunk, seed_int
from ._fitted import FittedModel
from ._plan import CANDIDATES, Plan, encode_seed_rows, make_plan, row_matches

__all__ = ["MAX_KEY_SHARES", "BlockPlan", "SamplingRun", "block_threads", "check_key_space", "check_n",
           "complete_codes", "complete_rows", "draw_codes", "iter_rows", "key_shares", "key_space", "learned_unique",
           "needs_earlier_keys", "require"]

REDRAW_SHARE = 0.8  # constraint ranges keeping at least this share of rows are met by redrawing
# Up to this many blocks, a Unique rule on learned columns splits its key space into one share
# per block (blocks independent, any worker); beyond, a block draws about this many rows per row
# it keeps, and blocks remember the keys of the blocks before them instead (docs/design.md).
MAX_KEY_SHARES = 16


def require(model: FittedModel, what: str) -> None:
    """Refuse ``what`` (e.g. "sample under conditions") when the engine cannot condition."""
    if not model.engine.can(CONDITIONS):
        options = " or ".join(f"engine={name!r}" for name in engines_that_can(CONDITIONS))
        raise ConditionError(f"the {model.engine.name} engine cannot {what}; fit with {options}")


class SamplingRun:
    """The state of one sampling call over a read-only :class:`FittedModel`."""

    def __init__(self, model: FittedModel, gen_seed: int, n: int) -> None:
        self.model = model
        # Generators keep per-call set-up (a pool order, an id permutation): each run prepares
        # its own shallow copies, so the model's generators are never written to.
        self.generators: dict[str, ColumnGenerator] = {}
        for name, g in model.generators.items():
            mine = copy.copy(g)
            mine.prepare(gen_seed, n)
            self.generators[name] = mine
        # Rows checked, broken on the first draw, redrawn and repaired (benchmarks, debugging).
        self.stats: dict[str, int] = {}

    # ------------------------------------------------------------------ drawing
    def sample_chunk(self, m: int, offset: int, ss: np.random.SeedSequence, plan: Plan | None = None,
                     seen: dict[int, set[Any]] | None = None, share: tuple[int, int] | None = None) -> pd.DataFrame:
        """``m`` rows; ``share`` ``(i, parts)``: keys of learned ``Unique`` rules from share ``i``."""
        plan = plan or Plan()
        # Children 0-3 draw the rows; child 4 (spawned only when needed) redraws broken ones.
        fixed = plan.fixed_slice(offset, offset + m)
        df = self.draw(m, offset, fixed, plan, ss.spawn(4))
        cset = self.model.constraints
        if not cset.checked:
            return df
        rounds = ss.spawn(1)[0].spawn(cset.rounds(1 if share is None else share[1]) + 1)

        def redraw(rows: np.ndarray, k: int, rnd: int) -> pd.DataFrame:
            f = {j: np.repeat(c[rows], k) for j, c in fixed.items()}
            return self.draw(len(rows) * k, offset, f, plan, rounds[rnd].spawn(4))

        seen = {} if seen is None else seen
        df = self.enforce(df, redraw, rounds[-1], seen, share=share)
        cset.remember(df, seen)
        return df

    def draw(self, m: int, offset: int, fixed: dict[int, np.ndarray], plan: Plan,
             seeds: list[np.random.SeedSequence]) -> pd.DataFrame:
        """``m`` rows: codes from the engine, decoded, generated columns filled, formulas computed."""
        model = self.model
        eng_ss, dec_ss, gen_ss, pick_ss = seeds
        if plan.weighted:
            # Importance resampling: a few candidates per row, one kept in proportion to the
            # probability mass its constraints kept.
            k = CANDIDATES
            codes, logw = model.engine.sample(m * k, seed=seed_int(eng_ss), forbidden=model.forbidden,
                                              fixed={j: np.repeat(c, k) for j, c in fixed.items()},
                                              allowed=plan.allowed, return_log_weights=True)
            logw = logw.reshape(m, k)
            if not np.isfinite(logw.max(axis=1)).all():
                raise ConditionError("the conditions cannot be met together under the learned data; relax them")
            w = np.exp(logw - logw.max(axis=1, keepdims=True))
            u = np.random.default_rng(pick_ss).random(m) * w.sum(axis=1)
            pick = np.minimum((np.cumsum(w, axis=1) < u[:, None]).sum(axis=1), k - 1)
            codes = codes.reshape(m, k, -1)[np.arange(m), pick]
        else:
            codes = model.engine.sample(m, seed=seed_int(eng_ss), forbidden=model.forbidden, fixed=fixed,
                                        allowed=plan.allowed)
        values = model.encoder.decode(codes, np.random.default_rng(dec_ss), plan.bounds)
        self.generate_columns(values, m, offset, np.random.default_rng(gen_ss))
        df = pd.DataFrame({name: values[name] for name in model.columns}, index=pd.RangeIndex(offset, offset + m))
        if model.constraints.formulas:
            model.constraints.apply_formulas(df, model.units)
        return df

    def generate_columns(self, values: dict[str, Any], m: int, offset: int, rng: np.random.Generator) -> None:
        person = None
        for name in self.model.columns:
            gen = self.generators.get(name)
            if gen is None:
                continue
            if isinstance(gen, FakerGenerator) and gen.group_ == "person":
                # One fake person per row across the name and email columns.
                if person is None:
                    person = gen.unique_positions(m, offset) if gen.unique_ else rng.integers(0, len(gen.pool_), m)
                values[name] = gen.generate_at(person, rng)
            else:
                values[name] = gen.generate(m, offset, rng)

    def enforce(self, df: pd.DataFrame, redraw: Any, ss: np.random.SeedSequence, seen: dict[int, set[Any]],
                restore: Any = None, share: tuple[int, int] | None = None) -> pd.DataFrame:
        model = self.model
        return model.constraints.enforce(df, model.units, redraw, model.kept_columns, seen,
                                         np.random.default_rng(ss), restore, stats=self.stats, share=share)

    # ------------------------------------------------------------------ boost
    def boosted_block(self, m: int, offset: int, ss: np.random.SeedSequence, plan: Plan, match_plan: Plan,
                      where: dict[str, Any], share: float, seen: dict[int, set[Any]],
                      key_share: tuple[int, int] | None = None) -> pd.DataFrame:
        """``round(share * m)`` rows matching ``where`` (conditional) and the rest not matching."""
        match_ss, rest_ss, mix_ss = ss.spawn(3)
        k = int(round(share * m))
        parts = [self.sample_chunk(k, offset, match_ss, match_plan, seen, key_share)] if k else []
        need, got, factor = m - k, 0, 1.05
        for rss in rest_ss.spawn(12):
            if got >= need:
                break
            # Rows that match are dropped; the draw grows with the share that matched so far.
            df = self.sample_chunk(int(math.ceil((need - got) * factor)) + 8, offset, rss, plan, seen, key_share)
            keep = ~row_matches(self.model, df, where)
            factor = min(100.0, 1.1 / max(float(keep.mean()), 0.01))
            df = df[keep].iloc[: need - got]
            parts.append(df)
            got += len(df)
        if got < need:
            raise ConditionError(f"nearly every generated row matches the boost predicate {where!r}; cannot keep "
                                 f"it to a share of {share:g}")
        out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        out = out.iloc[np.random.default_rng(mix_ss).permutation(m)].reset_index(drop=True)
        out.index = pd.RangeIndex(offset, offset + m)
        # Ids and unique fakes were drawn per part from the same offset: give the block its own run.
        kept = self.model.kept_columns
        if kept:
            values: dict[str, Any] = {}
            self.generate_columns(values, m, offset, np.random.default_rng(mix_ss.spawn(1)[0]))
            for name in kept:
                out[name] = values[name]
        return out

    # ------------------------------------------------------------------ seed rows
    def complete(self, seed_rows: pd.DataFrame, known: dict[int, tuple[np.ndarray, np.ndarray]], rows: np.ndarray,
                 seeds: list[np.random.SeedSequence]) -> pd.DataFrame:
        """Generate seed rows ``rows`` (positions, repeats allowed) around their given cells."""
        model = self.model
        m = len(rows)
        values = self.complete_values(known, rows, seeds)
        out = pd.DataFrame({name: values[name] for name in model.columns})
        restore_given(out, seed_rows, rows)
        if model.constraints.formulas:
            # A formula's column is computed where the seed row does not give it.
            computed = {f.column for f in model.constraints.formulas}
            given = np.zeros(m, dtype=bool)
            for name in computed & set(seed_rows.columns):
                given |= seed_rows[name].notna().to_numpy()[rows]
            model.constraints.apply_formulas(out, model.units, rows=np.flatnonzero(~given))
        return out

    def complete_values(self, known: dict[int, tuple[np.ndarray, np.ndarray]], rows: np.ndarray,
                        seeds: list[np.random.SeedSequence]) -> dict[str, Any]:
        """Decoded values of every column for seed rows ``rows``; given cells come back as the
        model decodes their codes (binned numbers drawn inside their bin), not as given."""
        model = self.model
        groups_ss, dec_ss, fill_ss = seeds
        m = len(rows)
        codes = _group_codes(model, known, rows, groups_ss)
        values = model.encoder.decode(codes, np.random.default_rng(dec_ss))
        self.generate_columns(values, m, 0, np.random.default_rng(fill_ss))
        return values


def _group_codes(model: FittedModel, known: dict[int, tuple[np.ndarray, np.ndarray]], rows: np.ndarray,
                 groups_ss: np.random.SeedSequence) -> np.ndarray:
    m = len(rows)
    # Rows that know the same sub-columns are sampled together, with those sub-columns first.
    subs = sorted(known)
    whole = np.array_equal(rows, np.arange(m))  # every row once, in order: views, not copies
    # Callers share one mask among many sub-columns (histories: every row knows its step's cells):
    # each distinct mask is checked once, and only a partly known sub-column stacks them all.
    distinct = {id(known[j][1]): known[j][1] for j in subs} if whole else {}
    if m and subs and whole and all(v[:m].all() for v in distinct.values()):
        known_mask = None
    else:
        known_mask = np.stack([known[j][1][:m] if whole else known[j][1][rows] for j in subs], axis=1) if subs \
            else np.zeros((m, 0), dtype=bool)
    if m and (known_mask is None or known_mask.all()):  # the common case, without sorting the masks
        patterns, group = np.ones((1, len(subs)), dtype=bool), np.zeros(m, dtype=np.int64)
    else:
        patterns, group = _mask_patterns(known_mask)
    group = group.reshape(-1)
    slices = model.encoder.slices  # (the subcolumns property builds every SubColumn)
    codes = np.empty((m, slices[-1].stop if slices else 0), dtype=np.int32)
    for gi, (pattern, gss) in enumerate(zip(patterns, groups_ss.spawn(len(patterns)), strict=True)):
        idx = np.flatnonzero(group == gi) if len(patterns) > 1 else np.arange(m)
        pick = idx if whole else rows[idx]
        fixed = {j: known[j][0][:m] if whole and len(patterns) == 1 else known[j][0][pick]
                 for j, k in zip(subs, pattern, strict=True) if k}
        codes[idx] = model.engine.sample_given(len(idx), seed=seed_int(gss), forbidden=model.forbidden, fixed=fixed)
    return codes


def _mask_patterns(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(mask, axis=0, return_inverse=True)`` of a bool matrix, faster: each row read as
    one integer, first column most significant, sorts as the rows do (False before True)."""
    if mask.shape[1] > 62:
        return np.unique(mask, axis=0, return_inverse=True)
    weights = np.left_shift(np.int64(1), np.arange(mask.shape[1] - 1, -1, -1, dtype=np.int64))
    keys, group = np.unique(mask.astype(np.int64) @ weights, return_inverse=True)
    return (keys[:, None] & weights[None, :]) != 0, group


def draw_codes(model: FittedModel, known: dict[int, tuple[np.ndarray, np.ndarray]], m: int, seed: int
               ) -> np.ndarray:
    """Codes of ``m`` rows drawn around the given codes ``known`` (as :func:`encode_seed_rows`
    gives them), undecoded: for callers that decode only the columns they read, and feed codes
    straight back as the next call's given cells (histories, step by step)."""
    require(model, "complete seed rows")
    groups_ss = np.random.SeedSequence([seed, SAMPLE_TAG, 2])
    masks = {id(mask): mask for _, mask in known.values()}  # callers share one mask among many
    if m and all(mask[:m].all() for mask in masks.values()):
        # Every row knows the same sub-columns (a history's step): :func:`_group_codes`'s one
        # group, without its per-call bookkeeping, which at a few hundred rows costs a share of
        # the engine call.
        fixed = {j: codes[:m] for j, (codes, _) in sorted(known.items())}
        gss = groups_ss.spawn(1)[0]
        codes = model.engine.sample_given(m, seed=seed_int(gss), forbidden=model.forbidden, fixed=fixed)
        return np.asarray(codes, dtype=np.int32)  # (_group_codes' dtype, whatever the engine's)
    return _group_codes(model, known, np.arange(m), groups_ss)


def restore_given(out: pd.DataFrame, seed_rows: pd.DataFrame, rows: np.ndarray) -> None:
    for name in seed_rows.columns:
        given = seed_rows[name].notna().to_numpy()[rows]
        if given.any():
            col = out[name].astype(object)
            col[given] = seed_rows[name].to_numpy(dtype=object)[rows][given]
            out[name] = col.astype(out[name].dtype) if not out[name].isna().any() or given.all() else col


# ---------------------------------------------------------------------- entry points
class BlockPlan:
    """The seeded blocks of one sampling call: block ``i`` depends on the model, ``n``, the seed,
    the steering arguments and ``i`` alone, so any process can draw any block.

    Building one checks every argument (conditions, rebalancing, boost, pool sizes). The plan is
    read-only afterwards; each drawing pass takes its own :meth:`new_run` for its per-call state.
    """

    def __init__(self, model: FittedModel, n: int, seed: int, *, conditions: dict[str, Any] | None = None,
                 rebalance: dict[str, dict[Any, float]] | None = None, boost: dict[str, Any] | None = None) -> None:
        self.model, self.n = model, n
        self.n_blocks = math.ceil(n / BLOCK)
        self.root = np.random.SeedSequence([int(seed), SAMPLE_TAG])
        gen_ss, plan_ss = child_seed(self.root, 0), child_seed(self.root, 1)  # blocks take children 2, 3, ...
        formulas = {f.column: f for f in model.constraints.formulas}
        computed = [c for c in (conditions or {}) if c in formulas]
        if computed:
            # Fit keeps identities that hold in every real row unasked, so the user may not know the rule.
            raise ConditionError(f"column {computed[0]!r} is computed by the rule "
                                 f"{formulas[computed[0]].describe()!r}; condition on the columns it is computed "
                                 f"from instead (or fit with infer_formulas=False if you did not declare it)")
        self.plan = make_plan(model, n, conditions, rebalance, np.random.default_rng(plan_ss))
        if self.plan.allowed or self.plan.fixed:
            require(model, "sample under conditions or rebalancing")
        _apply_constraint_ranges(model, self.plan, conditions)
        model.check_unique_pools(n)
        self.shares = key_shares(model, n)
        if n > BLOCK:
            check_key_space(model, n)
        self.gen_seed = seed_int(gen_ss)
        self.boost = None if boost is None else _boost_plan(model, boost, conditions, rebalance, n, plan_ss)

    def new_run(self) -> SamplingRun:
        """Fresh per-call state (prepared generators, statistics) for drawing blocks."""
        return SamplingRun(self.model, self.gen_seed, self.n)

    def block(self, run: SamplingRun, i: int, seen: dict[int, set[Any]]) -> pd.DataFrame:
        """Block ``i``: rows ``i * BLOCK`` up to the next block, indexed by row number.

        ``seen`` holds the keys of the blocks drawn before (``Unique`` rules on learned columns,
        over more than :data:`MAX_KEY_SHARES` blocks); up to that, block ``i`` keeps to share ``i``
        of their key space instead, and needs nobody's keys.
        """
        m, offset, ss = min(BLOCK, self.n - i * BLOCK), i * BLOCK, child_seed(self.root, i + 2)
        share = (i, self.shares) if self.shares > 1 else None
        if self.boost is not None:
            where, boost_share, match_plan = self.boost
            return run.boosted_block(m, offset, ss, self.plan, match_plan, where, boost_share, seen, share)
        return run.sample_chunk(m, offset, ss, self.plan, seen, share)


def iter_rows(model: FittedModel, n: int, seed: int, *, conditions: dict[str, Any] | None = None,
              rebalance: dict[str, dict[Any, float]] | None = None, boost: dict[str, Any] | None = None,
              chunk_size: int, progress: ProgressCallback | None = None,
              on_done: Callable[[dict[str, int]], None] | None = None) -> Iterator[pd.DataFrame]:
    """``n`` rows as chunks of ``chunk_size``; ``on_done`` receives the run's statistics at the end."""
    # Rows are drawn in fixed blocks with a seed each, then cut into chunks: the rows depend
    # on n and the seed only, never on the chunk size or on who runs the blocks.
    plan = BlockPlan(model, n, seed, conditions=conditions, rebalance=rebalance, boost=boost)
    runs: list[SamplingRun] = []
    workers = block_threads(model, plan.n_blocks, n)
    if workers > 1:
        blocks = _parallel_blocks(plan, workers, runs)
    else:
        runs.append(plan.new_run())
        seen: dict[int, set[Any]] = {}  # unique constraints: keys of the blocks already given out
        shared = needs_earlier_keys(model, n)  # else blocks keep to their shares: nothing to remember
        blocks = (plan.block(runs[0], i, seen if shared else {}) for i in range(plan.n_blocks))
    done = 0
    for chunk in rechunk(blocks, chunk_size):
        done += len(chunk)
        yield chunk
        report(progress, "sample", done, n)
    if on_done is not None:
        stats: dict[str, int] = {}
        for r in runs:
            for key, value in r.stats.items():
                stats[key] = stats.get(key, 0) + value
        on_done(stats)


def learned_unique(model: FittedModel) -> list[Any]:
    """The ``Unique`` rules on learned columns (ids and unique fakes are unique by row position)."""
    by_position = set(model.kept_columns)
    return [c for c in model.constraints.constraints if c.type == "unique" and not set(c.columns) & by_position]


def key_shares(model: FittedModel, n: int) -> int:
    """Into how many shares the key space of a learned ``Unique`` rule is split, one per block:
    1 for one block or no such rule, and 1 over more than :data:`MAX_KEY_SHARES` blocks, where
    blocks remember the keys of the blocks before them instead (:func:`needs_earlier_keys`)."""
    n_blocks = math.ceil(n / BLOCK)
    if n_blocks <= 1 or n_blocks > MAX_KEY_SHARES or not learned_unique(model):
        return 1
    return n_blocks


def needs_earlier_keys(model: FittedModel, n: int) -> bool:
    """Whether a block of an ``n``-row sample depends on the blocks before it: a ``Unique`` rule
    on learned columns over more than :data:`MAX_KEY_SHARES` blocks, met by remembering every
    earlier block's keys."""
    return math.ceil(n / BLOCK) > MAX_KEY_SHARES and bool(learned_unique(model))


def check_key_space(model: FittedModel, n: int) -> None:
    """Refuse ``n`` rows where a learned ``Unique`` rule's columns cannot take ``n`` distinct
    values (counted from what the encoders can decode), before any block is drawn."""
    for c in learned_unique(model):
        size = key_space(model, c.columns)
        if size is not None and size < n:
            raise ConstraintError(
                f"the rule {c.describe()!r} needs {n:,} distinct values, and the model can produce at most "
                f"{size:,} (the values it learned for {', '.join(c.columns)}); ask for at most {size:,} rows, "
                f"or make the column an 'id' so values are generated fresh")


def key_space(model: FittedModel, columns: list[str]) -> int | None:
    """How many distinct non-missing keys the model can decode for ``columns``; None where that is
    not countable or not bounded (a continuous number, a missing value, which never clashes)."""
    size = 1
    encoders = {e.name: (i, e) for i, e in enumerate(model.encoder.encoders)}
    for name in columns:
        if name not in encoders:
            return None  # a generated column (fakes without a uniqueness pool)
        i, enc = encoders[name]
        if getattr(enc, "has_na_", True):
            return None
        forbidden = model.forbidden[model.encoder.slices[i].start]
        if isinstance(enc, NumericEncoder):
            if enc.mode_ != "discrete":
                return None
            count = len(enc.values_)
        else:
            count = len(getattr(enc, "levels_", ()))
        size *= max(0, count - len(np.intersect1d(forbidden, np.arange(count))))
    return size


def block_threads(model: FittedModel, n_blocks: int, n: int | None = None) -> int:
    """How many blocks to draw side by side: the engine's ``n_threads`` (or the free cores), at
    most one per block; 1 where a block needs the keys of the blocks before it (``n``: the rows
    of the sample, ``n_blocks`` blocks' worth when not given)."""
    if n_blocks <= 1 or needs_earlier_keys(model, n_blocks * BLOCK if n is None else n):
        return 1
    threads = getattr(model.engine, "n_threads", None) or free_cores()
    return max(1, min(int(threads), n_blocks))


def _parallel_blocks(plan: BlockPlan, workers: int, runs: list[SamplingRun]) -> Iterator[pd.DataFrame]:
    """The plan's blocks in order, drawn by ``workers`` threads, one torch thread each.

    A block is seeded by its index alone, so which thread draws it changes nothing; at most
    ``workers + 1`` blocks are drawn ahead of the consumer, which bounds memory. Each thread
    keeps its own :class:`SamplingRun` (prepared generators, statistics), added to ``runs``.
    """
    local = threading.local()
    lock = threading.Lock()

    def draw(i: int) -> pd.DataFrame:
        run = getattr(local, "run", None)
        if run is None:
            run = local.run = plan.new_run()
            with lock:
                runs.append(run)
        with block_worker():
            return plan.block(run, i, {})

    pending: deque[Future[pd.DataFrame]] = deque()
    with keep_torch_threads(), ThreadPoolExecutor(workers, thread_name_prefix="datatwin-block") as pool:
        try:
            nxt = 0
            while nxt < plan.n_blocks or pending:
                while nxt < plan.n_blocks and len(pending) <= workers:
                    pending.append(pool.submit(draw, nxt))
                    nxt += 1
                yield pending.popleft().result()
        finally:
            for f in pending:  # the consumer stopped early or a block failed: draw no more
                f.cancel()


def complete_rows(model: FittedModel, seed_rows: pd.DataFrame, seed: int,
                  on_done: Callable[[dict[str, int]], None] | None = None) -> pd.DataFrame:
    """Keep the given cells of ``seed_rows``, generate the rest conditionally on them."""
    require(model, "complete seed rows")
    known = encode_seed_rows(model, seed_rows)
    m = len(seed_rows)
    model.check_unique_pools(m)
    ss = np.random.SeedSequence([seed, SAMPLE_TAG, 1])
    gen_ss, dec_ss, fill_ss, groups_ss = ss.spawn(4)
    run = SamplingRun(model, seed_int(gen_ss), m)
    out = run.complete(seed_rows, known, np.arange(m), [groups_ss, dec_ss, fill_ss])
    if model.constraints.checked:
        rounds = ss.spawn(1)[0].spawn(model.constraints.ROUNDS + 1)

        def redraw(rows: np.ndarray, k: int, rnd: int) -> pd.DataFrame:
            return run.complete(seed_rows, known, np.repeat(rows, k), rounds[rnd].spawn(3))

        def restore(df: pd.DataFrame) -> None:
            restore_given(df, seed_rows, np.arange(m))

        out = run.enforce(out, redraw, rounds[-1], {}, restore)
    if on_done is not None:
        on_done(run.stats)
    return out


def complete_codes(model: FittedModel, known: dict[int, tuple[np.ndarray, np.ndarray]], m: int,
                   seed: int) -> dict[str, Any]:
    """:func:`complete_rows` for callers that hold the given cells already encoded (see
    :func:`encode_seed_rows`) and read only the generated columns: ``{column: values}``.

    Generating histories step by step calls this once per step; it skips building and
    re-encoding a frame of given cells and writing them back. Models with checked constraints
    or formulas need the given cells themselves: use :func:`complete_rows` for them.
    """
    require(model, "complete seed rows")
    if model.constraints.checked or model.constraints.formulas:
        raise ConditionError("this model has constraints; complete its seed rows with complete_rows")
    model.check_unique_pools(m)
    ss = np.random.SeedSequence([seed, SAMPLE_TAG, 1])
    gen_ss, dec_ss, fill_ss, groups_ss = ss.spawn(4)
    run = SamplingRun(model, seed_int(gen_ss), m)
    return run.complete_values(known, np.arange(m), [groups_ss, dec_ss, fill_ss])


# ---------------------------------------------------------------------- plans
def _boost_plan(model: FittedModel, boost: Any, conditions: dict[str, Any] | None, rebalance: Any, n: int,
                ss: np.random.SeedSequence) -> tuple[dict[str, Any], float, Plan]:
    if not isinstance(boost, dict) or set(boost) != {"where", "share"} or not isinstance(boost["where"], dict) \
            or not boost["where"]:
        raise ConditionError("boost must be {'where': {column: value | [values] | (low, high)}, 'share': 0.3}")
    share = boost["share"]
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ConditionError(f"boost share must be a number in [0, 1], got {share!r}")
    if rebalance:
        raise ConditionError("boost and rebalance cannot be combined; use one of them")
    require(model, "boost rows")
    where = dict(boost["where"])
    both = sorted(set(where) & set(conditions or {}))
    if both:
        raise ConditionError(f"column {both[0]!r} is both in the conditions and in the boost predicate; "
                             f"put it in one of them")
    merged = {**(conditions or {}), **where}
    match_plan = make_plan(model, n, merged, None, np.random.default_rng(ss.spawn(1)[0]))
    _apply_constraint_ranges(model, match_plan, merged)
    return where, float(share), match_plan


def _apply_constraint_ranges(model: FittedModel, plan: Plan, conditions: dict[str, Any] | None) -> None:
    if not model.engine.can(CONDITIONS):
        return  # no conditional sampling there: the ranges are met by redrawing rows
    slices = model.encoder.slices
    for i, (masks, bounds, what) in model.constraint_masks.items():
        enc = model.encoder.encoders[i]
        name = enc.name
        start = slices[i].start
        if start not in plan.allowed and _kept_share(enc, bounds[1], bounds[2]) >= REDRAW_SHARE:
            # A range that keeps most rows is cheaper (and exact) by redrawing the few
            # that fall outside than as a condition, which costs importance resampling
            # (4x the rows) as soon as a second column is constrained.
            continue
        if start in plan.allowed:
            merged = [plan.allowed[start + k] & m for k, m in enumerate(masks)]
            old = plan.bounds.get(name)
            if old is not None and old[0] == "range":
                bounds = ("range", max(old[1], bounds[1]), min(old[2], bounds[2]))
            elif old is not None:
                vals = old[1]
                bounds = ("values", vals[(vals >= bounds[1]) & (vals <= bounds[2])])
            if not merged[0].any() or (bounds[0] == "values" and not len(bounds[1])) or \
                    (bounds[0] == "range" and bounds[1] > bounds[2]):
                raise ConditionError(f"the condition {name}={(conditions or {}).get(name)!r} and the constraint "
                                     f"{what!r} cannot both hold")
            masks = merged
        else:
            plan.n_constrained += 1
        for k, m in enumerate(masks):
            plan.allowed[start + k] = m
        plan.bounds[name] = bounds


def _kept_share(enc: Any, a: float, b: float) -> float:
    """Share of the training rows of a numeric column inside ``[a, b]`` (encoder units)."""
    assert isinstance(enc, NumericEncoder)
    if enc.mode_ == "discrete":
        counts = np.asarray(enc.counts_, dtype=np.float64)
        inside = (enc.values_ >= a) & (enc.values_ <= b)
        return float(counts[inside].sum() / max(counts.sum(), 1.0))
    # Bins hold equal counts: add up the part of each bin inside the range.
    width = enc.hi_ - enc.lo_
    overlap = np.minimum(enc.hi_, b) - np.maximum(enc.lo_, a)
    frac = np.where(width > 0, np.clip(overlap / np.where(width > 0, width, 1.0), 0.0, 1.0),
                    ((enc.lo_ >= a) & (enc.lo_ <= b)).astype(np.float64))
    return float(frac.mean())


MAX_ROWS = 10**11  # one call's row limit; DATATWIN_MAX_ROWS raises or lowers it


def check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise InputError(f"the number of rows must be a whole number, got {n!r}")
    if n <= 0:
        raise InputError(f"the number of rows must be positive, got {n}")
    limit = int(os.environ.get("DATATWIN_MAX_ROWS", MAX_ROWS))
    if n > limit:
        raise InputError(f"{n:,} rows is more than the limit of {limit:,} rows per call; ask for fewer (or set "
                         f"DATATWIN_MAX_ROWS to raise the limit)")
    return int(n)

