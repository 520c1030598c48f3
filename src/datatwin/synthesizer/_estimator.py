"""The Synthesizer: learn a table, sample new rows, save and load the model."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ConditionError, InputError, ModelFileError, NotFittedError
from .._progress import ProgressCallback, report
from .._version import __version__
from ..constraints import ConstraintError, ConstraintSet, Units, parse_constraints, value_key
from ..encoding import MODELLED_KINDS, CategoricalEncoder, ColumnEncoder, NumericEncoder, TableEncoder, make_encoder
from ..engines import ENGINES, Engine
from ..generators import ColumnGenerator, FakerGenerator, IdGenerator, build_fake_pools, make_generator
from ..io import read_model_file, read_table, write_model_file, write_table_chunks
from ..metadata import Metadata
from ..sampling import CANDIDATES, Plan, encode_seed_rows, make_plan, row_matches

__all__ = ["Synthesizer", "load"]

log = logging.getLogger("datatwin")

MIN_ROWS = 2
DEFAULT_CHUNK = 100_000
BLOCK = 100_000  # rows per seeded block (output chunks are cut from blocks)
REDRAW_SHARE = 0.8  # constraint ranges keeping at least this share of rows are met by redrawing
_SAMPLE_TAG = 0x5A3


def _seed_int(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint32)[0])


class Synthesizer:
    """Learns a table and generates synthetic rows with the same statistics.

    Parameters:
        engine: ``"argn"`` (default; any-order autoregressive network, highest fidelity) or
            ``"copula"`` (Gaussian copula; fastest, weakest).
        random_state: seed for every random choice of ``fit`` (and the default seed of ``sample``).
            The same data and seed give the same model file and the same samples, byte for byte.
        rare_threshold: categories seen in fewer rows are never reproduced, and numbers beyond
            the ``rare_threshold``-th smallest/largest value are clipped to it.
        max_categories: most frequent levels kept per categorical column; the rest share the
            rare bucket, so memory does not grow with the category count.
        max_training_time: wall-clock budget for training, in seconds.
        locale: Faker locale for PII and text columns.
        engine_options: extra parameters for the engine (e.g. ``{"max_epochs": 50}``).
        constraints: rules every generated row satisfies, added to those in the metadata:
            :class:`Inequality`, :class:`Range`, :class:`FixedCombinations`, :class:`Formula`,
            :class:`Unique`, :class:`Regex`, their dict form, or text such as
            ``"start_date <= end_date"`` and ``"total = price * quantity"``.

    Example:
        >>> import pandas as pd, datatwin
        >>> df = pd.DataFrame({"age": list(range(20, 70)) * 4, "smoker": ["yes", "no"] * 100})
        >>> syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(df)
        >>> out = syn.sample(5, seed=1)
        >>> list(out.columns), len(out)
        (['age', 'smoker'], 5)
    """

    def __init__(self, engine: str = "argn", *, random_state: int = 0, rare_threshold: int = 5,
                 max_categories: int = 1000, max_training_time: float = 600.0, locale: str = "en_US",
                 engine_options: dict[str, Any] | None = None, constraints: list[Any] | None = None) -> None:
        self.engine = engine
        self.random_state = random_state
        self.rare_threshold = rare_threshold
        self.max_categories = max_categories
        self.max_training_time = max_training_time
        self.locale = locale
        self.engine_options = engine_options
        self.constraints = constraints

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        return {"engine": self.engine, "random_state": self.random_state, "rare_threshold": self.rare_threshold,
                "max_categories": self.max_categories, "max_training_time": self.max_training_time,
                "locale": self.locale, "engine_options": dict(self.engine_options or {}),
                "constraints": None if self.constraints is None else list(self.constraints)}

    def _validate_params(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(f"The 'engine' parameter of Synthesizer must be one of {sorted(ENGINES)}. "
                             f"Got {self.engine!r} instead.")
        for name, lo in (("random_state", 0), ("rare_threshold", 0), ("max_categories", 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
                raise InputError(f"The {name!r} parameter of Synthesizer must be an int in [{lo}, inf). "
                                 f"Got {value!r} instead.")
        if not isinstance(self.max_training_time, (int, float)) or self.max_training_time <= 0:
            raise InputError("The 'max_training_time' parameter of Synthesizer must be a number > 0. "
                             f"Got {self.max_training_time!r} instead.")
        if self.engine_options is not None and not isinstance(self.engine_options, dict):
            raise InputError("The 'engine_options' parameter of Synthesizer must be a dict or None.")
        parse_constraints(self.constraints)

    def _make_engine(self) -> Engine:
        cls = ENGINES[self.engine]
        opts = dict(self.engine_options or {})
        if self.engine == "argn":
            opts.setdefault("max_training_time", float(self.max_training_time))
        try:
            return cls(**opts)
        except TypeError as exc:
            raise InputError(f"engine_options for engine {self.engine!r} are not valid: {exc}") from None

    # ------------------------------------------------------------------ fit
    def fit(self, data: pd.DataFrame | str | os.PathLike[str], metadata: Metadata | dict[str, Any] | str |
            os.PathLike[str] | None = None, *, progress: ProgressCallback | None = None) -> Synthesizer:
        """Learn ``data`` (a DataFrame or a CSV/Parquet path).

        ``metadata`` overrides the inferred metadata for the columns it names (a
        :class:`Metadata`, its dict form, or a JSON file path).
        """
        self._validate_params()
        df = read_table(data) if isinstance(data, (str, os.PathLike)) else data
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"fit expects a pandas DataFrame or a file path, got {type(df).__name__}")
        _check_frame(df)
        meta = Metadata.infer(df)
        given: set[str] = set()
        if metadata is not None:
            override = Metadata.load(metadata) if isinstance(metadata, (str, os.PathLike)) else metadata
            override = Metadata.from_dict(override) if isinstance(override, dict) else override
            meta = meta.update(override)
            given = set(override.columns)
        for name in df.columns:
            if df[name].isna().all() and name not in given:
                raise InputError(f"column {name!r} is entirely missing, so there is nothing to learn; drop it, "
                                 f"or declare it {{\"kind\": \"constant\"}} in the metadata to keep it empty")
        ss = np.random.SeedSequence(int(self.random_state))
        enc_ss, eng_ss = ss.spawn(2)
        enc_rng = np.random.default_rng(enc_ss)

        report(progress, "analyse", 0, 1)
        encoders: list[ColumnEncoder] = []
        generators: dict[str, ColumnGenerator] = {}
        for name, col in meta.columns.items():
            if col.kind in MODELLED_KINDS:
                encoders.append(make_encoder(name, col, self.rare_threshold, self.max_categories))
            else:
                generators[name] = make_generator(name, col, self.locale).fit(df[name])
        cset = ConstraintSet(parse_constraints(meta.constraints) + parse_constraints(self.constraints))
        cset.bind(meta, set(generators))
        build_fake_pools(df, generators, int(self.random_state), self.locale, _unique_fakes(cset, generators))
        self.table_encoder_ = TableEncoder(encoders, twins=self.engine != "copula")
        codes = self.table_encoder_.fit_encode(df, enc_rng)
        self.generators_ = generators
        self.metadata_ = meta
        self.columns_ = [str(c) for c in df.columns]
        self.n_rows_ = len(df)
        self._bind_constraints(cset)
        cset.learn(df, self._units(), self._usable)
        report(progress, "analyse", 1, 1)
        self.engine_ = self._make_engine().fit(codes, self.table_encoder_.subcolumns, seed=_seed_int(eng_ss),
                                               progress=progress)
        return self

    # ------------------------------------------------------------------ constraints
    def _units(self) -> Units:
        return Units(self.metadata_, {e.name: e.unit_ for e in self.table_encoder_.encoders
                                       if isinstance(e, NumericEncoder)})

    def _bind_constraints(self, cset: ConstraintSet) -> None:
        """Keep the constraints and the ranges they impose on the learned domain (checked now)."""
        domain = {}
        for e in self.table_encoder_.encoders:
            if isinstance(e, NumericEncoder):
                domain[e.name] = (e.clip_[0] * e.seconds_per_unit, e.clip_[1] * e.seconds_per_unit)
        self.constraints_ = cset
        self.constraint_ranges_ = cset.conditions(self._units(), domain)
        self._constraint_masks()  # an empty range fails at fit time, not at the first sample
        self._forbidden()  # so does a pattern that no learned category matches

    def _constraint_masks(self) -> dict[int, tuple[list[np.ndarray], Any, str]]:
        """Encoder index -> (allowed codes, decode bounds, description) for each constraint range."""
        out = {}
        names = [e.name for e in self.table_encoder_.encoders]
        for name, (lo, hi) in self.constraint_ranges_.items():
            i = names.index(name)
            enc = self.table_encoder_.encoders[i]
            assert isinstance(enc, NumericEncoder)
            a, b = lo / enc.seconds_per_unit, hi / enc.seconds_per_unit
            what = f"{enc.show(a) + ' <= ' if math.isfinite(a) else ''}{name}" \
                   f"{' <= ' + enc.show(b) if math.isfinite(b) else ''}"
            try:
                masks = enc.masks_for(("range", a, b), True, what)
            except ConditionError:
                masks = [np.zeros(1, dtype=bool)]
            # Only the value codes count, not missing or "same as" codes after them.
            n_values = self.table_encoder_.subcolumns[self.table_encoder_.slices[i].start].n_values
            if not masks[0][:n_values].any():
                lo_, hi_ = enc.clip_
                raise ConstraintError(f"constraint {what!r} excludes every value the model learned for {name!r} "
                                      f"({enc.show(lo_)} to {enc.show(hi_)}); widen it")
            out[i] = (masks, ("range", a, b), what)
        return out

    def _usable(self, name: str, value: Any) -> bool:
        """Whether the model can generate ``value`` in column ``name`` (rare levels cannot)."""
        for e in self.table_encoder_.encoders:
            if e.name != name:
                continue
            if value_key(value) is None:
                return True
            if isinstance(e, CategoricalEncoder):
                return value_key(value) in {value_key(v) for v in e.levels_}
            try:
                v = float(value)
            except (TypeError, ValueError):
                return True
            assert isinstance(e, NumericEncoder)
            return bool(e.clip_[0] <= v <= e.clip_[1])
        return True

    def _apply_constraint_ranges(self, plan: Plan, conditions: dict[str, Any] | None) -> None:
        if self.engine_.name == "copula":
            return  # no conditional sampling there: the ranges are met by redrawing rows
        slices = self.table_encoder_.slices
        for i, (masks, bounds, what) in self._constraint_masks().items():
            enc = self.table_encoder_.encoders[i]
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

    def _forbidden(self) -> list[np.ndarray]:
        """Codes never drawn: rare levels, and levels that break a pattern constraint."""
        forbidden = self.table_encoder_.forbidden()
        slices = self.table_encoder_.slices
        for c in self.constraints_.constraints:
            if getattr(c, "type", "") != "regex":
                continue
            for i, e in enumerate(self.table_encoder_.encoders):
                if e.name == c.columns[0] and isinstance(e, CategoricalEncoder):
                    pattern = re.compile(c.pattern)  # type: ignore[attr-defined]
                    bad = [k for k, level in enumerate(e.levels_) if not pattern.fullmatch(str(level))]
                    if e.levels_ and len(bad) == len(e.levels_):
                        raise ConstraintError(f"constraint {c.describe()!r}: none of the values the model learned "
                                              f"for {e.name!r} matches (e.g. {e.levels_[0]!r}); fix the pattern")
                    j = slices[i].start
                    forbidden[j] = np.union1d(forbidden[j], np.asarray(bad, dtype=np.int64)).astype(np.int64)
        return forbidden

    def _kept_columns(self) -> list[str]:
        """Columns a redraw never replaces: ids and unique fakes, which are unique by position."""
        return [n for n, g in self.generators_.items()
                if isinstance(g, IdGenerator) or (isinstance(g, FakerGenerator) and g.unique_)]

    def _check_unique_pools(self, n: int) -> None:
        for name, g in self.generators_.items():
            if isinstance(g, FakerGenerator) and g.unique_ and n > len(g.pool_):
                raise ConstraintError(f"column {name!r} must be unique, and the model holds {len(g.pool_):,} "
                                      f"distinct fakes for it (two per training row); ask for at most that many "
                                      f"rows, or fit on more rows")

    def _enforce(self, df: pd.DataFrame, redraw: Any, ss: np.random.SeedSequence, seen: dict[int, set[Any]],
                 restore: Any = None) -> pd.DataFrame:
        keep = self._kept_columns()
        return self.constraints_.enforce(df, self._units(), redraw, keep, seen, np.random.default_rng(ss), restore)

    # ------------------------------------------------------------------ sample
    def _check_fitted(self) -> None:
        if not hasattr(self, "engine_"):
            raise NotFittedError("this Synthesizer is not fitted yet; call fit(data) first")

    def sample(self, n: int | None = None, *, seed: int | pd.DataFrame | None = None,
               conditions: dict[str, Any] | None = None, rebalance: dict[str, dict[Any, float]] | None = None,
               boost: dict[str, Any] | None = None, chunk_size: int = DEFAULT_CHUNK,
               progress: ProgressCallback | None = None) -> pd.DataFrame:
        """Generate ``n`` synthetic rows (same columns, order and dtypes as the training data).

        Parameters:
            n: number of rows.
            seed: random seed (default ``random_state``): the same seed gives the same rows, byte
                for byte, whatever ``chunk_size``. A DataFrame instead gives *seed rows*: their
                non-missing cells are kept and the rest generated conditionally (imputation);
                ``n`` then defaults to its length.
            conditions: ``{column: value | [values] | (low, high)}``; every row satisfies them
                (ranges inclusive, ``None`` for an open end). Impossible conditions raise
                :class:`ConditionError` at once.
            boost: ``{"where": {column: value | [values] | (low, high)}, "share": 0.3}`` makes
                exactly that share of rows match the ``where`` predicate (a rare event made
                common, or 0 to remove it); matching rows are sampled conditionally, the others
                are drawn so that they do not match.
            rebalance: ``{column: {value: share}}`` sets a categorical column's mix; other
                columns follow it conditionally; unnamed values keep their relative shares.

        Example:
            >>> import pandas as pd, datatwin
            >>> df = pd.DataFrame({"age": list(range(20, 70)) * 6, "plan": ["a", "b", "c"] * 100})
            >>> syn = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 2}).fit(df)
            >>> out = syn.sample(50, conditions={"plan": "b", "age": (30, 40)})
            >>> bool(out["plan"].eq("b").all() and out["age"].between(30, 40).all())
            True
        """
        if isinstance(seed, pd.DataFrame):
            return self._sample_seed_rows(seed, n)
        if n is None:
            raise InputError("sample needs the number of rows n (or seed rows as a DataFrame)")
        chunks = list(self.iter_sample(n, seed=seed, conditions=conditions, rebalance=rebalance, boost=boost,
                                       chunk_size=chunk_size, progress=progress))
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def iter_sample(self, n: int, *, seed: int | None = None, conditions: dict[str, Any] | None = None,
                    rebalance: dict[str, dict[Any, float]] | None = None, boost: dict[str, Any] | None = None,
                    chunk_size: int = DEFAULT_CHUNK, progress: ProgressCallback | None = None
                    ) -> Iterator[pd.DataFrame]:
        """Generate ``n`` rows as DataFrame chunks of ``chunk_size`` rows.

        Memory stays at one chunk or one block of 100,000 rows, whichever is larger.
        """
        self._check_fitted()
        n = _check_n(n)
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        seed = self._check_seed(seed)
        # Rows are drawn in fixed blocks with a seed each, then cut into chunks: the rows depend
        # on n and the seed only, never on the chunk size or on who runs the blocks.
        n_blocks = math.ceil(n / BLOCK)
        root = np.random.SeedSequence([int(seed), _SAMPLE_TAG])
        gen_ss, plan_ss, *block_ss = root.spawn(n_blocks + 2)
        computed = [c for c in (conditions or {}) if c in {f.column for f in self.constraints_.formulas}]
        if computed:
            raise ConditionError(f"column {computed[0]!r} is computed by a formula constraint; condition on the "
                                 f"columns it is computed from instead")
        plan = make_plan(self, n, conditions, rebalance, np.random.default_rng(plan_ss))
        if (plan.allowed or plan.fixed) and self.engine_.name == "copula":
            raise ConditionError("the copula engine cannot sample under conditions or rebalancing; "
                                 "fit with engine='argn'")
        self._apply_constraint_ranges(plan, conditions)
        self._check_unique_pools(n)
        gen_seed = _seed_int(gen_ss)
        for g in self.generators_.values():
            g.prepare(gen_seed, n)
        forbidden = self._forbidden()
        seen: dict[int, set[Any]] = {}  # unique constraints: keys of the blocks already given out
        if boost is not None:
            where, share, match_plan = self._boost_plan(boost, conditions, rebalance, n, plan_ss)
            blocks = (self._boosted_block(min(BLOCK, n - i * BLOCK), i * BLOCK, bss, forbidden, plan, match_plan,
                                          where, share, seen) for i, bss in enumerate(block_ss))
        else:
            blocks = (self._sample_chunk(min(BLOCK, n - i * BLOCK), i * BLOCK, bss, forbidden, plan, seen)
                      for i, bss in enumerate(block_ss))
        done = 0
        for chunk in _rechunk(blocks, chunk_size):
            done += len(chunk)
            yield chunk
            report(progress, "sample", done, n)

    def _boost_plan(self, boost: Any, conditions: dict[str, Any] | None, rebalance: Any, n: int,
                    ss: np.random.SeedSequence) -> tuple[dict[str, Any], float, Plan]:
        if not isinstance(boost, dict) or set(boost) != {"where", "share"} or not isinstance(boost["where"], dict) \
                or not boost["where"]:
            raise ConditionError("boost must be {'where': {column: value | [values] | (low, high)}, 'share': 0.3}")
        share = boost["share"]
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConditionError(f"boost share must be a number in [0, 1], got {share!r}")
        if rebalance:
            raise ConditionError("boost and rebalance cannot be combined; use one of them")
        if self.engine_.name == "copula":
            raise ConditionError("the copula engine cannot boost rows; fit with engine='argn'")
        where = dict(boost["where"])
        both = sorted(set(where) & set(conditions or {}))
        if both:
            raise ConditionError(f"column {both[0]!r} is both in the conditions and in the boost predicate; "
                                 f"put it in one of them")
        merged = {**(conditions or {}), **where}
        match_plan = make_plan(self, n, merged, None, np.random.default_rng(ss.spawn(1)[0]))
        self._apply_constraint_ranges(match_plan, merged)
        return where, float(share), match_plan

    def _boosted_block(self, m: int, offset: int, ss: np.random.SeedSequence, forbidden: list[np.ndarray],
                       plan: Plan, match_plan: Plan, where: dict[str, Any], share: float,
                       seen: dict[int, set[Any]]) -> pd.DataFrame:
        """``round(share * m)`` rows matching ``where`` (conditional) and the rest not matching."""
        match_ss, rest_ss, mix_ss = ss.spawn(3)
        k = int(round(share * m))
        parts = [self._sample_chunk(k, offset, match_ss, forbidden, match_plan, seen)] if k else []
        need, got, factor = m - k, 0, 1.05
        for rss in rest_ss.spawn(12):
            if got >= need:
                break
            # Rows that match are dropped; the draw grows with the share that matched so far.
            df = self._sample_chunk(int(math.ceil((need - got) * factor)) + 8, offset, rss, forbidden, plan, seen)
            keep = ~row_matches(self, df, where)
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
        kept = self._kept_columns()
        if kept:
            values: dict[str, Any] = {}
            self._generate_columns(values, m, offset, np.random.default_rng(mix_ss.spawn(1)[0]))
            for name in kept:
                out[name] = values[name]
        return out

    def _check_seed(self, seed: Any) -> int:
        seed = self.random_state if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        return int(seed)

    def _sample_chunk(self, m: int, offset: int, ss: np.random.SeedSequence, forbidden: list[np.ndarray],
                      plan: Plan | None = None, seen: dict[int, set[Any]] | None = None) -> pd.DataFrame:
        plan = plan or Plan()
        # Children 0-3 draw the rows; child 4 (spawned only when needed) redraws broken ones.
        fixed = plan.fixed_slice(offset, offset + m)
        df = self._draw(m, offset, fixed, plan, forbidden, ss.spawn(4))
        if not self.constraints_.checked:
            return df
        rounds = ss.spawn(1)[0].spawn(self.constraints_.ROUNDS + 1)

        def redraw(rows: np.ndarray, k: int, rnd: int) -> pd.DataFrame:
            f = {j: np.repeat(c[rows], k) for j, c in fixed.items()}
            return self._draw(len(rows) * k, offset, f, plan, forbidden, rounds[rnd].spawn(4))

        seen = {} if seen is None else seen
        df = self._enforce(df, redraw, rounds[-1], seen)
        self.constraints_.remember(df, seen)
        return df

    def _draw(self, m: int, offset: int, fixed: dict[int, np.ndarray], plan: Plan, forbidden: list[np.ndarray],
              seeds: list[np.random.SeedSequence]) -> pd.DataFrame:
        """``m`` rows: codes from the engine, decoded, generated columns filled, formulas computed."""
        eng_ss, dec_ss, gen_ss, pick_ss = seeds
        if plan.weighted:
            # Importance resampling: a few candidates per row, one kept in proportion to the
            # probability mass its constraints kept.
            k = CANDIDATES
            codes, logw = self.engine_.sample(m * k, seed=_seed_int(eng_ss), forbidden=forbidden,
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
            codes = self.engine_.sample(m, seed=_seed_int(eng_ss), forbidden=forbidden, fixed=fixed,
                                        allowed=plan.allowed)
        values = self.table_encoder_.decode(codes, np.random.default_rng(dec_ss), plan.bounds)
        self._generate_columns(values, m, offset, np.random.default_rng(gen_ss))
        df = pd.DataFrame({name: values[name] for name in self.columns_}, index=pd.RangeIndex(offset, offset + m))
        if self.constraints_.formulas:
            self.constraints_.apply_formulas(df, self._units())
        return df

    def _generate_columns(self, values: dict[str, Any], m: int, offset: int, rng: np.random.Generator) -> None:
        person = None
        for name in self.columns_:
            gen = self.generators_.get(name)
            if gen is None:
                continue
            if isinstance(gen, FakerGenerator) and gen.group_ == "person":
                # One fake person per row across the name and email columns.
                if person is None:
                    person = gen.unique_positions(m, offset) if gen.unique_ else rng.integers(0, len(gen.pool_), m)
                values[name] = gen.generate_at(person, rng)
            else:
                values[name] = gen.generate(m, offset, rng)

    def _sample_seed_rows(self, seed_rows: pd.DataFrame, n: int | None, seed: int | None = None) -> pd.DataFrame:
        """Keep the given cells of ``seed_rows``, generate the rest conditionally on them."""
        self._check_fitted()
        if n is not None and n != len(seed_rows):
            raise InputError(f"n={n} but {len(seed_rows)} seed rows were given; leave n out")
        _check_n(len(seed_rows))
        if self.engine_.name == "copula":
            raise ConditionError("the copula engine cannot complete seed rows; fit with engine='argn'")
        known = encode_seed_rows(self, seed_rows)
        m = len(seed_rows)
        self._check_unique_pools(m)
        ss = np.random.SeedSequence([self.random_state if seed is None else seed, _SAMPLE_TAG, 1])
        gen_ss, dec_ss, fill_ss, groups_ss = ss.spawn(4)
        for g in self.generators_.values():
            g.prepare(_seed_int(gen_ss), m)
        forbidden = self._forbidden()
        out = self._complete(seed_rows, known, np.arange(m), forbidden, [groups_ss, dec_ss, fill_ss])
        if not self.constraints_.checked:
            return out
        rounds = ss.spawn(1)[0].spawn(self.constraints_.ROUNDS + 1)

        def redraw(rows: np.ndarray, k: int, rnd: int) -> pd.DataFrame:
            return self._complete(seed_rows, known, np.repeat(rows, k), forbidden, rounds[rnd].spawn(3))

        def restore(df: pd.DataFrame) -> None:
            self._restore_given(df, seed_rows, np.arange(m))

        return self._enforce(out, redraw, rounds[-1], {}, restore)

    def _complete(self, seed_rows: pd.DataFrame, known: dict[int, tuple[np.ndarray, np.ndarray]], rows: np.ndarray,
                  forbidden: list[np.ndarray], seeds: list[np.random.SeedSequence]) -> pd.DataFrame:
        """Generate seed rows ``rows`` (positions, repeats allowed) around their given cells."""
        groups_ss, dec_ss, fill_ss = seeds
        m = len(rows)
        # Rows that know the same sub-columns are sampled together, with those sub-columns first.
        subs = sorted(known)
        known_mask = np.stack([known[j][1][rows] for j in subs], axis=1) if subs else np.zeros((m, 0), dtype=bool)
        patterns, group = np.unique(known_mask, axis=0, return_inverse=True)
        group = group.reshape(-1)
        codes = np.empty((m, len(self.table_encoder_.subcolumns)), dtype=np.int32)
        for gi, (pattern, gss) in enumerate(zip(patterns, groups_ss.spawn(len(patterns)), strict=True)):
            idx = np.flatnonzero(group == gi)
            fixed = {j: known[j][0][rows[idx]] for j, k in zip(subs, pattern, strict=True) if k}
            codes[idx] = self.engine_.sample(len(idx), seed=_seed_int(gss), forbidden=forbidden, fixed=fixed)
        values = self.table_encoder_.decode(codes, np.random.default_rng(dec_ss))
        self._generate_columns(values, m, 0, np.random.default_rng(fill_ss))
        out = pd.DataFrame({name: values[name] for name in self.columns_})
        self._restore_given(out, seed_rows, rows)
        if self.constraints_.formulas:
            # A formula's column is computed where the seed row does not give it.
            computed = {f.column for f in self.constraints_.formulas}
            given = np.zeros(m, dtype=bool)
            for name in computed & set(seed_rows.columns):
                given |= seed_rows[name].notna().to_numpy()[rows]
            self.constraints_.apply_formulas(out, self._units(), rows=np.flatnonzero(~given))
        return out

    @staticmethod
    def _restore_given(out: pd.DataFrame, seed_rows: pd.DataFrame, rows: np.ndarray) -> None:
        for name in seed_rows.columns:
            given = seed_rows[name].notna().to_numpy()[rows]
            if given.any():
                col = out[name].astype(object)
                col[given] = seed_rows[name].to_numpy(dtype=object)[rows][given]
                out[name] = col.astype(out[name].dtype) if not out[name].isna().any() or given.all() else col

    def what_if(self, n: int, changes: dict[str, Any], *, seed: int | None = None) -> pd.DataFrame:
        """Simulate a change to some columns and let its effect flow through the learned relations.

        ``n`` rows are generated as usual; each changed column is then transformed (``changes``
        maps a column to a function of its values, e.g. ``lambda s: s * 1.1``, or to a
        ``{value: share}`` mix for a category); finally every other column is regenerated
        conditionally on the changed ones, so what depends on them moves with them.

        Example:
            >>> import numpy as np, pandas as pd, datatwin
            >>> rng = np.random.default_rng(0)
            >>> hours = rng.integers(20, 60, 2000)
            >>> df = pd.DataFrame({"hours": hours, "pay": hours * 25 + rng.integers(0, 50, 2000)})
            >>> syn = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 30}).fit(df)
            >>> base = syn.sample(2000, seed=1)
            >>> more = syn.what_if(2000, {"hours": lambda s: s + 10}, seed=1)
            >>> bool(more["pay"].mean() > base["pay"].mean() + 100)
            True
        """
        self._check_fitted()
        if not isinstance(changes, dict) or not changes:
            raise InputError("what_if needs changes: {column: function or {value: share}}")
        unknown = [c for c in changes if c not in self.columns_]
        if unknown:
            raise ConditionError(f"what_if names column(s) {unknown} that the model does not have; "
                                 f"columns: {self.columns_}")
        mixes = {c: v for c, v in changes.items() if isinstance(v, dict)}
        base = self.sample(n, seed=seed, rebalance=mixes or None)
        fixed = pd.DataFrame(index=base.index)
        for col, change in changes.items():
            if isinstance(change, dict):
                fixed[col] = base[col]
            elif callable(change):
                new = change(base[col])
                if not isinstance(new, pd.Series) or len(new) != len(base):
                    raise InputError(f"what_if change for {col!r} must return a Series of the same length")
                fixed[col] = new
            else:
                raise InputError(f"what_if change for {col!r} must be a function or a {{value: share}} mapping")
        self_seed = self._check_seed(seed)
        return self._sample_seed_rows(fixed.reset_index(drop=True), None, seed=self_seed)

    def sample_to_file(self, n: int, path: str | os.PathLike[str], *, seed: int | None = None,
                       chunk_size: int = DEFAULT_CHUNK, progress: ProgressCallback | None = None,
                       conditions: dict[str, Any] | None = None,
                       rebalance: dict[str, dict[Any, float]] | None = None,
                       boost: dict[str, Any] | None = None) -> int:
        """Stream ``n`` rows into a CSV or Parquet file (atomic: no partial file on failure)."""
        chunks = self.iter_sample(n, seed=seed, chunk_size=chunk_size, progress=progress, conditions=conditions,
                                  rebalance=rebalance, boost=boost)
        return write_table_chunks((c.reset_index(drop=True) for c in chunks), path)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (JSON + safetensors in a zip; no training rows, no pickle)."""
        self._check_fitted()
        arrays: dict[str, np.ndarray] = {}
        encoders = []
        for i, enc in enumerate(self.table_encoder_.encoders):
            state, arr = enc.get_state()
            encoders.append({"name": enc.name, "type": enc.kind, "state": state})
            arrays.update({f"enc.{i}.{k}": v for k, v in arr.items()})
        eng_state, eng_arrays = self.engine_.get_state()
        arrays.update({f"engine.{k}": v for k, v in eng_arrays.items()})
        params = self.get_params()
        if params["constraints"] is not None:
            params["constraints"] = [c.to_dict() for c in parse_constraints(params["constraints"])]
        manifest = {
            "datatwin_version": __version__,
            "params": params,
            "metadata": self.metadata_.to_dict(),
            "columns": self.columns_,
            "n_rows": self.n_rows_,
            "encoders": encoders,
            "generators": {name: g.get_state() for name, g in self.generators_.items()},
            "constraints": self.constraints_.get_state(),
            "engine": {"name": self.engine_.name, "params": self.engine_.get_params(), "state": eng_state},
        }
        write_model_file(path, _jsonable(manifest), arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Synthesizer:
        """Read a model written by :meth:`save`."""
        manifest, arrays = read_model_file(path)
        try:
            return cls._from_manifest(manifest, arrays)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ModelFileError(f"{str(path)!r} is not a consistent datatwin model "
                                 f"({type(exc).__name__}: {exc}); re-create it with 'datatwin fit'") from None

    @classmethod
    def _from_manifest(cls, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> Synthesizer:
        syn = cls(**manifest["params"])
        syn.metadata_ = Metadata.from_dict(manifest["metadata"])
        syn.columns_ = list(manifest["columns"])
        syn.n_rows_ = int(manifest["n_rows"])
        encoders: list[ColumnEncoder] = []
        for i, e in enumerate(manifest["encoders"]):
            meta = syn.metadata_.columns[e["name"]]
            prefix = f"enc.{i}."
            arr = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            enc_cls: type[ColumnEncoder] = {"categorical": CategoricalEncoder, "numeric": NumericEncoder}[e["type"]]
            encoders.append(enc_cls.from_state(e["name"], meta, e["state"], arr))
        syn.table_encoder_ = TableEncoder(encoders)
        syn.generators_ = {}
        for name, state in manifest["generators"].items():
            g = make_generator(name, syn.metadata_.columns[name], syn.locale)
            g.set_state(state)
            syn.generators_[name] = g
        try:
            cset = ConstraintSet.from_state(manifest.get("constraints", {"constraints": []}), syn.metadata_,
                                            set(syn.generators_))
            syn._bind_constraints(cset)
        except ConstraintError as exc:
            raise ModelFileError(f"the model's constraints are inconsistent: {exc}") from None
        eng_info = manifest["engine"]
        if eng_info["name"] not in ENGINES:
            raise ModelFileError(f"model uses engine {eng_info['name']!r}, which this datatwin does not have")
        engine = ENGINES[eng_info["name"]](**eng_info["params"])
        eng_arrays = {k[len("engine."):]: v for k, v in arrays.items() if k.startswith("engine.")}
        try:
            engine.set_state(syn.table_encoder_.subcolumns, eng_info["state"], eng_arrays)
        except InputError as exc:
            raise ModelFileError(f"the model's engine state is inconsistent: {exc}") from None
        syn.engine_ = engine
        return syn

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v != _DEFAULTS.get(k))
        return f"Synthesizer({args})"


_DEFAULTS = {"engine": "argn", "random_state": 0, "rare_threshold": 5, "max_categories": 1000,
             "max_training_time": 600.0, "locale": "en_US", "engine_options": {}, "constraints": None}


def load(path: str | os.PathLike[str]) -> Synthesizer:
    """Load a model file written by :meth:`Synthesizer.save`.

    Example:
        >>> import pandas as pd, datatwin, tempfile, os
        >>> df = pd.DataFrame({"x": [1.5, 2.0, 3.25] * 10})
        >>> path = os.path.join(tempfile.mkdtemp(), "m.dtw")
        >>> datatwin.Synthesizer(engine="copula").fit(df).save(path)
        >>> datatwin.load(path).sample(2).shape
        (2, 1)
    """
    return Synthesizer.load(path)


def _unique_fakes(cset: ConstraintSet, generators: dict[str, ColumnGenerator]) -> set[str]:
    """Faker columns under a uniqueness rule (a rule that includes an id holds anyway)."""
    out: set[str] = set()
    for c in cset.constraints:
        if c.type == "unique" and not any(isinstance(generators.get(n), IdGenerator) for n in c.columns):
            out |= {n for n in c.columns if isinstance(generators.get(n), FakerGenerator)}
    return out


def _kept_share(enc: ColumnEncoder, a: float, b: float) -> float:
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


def _rechunk(blocks: Iterator[pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    """Re-cut a stream of frames into frames of ``size`` rows (the last may be shorter)."""
    buf: list[pd.DataFrame] = []
    have = start = 0
    for block in blocks:
        buf.append(block)
        have += len(block)
        while have >= size:
            joined = pd.concat(buf) if len(buf) > 1 else buf[0]
            out, rest = joined.iloc[:size], joined.iloc[size:]
            out.index = pd.RangeIndex(start, start + size)
            yield out
            start += size
            buf, have = ([rest] if len(rest) else []), len(rest)
    if have:
        out = pd.concat(buf) if len(buf) > 1 else buf[0]
        out.index = pd.RangeIndex(start, start + have)
        yield out


def _check_frame(df: pd.DataFrame) -> None:
    if df.shape[1] == 0:
        raise InputError("the table has no columns")
    dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if dupes:
        raise InputError(f"the table has duplicate column names {dupes}; rename them to be unique")
    if len(df) < MIN_ROWS:
        raise InputError(f"the table has {len(df)} row(s); datatwin needs at least {MIN_ROWS} rows to learn from")


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise InputError(f"the number of rows must be a whole number, got {n!r}")
    if n <= 0:
        raise InputError(f"the number of rows must be positive, got {n}")
    return int(n)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
