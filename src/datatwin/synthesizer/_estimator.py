"""The Synthesizer: learn a table, sample new rows, save and load the model."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import os
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ConditionError, InputError, NotFittedError
from .._params import InstanceOf, Interval, Options, validate_params
from .._privacy import DP, PrivacyLedger
from .._progress import ProgressCallback, report
from ..constraints import ConstraintSet, kept_identities, parse_constraints
from ..encoding import MODELLED_KINDS, ColumnEncoder, TableEncoder, make_encoder, measured_steps
from ..engines import DIFFERENTIAL_PRIVACY, ENGINES, SAME_AS, Engine, engines_that_can
from ..generators import ColumnGenerator, FakerGenerator, IdGenerator, build_fake_pools, make_generator
from ..io import ParquetSource, is_parquet_dataset, read_table, write_table_chunks
from ..metadata import ColumnMeta, Metadata
from ..sampling import BLOCK, FittedModel, check_constraints, check_n, complete_rows, iter_rows, seed_int, usable
from ._dask import sample_to_dask, sample_to_dataset
from ._persistence import read_model, save_model

__all__ = ["Synthesizer", "load"]

log = logging.getLogger("datatwin")

MIN_ROWS = 2
SMALL_TABLE_ROWS = 50  # below: "protected mode", columns learned independently (see fit)
# engine="auto" under DP: DP-SGD ARGN from this epsilon, or for tables wider than WIDE_COLUMNS;
# the marginal engine otherwise (BENCHMARKS.md, "Differential privacy on adult": at epsilon 3 and
# 10 DP-SGD keeps ML utility and fools the detector better, below it the marginal engine wins).
DPSGD_MIN_EPSILON = 3.0
WIDE_COLUMNS = 60
ROWS_SHARE = 0.005  # of a DP budget's rho: the noisy row count
DEFAULT_CHUNK = 100_000


class Synthesizer:
    """Learns a table and generates synthetic rows with the same statistics.

    Parameters:
        engine: ``"auto"`` (default: ``"argn"``, or under ``privacy`` the engine that suits the
            budget), ``"argn"`` (any-order autoregressive network, highest fidelity),
            ``"marginal"`` (a Bayesian network from noisy marginals; the engine for small ε) or
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
        privacy: a :class:`DP` budget ``DP(epsilon, delta)``: the model (and every sample drawn
            from it) is then (ε, δ)-differentially private with respect to the training rows.
            Value ranges and category lists come from the metadata (``min``, ``max``,
            ``categories``) or are measured with a share of ε; ids, fakes and text are generated
            without reading the data; fixed combinations must be declared. ``privacy_`` reports
            what was spent. See ``docs/privacy.md``.
        infer_formulas: keep the arithmetic identities (``c = a * b``, ``c = a + b``) that hold
            in every one of 50 or more real rows, without declaring them: each generated row then
            keeps them exactly (see :func:`datatwin.constraints.exact_formulas`). Not under
            ``privacy``, where the rules would be read from the rows; a declared rule that names
            the same column wins.
        max_fit_rows: the most rows held in memory when fitting on a Parquet file or folder: a
            larger dataset is streamed (never loaded whole); the columns' kinds, bins and
            categories are learned from a seeded uniform sample of this many rows, and the
            network from every row, batch by batch (engine "argn"; other engines learn the sample).

    Example:
        >>> import pandas as pd, datatwin
        >>> df = pd.DataFrame({"age": list(range(20, 70)) * 4, "smoker": ["yes", "no"] * 100})
        >>> syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(df)
        >>> out = syn.sample(5, seed=1)
        >>> list(out.columns), len(out)
        (['age', 'smoker'], 5)
    """

    def __init__(self, engine: str = "auto", *, random_state: int = 0, rare_threshold: int = 5,
                 max_categories: int = 1000, max_training_time: float = 600.0, locale: str = "en_US",
                 engine_options: dict[str, Any] | None = None, constraints: list[Any] | None = None,
                 privacy: DP | None = None, infer_formulas: bool = True, max_fit_rows: int = 1_000_000) -> None:
        self.engine = engine
        self.random_state = random_state
        self.rare_threshold = rare_threshold
        self.max_categories = max_categories
        self.max_training_time = max_training_time
        self.locale = locale
        self.engine_options = engine_options
        self.constraints = constraints
        self.privacy = privacy
        self.infer_formulas = infer_formulas
        self.max_fit_rows = max_fit_rows

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Parameter names, read from the ``__init__`` signature (the one place they are stated)."""
        return [p.name for p in inspect.signature(cls.__init__).parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters as set (scikit-learn's convention, so ``clone`` works).

        Example:
            >>> import datatwin
            >>> from sklearn.base import clone
            >>> syn = datatwin.Synthesizer(engine="copula", random_state=3)
            >>> clone(syn).get_params()["random_state"]
            3
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Synthesizer:
        """Set constructor parameters (checked at the next ``fit``); returns ``self``."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise InputError(f"Synthesizer has no parameter {name!r}; parameters: {valid}")
            setattr(self, name, value)
        return self

    # Allowed values per parameter, checked once in fit (scikit-learn's _parameter_constraints).
    _parameter_constraints: dict[str, list[Any]] = {
        "engine": [Options(str, {"auto", *ENGINES})],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "rare_threshold": [Interval(Integral, 0, None, closed="left")],
        "max_categories": [Interval(Integral, 1, None, closed="left")],
        "max_training_time": [Interval(Real, 0, None, closed="neither")],
        "locale": [str],
        "engine_options": [dict, None],
        "privacy": [InstanceOf(DP), None],
        "infer_formulas": [bool],
        "max_fit_rows": [Interval(Integral, 1, None, closed="left")],
        # "constraints" is checked by parse_constraints, which also names the malformed rule.
    }

    def _validate_params(self) -> None:
        validate_params("Synthesizer", self._parameter_constraints, self.get_params(deep=False))
        parse_constraints(self.constraints)
        if self.privacy is not None:
            self.privacy.check()
            if self.engine != "auto" and not ENGINES[self.engine].can(DIFFERENTIAL_PRIVACY):
                raise InputError(f"engine {self.engine!r} cannot train under a privacy budget; use one of "
                                 f"{engines_that_can(DIFFERENTIAL_PRIVACY)} or engine='auto'")

    def _engine_name(self, n_columns: int = 0) -> str:
        if self.engine != "auto":
            return self.engine
        if self.privacy is None:
            return "argn"
        # DP-SGD pays for every step of a network; the marginal engine spends its whole budget on
        # a few tables. Where DP-SGD can train an ARGN (large epsilon) it keeps more structure.
        if self.privacy.epsilon >= DPSGD_MIN_EPSILON or n_columns > WIDE_COLUMNS:
            return "argn"
        return "marginal"

    def _make_engine(self, n_columns: int = 0) -> Engine:
        cls = ENGINES[self._engine_name(n_columns)]
        opts = dict(self.engine_options or {})
        # The estimator's time budget reaches every engine that has one.
        if "max_training_time" in inspect.signature(cls.__init__).parameters:
            opts.setdefault("max_training_time", float(self.max_training_time))
        try:
            return cls(**opts)
        except TypeError as exc:
            raise InputError(f"engine_options for engine {cls.name!r} are not valid: {exc}") from None

    # ------------------------------------------------------------------ fitted state
    # Everything fit learns is one read-only FittedModel; these views keep the familiar names.
    def _check_fitted(self) -> FittedModel:
        try:
            return self.model_
        except AttributeError:
            raise NotFittedError("this Synthesizer is not fitted yet; call fit(data) first") from None

    engine_ = property(lambda self: self._check_fitted().engine, doc="The fitted engine.")
    table_encoder_ = property(lambda self: self._check_fitted().encoder, doc="The fitted encoders.")
    generators_ = property(lambda self: self._check_fitted().generators, doc="Columns generated fresh.")
    constraints_ = property(lambda self: self._check_fitted().constraints, doc="The bound constraints.")
    constraint_ranges_ = property(lambda self: self._check_fitted().constraint_ranges, doc="Ranges the rules impose.")
    metadata_ = property(lambda self: self._check_fitted().metadata, doc="The metadata the model was fitted with.")
    columns_ = property(lambda self: self._check_fitted().columns, doc="The output columns, in order.")
    privacy_ = property(lambda self: self._check_fitted().privacy,
                        doc="What a DP fit spent (epsilon, delta, split, accountant); None without privacy.")

    # ------------------------------------------------------------------ fit
    def fit(self, data: pd.DataFrame | str | os.PathLike[str], metadata: Metadata | dict[str, Any] | str |
            os.PathLike[str] | None = None, *, progress: ProgressCallback | None = None) -> Synthesizer:
        """Learn ``data`` (a DataFrame or a CSV/Parquet path).

        ``metadata`` overrides the inferred metadata for the columns it names (a
        :class:`Metadata`, its dict form, or a JSON file path). All or nothing: a fit that fails
        leaves a previously fitted model exactly as it was.
        """
        self._validate_params()
        stream: _Stream | None = None
        source = None
        if isinstance(data, (str, os.PathLike)) and is_parquet_dataset(data):
            if os.path.isdir(data):
                source = ParquetSource(data)
            else:
                # One file: counted from its footer; a small or unreadable one goes to read_table,
                # which reads it as before and says precisely what is wrong with it.
                with contextlib.suppress(InputError):
                    source = ParquetSource(data)
        if source is not None and isinstance(data, (str, os.PathLike)) and (
                os.path.isdir(data) or source.n_rows > self.max_fit_rows):
            if source.n_rows > self.max_fit_rows:
                if self.privacy is not None:
                    raise InputError(f"{str(data)!r} has {source.n_rows:,} rows, more than max_fit_rows="
                                     f"{self.max_fit_rows:,}; a differentially private fit needs every row in "
                                     f"memory: raise max_fit_rows or fit on a sample")
                stream = _Stream(source, int(self.max_fit_rows), int(self.random_state))
                df = stream.sample
            else:
                df = source.read()
        else:
            df = read_table(data) if isinstance(data, (str, os.PathLike)) else data
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"fit expects a pandas DataFrame or a file path, got {type(df).__name__}")
        _check_frame(df)
        meta = Metadata.infer(df)
        given: set[str] = set()
        if metadata is not None and not isinstance(metadata, (Metadata, dict, str, os.PathLike)):
            raise InputError(f"metadata must be a Metadata, its dict form or a JSON file path, got "
                             f"{type(metadata).__name__}; see datatwin.Metadata.infer(df).to_dict() for the form")
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
        engine = self._make_engine(df.shape[1])  # bad engine_options fail before any work

        dp = self.privacy
        inferred: list[str] = []
        if dp is not None:
            meta = _private_metadata(meta, given)
            # Only a number in a numeric dtype, or a bool, has a kind its dtype alone gives.
            inferred = [str(c) for c in df.columns if c not in given and not pd.api.types.is_bool_dtype(df[c])
                        and not (meta.columns[c].kind == "numeric" and pd.api.types.is_numeric_dtype(df[c]))]
            if inferred:
                log.warning("under differential privacy the schema is public, but the kind or format of %s was "
                            "read from the values; declare them in the metadata (datatwin inspect --json) to "
                            "keep the schema out of the data", inferred)
        report(progress, "analyse", 0, 1)
        encoders: list[ColumnEncoder] = []
        generators: dict[str, ColumnGenerator] = {}
        for name, col in meta.columns.items():
            if col.kind in MODELLED_KINDS:
                encoders.append(make_encoder(name, col, self.rare_threshold, self.max_categories))
            else:
                # Under DP a generated column learns nothing from its values (no missing rate,
                # no id format or start, no text lengths): it is fitted on no rows.
                generators[name] = make_generator(name, col, self.locale).fit(df[name].iloc[:0] if dp else df[name])
        rules = parse_constraints(meta.constraints) + parse_constraints(self.constraints)
        if self.infer_formulas and dp is None:
            rules += kept_identities(df, meta, rules)
        cset = ConstraintSet(rules)
        cset.bind(meta, set(generators))
        if dp is not None:
            _check_private_constraints(cset)
        table_encoder = TableEncoder(encoders, twins=engine.can(SAME_AS) and dp is None)
        ledger = None
        n_rows = len(df)
        eng_seed = seed_int(eng_ss)
        if dp is None:
            codes = table_encoder.fit_encode(df, enc_rng)
        else:
            # DP noise must be unpredictable: noise drawn from a known seed can be re-run by anyone
            # who holds the other rows, and subtracted. It comes from the OS's entropy, so a DP fit
            # is not reproducible (its samples, from the saved model, still are).
            noise = np.random.SeedSequence(dp.noise_seed)  # None: the OS's entropy
            enc_rng = np.random.default_rng(noise)
            eng_seed = int(noise.generate_state(1, dtype=np.uint64)[0]) >> 1
            hist, thresholded = measured_steps(encoders)
            delta = dp.resolve_delta()
            ledger = PrivacyLedger(float(dp.epsilon), delta, delta / 2 if thresholded else 0.0)
            total = ledger.total_rho()
            # The row count is measured too (neighbouring tables differ by one row): everything
            # that needs n (table totals, grids, the DP-SGD schedule, the stored count) uses this.
            n_rows = ledger.count_rows(len(df), ROWS_SHARE * total, enc_rng)
            rho_values = dp.value_share * total if hist else 0.0
            codes = table_encoder.fit_encode_private(df, enc_rng, ledger, rho_values)
        # Under DP the pools of fakes depend on the seed only (and, for unique fakes, which need
        # a pool as large as the table, on the noisy row count).
        unique_fakes = _unique_fakes(cset, generators)
        fake_source = df if dp is None else pd.DataFrame(index=range(n_rows if unique_fakes else 0),
                                                         columns=list(generators), dtype=object)
        build_fake_pools(fake_source, generators, int(self.random_state), self.locale, unique_fakes)
        if stream is not None:
            n_rows = stream.source.n_rows
        elif dp is None and len(df) < SMALL_TABLE_ROWS and codes.shape[1] > 1:
            # Protected mode: in a table this small a learned row is close to one real person's
            # row, so the engine learns each column alone (codes shuffled column by column) and
            # no combination of a person's values is reproduced beyond chance.
            log.warning("the table has only %d rows (< %d): columns are learned independently, so that "
                        "synthetic rows cannot copy real people; give at least %d rows to learn how columns "
                        "relate", len(df), SMALL_TABLE_ROWS, SMALL_TABLE_ROWS)
            codes = np.stack([enc_rng.permutation(codes[:, j]) for j in range(codes.shape[1])], axis=1)
        units = check_constraints(table_encoder, cset, meta)[0]  # a rule that excludes everything fails now
        # Under DP, constraints learn nothing from the rows (fixed combinations are declared).
        cset.learn(df if dp is None else df.iloc[:0], units, lambda name, value: usable(table_encoder, name, value))
        report(progress, "analyse", 1, 1)
        if stream is not None and hasattr(engine, "fit_stream"):
            val = stream.held_out(getattr(engine, "val_fraction", 0.1))
            engine.fit_stream(lambda: stream.codes(table_encoder), codes[val], n_rows - len(val),
                              table_encoder.subcolumns, seed=eng_seed, progress=progress)
        else:
            if stream is not None:
                log.warning("the %s engine learns from the %s-row sample of the %s rows (only 'argn' streams them)",
                            engine.name, f"{len(df):,}", f"{n_rows:,}")
            engine.fit(codes, table_encoder.subcolumns, seed=eng_seed, progress=progress,
                       **({} if ledger is None else {"privacy": ledger}))
        spent = None
        if ledger is not None:
            spent = ledger.spent()
            spent["engine"] = engine.name
            spent["schema_inferred_from_values"] = inferred
            if spent["epsilon"] > ledger.epsilon * (1 + 1e-9) or spent["delta"] > ledger.delta * (1 + 1e-9):
                raise AssertionError(f"privacy accounting overspent: {spent['epsilon']} > {ledger.epsilon}")
        model = FittedModel(table_encoder, generators, engine, cset, meta, [str(c) for c in df.columns],
                            int(self.random_state), privacy=spent)
        # Only now, with every step done, does the estimator change.
        self.model_ = model
        self.n_rows_ = n_rows
        return self

    # ------------------------------------------------------------------ sample
    def _check_seed(self, seed: Any) -> int:
        seed = self.random_state if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        return int(seed)

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

        Memory stays at one chunk or one block of 100,000 rows, whichever is larger. Each call
        keeps its own state, so generators from one model can be interleaved or run in threads.
        A ``progress`` callback gets a final ``"constraints"`` event with the run's counts (rows
        checked, broken on the first draw, redrawn, repaired) when the model has constraints.
        """
        model = self._check_fitted()
        n = check_n(n)
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        seed = self._check_seed(seed)
        yield from iter_rows(model, n, seed, conditions=conditions, rebalance=rebalance, boost=boost,
                             chunk_size=chunk_size, progress=progress, on_done=_stats_reporter(model, progress))

    def _sample_seed_rows(self, seed_rows: pd.DataFrame, n: int | None, seed: int | None = None) -> pd.DataFrame:
        """Keep the given cells of ``seed_rows``, generate the rest conditionally on them."""
        model = self._check_fitted()
        if n is not None and n != len(seed_rows):
            raise InputError(f"n={n} but {len(seed_rows)} seed rows were given; leave n out")
        check_n(len(seed_rows))
        return complete_rows(model, seed_rows, self.random_state if seed is None else seed)

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
        model = self._check_fitted()
        if not isinstance(changes, dict) or not changes:
            raise InputError("what_if needs changes: {column: function or {value: share}}")
        unknown = [c for c in changes if c not in model.columns]
        if unknown:
            raise ConditionError(f"what_if names column(s) {unknown} that the model does not have; "
                                 f"columns: {model.columns}")
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
                       boost: dict[str, Any] | None = None, escape_formulas: bool = True) -> int:
        """Stream ``n`` rows into a CSV or Parquet file (atomic: no partial file on failure).

        In CSV files, text cells a spreadsheet would run as formulas (``=``, ``+``, ``-``, ``@``)
        get a leading ``'``; ``escape_formulas=False`` writes them as they are. The file's size is
        estimated from the first chunk: if the disk cannot hold it, nothing is written
        (:class:`OutputError`).
        """
        chunks = self.iter_sample(n, seed=seed, chunk_size=chunk_size, progress=progress, conditions=conditions,
                                  rebalance=rebalance, boost=boost)
        return write_table_chunks((c.reset_index(drop=True) for c in chunks), path, escape_formulas=escape_formulas,
                                  expected_rows=n)

    # ------------------------------------------------------------------ Dask (the [dask] extra)
    def sample_to_dask(self, n: int, *, seed: int | None = None, conditions: dict[str, Any] | None = None,
                       rebalance: dict[str, dict[Any, float]] | None = None, boost: dict[str, Any] | None = None,
                       partition_size: int = BLOCK) -> Any:
        """``n`` rows as a lazy ``dask.dataframe.DataFrame``: nothing is drawn until it is computed.

        Partition ``k`` holds rows ``k * partition_size`` onward (the index is the row number) and
        is drawn wherever Dask runs it, from the seed and its rows alone, so the result is byte
        for byte ``sample(n, seed=seed, ...)`` whatever the scheduler, the number of workers or
        ``partition_size``. Rows are drawn in seeded blocks of 100,000: a multiple of that (the
        default is one block) draws each block once; a smaller size draws a block for every
        partition that touches it. Workers receive the model as the bytes of its model file (no
        pickled objects) and load it once. Needs the optional extra: ``pip install 'datatwin[dask]'``.

        Example:
            >>> import pandas as pd, datatwin
            >>> df = pd.DataFrame({"age": list(range(20, 70)) * 4, "smoker": ["yes", "no"] * 100})
            >>> syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(df)
            >>> ddf = syn.sample_to_dask(1000, seed=1, partition_size=250)
            >>> ddf.npartitions
            4
            >>> ddf.compute().equals(syn.sample(1000, seed=1))
            True
        """
        return sample_to_dask(self, n, seed=seed, conditions=conditions, rebalance=rebalance, boost=boost,
                              partition_size=partition_size)

    def sample_to_dataset(self, n: int, folder: str | os.PathLike[str], *, seed: int | None = None,
                          scheduler: Any = None, conditions: dict[str, Any] | None = None,
                          rebalance: dict[str, dict[Any, float]] | None = None,
                          boost: dict[str, Any] | None = None, partition_size: int = BLOCK,
                          format: str = "parquet", progress: ProgressCallback | None = None) -> int:
        """Draw ``n`` rows on a Dask cluster into a partitioned dataset ``folder/part-000000.parquet``, ...

        Each worker draws its parts and writes them itself (so the workers and this process must
        share the folder: one machine, or a shared file system). Parts are byte for byte the same
        whatever the number of workers, and together they are ``sample(n, seed=seed, ...)``.

        The run resumes: each part is written atomically, and ``folder/_datatwin_manifest.json``
        records the model's digest, ``n``, the seed, the sizes and the finished parts. Running
        the same call again after a crash (even ``kill -9``) draws only the missing parts; a
        call for another model, ``n``, seed or arguments into the same folder is refused.

        Parameters:
            scheduler: a ``distributed.Client``; a scheduler address such as
                ``"tcp://host:8786"``; ``"local:4"`` for a local cluster of 4 single-threaded
                worker processes; or ``None`` for the client already running in this process.
            partition_size: rows per part (default: one seeded block, 100,000 rows).
            format: ``"parquet"`` (default) or ``"csv"`` (formula-like cells escaped, as in
                :meth:`sample_to_file`).
            progress: receives ``"sample"`` events as parts finish anywhere on the cluster.

        ``Unique`` rules on learned columns hold across workers up to 1,600,000 rows (16 blocks):
        each block keeps to its own hash share of the key space, at about one extra draw per
        block for each row (docs/design.md); above, they are refused, since each block would need
        the keys of every earlier one. Ids and unique fakes are unique by row position and need
        nothing shared. Returns the number of rows.

        Example:
            >>> import pandas as pd, datatwin, tempfile, os, distributed
            >>> df = pd.DataFrame({"age": list(range(20, 70)) * 4, "smoker": ["yes", "no"] * 100})
            >>> syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(df)
            >>> out = os.path.join(tempfile.mkdtemp(), "sample")
            >>> with distributed.Client(processes=False, n_workers=1, dashboard_address=None) as client:
            ...     syn.sample_to_dataset(1000, out, seed=1, scheduler=client, partition_size=400)
            1000
            >>> sorted(os.listdir(out))
            ['_datatwin_manifest.json', 'part-000000.parquet', 'part-000001.parquet', 'part-000002.parquet']
        """
        return sample_to_dataset(self, n, folder, seed=seed, scheduler=scheduler, conditions=conditions,
                                 rebalance=rebalance, boost=boost, partition_size=partition_size, format=format,
                                 progress=progress)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (JSON + safetensors in a zip; no training rows, no pickle)."""
        save_model(path, self.get_params(), self._check_fitted(), self.n_rows_)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Synthesizer:
        """Read a model written by :meth:`save`."""
        params, model, n_rows = read_model(path, check_params=cls._check_loaded_params)
        syn = cls(**params)
        syn.model_, syn.n_rows_ = model, n_rows
        return syn

    @classmethod
    def _check_loaded_params(cls, params: dict[str, Any]) -> None:
        """A model file's estimator parameters (untrusted): known names and allowed values."""
        unknown = sorted(set(params) - set(cls._get_param_names()))
        if unknown:
            raise InputError(f"unknown parameter(s) {unknown}")
        # privacy is stored as its dict form (checked when it is rebuilt), not a DP object.
        validate_params("Synthesizer", {k: v for k, v in cls._parameter_constraints.items() if k != "privacy"},
                        params)
        parse_constraints(params.get("constraints"))

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults.get(k))
        return f"Synthesizer({args})"


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


def _stats_reporter(model: FittedModel, progress: ProgressCallback | None) -> Any:
    if progress is None or not model.constraints.checked:
        return None
    return lambda stats: report(progress, "constraints", 1, 1, **stats)


def _unique_fakes(cset: ConstraintSet, generators: dict[str, ColumnGenerator]) -> set[str]:
    """Faker columns under a uniqueness rule (a rule that includes an id holds anyway)."""
    out: set[str] = set()
    for c in cset.constraints:
        if c.type == "unique" and not any(isinstance(generators.get(n), IdGenerator) for n in c.columns):
            out |= {n for n in c.columns if isinstance(generators.get(n), FakerGenerator)}
    return out


def _private_metadata(meta: Metadata, given: set[str]) -> Metadata:
    """Under DP, what inference read from the values of a column the metadata does not declare is
    replaced by what its dtype alone says: whole numbers only for an integer dtype, no rounding
    to inferred decimals, and a constant column learned as a category (its one value came from
    the rows, so it must pass the noisy threshold like any other value). Kinds and date formats
    inferred from values stay (there is no dtype-only answer for them): the fit's privacy report
    lists those columns, and a warning says to declare them."""
    cols = {}
    for name, col in meta.columns.items():
        if name in given:
            cols[name] = col
        elif col.kind == "constant":
            cols[name] = ColumnMeta("categorical", dtype=col.dtype)
        elif col.kind == "numeric":
            cols[name] = dataclasses.replace(col, integer=col.dtype.lower().startswith(("int", "uint")),
                                             decimals=None)
        else:
            cols[name] = col
    return Metadata(cols, meta.primary_key, meta.sequence_key, meta.sequence_order, list(meta.constraints))


def _check_private_constraints(cset: ConstraintSet) -> None:
    for c in cset.constraints:
        if c.type == "fixed_combinations" and getattr(c, "combinations", None) is None:
            raise InputError(f"{c.describe()}: under differential privacy the allowed combinations cannot be "
                             f"read from the data; list them (combinations=[...]) or drop the rule")


def _check_frame(df: pd.DataFrame) -> None:
    if df.shape[1] == 0:
        raise InputError("the table has no columns")
    dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if dupes:
        raise InputError(f"the table has duplicate column names {dupes}; rename them to be unique")
    if len(df) < MIN_ROWS:
        raise InputError(f"the table has {len(df)} row(s); datatwin needs at least {MIN_ROWS} rows to learn from")


STREAM_BATCH = 1 << 18  # rows read, encoded and trained on at a time when a dataset is streamed
STREAM_TAG = 0x57E  # mixed into the sample's seed, so it never shares a stream with fit's others


class _Stream:
    """A Parquet dataset too large to load: a seeded uniform sample of ``k`` rows (read in one
    pass; it fits the encoders and metadata), and passes over the rows as codes for the engine.

    Rows of the sample held out for validation are left out of the passes, so the validation
    loss is measured on rows the network never trains on.
    """

    def __init__(self, source: ParquetSource, k: int, seed: int) -> None:
        self.source = source
        self.rng = np.random.default_rng([seed, STREAM_TAG])
        self.rows = _uniform_rows(self.rng, source.n_rows, k)
        self.sample = source.take(self.rows)
        self.val_rows = np.zeros(0, dtype=np.int64)

    def held_out(self, share: float) -> np.ndarray:
        """Positions in the sample of the rows held out of training (and remembers them)."""
        n_val = int(round(len(self.rows) * share))
        pos = np.sort(self.rng.permutation(len(self.rows))[:n_val])
        self.val_rows = self.rows[pos]
        return pos

    def codes(self, encoder: TableEncoder) -> Iterator[np.ndarray]:
        """One pass over the training rows, encoded, one batch at a time."""
        for start, frame in self.source.frames(STREAM_BATCH):
            keep = ~np.isin(np.arange(start, start + len(frame)), self.val_rows, assume_unique=True)
            if keep.any():
                yield encoder.encode(frame[keep] if not keep.all() else frame)


def _uniform_rows(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``k`` distinct row numbers below ``n``, sorted, uniform over all such sets, in O(k) memory
    (``rng.choice(n, k, replace=False)`` may permute all ``n``).

    Distinct numbers drawn with replacement are a uniform random set given their count, and a
    uniform ``k``-subset of it is then uniform among all ``k``-subsets.
    """
    if 2 * k >= n:
        return np.sort(rng.permutation(n)[:k])
    m = k
    while True:
        got = np.unique(rng.integers(0, n, size=int(m * 1.3) + 64))
        if len(got) >= k:
            return np.sort(rng.choice(got, size=k, replace=False))
        m *= 2
