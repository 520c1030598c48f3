"""Commands for databases and sequences: the same verbs (inspect, fit, sample, synth, evaluate),
chosen by ``main`` when the input is a database URL, a folder of tables, a database model file,
or a table with ``--sequence-key`` (and ``evaluate REAL SYNTHETIC`` given as two arguments)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from .. import cli
from .._exceptions import InputError, OutputError
from ..evaluation import evaluate as evaluate_table
from ..evaluation import evaluate_database, evaluate_sequence, split_database
from ..io import escape_formula_cells, read_table, write_table, write_table_chunks
from ..relational import (
    DatabaseSynthesizer,
    Schema,
    TableSchema,
    is_database_model,
    is_url,
    read_source,
    safe_url,
    write_database,
)
from ..relational._conditions import split_qualified
from ..relational._model import ENTITY
from ._options import SchedulerOpt
from ._parse import check_output, parse_conditions, parse_what_if
from ._progress import progress_bars
from ._verdicts import print_verdicts

app = typer.Typer(name="datatwin", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

SourceArg = Annotated[str, typer.Argument(help="Database URL (sqlite:///x.db, postgresql://...), a folder of "
                                               "CSV/Parquet tables, or one table with --sequence-key.")]
SchemaOpt = Annotated[Path | None, typer.Option("--schema", "--metadata", help="Schema JSON (tables, keys, "
                                                 "sequence key/index), e.g. written by 'inspect --json'.")]
SeqKeyOpt = Annotated[str | None, typer.Option("--sequence-key", help="Entity column of a sequence table.")]
SeqIdxOpt = Annotated[str | None, typer.Option("--sequence-index", help="Column that orders each entity's rows.")]
OutOpt = Annotated[str, typer.Option("--output", "-o", help="Output folder, database URL, or .csv/.parquet for "
                                                             "one sequence table.")]
ScaleOpt = Annotated[float, typer.Option("--scale", help="Size of the synthetic database relative to the real one.")]
ReplaceOpt = Annotated[bool, typer.Option("--replace", help="Overwrite tables that already exist in the target.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="Engine per table: argn or copula.")]
TimeOpt = Annotated[float, typer.Option("--max-training-time", help="Seconds of training per table.")]
FolderFormatOpt = Annotated[str, typer.Option("--format", help="File format of the tables written to a folder: csv "
                                              "or parquet.")]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Also write the database evaluation report (HTML); "
                                                "a fifth of the entities are held back from training as its "
                                                "reference.")]
DB_WHERE = ("Condition on a table generated first, flowing to its children: table.col=value, table.col=a|b, "
            "table.col=low..high (repeatable).")
DB_WHAT_IF = "Change a numeric column of a table generated first: table.col=*1.1, table.col=+5 (repeatable)."

SINGLE = "data"


def is_relational(args: list[str]) -> bool:
    """Whether a command line is for this module (decided before Typer parses it)."""
    if len(args) < 2 or args[0] not in ("inspect", "fit", "sample", "synth", "evaluate"):
        return False
    first = args[1]
    if args[0] == "evaluate":  # evaluate REAL SYNTHETIC (the single-table form names --real/--synthetic)
        return not first.startswith("-")
    if args[0] == "sample":
        return Path(first).is_file() and is_database_model(first)
    return is_url(first) or (Path(first).is_dir() and not _one_table_dataset(Path(first))) or "--sequence-key" in args


def _one_table_dataset(folder: Path) -> bool:
    """A folder that is one table split into Parquet files, not a database of tables: named
    ``*.parquet`` (as Spark and Dask name them), or a partitioned sample datatwin wrote."""
    return folder.suffix.lower() in (".parquet", ".pq") or (folder / "_datatwin_manifest.json").is_file()


def _source(source: str, schema: Path | None, key: str | None, index: str | None) -> tuple[Any, Any]:
    if key or index:
        if not (key and index):
            raise InputError("--sequence-key and --sequence-index go together: the entity column and the order column")
        if is_url(source) or Path(source).is_dir():
            raise InputError("--sequence-key is for one table; for a database put sequence_key and sequence_index "
                             "on the table in the --schema file")
        df = read_table(source)
        return {SINGLE: df}, Schema({SINGLE: TableSchema(SINGLE, [], key, index)}, [])
    return source, schema


def _describe(schema: Schema, frames: dict[str, Any], title: str) -> None:
    schema.check_names()
    table = Table(title=title)
    for col in ("table", "rows", "primary key", "foreign keys", "sequence"):
        table.add_column(col)
    for t, ts in schema.tables.items():
        fks = "; ".join(f"{'+'.join(fk.columns)} -> {fk.parent_table}{' (nullable)' if fk.nullable else ''}"
                        for fk in schema.parents_of(t))
        seq = f"{ts.sequence_key} by {ts.sequence_index}" if ts.sequence_key else ""
        table.add_row(t, f"{len(frames[t]):,}" if t in frames else "?", "+".join(ts.primary_key) or "-", fks, seq)
    cli.out.print(table)


@app.command()
def inspect(source: SourceArg, json_out: Annotated[Path | None, typer.Option("--json", help="Write the schema "
            "(tables, keys) here, to edit and pass to fit --schema.")] = None,
            schema: SchemaOpt = None, sequence_key: SeqKeyOpt = None, sequence_index: SeqIdxOpt = None) -> None:
    """Show the tables, primary keys and foreign keys read from a database or detected in a folder."""
    data, given = _source(source, schema, sequence_key, sequence_index)
    found, frames = read_source(data, given)
    _describe(found, frames, f"{safe_url(source)} - {len(found.tables)} table(s), {len(found.foreign_keys)} "
                             f"foreign key(s)")
    found.validate(frames)
    cli.out.print("order (parents first): " + " -> ".join(t for t in found.order()))
    if json_out is not None:
        found.save(json_out)
        cli.err.print(f"schema written to [bold]{json_out}[/bold]")


def _fit(source: str, schema: Path | None, key: str | None, index: str | None, seed: int, engine: str,
         max_training_time: float) -> DatabaseSynthesizer:
    data, given = _source(source, schema, key, index)
    db = DatabaseSynthesizer(engine, random_state=seed, max_training_time=max_training_time)
    with cli.err.status("learning the tables ..."):
        db.fit(data, given)
    return db


@app.command()
def fit(source: SourceArg, output: Annotated[Path, typer.Option("--output", "-o", help="Model file (.dtw).")],
        schema: SchemaOpt = None, sequence_key: SeqKeyOpt = None, sequence_index: SeqIdxOpt = None,
        seed: SeedOpt = 0, engine: EngineOpt = "argn", max_training_time: TimeOpt = 600.0) -> None:
    """Learn every table of a database (or one sequence table) and save the model."""
    _check_file_target(output)
    db = _fit(source, schema, sequence_key, sequence_index, seed, engine, max_training_time)
    db.save(output)
    cli.err.print(f"model of {len(db.plans_)} table(s) written to [bold]{output}[/bold]")


@app.command()
def sample(model: Annotated[Path, typer.Argument(help="Database model file written by 'datatwin fit'.")],
           output: OutOpt, scale: ScaleOpt = 1.0, seed: SeedOpt = 0, replace: ReplaceOpt = False,
           where: Annotated[list[str] | None, typer.Option("--where", "-w", help=DB_WHERE)] = None,
           what_if: Annotated[list[str] | None, typer.Option("--what-if", help=DB_WHAT_IF)] = None,
           fmt: FolderFormatOpt = "csv", scheduler: SchedulerOpt = None) -> None:
    """Generate a synthetic database into a folder, a new database, or one file."""
    _check_format(fmt)
    if scheduler is not None:
        _sample_on_dask(model, output, scale, seed, replace, where, what_if, fmt, scheduler)
        return
    _check_output(output, replace)
    db = DatabaseSynthesizer.load(model)
    conds, changes = _conditions(db, where, what_if)
    _write(db.iter_sample(scale, seed=seed, conditions=conds, what_if=changes), db, output, replace, fmt)


def _sample_on_dask(model: Path, output: str, scale: float, seed: int, replace: bool, where: list[str] | None,
                    what_if: list[str] | None, fmt: str, scheduler: str) -> None:
    """'sample --scheduler': the database drawn by Dask workers into folder/<table>/part-*.<fmt>."""
    if is_url(output) or _is_file_out(output):
        raise InputError(f"--scheduler writes a folder of partitioned tables; give a folder for -o, not {output!r}")
    if what_if:
        raise InputError("--what-if runs on one machine; leave out --scheduler")
    if replace:
        raise InputError("--replace does not apply to a --scheduler folder: a rerun into it resumes the run; write "
                         "to a new folder to start over")
    db = DatabaseSynthesizer.load(model)
    conds, _ = _conditions(db, where, None)
    with progress_bars(cli.err) as cb:
        counts = db.sample_to_dataset(output, scale, seed=seed, scheduler=scheduler, conditions=conds, format=fmt,
                                      progress=cb)
    cli.err.print(f"{len(counts)} table(s), {sum(counts.values()):,} synthetic rows written to [bold]{output}/"
                  f"[/bold] (a partitioned dataset per table)")


@app.command()
def synth(source: SourceArg, output: OutOpt, schema: SchemaOpt = None, sequence_key: SeqKeyOpt = None,
          sequence_index: SeqIdxOpt = None, scale: ScaleOpt = 1.0, seed: SeedOpt = 0, engine: EngineOpt = "argn",
          max_training_time: TimeOpt = 600.0, replace: ReplaceOpt = False,
          model_out: Annotated[Path | None, typer.Option("--model", help="Also save the model here.")] = None,
          where: Annotated[list[str] | None, typer.Option("--where", "-w", help=DB_WHERE)] = None,
          what_if: Annotated[list[str] | None, typer.Option("--what-if", help=DB_WHAT_IF)] = None,
          fmt: FolderFormatOpt = "csv", report: ReportOpt = None) -> None:
    """Learn a database (or one sequence table) and write a synthetic one, in one step."""
    _check_format(fmt)
    _check_output(output, replace)
    if model_out is not None:
        _check_file_target(model_out)
    if report is not None:
        check_output(report, (), (model_out,))
        if where or what_if:
            raise InputError("--report compares the synthetic database with the real one; leave out --where and "
                             "--what-if (or evaluate the conditioned output yourself)")
        _synth_with_report(source, output, schema, sequence_key, sequence_index, scale, seed, engine,
                           max_training_time, replace, model_out, fmt, report)
        return
    db = _fit(source, schema, sequence_key, sequence_index, seed, engine, max_training_time)
    conds, changes = _conditions(db, where, what_if)
    if model_out is not None:
        db.save(model_out)
    _write(db.iter_sample(scale, seed=seed, conditions=conds, what_if=changes), db, output, replace, fmt)


def _synth_with_report(source: str, output: str, schema: Path | None, key: str | None, index: str | None,
                       scale: float, seed: int, engine: str, max_training_time: float, replace: bool,
                       model_out: Path | None, fmt: str, report: Path) -> None:
    """'synth --report': a fifth of the entities (with all their rows) held back as the reference."""
    data, given = _source(source, schema, key, index)
    found, frames = read_source(data, given)
    found.validate(frames)
    train, holdout = split_database(frames, found, share=0.2, seed=seed)
    db = DatabaseSynthesizer(engine, random_state=seed, max_training_time=max_training_time)
    with cli.err.status("learning the tables ..."):
        db.fit(train, found)
    if model_out is not None:
        db.save(model_out)
    tables = db.sample(scale, seed=seed)
    _write(iter([tables]), db, output, replace, fmt)
    with cli.err.status("evaluating the synthetic database ..."):
        result = evaluate_database(train, tables, found, holdout=holdout, random_state=seed)
    result.save_html(report)
    cli.err.print(f"report written to [bold]{report}[/bold]")
    print_verdicts(result)


@app.command()
def evaluate(real: Annotated[str, typer.Argument(help="The real database (URL or folder), or one real table.")],
             synthetic: Annotated[str, typer.Argument(help="The synthetic database or table, the same shape.")],
             report: Annotated[Path | None, typer.Option("--report", "-o", help="HTML report to write.")] = None,
             json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
             holdout: Annotated[str | None, typer.Option("--holdout", help="Real entities the generator never saw "
                                                         "(same form as REAL): every figure gets its reference.")]
             = None,
             schema: SchemaOpt = None, sequence_key: SeqKeyOpt = None, sequence_index: SeqIdxOpt = None,
             seed: SeedOpt = 0,
             max_rows: Annotated[int, typer.Option("--max-rows", help="Rows evaluated per table (seeded subsample).",
                                                   min=100)] = 50_000) -> None:
    """Score a synthetic database (or sequence table) against the real one: keys, children per parent,
    each table, parent-to-child trends, detection, sequences; print the verdicts, write the report."""
    for p, earlier in ((report, ()), (json_out, (report,))):
        if p is not None:
            check_output(p, (), earlier)
    if sequence_key or sequence_index:
        if not (sequence_key and sequence_index):
            raise InputError("--sequence-key and --sequence-index go together: the entity column and the order column")
        hold = read_table(holdout) if holdout else None
        with cli.err.status("evaluating the sequences ..."):
            result = evaluate_sequence(read_table(real), read_table(synthetic), sequence_key, sequence_index,
                                       holdout=hold, max_rows=max_rows, random_state=seed)
    elif not (is_url(real) or Path(real).is_dir()):
        if is_url(synthetic) or Path(synthetic).is_dir():
            raise InputError(f"{real!r} is one table but {synthetic!r} is a database; compare like with like")
        hold = read_table(holdout) if holdout else None
        with cli.err.status("evaluating the table ..."):
            result = evaluate_table(read_table(real), read_table(synthetic), holdout=hold, max_rows=max_rows,
                                    random_state=seed)
    else:
        found, real_frames = read_source(real, schema)
        if not (is_url(synthetic) or Path(synthetic).is_dir()):
            raise InputError(f"{synthetic!r} is neither a database URL nor a folder of tables; give the synthetic "
                             f"database in the same form as the real one")
        _, syn_frames = read_source(synthetic, found)
        hold_frames = read_source(holdout, found)[1] if holdout else None
        with cli.err.status("evaluating the database ..."):
            result = evaluate_database(real_frames, syn_frames, found, holdout=hold_frames, max_rows=max_rows,
                                       random_state=seed)
    if report is not None:
        result.save_html(report)
        cli.err.print(f"report written to [bold]{report}[/bold]")
    if json_out is not None:
        result.save_json(json_out)
    print_verdicts(result)


def _check_format(fmt: str) -> None:
    if fmt not in ("csv", "parquet"):
        raise InputError(f"--format must be csv or parquet, got {fmt!r}")


def _conditions(db: DatabaseSynthesizer, where: list[str] | None, what_if: list[str] | None) -> tuple[Any, Any]:
    if where and what_if:
        raise InputError("--what-if cannot be combined with --where")
    tables = [t for t in db.order_ if t != ENTITY]
    return (split_qualified(parse_conditions(where), tables, "--where"),
            split_qualified(parse_what_if(what_if), tables, "--what-if"))


def _check_file_target(p: Path) -> None:
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise OutputError(f"cannot write {str(p)!r}: folder {str(p.parent)!r} does not exist; create it first")


def _is_file_out(output: str) -> bool:
    return Path(output).suffix.lower() in (".csv", ".parquet", ".pq", ".tsv")


def _check_output(output: str, replace: bool) -> None:
    """Refuse early (before any training) what would be refused at the end."""
    if is_url(output):
        return  # checked when writing, inside the transaction
    p = Path(output)
    if _is_file_out(output):
        _check_file_target(p)
    elif p.exists() and not p.is_dir():
        raise OutputError(f"output {output!r} is a file; give a folder, a database URL or a .csv/.parquet file")
    elif not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise OutputError(f"cannot write {output!r}: folder {str(p.parent)!r} does not exist; create it first")


def _write(shards: Iterator[dict[str, Any]], db: DatabaseSynthesizer, output: str, replace: bool,
           fmt: str = "csv") -> None:
    """Write the database shard by shard (see DatabaseSynthesizer.iter_sample): memory holds one
    shard, the output is complete or absent (temporary files renamed, or one transaction)."""
    names = [t for t in db.order_ if t != ENTITY]
    counts: dict[str, int] = {}

    def counted() -> Iterator[dict[str, Any]]:
        for part in shards:
            for t, df in part.items():
                counts[t] = counts.get(t, 0) + len(df)
            yield part

    if is_url(output):
        schema = Schema({t: ts for t, ts in db.schema_.tables.items() if t != ENTITY},
                        [fk for fk in db.schema_.foreign_keys if ENTITY not in (fk.table, fk.parent_table)])
        write_database(output, schema, counted(), replace=replace)
        where = safe_url(output)
    elif _is_file_out(output):
        if len(names) != 1:
            raise InputError(f"the model has {len(names)} tables; write them to a folder or a database, not one file")
        write_table_chunks((part[names[0]] for part in counted()), output)
        where = output
    else:
        _write_folder(counted(), names, Path(output), replace, fmt)
        where = output + "/"
    cli.err.print(f"{len(names)} table(s), {sum(counts.values()):,} synthetic rows written to [bold]{where}[/bold]")


def _write_folder(shards: Iterable[dict[str, Any]], names: list[str], folder: Path, replace: bool,
                  fmt: str = "csv") -> None:
    """Every table is appended shard by shard to a temporary folder, then moved in: a failure
    leaves nothing. The files are those of writing each whole table at once. (Parquet tables are
    gathered and written whole: one shard's column types need not be the next one's.)"""
    targets = {t: folder / f"{t}.{fmt}" for t in names}
    clash = [str(p.name) for p in targets.values() if p.exists()]
    if clash and not replace:
        raise OutputError(f"{str(folder)!r} already has {', '.join(clash)}; use --replace to overwrite")
    parent = folder.parent if str(folder.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=".datatwin-", dir=parent))
    try:
        if fmt == "parquet":
            parts: dict[str, list[Any]] = {t: [] for t in names}
            for part in shards:
                for t in names:
                    parts[t].append(part[t])
            for t in names:
                write_table(pd.concat(parts[t], ignore_index=True) if len(parts[t]) > 1 else parts[t][0],
                            tmp / targets[t].name)
        else:
            with contextlib.ExitStack() as stack:
                files = {t: stack.enter_context(open(tmp / f"{t}.csv", "w", encoding="utf-8", newline=""))
                         for t in names}
                for i, part in enumerate(shards):
                    for t in names:
                        escape_formula_cells(part[t]).to_csv(files[t], index=False, header=i == 0, lineterminator="\n")
        folder.mkdir(exist_ok=True)
        for t in names:
            os.replace(tmp / targets[t].name, targets[t])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["app", "is_relational"]
