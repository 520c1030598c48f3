"""What the pages and the REST API both do: checked uploads, queued jobs, owned objects, deletes.

Every function takes the owner's id and looks objects up with it, so the two front ends cannot
differ on who may see what. Bad input raises :class:`datatwin.InputError` (HTTP 400) before any
file or row is written; an object that is missing or not the caller's raises :class:`NotFound`.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import datatwin

from .. import InputError
from ..constraints import constraint_json
from ..metadata import KINDS
from ..sampling import parse_condition
from ._config import Settings
from ._databases import DB_ENGINES, MAX_SCALE, analyse_database, check_sqlite, is_database_name
from ._files import check_model_zip, check_name, place, read_checked, receive, remove_tree, table_from_upload
from ._store import TERMINAL, Store, new_id
from ._worker import conditions_from_json, job_dir, user_dir

ENGINES = ("auto", "argn", "marginal", "copula")
MAX_SPEC_CHARS = 100_000
PREVIEW_ROWS = 20


class NotFound(Exception):
    """No such object for this user (whether it exists for another user is not told)."""


@dataclass
class Ctx:
    store: Store
    settings: Settings
    last_orphan_check: float = 0.0

    def reap_orphans(self) -> None:
        # Cheap, but a write: at most every few seconds per process.
        now = time.monotonic()
        if now - self.last_orphan_check > 5:
            self.last_orphan_check = now
            self.store.fail_orphans(self.settings.orphan_seconds)


def _tmp_dir(ctx: Ctx, owner: str) -> Path:
    d = user_dir(ctx.settings.data_dir, owner) / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return d


# ---------------------------------------------------------------------- uploads
_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _analysis_pool() -> ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # spawn, not fork: the web process has threads (forking those is unsafe).
            _POOL = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
        return _POOL


def analyse_table(path: Path, fmt: str, name: str, max_columns: int) -> tuple[dict[str, Any], tuple[int, int]]:
    """Parse an upload with datatwin's reader and detect its metadata (runs in the helper process)."""
    df = read_checked(path, fmt, name, max_columns)
    meta = datatwin.Metadata.infer(df)
    suggested = datatwin.suggest_constraints(df, meta)
    head = df.head(PREVIEW_ROWS)
    info = {
        "preview": {"columns": [str(c) for c in df.columns],
                    "rows": [["" if v is None else str(v) for v in row] for row in head.astype(object)
                             .where(head.notna(), None).itertuples(index=False)]},
        "metadata": meta.to_dict(),
        "suggested": [{"text": c.describe(), "json": constraint_json(c)} for c in suggested],
    }
    return json.loads(json.dumps(info, default=str)), (len(df), df.shape[1])


def save_upload(ctx: Ctx, owner: str, filename: str | None, stream: IO[bytes]) -> str:
    """Check an uploaded table or SQLite database and keep it; on any refusal nothing stays on disk
    or in the database."""
    name = check_name(filename)
    s = ctx.settings
    tmp = receive(stream, _tmp_dir(ctx, owner), s.max_upload_bytes)
    try:
        # Parsing and detecting metadata is CPU work that holds the GIL for seconds on a big table:
        # it runs in a helper process, so pages and status requests stay fast meanwhile.
        if is_database_name(name):
            check_sqlite(tmp, name, max_tables=s.max_tables, max_columns=s.max_columns)
            fmt = "sqlite"
            info, shape = _analysis_pool().submit(analyse_database, tmp, name).result()
        else:
            tmp, fmt = table_from_upload(tmp, name, max_decompressed=s.max_decompressed_bytes,
                                         max_columns=s.max_columns)
            info, shape = _analysis_pool().submit(analyse_table, tmp, fmt, name, s.max_columns).result()
        uid = new_id()
        folder = user_dir(s.data_dir, owner) / "uploads" / uid
        folder.mkdir(parents=True)
        meta_tmp = tmp.with_suffix(".json")
        meta_tmp.write_text(json.dumps(info), encoding="utf-8")
        place(meta_tmp, folder / "info.json")
        dest = folder / f"data.{fmt}"
        size = tmp.stat().st_size
        place(tmp, dest)
        ctx.store.add_upload(owner, uid, name, str(dest), fmt, shape[0], shape[1], size)
        return uid
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def upload(ctx: Ctx, owner: str, uid: str) -> dict[str, Any]:
    row = ctx.store.upload(owner, uid)
    if row is None:
        raise NotFound()
    return row


def upload_info(ctx: Ctx, row: dict[str, Any]) -> dict[str, Any]:
    info = json.loads((Path(row["path"]).parent / "info.json").read_text(encoding="utf-8"))
    info["kinds"] = KINDS
    return info


def is_database(row: dict[str, Any]) -> bool:
    """An uploaded SQLite database, or a model of one (rather than of a single table)."""
    return row.get("format") == "sqlite" or bool((row.get("info") or {}).get("database"))


def delete_upload(ctx: Ctx, owner: str, uid: str) -> None:
    row = upload(ctx, owner, uid)
    remove_tree(Path(row["path"]).parent)
    ctx.store.delete("uploads", owner, uid)


# ---------------------------------------------------------------------- models
def model(ctx: Ctx, owner: str, mid: str) -> dict[str, Any]:
    row = ctx.store.model(owner, mid)
    if row is None:
        raise NotFound()
    return row


def delete_model(ctx: Ctx, owner: str, mid: str) -> None:
    row = model(ctx, owner, mid)
    Path(row["path"]).unlink(missing_ok=True)
    ctx.store.delete("models", owner, mid)


def import_model(ctx: Ctx, owner: str, filename: str | None, stream: IO[bytes]) -> str:
    """A .dtw file made elsewhere: loaded (checksums verified) before it is kept."""
    name = check_name(filename)
    if not name.lower().endswith(".dtw"):
        raise InputError(f"{name!r}: model files end in .dtw")
    s = ctx.settings
    tmp = receive(stream, _tmp_dir(ctx, owner), s.max_upload_bytes)
    try:
        check_model_zip(tmp, s.max_decompressed_bytes)
        probe = tmp.with_suffix(".dtw")
        tmp.rename(probe)
        tmp = probe
        try:
            syn = datatwin.load(tmp)
        except datatwin.ModelFileError as exc:
            raise InputError(f"{name!r} was refused: {str(exc).replace(repr(str(tmp)), 'the file')}") from None
        mid = new_id()
        dest = user_dir(s.data_dir, owner) / "models" / f"{mid}.dtw"
        place(tmp, dest)
        info = {"columns": list(map(str, syn.columns_)), "seed": syn.random_state, "imported": True}
        ctx.store.add_model(owner, mid, None, f"{name} (imported)", str(dest), syn.engine, info)
        return mid
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------- jobs
def job(ctx: Ctx, owner: str, jid: str) -> dict[str, Any]:
    ctx.reap_orphans()
    row = ctx.store.job(owner, jid)
    if row is None:
        raise NotFound()
    return row


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    try:
        v = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number, got {str(value)[:40]!r}") from None
    if not lo <= v <= hi:
        raise InputError(f"{what} must be between {lo:,} and {hi:,}, got {v:,}")
    return v


def _epsilon(value: Any) -> float:
    try:
        eps = float(value)
    except (TypeError, ValueError):
        raise InputError(f"the privacy budget epsilon must be a number, got {value!r}") from None
    if not 0.01 <= eps <= 100:
        raise InputError(f"the privacy budget epsilon must be between 0.01 and 100, got {eps:g}")
    return eps


def start_fit(ctx: Ctx, owner: str, upload_id: str, *, engine: str = "argn", max_training_time: Any = 60,
              max_epochs: Any = None, seed: Any = 0, kinds: dict[str, str] | None = None,
              keep_rules: list[int] | None = None, epsilon: Any = None,
              sequences: dict[str, dict[str, str]] | None = None) -> str:
    """Queue a fit; ``kinds`` overrides detected column kinds, ``keep_rules`` picks suggested rules,
    ``epsilon`` trains under differential privacy at that budget; ``sequences`` (databases) marks
    tables of histories."""
    row = upload(ctx, owner, upload_id)
    if sequences and not is_database(row):
        raise InputError("sequence tables are for database uploads; leave them empty")
    if is_database(row):
        if epsilon not in (None, "") or kinds or keep_rules:
            raise InputError("a database model has no privacy budget, column kinds or rules (yet); "
                             "leave those empty")
        return start_db_fit(ctx, owner, upload_id, engine=engine, max_training_time=max_training_time,
                            max_epochs=max_epochs, seed=seed, sequences=sequences)
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    params: dict[str, Any] = {"upload_id": row["id"], "engine": engine,
                              "max_training_time": _int(max_training_time, "the time budget (seconds)", 1, 3600),
                              "seed": _int(seed, "the seed", 0, 2**31 - 1)}
    if max_epochs not in (None, ""):
        params["max_epochs"] = _int(max_epochs, "max epochs", 1, 10_000)
    if epsilon not in (None, ""):
        params["epsilon"] = _epsilon(epsilon)
        if engine == "copula":
            raise InputError("the copula engine cannot train under a privacy budget; choose auto, marginal or argn")
    info = upload_info(ctx, row)
    detected = info["metadata"]["columns"]
    override: dict[str, Any] = {}
    for col, kind in (kinds or {}).items():
        if col not in detected:
            raise InputError(f"{col!r} is not a column of {row['name']!r}")
        if kind not in KINDS:
            raise InputError(f"column {col!r}: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        if kind != detected[col]["kind"]:
            override[col] = {"kind": kind}
    if override:
        params["metadata"] = {"columns": override}
    if keep_rules:
        rules = info["suggested"]
        params["constraints"] = [rules[i]["json"] for i in keep_rules if 0 <= i < len(rules)]
    return ctx.store.add_job(owner, "fit", params)


def start_db_fit(ctx: Ctx, owner: str, upload_id: str, *, engine: str = "argn", max_training_time: Any = 60,
                 max_epochs: Any = None, seed: Any = 0, sequences: dict[str, dict[str, str]] | None = None) -> str:
    """Queue the fit of a database model: one model per table, children conditioned on parents.

    ``sequences`` marks tables of histories, ``{table: {"key": entity column, "index": order column}}``:
    each entity's rows are then generated in order, each step from the ones before."""
    row = upload(ctx, owner, upload_id)
    if not is_database(row):
        raise InputError(f"{row['name']!r} is a single table; fit it with POST /api/uploads/{{id}}/fit")
    if engine not in DB_ENGINES:
        raise InputError(f"unknown engine {engine!r} for a database; use one of {', '.join(DB_ENGINES)}")
    params: dict[str, Any] = {"upload_id": row["id"], "database": True, "engine": engine,
                              "max_training_time": _int(max_training_time, "the time budget per table (seconds)",
                                                        1, 3600),
                              "seed": _int(seed, "the seed", 0, 2**31 - 1)}
    if max_epochs not in (None, ""):
        if engine != "argn":
            raise InputError("max epochs applies to the argn engine only; leave it empty for marginal")
        params["max_epochs"] = _int(max_epochs, "max epochs", 1, 10_000)
    if sequences:
        params["sequences"] = check_sequences(upload_info(ctx, row)["database"]["tables"], sequences)
    return ctx.store.add_job(owner, "fit", params)


def check_sequences(tables: list[dict[str, Any]], sequences: Any) -> dict[str, dict[str, str]]:
    """Each sequence table named, with two different columns of it as entity key and order; the
    library's data checks (an order that is neither number nor date, one row per entity) run in the fit."""
    by_name = {t["name"]: t for t in tables}
    out: dict[str, dict[str, str]] = {}
    if not isinstance(sequences, dict):
        raise InputError('sequences must be {table: {"key": column, "index": column}}')
    for t, spec in sequences.items():
        key, index = (spec.get("key"), spec.get("index")) if isinstance(spec, dict) else (None, None)
        if t not in by_name:
            raise InputError(f"sequence table {t!r} is not a table of this database; tables: {', '.join(by_name)}")
        if not key or not index:
            raise InputError(f"sequence table {t!r} needs both an entity key (whose history) and an order column "
                             f"(a date or number that orders each history)")
        cols = by_name[t]["columns"]
        for what, c in (("entity key", key), ("order column", index)):
            if c not in cols:
                raise InputError(f"sequence {what} {t}.{c}: no such column; columns: {', '.join(cols)}")
        if key == index:
            raise InputError(f"sequence table {t!r}: the entity key and the order column must differ")
        if by_name[t]["primary_key"] == [key]:
            raise InputError(f"sequence key {t}.{key} is the table's primary key, one row per entity: pick the "
                             f"column naming whose history a row belongs to (often a foreign key)")
        out[t] = {"key": str(key), "index": str(index)}
    return out


def parse_db_conditions(text: str | None, tables: list[str]) -> dict[str, dict[str, Any]]:
    """``table.column=value`` (``=a|b``, ``=low..high``), one per line, as ``{table: {column: ...}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in _lines(text):
        name, spec = parse_condition(item)
        # Table names may hold dots: the longest table name the text starts with wins.
        table = max((t for t in tables if name.startswith(f"{t}.")), key=len, default=None)
        if table is None or not name[len(table) + 1:]:
            raise InputError(f"condition {item!r}: write table.column=value with a table of the model "
                             f"({', '.join(tables)}), e.g. {tables[0]}.column=value")
        out.setdefault(table, {})[name[len(table) + 1:]] = {"range": list(spec)} if isinstance(spec, tuple) else spec
    return out


def check_db_conditions(path: str, conds: dict[str, dict[str, Any]]) -> None:
    """The library's own check (a root table, a learned column), so a bad condition is refused at once."""
    from ..relational import DatabaseSynthesizer
    from ..relational._conditions import check_conditions

    check_conditions(DatabaseSynthesizer.load(path), conditions_from_json(conds), None)


def start_db_sample(ctx: Ctx, owner: str, model_id: str, *, scale: Any = 1.0, seed: Any = 0,
                    where: str | None = None) -> str:
    """Queue a synthetic database ``scale`` times the size of the real one, its root tables'
    rows optionally conditioned (``table.column=value`` lines; the children follow)."""
    row = model(ctx, owner, model_id)
    if not is_database(row):
        raise InputError("this model is of a single table: sample it with n (rows), not scale")
    try:
        f = float(str(scale).strip())
    except (TypeError, ValueError):
        f = -1.0
    if not (0 < f <= MAX_SCALE):
        raise InputError(f"scale must be a number above 0 and at most {MAX_SCALE:g} (1 = the real size), "
                         f"got {str(scale)[:40]!r}")
    expected = int(row["info"].get("rows", 0) * f)
    if expected > ctx.settings.max_rows_out:
        raise InputError(f"scale {f:g} would make about {expected:,} rows; the limit is "
                         f"{ctx.settings.max_rows_out:,}: use a smaller scale")
    params = {"model_id": row["id"], "database": True, "scale": f, "seed": _int(seed, "the seed", 0, 2**31 - 1)}
    conds = parse_db_conditions(where, [t for t in row["info"].get("tables", {}) if not t.startswith("__")])
    if conds:
        check_db_conditions(row["path"], conds)
        params["conditions"] = conds
    return ctx.store.add_job(owner, "sample", params)


def _lines(text: str | None) -> list[str]:
    return [ln.strip() for ln in (text or "").replace(",", "\n").splitlines() if ln.strip()]


def parse_conditions(text: str | None, columns: list[str]) -> dict[str, Any]:
    """``col=value``, ``col=a|b`` (any of), ``col=low..high`` (inclusive), one per line."""
    out: dict[str, Any] = {}
    for item in _lines(text):
        name, spec = parse_condition(item)
        if name not in columns:
            raise InputError(f"condition {item!r}: {name!r} is not a column; columns: {', '.join(columns)}")
        # Job parameters are JSON: a range is stored as {"range": [low, high]}.
        out[name] = {"range": list(spec)} if isinstance(spec, tuple) else spec
    return out


def parse_rebalance(text: str | None, columns: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for item in _lines(text):
        name, sep, rest = item.partition("=")
        value, sep2, share = rest.rpartition(":")
        try:
            f = float(share)
        except ValueError:
            f = -1.0
        if not (sep and sep2 and name) or not 0 <= f <= 1:
            raise InputError(f"rebalance {item!r}: write column=value:share with a share in [0, 1]")
        if name.strip() not in columns:
            raise InputError(f"rebalance {item!r}: {name.strip()!r} is not a column")
        out.setdefault(name.strip(), {})[value.strip()] = f
    return out


def parse_what_if(text: str | None, columns: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for item in _lines(text):
        name, _, change = (p.strip() for p in item.partition("="))
        try:
            op, value = change[:1], float(change[1:])
        except ValueError:
            op, value = "", 0.0
        if op not in ("*", "+", "-", "/") or name not in columns:
            raise InputError(f"what-if {item!r}: write column=*1.1, column=+5, column=-5 or column=/2 "
                             "for a numeric column")
        out[name] = [op, value]
    return out


def start_sample(ctx: Ctx, owner: str, model_id: str, *, n: Any, seed: Any = 0, where: str | None = None,
                 rebalance: str | None = None, what_if: str | None = None, boost_where: str | None = None,
                 boost_share: Any = None) -> str:
    row = model(ctx, owner, model_id)
    if is_database(row):
        raise InputError("this is a database model: sample it with a scale (1 = the real size), not n rows")
    cols = list(row["info"].get("columns", []))
    params: dict[str, Any] = {"model_id": row["id"], "n": _int(n, "n (rows)", 1, ctx.settings.max_rows_out),
                              "seed": _int(seed, "the seed", 0, 2**31 - 1)}
    cond, mix, changes = parse_conditions(where, cols), parse_rebalance(rebalance, cols), parse_what_if(what_if, cols)
    boost = parse_conditions(boost_where, cols)
    if changes and (cond or mix or boost):
        raise InputError("what-if cannot be combined with conditions, rebalancing or a boost")
    if boost or str(boost_share or "").strip():
        share = _share(boost_share)
        if not boost:
            raise InputError("a boost needs the rows to boost: conditions such as fraud=1, one per line")
        if mix:
            raise InputError("boost and rebalance cannot be combined; use one of them")
        params["boost"] = {"where": boost, "share": share}
    if cond:
        params["conditions"] = cond
    if mix:
        params["rebalance"] = mix
    if changes:
        params["what_if"] = changes
    return ctx.store.add_job(owner, "sample", params)


def _share(value: Any) -> float:
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = -1.0
    if not 0 <= share <= 1:
        raise InputError(f"the boost share must be a number in [0, 1] such as 0.3, got {value!r}")
    return share


def start_report(ctx: Ctx, owner: str, sample_job_id: str, target: str | None = None) -> str:
    sj = job(ctx, owner, sample_job_id)
    if sj["kind"] != "sample" or sj["status"] != "done":
        raise InputError("a report needs a finished sample job")
    m = model(ctx, owner, sj["params"]["model_id"])
    if not m["upload_id"] or ctx.store.upload(owner, m["upload_id"]) is None:
        raise InputError("a report compares with the real table, and this model's upload is gone")
    target = (target or "").strip() or None
    if is_database(m):
        if target:
            raise InputError("a database report has no target column; leave it empty")
        return ctx.store.add_job(owner, "report", {"sample_job_id": sj["id"], "database": True})
    if target is not None and target not in m["info"].get("columns", []):
        raise InputError(f"target {target!r} is not a column")
    return ctx.store.add_job(owner, "report", {"sample_job_id": sj["id"], "target": target})


def check_spec(ctx: Ctx, owner: str, text: str) -> str:
    """Validate a spec now (a spec is data: expressions are parsed, never run as Python) -> its format."""
    if not text or not text.strip():
        raise InputError("the spec is empty; it needs a 'columns' mapping")
    if len(text) > MAX_SPEC_CHARS:
        raise InputError(f"the spec is longer than {MAX_SPEC_CHARS:,} characters")
    fmt = "json" if text.lstrip().startswith("{") else "yaml"
    with tempfile.TemporaryDirectory(dir=_tmp_dir(ctx, owner)) as d:
        p = Path(d) / f"spec.{fmt}"
        p.write_text(text, encoding="utf-8")
        datatwin.Spec.load(p)
    return fmt


def start_generate(ctx: Ctx, owner: str, spec: str, *, n: Any, seed: Any = 0) -> str:
    params = {"n": _int(n, "n (rows)", 1, ctx.settings.max_rows_out), "seed": _int(seed, "the seed", 0, 2**31 - 1)}
    fmt = check_spec(ctx, owner, spec)
    return ctx.store.add_job(owner, "generate", {**params, "spec": spec, "format": fmt})


def cancel(ctx: Ctx, owner: str, jid: str) -> None:
    job(ctx, owner, jid)
    ctx.store.cancel(owner, jid)


def retry(ctx: Ctx, owner: str, jid: str) -> None:
    row = job(ctx, owner, jid)
    if row["status"] not in ("failed", "cancelled"):
        raise InputError(f"only failed or cancelled jobs can be retried; this one is {row['status']}")
    remove_tree(job_dir(ctx.settings.data_dir, owner, jid))
    ctx.store.retry(owner, jid)


def delete_job(ctx: Ctx, owner: str, jid: str) -> None:
    row = job(ctx, owner, jid)
    if row["status"] not in TERMINAL:
        ctx.store.cancel(owner, jid)
        raise InputError("the job is still running; it is being cancelled, delete it when it has stopped")
    remove_tree(job_dir(ctx.settings.data_dir, owner, jid))
    ctx.store.delete("jobs", owner, jid)


# What a download format is called on disk, and how it is served.
DOWNLOADS = {"csv": ("sample.csv", "text/csv; charset=utf-8", "csv"),
             "parquet": ("sample.parquet", "application/vnd.apache.parquet", "parquet"),
             "sqlite": ("synthetic.sqlite", "application/vnd.sqlite3", "sqlite"),
             "zip": ("synthetic-csv.zip", "application/zip", "zip")}


def download(ctx: Ctx, owner: str, jid: str, fmt: str) -> tuple[Path, str, str]:
    """(file, media type, download name) of a finished job's output in ``fmt``."""
    if fmt not in DOWNLOADS:
        raise InputError(f"format is one of {', '.join(DOWNLOADS)}")
    name, media, ext = DOWNLOADS[fmt]
    return output_file(ctx, owner, jid, name), media, f"datatwin-{jid}.{ext}"


def report_file(ctx: Ctx, owner: str, jid: str, table: Any = None) -> Path:
    """A report's HTML; ``table`` only for a database report made before the database evaluation
    (then one report per table, number ``table`` 0 first)."""
    row = job(ctx, owner, jid)
    if not row["params"].get("database") or table in (None, ""):
        return output_file(ctx, owner, jid, "report.html")
    i = _int(0 if table in (None, "") else table, "table", 0, 10_000)
    return output_file(ctx, owner, jid, f"report_{i}.html")


def output_file(ctx: Ctx, owner: str, jid: str, name: str) -> Path:
    row = job(ctx, owner, jid)
    path = job_dir(ctx.settings.data_dir, owner, row["id"]) / name
    if row["status"] != "done" or not path.is_file():
        raise NotFound()
    return path
