"""The worker: a separate process that claims queued jobs and runs fit / sample / report / generate.

Training never runs inside the web process (a request, a reload or a crash of the server must not
kill it, and a busy CPU must not slow pages). The worker claims a job atomically in SQLite, writes
progress and a heartbeat into the job's row, and checks the row's cancel flag at every progress
event. Every output is written to a temp file and renamed into place, so a job killed half-way
leaves no half-written file; its row is then marked failed (with a retry) by the next server or
worker start, or by the first page that sees its heartbeat go stale.

Run it alone with ``python -m datatwin.web DATA_DIR`` (``datatwin serve`` starts it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import datatwin

from .. import DatatwinError, ProgressEvent
from ..io import escape_formula_cells
from ..sampling import parse_scalar
from ._files import place
from ._store import Store

log = logging.getLogger("datatwin.web")

STORE_ENV = "DATATWIN_STORE_URL"  # how `datatwin serve` tells its workers a store URL (never argv)
HOLDOUT_SHARE = 0.2
REPORT_MAX_ROWS = 50_000


class JobCancelled(BaseException):
    """Raised inside a job's progress callback when its owner pressed Cancel.

    A BaseException, so no ``except Exception`` in library code can swallow it.
    """


def user_dir(data_dir: Path, owner: str) -> Path:
    return data_dir / "files" / owner


def conditions_from_json(conds: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Database conditions as stored in a job's parameters, back in the library's form."""
    # JSON has no tuples: a [low, high] pair marked as a range comes back as a tuple.
    return {t: {c: tuple(v["range"]) if isinstance(v, dict) and "range" in v else v for c, v in cols.items()}
            for t, cols in conds.items()}


def job_dir(data_dir: Path, owner: str, jid: str) -> Path:
    return user_dir(data_dir, owner) / "jobs" / jid


def split_rows(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and holdout row positions: the same seed gives the same split (for the report)."""
    idx = np.random.default_rng(seed).permutation(n_rows)
    n_hold = max(1, int(n_rows * HOLDOUT_SHARE)) if n_rows >= 10 else 0
    return np.sort(idx[n_hold:]), np.sort(idx[:n_hold])


class _Progress:
    """The progress callback: throttled writes to the job row, cancel check, time left."""

    def __init__(self, store: Store, jid: str, budget: float | None = None) -> None:
        self.store, self.jid, self.budget = store, jid, budget
        self.start = time.monotonic()
        self.last = 0.0
        self.stage = ""
        self.state: dict[str, Any] = {}

    def __call__(self, ev: ProgressEvent) -> None:
        now = time.monotonic()
        elapsed = now - self.start
        done = ev.total is not None and ev.completed >= ev.total
        if ev.stage == self.stage and not done and now - self.last < 0.25:
            return
        self.stage, self.last = ev.stage, now
        state: dict[str, Any] = {"stage": ev.stage, "completed": ev.completed, "total": ev.total,
                                 "elapsed": round(elapsed, 1)}
        if ev.total:
            state["fraction"] = round(min(1.0, ev.completed / ev.total), 4)
        if ev.stage == "fit":
            state["epoch"] = ev.completed
            for key in ("val_loss", "train_loss"):
                if isinstance(ev.info.get(key), (int, float)):
                    state[key] = round(float(ev.info[key]), 5)
            if ev.total and ev.completed:
                left = elapsed / ev.completed * (ev.total - ev.completed)
                if self.budget:
                    left = min(left, max(0.0, self.budget - elapsed))
                state["seconds_left"] = round(left, 1)
        self._extra(state)
        self.state = state
        if self.store.heartbeat(self.jid, state):
            raise JobCancelled()


    def _extra(self, state: dict[str, Any]) -> None:
        """Subclasses add to the state written to the job row."""


def _beat(store: Store, jid: str, stop: threading.Event) -> None:
    # Long steps without progress events (evaluation, writing) still show the job is alive.
    while not stop.wait(5.0):
        try:
            store.heartbeat(jid)
        except Exception:  # a locked database for a moment is no reason to stop beating
            log.debug("heartbeat failed", exc_info=True)


def run_job(store: Store, data_dir: Path, job: dict[str, Any]) -> None:
    """Run one claimed job to its end: done, failed (with the message) or cancelled."""
    jid, kind = job["id"], job["kind"]
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(store, jid, stop), daemon=True)
    beat.start()
    out = job_dir(data_dir, job["owner"], jid)
    out.mkdir(parents=True, exist_ok=True)
    try:
        handlers = _DB_HANDLERS if job["params"].get("database") else _HANDLERS
        handler = handlers[kind]
        result = handler(store, data_dir, job, out)
    except JobCancelled:
        store.finish(jid, "cancelled", error="cancelled by the user")
    except DatatwinError as exc:
        store.finish(jid, "failed", error=str(exc))
    except MemoryError:
        store.finish(jid, "failed", error="out of memory; use fewer rows or a smaller table")
    except Exception as exc:  # an unexpected error must still end the job, with its cause logged
        log.error("job %s failed:\n%s", jid, traceback.format_exc())
        store.finish(jid, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
    else:
        store.finish(jid, "done", result=result)
    finally:
        stop.set()


def _owned(row: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if row is None:
        raise datatwin.InputError(f"the {what} of this job was deleted")
    return row


def _fit(store: Store, data_dir: Path, job: dict[str, Any], out: Path) -> dict[str, Any]:
    p, owner = job["params"], job["owner"]
    up = _owned(store.upload(owner, p["upload_id"]), "upload")
    df = datatwin.read_table(up["path"])
    seed = int(p.get("seed", 0))
    train_idx, _ = split_rows(len(df), seed)
    train = df.iloc[train_idx].reset_index(drop=True)
    options = {"max_epochs": int(p["max_epochs"])} if p.get("max_epochs") else None
    budget = float(p.get("max_training_time", 60))
    privacy = datatwin.DP(float(p["epsilon"])) if p.get("epsilon") is not None else None
    syn = datatwin.Synthesizer(engine=p.get("engine", "argn"), random_state=seed, max_training_time=budget,
                               engine_options=options, constraints=p.get("constraints") or None, privacy=privacy)
    progress = _Progress(store, job["id"], budget)
    syn.fit(train, p.get("metadata") or None, progress=progress)
    mid = datatwin_id()
    path = user_dir(data_dir, owner) / "models" / f"{mid}.dtw"
    path.parent.mkdir(parents=True, exist_ok=True)
    syn.save(path)  # written to a temp file and renamed by datatwin's io
    info = {"rows": len(train), "holdout_rows": len(df) - len(train), "columns": list(map(str, df.columns)),
            "seed": seed, "epochs": getattr(syn.engine_, "epochs_", None),
            "stopped_by": getattr(syn.engine_, "stopped_by_", None), "fit_job": job["id"],
            "seconds": progress.state.get("elapsed"), "privacy": syn.privacy_}
    label = syn.engine_.name + (f", epsilon={syn.privacy_['epsilon']:g}" if syn.privacy_ else "")
    store.add_model(owner, mid, up["id"], f"{up['name']} ({label})", str(path), syn.engine_.name, info)
    return {"model_id": mid}


def datatwin_id() -> str:
    from ._store import new_id

    return new_id()


def _finish_outputs(parquet: Path, out: Path) -> int:
    """Keep ``parquet`` as sample.parquet and stream it into sample.csv with formula cells escaped."""
    import pyarrow.parquet as pq

    rows = 0
    fd, tmp_c = tempfile.mkstemp(prefix=".sample.", suffix=".csv", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as csv_out:
            pf = pq.ParquetFile(parquet)
            header = True
            for batch in pf.iter_batches(batch_size=50_000):
                chunk = batch.to_pandas()
                safe = escape_formula_cells(chunk)  # header names too
                safe.to_csv(csv_out, header=header, index=False)
                header = False
                rows += len(chunk)
        place(Path(tmp_c), out / "sample.csv")
        place(parquet, out / "sample.parquet")
    finally:
        Path(tmp_c).unlink(missing_ok=True)
    return rows


def _tmp_parquet(out: Path) -> Path:
    return out / f".work.{os.getpid()}.parquet"


def _sample(store: Store, data_dir: Path, job: dict[str, Any], out: Path) -> dict[str, Any]:
    p, owner = job["params"], job["owner"]
    model = _owned(store.model(owner, p["model_id"]), "model")
    syn = datatwin.load(model["path"])
    n, seed = int(p["n"]), int(p.get("seed", 0))
    progress = _Progress(store, job["id"])
    conditions = _conditions(p.get("conditions"))
    rebalance = _rebalance(p.get("rebalance"))
    tmp = _tmp_parquet(out)
    try:
        if p.get("what_if"):
            datatwin.write_table(syn.what_if(n, _what_if(p["what_if"]), seed=seed), tmp)
        else:
            boost = p.get("boost")
            if boost:
                boost = {"where": _conditions(boost["where"]), "share": float(boost["share"])}
            syn.sample_to_file(n, tmp, seed=seed, conditions=conditions, rebalance=rebalance, boost=boost,
                               progress=progress)
        rows = _finish_outputs(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"rows": rows, "model_id": model["id"]}


def _conditions(d: dict[str, Any] | None) -> dict[str, Any] | None:
    # JSON has no tuples: a [low, high] pair marked as a range comes back as a tuple.
    if not d:
        return None
    return {k: tuple(v["range"]) if isinstance(v, dict) and "range" in v else v for k, v in d.items()}


def _rebalance(d: dict[str, Any] | None) -> dict[str, dict[Any, float]] | None:
    if not d:
        return None
    # JSON object keys are always text: the same reading as the CLI's rebalance values.
    return {k: {parse_scalar(val): float(share) for val, share in v.items()} for k, v in d.items()}


def _what_if(d: dict[str, list[Any]]) -> dict[str, Any]:
    ops = {"*": np.multiply, "+": np.add, "-": np.subtract, "/": np.divide}
    out: dict[str, Any] = {}
    for name, (op, value) in d.items():
        def apply(s: Any, fn: Any = ops[op], v: float = float(value)) -> Any:
            return fn(s, v)

        out[name] = apply
    return out


def _report(store: Store, data_dir: Path, job: dict[str, Any], out: Path) -> dict[str, Any]:
    p, owner = job["params"], job["owner"]
    sample_job = _owned(store.job(owner, p["sample_job_id"]), "sample")
    model = _owned(store.model(owner, sample_job["params"]["model_id"]), "model")
    up = _owned(store.upload(owner, model["upload_id"] or ""), "upload")
    df = datatwin.read_table(up["path"])
    train_idx, hold_idx = split_rows(len(df), int(model["info"].get("seed", 0)))
    train = df.iloc[train_idx].reset_index(drop=True)
    holdout = df.iloc[hold_idx].reset_index(drop=True) if len(hold_idx) else None
    synthetic = pd.read_parquet(job_dir(data_dir, owner, sample_job["id"]) / "sample.parquet")
    if len(synthetic) > REPORT_MAX_ROWS:
        synthetic = synthetic.sample(REPORT_MAX_ROWS, random_state=0).reset_index(drop=True)
    target = p.get("target") or None
    result = datatwin.evaluate(train, synthetic, holdout=holdout, target=target,
                               progress=_Progress(store, job["id"]), guarantee=model["info"].get("privacy"))
    result.save_html(out / "report.html")
    verdicts = [{"title": v["title"], "status": v["status"], "message": v["message"]} for v in result.verdicts]
    return {"overall": result.overall, "verdicts": verdicts, "sample_job_id": sample_job["id"]}


def _generate(store: Store, data_dir: Path, job: dict[str, Any], out: Path) -> dict[str, Any]:
    p = job["params"]
    spec_path = out / ("spec.json" if p.get("format") == "json" else "spec.yaml")
    spec_path.write_text(p["spec"], encoding="utf-8")
    spec = datatwin.Spec.load(spec_path)
    n, seed = int(p["n"]), int(p.get("seed", 0))
    tmp = _tmp_parquet(out)
    try:
        datatwin.generate_to_file(spec, n, tmp, seed, progress=_Progress(store, job["id"]))
        rows = _finish_outputs(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"rows": rows}


# ---------------------------------------------------------------------- databases
class _DbProgress(_Progress):
    """Progress of a database fit: which table is being learned, and how many are done."""

    def __init__(self, store: Store, jid: str, budget: float | None, n_tables: int) -> None:
        super().__init__(store, jid, budget)
        self.n_tables, self.done_tables, self.table = n_tables, -1, ""

    def __call__(self, ev: ProgressEvent) -> None:
        if ev.stage == "table":
            self.done_tables += 1
            self.table = str(ev.info.get("table", ""))
            self.stage = ""  # the next event is written at once
            ev = ProgressEvent("table", self.done_tables, self.n_tables)
        super().__call__(ev)

    def _extra(self, state: dict[str, Any]) -> None:
        state["table"] = self.table
        state["tables_done"] = max(0, self.done_tables)
        state["tables"] = self.n_tables
        if state.get("fraction") is not None and self.n_tables and state["stage"] != "table":
            # The bar covers all tables: this table's share of its fit, added to the tables done.
            state["fraction"] = round(min(1.0, (max(0, self.done_tables) + state["fraction"]) / self.n_tables), 4)


def _fit_db(store: Store, data_dir: Path, job: dict[str, Any], out: Path) -> dict[str, Any]:
    from ..relational import DatabaseSynthesizer, read_sqlite_file

    p, owner = job["params"], job["owner"]
    up = _owned(store.upload(owner, p["upload_id"]), "upload")
    schema, frames = read_sqlite_file(up["path"], label=up["name"])
    for t, seq in (p.get("sequences") or {}).items():  # tables of histories marked on the upload page
        schema.tables[t].sequence_key, schema.tables[t].sequence_index = seq["key"], seq["index"]
    seed = int(p.get("seed", 0))
    budget = float(p.get("max_training_time", 60))
    options = {"max_epochs": int(p["max_epochs"])} if p.get("max_epochs") else None
    db = DatabaseSynthesizer(p.get("engine", "argn"), random_state=seed, engine_options=options,
                             max_training_time=budget)
    progress = _DbProgress(store, job["id"], budget, len(schema.tables))
    db.fit(frames, schema, progress=progress)
    mid = datatwin_id()
    path = user_dir(data_dir, owner) / "models" / f"{mid}.dtw"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{mid}.tmp.dtw")
    try:
        db.save(tmp)
        place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    tables = {t: len(df) for t, df in frames.items()}
    info = {"database": True, "tables": tables, "rows": sum(tables.values()), "order": db.order_, "seed": seed,
            "fit_job": job["id"], "seconds": round(time.monotonic() - progress.start, 1),
            "foreign_keys": [str(fk) for fk in db.schema_.foreign_keys],
            "sequences": p.get("sequences") or {}}
    store.add_model(owner, mid, up["id"], f"{up['name']} (database, {len(tables)} tables, {db.engine})", str(path),
                    f"database/{db.engine}", info)
    return {"model_id": mid}


def _public_tables(db: Any, tables: dict[str, pd.DataFrame]) -> tuple[Any, dict[str, pd.DataFrame]]:
    from ..relational import Schema
    from ..relational._model import ENTITY

    schema = Schema({t: ts for t, ts in db.schema_.tables.items() if t != ENTITY},
                    [fk for fk in db.schema_.foreign_keys if ENTITY not in (fk.table, fk.parent_table)])
    return schema, {t: df for t, df in tables.items() if t != ENTITY}


def _sample_db(store: Store, data_dir: Path, job: dict[str, Any], out: Path) -> dict[str, Any]:
    from ..relational import DatabaseSynthesizer, write_database
    from ._databases import write_csv_zip

    p, owner = job["params"], job["owner"]
    model = _owned(store.model(owner, p["model_id"]), "model")
    db = DatabaseSynthesizer.load(model["path"])
    progress = _Progress(store, job["id"])
    progress(ProgressEvent("sample", 0, 3))

    conds = conditions_from_json(p["conditions"]) if p.get("conditions") else None
    schema, tables = _public_tables(db, db.sample(float(p["scale"]), seed=int(p.get("seed", 0)), conditions=conds))
    progress(ProgressEvent("write", 1, 3))
    tmp = out / f".work.{os.getpid()}.sqlite"
    try:
        tmp.unlink(missing_ok=True)
        write_database(f"sqlite:///{tmp}", schema, tables)
        place(tmp, out / "synthetic.sqlite")
    finally:
        tmp.unlink(missing_ok=True)
    progress(ProgressEvent("write", 2, 3))
    write_csv_zip(tables, out / "synthetic-csv.zip")
    counts = {t: len(df) for t, df in tables.items()}
    return {"rows": sum(counts.values()), "tables": counts, "scale": float(p["scale"]), "model_id": model["id"]}


# The database evaluation subsamples each table (and each child joined to its parent) above this
# many rows; keys and child counts still use every row. It keeps a report on a big upload to
# minutes on one core, at the cost of some noise in the per-table figures.
REPORT_MAX_ROWS = 20_000


def _report_db(store: Store, data_dir: Path, job: dict[str, Any], out: Path) -> dict[str, Any]:
    """The library's database evaluation (keys, children per parent, each table, trends, detection of
    children joined to their parent, sequence figures), real upload against the synthetic database."""
    from ..evaluation import evaluate_database
    from ..relational import DatabaseSynthesizer, read_sqlite_file

    p, owner = job["params"], job["owner"]
    sample_job = _owned(store.job(owner, p["sample_job_id"]), "sample")
    model = _owned(store.model(owner, sample_job["params"]["model_id"]), "model")
    up = _owned(store.upload(owner, model["upload_id"] or ""), "upload")
    # The model's schema, not the file's: it carries the sequence key and order the fit used.
    schema, _ = _public_tables(DatabaseSynthesizer.load(model["path"]), {})
    _, real = read_sqlite_file(up["path"], label=up["name"])
    _, synthetic = read_sqlite_file(job_dir(data_dir, owner, sample_job["id"]) / "synthetic.sqlite",
                                    label="the synthetic database")
    progress = _Progress(store, job["id"])
    result = evaluate_database({t: real[t] for t in schema.tables}, {t: synthetic[t] for t in schema.tables},
                               schema, max_rows=int(p.get("max_rows", REPORT_MAX_ROWS)),
                               random_state=int(sample_job["params"].get("seed", 0)), progress=progress)
    result.save_html(out / "report.html")
    return {"database": True, "overall": result.overall,
            "verdicts": [{"title": v["title"], "status": v["status"], "message": v["message"]}
                         for v in result.verdicts],
            "tables": {t: {"rows_real": len(real[t]), "rows_synthetic": len(synthetic[t])} for t in schema.tables},
            "sample_job_id": sample_job["id"],
            # A conditioned sample is meant to differ from the real data: the report says so.
            "conditioned": bool(sample_job["params"].get("conditions"))}


_HANDLERS = {"fit": _fit, "sample": _sample, "report": _report, "generate": _generate}
_DB_HANDLERS = {"fit": _fit_db, "sample": _sample_db, "report": _report_db}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run(data_dir: Path, *, stop: threading.Event | None = None, once: bool = False, poll: float = 0.5,
        store_url: str | None = None) -> int:
    """Claim and run jobs until ``stop`` is set (or, with ``once``, until the queue is empty).

    ``store_url``: the store's URL; by default the SQLite file in ``data_dir``.
    """
    store = Store(store_url or str(Path(data_dir) / "datatwin.sqlite3"))
    name = worker_name()
    done = 0
    try:
        while stop is None or not stop.is_set():
            job = store.claim(name)
            if job is None:
                if once:
                    break
                time.sleep(poll)
                continue
            log.info("job %s (%s) started", job["id"], job["kind"])
            run_job(store, Path(data_dir), job)
            done += 1
    finally:
        store.dispose()
    return done


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="worker %(process)d: %(message)s")
    stop = threading.Event()
    parent = os.getppid()

    def orphaned() -> None:
        # A worker outlives nothing: when 'datatwin serve' is gone (killed, crashed), it stops too
        # instead of claiming jobs for a server that no longer exists.
        while not stop.wait(1.0):
            if os.getppid() != parent:
                log.warning("the server process is gone; worker stopping")
                stop.set()

    threading.Thread(target=orphaned, daemon=True, name="datatwin-parent-watch").start()
    with contextlib.suppress(KeyboardInterrupt):
        run(Path(args[0]), stop=stop, store_url=os.environ.get(STORE_ENV) or None)


if __name__ == "__main__":
    main()
