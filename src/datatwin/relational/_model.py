"""The multi-table synthesizer: every table of a database, keys intact, children from parents.

How a database is modelled (see docs/relational.md for the why):

- Tables are learned and generated parents first (:meth:`Schema.order`).
- Each table is one single-table :class:`~datatwin.Synthesizer` over its non-key columns. A
  parent's frame also holds, per child relationship, the number of children of each row
  (``__n.<child>.<fk>``) and for a sequence child its first time (``__start.<child>``): the child
  counts are learned jointly with the parent's attributes, so they follow them.
- A child table has one *context* parent (the foreign key with the most children per parent,
  or the sequence key): its frame starts with that parent's columns (``ctx.*``), and it is
  sampled by completing seed rows that hold the synthetic parent row, repeated once per child
  the parent was given. Other foreign keys are *matched*: each synthetic parent row is used
  as often as its own learned count for that key says, in random order.
- A sequence table is generated step by step (see ``_sequence``).
- Keys are never learned: primary keys are numbered afresh, foreign keys point to the new
  parent keys, so integrity holds by construction. Composite keys made of foreign keys are
  made unique by re-matching (then dropping) duplicate pairs. Self-references and one nullable
  key per cycle are filled after every table exists.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterator
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError, NotFittedError
from .._params import Interval, Options, validate_params
from .._progress import report
from ..constraints import kept_identities, parse_constraints
from ..encoding import MODELLED_KINDS
from ..engines import ENGINES
from ..metadata import Metadata
from ..synthesizer import Synthesizer
from ._dates import (
    anchor_of,
    date_columns,
    dates_from_days,
    day_resolution,
    days,
    distance_plan,
    fit_window,
    grid_start,
    in_window,
)
from ._discover import read_folder
from ._schema import ENTITY, ForeignKey, Schema, key_values
from ._sequence import (
    Completer,
    _from_time,
    _to_time,
    format_index,
    generate_histories,
    index_times,
    keep_month_ends,
    sequence_frame,
    sequence_plan,
)
from ._sql import is_url, read_database

__all__ = ["DatabaseSynthesizer", "read_source"]

log = logging.getLogger("datatwin")

BLOCK_ROWS = 100_000  # seed rows completed per call: memory follows the block, not the table
SHARD_ROWS = 250_000  # rows (all tables) per shard of a generated database: memory follows the shard


def read_source(source: Any, schema: Schema | dict[str, Any] | str | os.PathLike[str] | None = None
                ) -> tuple[Schema, dict[str, pd.DataFrame]]:
    """Frames and schema from a database URL, a folder of CSV/Parquet files, or ``{name: DataFrame}``."""
    if isinstance(schema, (str, os.PathLike)):
        schema = Schema.load(schema)
    elif isinstance(schema, dict):
        schema = Schema.from_dict(schema)
    if isinstance(source, dict):
        frames = {str(k): v for k, v in source.items()}
        if schema is None:
            from ._discover import detect_schema

            schema = detect_schema(frames)
        return schema, frames
    if isinstance(source, (str, os.PathLike)) and is_url(str(source)):
        found, frames = read_database(str(source), tables=list(schema.tables) if schema else None)
        if schema is not None:
            # The given schema wins, but keeps what the database knows about nullability.
            return schema, frames
        return found, frames
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        return read_folder(source, schema)
    raise InputError(f"{source!r} is neither a database URL, a folder of tables nor a dict of DataFrames")


def _count_col(fk: ForeignKey) -> str:
    return f"__n.{fk.name}"


def _start_col(fk: ForeignKey) -> str:
    return f"__start.{fk.name}"


class DatabaseSynthesizer:
    """Learns every table of a database and generates a synthetic one with the same keys and shape.

    Parameters:
        engine: single-table engine for each table (``"argn"``, the default, is the one that
            conditions children on their parents; ``"copula"`` also works, with weaker links).
        random_state: seed of every random choice; the same data and seed give the same model
            and the same database.
        engine_options: options for each table's engine, e.g. ``{"max_epochs": 50}``.
        max_training_time: wall-clock budget per table, in seconds.
        max_context_columns: most parent columns a child sees as context.
        rare_threshold: as for :class:`~datatwin.Synthesizer`.
        constraints: rules per table that every generated row keeps, as for
            :class:`~datatwin.Synthesizer`, e.g. ``{"loan": ["amount = duration * payments"]}``
            (``datatwin inspect`` suggests those that hold in every real row). Not for a sequence
            table, whose steps are generated by change.
        infer_formulas: keep each table's arithmetic identities that hold in every real row
            (loan amount = duration * payments) without declaring them, as for
            :class:`~datatwin.Synthesizer`. Not for a sequence table.

    Example:
        >>> import pandas as pd, datatwin
        >>> users = pd.DataFrame({"user_id": range(1, 41), "plan": ["free", "pro"] * 20})
        >>> orders = pd.DataFrame({"order_id": range(1, 81), "user_id": list(range(1, 41)) * 2,
        ...                        "amount": [10.0, 99.0] * 40})
        >>> db = datatwin.DatabaseSynthesizer(random_state=0, engine_options={"max_epochs": 2})
        >>> out = db.fit({"users": users, "orders": orders}).sample(scale=0.5)
        >>> len(out["users"]), bool(out["orders"]["user_id"].isin(out["users"]["user_id"]).all())
        (20, True)
    """

    def __init__(self, engine: str = "argn", *, random_state: int = 0, engine_options: dict[str, Any] | None = None,
                 max_training_time: float = 600.0, max_context_columns: int = 20, rare_threshold: int = 5,
                 constraints: dict[str, list[Any]] | None = None, infer_formulas: bool = True) -> None:
        self.engine = engine
        self.random_state = random_state
        self.engine_options = engine_options
        self.max_training_time = max_training_time
        self.max_context_columns = max_context_columns
        self.rare_threshold = rare_threshold
        self.constraints = constraints
        self.infer_formulas = infer_formulas

    _parameter_constraints: dict[str, list[Any]] = {
        "engine": [Options(str, set(ENGINES))],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "engine_options": [dict, None],
        "max_training_time": [Interval(Real, 0, None, closed="neither")],
        "max_context_columns": [Interval(Integral, 0, None, closed="left")],
        "rare_threshold": [Interval(Integral, 0, None, closed="left")],
        "constraints": [dict, None],
        "infer_formulas": [bool],
    }

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def set_params(self, **params: Any) -> DatabaseSynthesizer:
        for k, v in params.items():
            if k not in self.get_params():
                raise InputError(f"{type(self).__name__} has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def _synth(self, seed: int, constraints: list[Any] | None = None) -> Synthesizer:
        return Synthesizer(self.engine, random_state=seed, engine_options=self.engine_options,
                           max_training_time=self.max_training_time, rare_threshold=self.rare_threshold,
                           constraints=constraints or None, infer_formulas=False)

    def _table_constraints(self, schema: Schema) -> dict[str, list[Any]]:
        """``constraints`` checked against the schema: known tables, no sequence table."""
        rules = {str(t): parse_constraints(v) for t, v in (self.constraints or {}).items()}
        for t in rules:
            if t not in schema.tables:
                raise InputError(f"constraints name table {t!r}, which is not in the database "
                                 f"(tables: {', '.join(sorted(schema.tables))})")
            if schema.tables[t].sequence_key:
                raise InputError(f"constraints on {t!r}: a sequence table's steps are generated by change, "
                                 f"so rules between its columns cannot be kept; drop them")
        return rules

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any, schema: Schema | dict[str, Any] | str | os.PathLike[str] | None = None, *,
            progress: Any = None) -> DatabaseSynthesizer:
        """Learn a database: a URL (``sqlite:///x.db``), a folder of tables, or ``{name: DataFrame}``.

        ``schema`` gives or overrides the keys (a :class:`Schema`, its dict form or a JSON file);
        without it they are read from the database or detected. Fails before any training if the
        keys do not fit the data (missing parent, orphan rows, cycle, empty table).
        """
        validate_params(type(self).__name__, self._parameter_constraints, self.get_params())
        schema, frames = read_source(data, schema)
        schema.validate(frames)
        rules = self._table_constraints(schema)
        if self.infer_formulas:
            _add_identities(schema, frames, rules)
        frames, schema = _with_entities(schema, frames)
        deferred = schema.deferred()
        order = schema.order()
        plans: dict[str, dict[str, Any]] = {}
        context: dict[str, ForeignKey | None] = {}
        # The context parent of each table: the sequence key, else the key with most children
        # per parent (its count distribution is the one worth learning jointly with the child).
        for t in order:
            ts = schema.tables[t]
            cands = [fk for fk in schema.parents_of(t) if fk not in deferred]
            seq_fk = [fk for fk in cands if ts.sequence_key and fk.columns == [ts.sequence_key]]
            if seq_fk:
                context[t] = seq_fk[0]
            elif cands:
                def fanout(fk: ForeignKey, t: str = t) -> float:
                    n_children = float(key_values(frames[t], fk.columns).notna().sum())
                    return n_children / max(1, len(frames[fk.parent_table]))
                context[t] = max(cands, key=fanout)
            else:
                context[t] = None
        if any(ts.sequence_key and context[t] is None for t, ts in schema.tables.items()):
            bad = next(t for t, ts in schema.tables.items() if ts.sequence_key and context[t] is None)
            raise InputError(f"sequence key {bad}.{schema.tables[bad].sequence_key} must be a foreign key "
                             f"(or the table must stand alone)")
        # Parent-side columns: children per parent row, and the first time of a sequence child.
        frames_in: dict[str, pd.DataFrame] = {}
        start_anchor: dict[str, dict[str, str]] = {}  # per parent: the date each sequence child starts from
        for t in order:
            ts = schema.tables[t]
            keys = set(ts.primary_key) | {c for fk in schema.parents_of(t) for c in fk.columns}
            base = frames[t].drop(columns=[c for c in frames[t].columns if c in keys])
            extra: dict[str, Any] = {}
            own_dates: dict[str, np.ndarray] | None = None
            pkv = key_values(frames[t], schema.tables[t].primary_key) if ts.primary_key else None
            for fk in schema.children_of(t):
                if pkv is None:
                    continue
                child = frames[fk.table]
                ck = key_values(child, fk.columns)
                extra[_count_col(fk)] = pkv.map(ck.value_counts()).fillna(0).astype(int).to_numpy()
                cts = schema.tables[fk.table]
                if cts.sequence_key and fk.columns == [cts.sequence_key] and context.get(fk.table) == fk:
                    plan_tmp = sequence_plan(child, fk.table, cts.sequence_key, cts.sequence_index, set())
                    from ._sequence import _from_time

                    tt = pd.Series(_to_time(child[cts.sequence_index], plan_tmp["index_kind"]))
                    first = tt.groupby(ck.to_numpy()).min()
                    start = pkv.map(first).to_numpy(float)
                    anchor = None
                    if plan_tmp["index_kind"] == "datetime":
                        if own_dates is None:
                            own_dates = {c: days(base[c]) for c in date_columns(base)}
                        anchor = anchor_of(start, own_dates)
                    if anchor is not None:
                        # A history that starts on (or a steady time after) one of the parent's
                        # own dates, e.g. an account's first transaction on its opening day, is
                        # learned as days after that date: learned as a date of its own, it drifts
                        # from it and transactions come before their account exists.
                        extra[_start_col(fk)] = start - own_dates[anchor]
                        start_anchor.setdefault(t, {})[fk.name] = anchor
                    else:
                        extra[_start_col(fk)] = _from_time(start, plan_tmp["index_kind"]).to_numpy()
            frames_in[t] = pd.concat([base.reset_index(drop=True), pd.DataFrame(extra)], axis=1)
        ss = np.random.SeedSequence(int(self.random_state))
        seeds = [int(s.generate_state(1)[0] % (2**31)) for s in ss.spawn(len(order))]
        synths: dict[str, Synthesizer] = {}
        for i, t in enumerate(order):
            ts = schema.tables[t]
            fk = context[t]
            plan: dict[str, Any] = {"name": t, "rows": len(frames[t]), "columns": [str(c) for c in frames[t].columns],
                                    "context": schema.foreign_keys.index(fk) if fk else None, "ctx_columns": [],
                                    "pk_text": {}, "null_share": {}, "dtypes": {},
                                    "start_anchor": start_anchor.get(t, {}), "date_anchors": {}}
            for c in ts.primary_key:
                s = frames[t][c]
                plan["pk_text"][c] = not pd.api.types.is_numeric_dtype(s)
            for pfk in schema.parents_of(t):
                plan["null_share"][pfk.name] = float(key_values(frames[t], pfk.columns).isna().mean())
            for c in frames[t].columns:
                plan["dtypes"][str(c)] = str(frames[t][c].dtype)
            frame = frames_in[t]
            ctx = pd.DataFrame(index=range(len(frame)))
            if fk is not None:
                parent_model = synths.get(fk.parent_table)
                pf = frames_in[fk.parent_table]
                usable = [c for c in pf.columns if parent_model is not None and
                          parent_model.metadata_.columns.get(c) is not None and
                          parent_model.metadata_.columns[c].kind in MODELLED_KINDS][: self.max_context_columns]
                plan["ctx_columns"] = usable
                idx = pd.Series(np.arange(len(pf)), index=key_values(frames[fk.parent_table], fk.parent_columns))
                pos = key_values(frames[t], fk.columns).map(idx)
                ok = pos.notna().to_numpy()
                rows = np.where(ok, pos.fillna(0).to_numpy(), 0).astype(int)
                for c in usable:
                    v = pf[c].iloc[rows].reset_index(drop=True)
                    ctx[f"ctx.{c}"] = v.where(ok, None) if v.dtype == object else v.mask(~ok)
                plan["null_rows"] = int((~ok).sum())
                if not ts.sequence_key and parent_model is not None:
                    ruled = {c for r in rules.get(t, []) for c in r.columns}  # a rule sees them as dates
                    frame, plan["date_anchors"] = _anchor_dates(frame, ctx, usable, parent_model, ruled)
            if ts.sequence_key:
                seq = sequence_plan(frames[t], t, ts.sequence_key, ts.sequence_index,
                                    set(ts.primary_key) | {c for p in schema.parents_of(t) for c in p.columns})
                seq["count_cols"] = [c for c in frame.columns if c.startswith(("__n.", "__start."))]
                entity = key_values(frames[t], fk.columns).astype(str).to_numpy()
                own = frames[t].drop(columns=[c for c in frames[t].columns if c in set(ts.primary_key) |
                                              {c for p in schema.parents_of(t) for c in p.columns} -
                                              {ts.sequence_index}])
                own = pd.concat([own.reset_index(drop=True), frame[seq["count_cols"]].reset_index(drop=True)], axis=1)
                seq["other"] = seq["other"] + seq["count_cols"]
                head, train = sequence_frame(own, seq, entity, ctx)
                gaps = train["seq.gap"].to_numpy(float)
                seq["min_gap"] = float(max(0.0, np.nanmin(gaps))) if len(gaps) else 0.0
                plan["sequence"] = seq
                # The window the sequence was observed in: generated histories end in it too.
                times = _to_time(frames[t][ts.sequence_index], seq["index_kind"])
                plan["window"] = {"end": float(np.nanmax(times)), "whole": day_resolution(times)}
                synths[f"{t}#first"] = self._fit_frame(t + " (first steps)", head, seeds[i] + 1, progress)
                if len(train) < 2:
                    raise InputError(f"sequence table {t!r} has too few steps after the first to learn from")
            else:
                train = pd.concat([ctx.reset_index(drop=True), frame.reset_index(drop=True)], axis=1)
            generated = [c for c in train.columns if not c.startswith("ctx.")]
            plan["model"] = bool(generated)
            if generated:
                synths[t] = self._fit_frame(t, train, seeds[i], progress, rules.get(t))
            plans[t] = plan
        self.schema_ = schema
        self.order_ = order
        self.deferred_ = [schema.foreign_keys.index(fk) for fk in deferred]
        self.plans_ = plans
        self.synthesizers_ = synths
        return self

    def _fit_frame(self, t: str, train: pd.DataFrame, seed: int, progress: Any,
                   constraints: list[Any] | None = None) -> Synthesizer:
        if len(train) < 2:
            raise InputError(f"table {t!r} has {len(train)} row(s); at least 2 are needed to learn it")
        # A column that is always missing here (e.g. a level that always has a previous value)
        # is declared constant, which the single-table synthesizer accepts.
        meta = {"columns": {c: {"kind": "constant", "dtype": str(train[c].dtype)}
                            for c in train.columns if train[c].isna().all()}}
        log.info("fitting table %s (%d rows, %d columns)", t, len(train), train.shape[1])
        # Which table the following "fit" events are about (a progress display names it).
        report(progress, "table", 0, None, table=t, rows=len(train))
        return self._synth(seed, constraints).fit(train, meta if meta["columns"] else None, progress=progress)

    def _check(self) -> None:
        if not hasattr(self, "plans_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(data) first")

    # ------------------------------------------------------------------ sample
    def sample(self, scale: float = 1.0, *, seed: int | None = None,
               conditions: dict[str, dict[str, Any]] | None = None,
               what_if: dict[str, dict[str, Any]] | None = None) -> dict[str, pd.DataFrame]:
        """A synthetic database: ``{table: DataFrame}``, ``scale`` times as many root rows.

        Child tables follow their parents' learned child counts, so the whole database scales.
        The same seed gives the same tables, byte for byte.

        ``conditions={"district": {"region": "Prague"}}`` (values, ``[any of]`` or ``(low, high)``
        as in :meth:`Synthesizer.sample`) generates only matching rows of a table generated
        first (a root); ``what_if={"customer": {"income": lambda s: s * 1.1}}`` changes them
        as :meth:`Synthesizer.what_if` does. Either way their child counts follow, and every
        child table is generated from these parents (see ``_conditions``).
        """
        parts = list(self.iter_sample(scale, seed=seed, conditions=conditions, what_if=what_if))
        if len(parts) == 1:
            return parts[0]
        return {t: pd.concat([p[t] for p in parts], ignore_index=True) for t in parts[0]}

    def n_shards(self, scale: float = 1.0) -> int:
        """How many shards a database of this ``scale`` is generated in (see :meth:`iter_sample`)."""
        self._check()
        total = sum(p["rows"] for t, p in self.plans_.items() if t != ENTITY) * scale
        roots = [max(1, int(round(p["rows"] * scale))) for p in self.plans_.values() if p["context"] is None]
        # Every root table keeps at least one row per shard, so each shard is a whole small database.
        return max(1, min(int(np.ceil(total / SHARD_ROWS)), min(roots, default=1)))

    def iter_sample(self, scale: float = 1.0, *, seed: int | None = None,
                    conditions: dict[str, dict[str, Any]] | None = None,
                    what_if: dict[str, dict[str, Any]] | None = None) -> Iterator[dict[str, pd.DataFrame]]:
        """The database of :meth:`sample`, one shard at a time: memory follows the shard, not the database.

        A shard is a small database of its own: a share of every root table's rows, their
        children, grandchildren and matched keys, with keys numbered after the previous shards'
        ones. The number of shards depends on the model and ``scale`` only (about
        ``SHARD_ROWS`` rows each), and shard ``k`` is seeded by ``(seed, k)``: concatenated, the
        shards are :meth:`sample`'s tables, byte for byte, however they are written.
        ``conditions`` and ``what_if`` as in :meth:`sample`.
        """
        self._check()
        from ._conditions import check_conditions, flowing_tables

        conds, changes = check_conditions(self, conditions, what_if)
        flowing = flowing_tables(self, set(conds) | set(changes))
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0 or not np.isfinite(scale):
            raise InputError(f"scale must be a positive number, got {scale!r}")
        seed = self.random_state if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        k_all = self.n_shards(scale)
        offsets = {t: 0 for t in self.order_}
        for k in range(k_all):
            shard, used = self.local_shard(scale, int(seed), k, k_all, conds, changes, flowing)
            yield self.number_keys(shard, offsets)
            for t, m in used.items():
                offsets[t] += m

    def sample_to_dataset(self, folder: str | os.PathLike[str], scale: float = 1.0, *, seed: int | None = None,
                          scheduler: Any = None, conditions: dict[str, dict[str, Any]] | None = None,
                          format: str = "parquet", progress: Any = None) -> dict[str, int]:
        """Draw the database of :meth:`sample` on a Dask cluster (the ``[dask]`` extra) into
        ``folder/<table>/part-000000.parquet``, ...: one part per shard and table, written by the
        workers (so they and this process must share the folder). Keys are :meth:`sample`'s,
        byte for byte, whatever the number of workers: shards are drawn side by side with their
        keys numbered from 1 and moved on once every shard's key count is known (see ``_dask``).

        The run resumes after a crash (``folder/_datatwin_manifest.json``); ``scheduler`` is as in
        :meth:`Synthesizer.sample_to_dataset` (``"local:4"``, ``"tcp://host:8786"``, a client).
        ``what_if`` is not offered here: its changes are functions, which run on one machine.
        Returns the rows written per table.
        """
        from ._dask import sample_database_to_dataset

        return sample_database_to_dataset(self, folder, scale=scale, seed=seed, scheduler=scheduler,
                                          conditions=conditions, what_if=None, format=format, progress=progress)

    def local_shard(self, scale: float, seed: int, k: int, k_all: int, conds: dict[str, Any],
                    changes: dict[str, Any], flowing: set[str]) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
        """Shard ``k`` with its keys numbered from 1 (as if it were the first), and how many keys
        of each table it numbered: the shard alone, drawn by any process in any order.

        Keys only say which rows are linked; equal keys stay equal and distinct ones distinct
        when each table's keys move by one offset, so :meth:`number_keys` with the keys the shards
        before it numbered gives exactly the shard :meth:`iter_sample` gives (this is how Dask
        workers draw shards side by side, see ``_dask``).
        """
        used = {t: 0 for t in self.order_}
        return self._sample_shard(scale, seed, k, k_all, used, conds, changes, flowing), used

    def key_origins(self) -> dict[str, dict[str, tuple[str, str, bool]]]:
        """For each table, its columns that hold generated keys: ``{table: {column: (table the
        key is numbered in, its key column, text key)}}`` (a foreign key holds its parent's keys)."""
        self._check()
        origins: dict[str, dict[str, tuple[str, str, bool]]] = {t: {} for t in self.order_}
        for t in self.order_:
            fk_cols = {c for fk in self.schema_.parents_of(t) for c in fk.columns}
            for c, text in self.plans_[t]["pk_text"].items():
                if c not in fk_cols:  # a key column that is also a foreign key holds the parent's keys
                    origins[t][c] = (t, c, bool(text))
        for _ in range(len(self.order_) + 1):  # along chains of foreign keys, parents first
            changed = False
            for fk in self.schema_.foreign_keys:
                for c, pc in zip(fk.columns, fk.parent_columns, strict=True):
                    src = origins.get(fk.parent_table, {}).get(pc)
                    if src is not None and origins[fk.table].get(c) != src:
                        origins[fk.table][c] = src
                        changed = True
            if not changed:
                break
        return origins

    def number_keys(self, shard: dict[str, pd.DataFrame], offsets: dict[str, int]) -> dict[str, pd.DataFrame]:
        """A shard of :meth:`local_shard` with each table's keys moved on by ``offsets[table]``
        (the keys the shards before it numbered)."""
        origins = self.key_origins()
        out = {}
        for t, df in shard.items():
            moved = {c: src for c, src in origins.get(t, {}).items() if c in df.columns and offsets[src[0]]}
            if not moved:
                out[t] = df
                continue
            df = df.copy()
            for c, (src, key, text) in moved.items():
                df[c] = _shift_keys(df[c], offsets[src], key if text else None)
            out[t] = df
        return out

    def _sample_shard(self, scale: float, seed: int, k: int, k_all: int, offsets: dict[str, int],
                      conds: dict[str, Any], changes: dict[str, Any], flowing: set[str]) -> dict[str, pd.DataFrame]:
        from ._conditions import sample_root

        schema = self.schema_
        rng_root = np.random.SeedSequence([int(seed), 7, k])
        table_ss = dict(zip(self.order_, rng_root.spawn(len(self.order_)), strict=True))
        inner: dict[str, pd.DataFrame] = {}
        out: dict[str, pd.DataFrame] = {}
        parent_rows: dict[str, np.ndarray] = {}  # per table: context-parent row of each row (-1: none)
        deferred = [schema.foreign_keys[i] for i in self.deferred_]
        for t in self.order_:
            plan = self.plans_[t]
            ss = table_ss[t]
            gen_seed = int(ss.generate_state(1)[0] % (2**31))
            rng = np.random.default_rng(ss.spawn(1)[0])
            fk = schema.foreign_keys[plan["context"]] if plan["context"] is not None else None
            syn = self.synthesizers_.get(t)
            if fk is None:
                total = max(1, int(round(plan["rows"] * scale)))
                n = total * (k + 1) // k_all - total * k // k_all  # this shard's share of the root rows
                frame = sample_root(syn, n, gen_seed, conds.get(t), changes.get(t)) if syn is not None else \
                    pd.DataFrame(index=range(n))
                prow = np.full(n, -1)
            else:
                pf = inner[fk.parent_table]
                ratio = len(pf) / max(1, self.plans_[fk.parent_table]["rows"])
                counts = _counts(pf, _count_col(fk))
                if t not in flowing:  # below a condition the learned counts are the point, not the total
                    counts = _rescale(counts, (plan["rows"] - plan.get("null_rows", 0)) * ratio, rng)
                ctx = pd.DataFrame({f"ctx.{c}": pf[c].to_numpy() for c in plan["ctx_columns"]}, index=range(len(pf)))
                if "sequence" in plan:
                    frame, prow = self._sample_sequences(plan, syn, ctx, counts, pf, fk, gen_seed)
                else:
                    prow = np.repeat(np.arange(len(pf)), counts)
                    n_null = int(round(plan.get("null_rows", 0) * ratio))
                    prow = np.concatenate([prow, np.full(n_null, -1)])
                    frame = _complete(syn, ctx, prow, gen_seed) if syn is not None else pd.DataFrame(
                        index=range(len(prow)))
                    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("ctx.")])
                    frame = _dates_back(frame, plan.get("date_anchors", {}), pf, prow,
                                        np.random.default_rng([gen_seed, 13]))
            frame = frame.reset_index(drop=True)
            inner[t] = frame
            parent_rows[t] = prow
            table = pd.DataFrame(index=range(len(frame)))
            first_key = offsets[t] + 1  # keys go on from the previous shards'
            for c, text in plan["pk_text"].items():
                table[c] = [f"{c}_{i}" for i in range(first_key, first_key + len(frame))] if text else \
                    np.arange(first_key, first_key + len(frame))
            offsets[t] += len(frame)
            for pfk in schema.parents_of(t):
                if pfk in deferred:
                    continue
                if pfk is fk:
                    _set_fk(table, pfk, out[pfk.parent_table], prow)
                else:
                    _match(table, pfk, out[pfk.parent_table], inner[pfk.parent_table], rng,
                           plan["null_share"].get(pfk.name, 0.0))
            for c in frame.columns:
                if not c.startswith(("__n.", "__start.", "ctx.")) and c not in table.columns:
                    col = frame[c]  # text as it is: to_numpy() made object strings that became text again
                    table[c] = col.array if isinstance(col.dtype, pd.StringDtype) else col.to_numpy()
            out[t] = table
            keep = _dedupe(out, t, schema, fk, inner, rng, deferred)
            if keep is not None:
                out[t] = out[t][keep].reset_index(drop=True)
                inner[t] = inner[t][keep].reset_index(drop=True)
        for pfk in deferred:
            t = pfk.table
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11, self.order_.index(t), k]))
            _match(out[t], pfk, out[pfk.parent_table], inner[pfk.parent_table], rng,
                   self.plans_[t]["null_share"].get(pfk.name, 0.0))
        return {t: self._finish(t, out[t]) for t in self.order_ if t != ENTITY}

    def _sample_sequences(self, plan: dict[str, Any], syn: Synthesizer, ctx: pd.DataFrame, counts: np.ndarray,
                          pf: pd.DataFrame, fk: ForeignKey, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
        seq = plan["sequence"]
        ents = np.flatnonzero(counts > 0)
        start_col = _start_col(fk)
        anchor = self.plans_[fk.parent_table].get("start_anchor", {}).get(fk.name)
        if anchor is not None and start_col in pf:  # days after the parent's own date
            after = pd.to_numeric(pf[start_col], errors="coerce").to_numpy(float)[ents]
            if np.isnan(after).any():  # a parent given children but no start: the usual distance
                after = np.where(np.isnan(after), np.nanmedian(after) if (~np.isnan(after)).any() else 0.0, after)
            starts = np.full(len(pf), np.nan)
            starts[ents] = days(pf[anchor])[ents] + after
        else:
            starts = _to_time(pf[start_col], seq["index_kind"]) if start_col in pf else np.zeros(len(pf))
        starts = starts[ents]
        if np.isnan(starts).any():
            fill = np.nanmedian(starts) if (~np.isnan(starts)).any() else 0.0
            starts = np.where(np.isnan(starts), fill, starts)
        grid = seq.get("grid")
        if grid is not None and len(grid) >= 2:  # a history starts on a date of the real calendar
            starts = grid_start(starts, np.asarray(grid, float))
        first = self.synthesizers_[f"{plan['name']}#first"]
        ctx = ctx.iloc[ents].reset_index(drop=True)
        given_start = f"ctx.{start_col}"
        if given_start in ctx and ctx[given_start].isna().any():
            # A parent drawn with children but no start: its histories begin at the filled start,
            # so the step models are told that one. Left missing, it was drawn anew at every step
            # (training never lacks it), in an extra engine call per step for those few entities.
            ctx[given_start] = ctx[given_start].where(ctx[given_start].notna(),
                                                      _from_time(starts, seq["index_kind"]))
        lengths = counts[ents]
        if seq.get("until"):  # generated until they pass the window's end: the count is time's
            lengths = np.full(len(ents), int(seq["until"]["cap"]))
        frame, ent = generate_histories(first.model_, syn.model_, seq, ctx, lengths, starts, seed,
                                        seq["min_gap"], raw_index=True, sizes=counts[ents])
        if not len(frame):
            return frame, ents[ent]
        x = frame[seq["index"]].to_numpy(float)
        window = plan.get("window")
        if window is not None:
            # The step model draws gaps one at a time and cannot see where the real data stops
            # (berka's transactions end on 1994-02-28): a history that runs past the last time of
            # the real table is squeezed back into it, keeping its order, start and length. (The
            # times as the formatted column reads back, without formatting and parsing it.) On a
            # calendar grid, the squeezed times are put back on its dates (stocks trade on
            # weekdays: a squeeze moves dates by fractions of the history's gaps), and a month-end
            # step on the grid is on one of its dates already.
            t = index_times(x, seq)
            squeezed = fit_window(t, ent, starts[ent], window["end"], seq["min_gap"], window["whole"],
                                  None if grid is None else np.asarray(grid, float),
                                  seq["index_kind"] == "datetime")
            if seq.get("month_end") and grid is None:
                squeezed = keep_month_ends(t, squeezed, ent, window["end"])
            if not np.array_equal(squeezed, t, equal_nan=True):
                frame[seq["index"]] = format_index(squeezed, seq).to_numpy()
                return frame, ents[ent]
        frame[seq["index"]] = format_index(x, seq)
        return frame, ents[ent]

    def _finish(self, t: str, df: pd.DataFrame) -> pd.DataFrame:
        """Columns in the real table's order, with its dtypes where they fit."""
        plan = self.plans_[t]
        cols = [c for c in plan["columns"] if c in df.columns]
        df = df[cols].copy()
        for c in cols:
            want = plan["dtypes"].get(c, "")
            if want.startswith("int") and pd.api.types.is_float_dtype(df[c]) and df[c].notna().all():
                df[c] = df[c].round().astype(want)
            elif want.startswith("int") and pd.api.types.is_float_dtype(df[c]):
                df[c] = df[c].round().astype("Int64")
        return df

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model (JSON + each table's safetensors model, in one zip; never pickle)."""
        self._check()
        from ._persistence import save_database_model

        save_database_model(path, self)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DatabaseSynthesizer:
        """Read a model written by :meth:`save`."""
        from ._persistence import load_database_model

        return load_database_model(cls, path)


def _with_entities(schema: Schema, frames: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], Schema]:
    """A standalone sequence table gets a virtual parent with one row per entity, so that its
    sequence lengths and starts are learned like any parent's child counts."""
    for t, ts in list(schema.tables.items()):
        if ts.sequence_key and not any(fk.columns == [ts.sequence_key] for fk in schema.parents_of(t)):
            if ts.sequence_index is None:
                raise InputError(f"sequence table {t!r} needs a sequence index (the column that orders its rows)")
            if ts.sequence_key not in frames[t].columns:
                raise InputError(f"sequence key {ts.sequence_key!r} is not a column of {t!r}")
            from ._schema import TableSchema

            keys = frames[t][ts.sequence_key].dropna().drop_duplicates().reset_index(drop=True)
            frames = {ENTITY: pd.DataFrame({ts.sequence_key: keys}), **frames}
            schema = Schema({ENTITY: TableSchema(ENTITY, [ts.sequence_key]), **schema.tables},
                            [*schema.foreign_keys, ForeignKey(t, [ts.sequence_key], ENTITY, [ts.sequence_key])])
    return frames, schema


def _anchor_dates(frame: pd.DataFrame, ctx: pd.DataFrame, usable: list[str], parent_model: Synthesizer,
                  keep: frozenset[str] | set[str] = frozenset()) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """A child's dates that follow a date of its context parent, as days after it.

    A loan granted 3 to 23 months after its account was opened is learned as that distance, not as
    a date that the model must tie to the account's by itself (it did so loosely: loans came
    before their accounts and the pair was the most telling feature of loan JOIN account). A
    date unrelated to the parent's dates keeps being learned as a date (:func:`anchor_of`)."""
    pdates = {c: days(ctx[f"ctx.{c}"]) for c in usable
              if parent_model.metadata_.columns[c].kind == "datetime"}
    own = [c for c in frame.columns if not str(c).startswith(("__n.", "__start.")) and c not in keep]
    if not pdates or not own:
        return frame, {}
    anchors: dict[str, dict[str, Any]] = {}
    out = frame
    for c, fmt in date_columns(frame[own]).items():
        x = days(frame[c])
        a = anchor_of(x, pdates)
        if a is None:
            continue
        if out is frame:
            out = frame.copy()
        out[c] = x - pdates[a]
        anchors[c] = {"from": a, "format": fmt, **distance_plan(x, x - pdates[a])}
    return out, anchors


def _dates_back(frame: pd.DataFrame, anchors: dict[str, dict[str, Any]], parent: pd.DataFrame,
                prow: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Generated distances (see :func:`_anchor_dates`) back to dates: the parent's date + days,
    kept inside the real dates' range (:func:`in_window`)."""
    for c, a in anchors.items():
        if c not in frame.columns:
            continue
        base = days(parent[a["from"]])[np.maximum(prow, 0)] if len(parent) else np.full(len(prow), np.nan)
        base = np.where(prow >= 0, base, np.nan)
        after = pd.to_numeric(frame[c], errors="coerce").to_numpy(float)
        frame[c] = dates_from_days(in_window(base, after, a, rng), a["format"]).to_numpy()
    return frame


def _shift_keys(s: pd.Series, offset: int, text_of: str | None) -> pd.Series:
    """Generated keys moved on by ``offset``: numbers ``i`` become ``i + offset``, text keys
    ``"{text_of}_{i}"`` become ``"{text_of}_{i + offset}"``; missing keys stay missing."""
    if text_of is None:
        return s + offset  # keeps int64, Int64 and float64 (missing keys) as they are
    start = len(text_of) + 1
    return s.map(lambda v: v if not isinstance(v, str) else f"{text_of}_{int(v[start:]) + offset}")


def _counts(pf: pd.DataFrame, col: str) -> np.ndarray:
    if col not in pf:
        return np.zeros(len(pf), dtype=int)
    v = pd.to_numeric(pf[col], errors="coerce").to_numpy(float)
    return np.clip(np.nan_to_num(np.round(v), nan=0.0), 0, None).astype(int)


RESCALE_TOLERANCE = 0.05  # learned child totals within this share of the expected one are kept


def _rescale(counts: np.ndarray, expected: float, rng: np.random.Generator) -> np.ndarray:
    """Child counts scaled to the expected number of children (the real count times the parents'
    scale). The learned counts keep their shape; this only corrects their total, which a tiny
    parent table (8 employees) or rare-value protection on its counts can get far wrong."""
    total = counts.sum()
    if len(counts) == 0 or expected <= 0:
        return counts
    if total and abs(total - expected) <= RESCALE_TOLERANCE * expected:
        # Close enough is kept as learned: a correction moves every parent's count (94 of stocks'
        # 101 tickers have exactly 1,259 days; scaled 2.5 % down to the real total, none had).
        return counts
    if total == 0:
        return rng.multinomial(int(round(expected)), np.full(len(counts), 1.0 / len(counts)))
    x = counts * (expected / total)
    base = np.floor(x)
    return (base + (rng.random(len(x)) < x - base)).astype(int)


def _complete(syn: Synthesizer, ctx: pd.DataFrame, prow: np.ndarray, seed: int) -> pd.DataFrame:
    """Child rows completed around their parent's row ``ctx[prow]`` (-1: no parent), in seeded
    blocks; the parents are encoded once, not once per child."""
    if len(prow) == 0:
        return pd.DataFrame(columns=syn.columns_)
    completer = Completer(syn.model_, ctx)
    parts = []
    for k, start in enumerate(range(0, len(prow), BLOCK_ROWS)):
        values = completer(prow[start:start + BLOCK_ROWS], {},
                           int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))
        parts.append(pd.DataFrame({c: values[c] for c in syn.columns_}))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _set_fk(table: pd.DataFrame, fk: ForeignKey, parent: pd.DataFrame, prow: np.ndarray) -> None:
    ok = prow >= 0
    for c, pc in zip(fk.columns, fk.parent_columns, strict=True):
        if len(parent):
            col = pd.Series(parent[pc].to_numpy()[np.maximum(prow, 0)])
        else:
            col = pd.Series(np.full(len(prow), np.nan))
        # Missing keys keep the parent key's type where it allows (numbers become float).
        table[c] = col if ok.all() else col.where(ok)


def _match(table: pd.DataFrame, fk: ForeignKey, parent: pd.DataFrame, parent_inner: pd.DataFrame,
           rng: np.random.Generator, null_share: float) -> None:
    """Point each row to a parent used as often as that parent's learned count says."""
    n = len(table)
    counts = _counts(parent_inner, _count_col(fk))
    n_null = int(round(null_share * n)) if len(parent) else n
    nonnull = n - n_null
    pool = np.repeat(np.arange(len(parent)), counts) if len(parent) else np.zeros(0, int)
    if len(pool) < nonnull and len(parent):
        w = (counts + 1.0) / (counts + 1.0).sum()
        pool = np.concatenate([pool, rng.choice(len(parent), nonnull - len(pool), p=w)])
    pool = rng.permutation(pool)[:nonnull]
    prow = np.full(n, -1)
    where = rng.permutation(n)[:nonnull]
    prow[where] = pool
    _set_fk(table, fk, parent, prow)


def _dedupe(out: dict[str, pd.DataFrame], t: str, schema: Schema, context: ForeignKey | None,
            inner: dict[str, pd.DataFrame], rng: np.random.Generator, deferred: list[ForeignKey]) -> np.ndarray | None:
    """Make a primary key built from foreign keys unique: re-match duplicates, drop what is left."""
    pk = schema.tables[t].primary_key
    table = out[t]
    if not pk or len(table) == 0:
        return None
    dup = key_values(table, pk).duplicated().to_numpy()
    if not dup.any():
        return None
    movable = [fk for fk in schema.parents_of(t) if fk is not context and fk not in deferred
               and set(fk.columns) & set(pk)]
    for _ in range(20 if movable else 0):
        rows = np.flatnonzero(dup)
        for fk in movable:
            parent = out[fk.parent_table]
            pick = rng.integers(0, len(parent), len(rows))
            for c, pc in zip(fk.columns, fk.parent_columns, strict=True):
                table.loc[rows, c] = parent[pc].to_numpy()[pick]
        dup = key_values(table, pk).duplicated().to_numpy()
        if not dup.any():
            return None
    return ~dup


def _add_identities(schema: Schema, frames: dict[str, pd.DataFrame], rules: dict[str, list[Any]]) -> None:
    """Each non-sequence table's exact formulas (``exact_formulas``) among its own columns, added to
    ``rules`` where no declared rule names their columns. Keys and parents' columns are left out:
    the table's model sees a parent's columns as given context, never as computed ones."""
    for t, ts in schema.tables.items():
        if ts.sequence_key:
            continue
        keys = set(ts.primary_key) | {c for fk in schema.parents_of(t) for c in fk.columns}
        own = frames[t].drop(columns=[c for c in frames[t].columns if c in keys])
        found = kept_identities(own, Metadata.infer(own), rules.get(t, []), where=f"table {t}: ")
        if found:
            rules.setdefault(t, []).extend(found)
