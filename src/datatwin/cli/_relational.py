"""Commands for databases and sequences: the same verbs (inspect, fit, sample, synth), chosen by
``main`` when the input is a database URL, a folder of tables, a database model file, or a
table with ``--sequence-key``."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import cli
from .._exceptions import InputError, OutputError
from ..io import escape_formula_cells, read_table, write_table_chunks
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
from ..relational._model import ENTITY

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

SINGLE = "data"


def is_relational(args: list[str]) -> bool:
    """Whether a command line is for this module (decided before Typer parses it)."""
    if len(args) < 2 or args[0] not in ("inspect", "fit", "sample", "synth"):
        return False
    first = args[1]
    if args[0] == "sample":
        return Path(first).is_file() and is_database_model(first)
    return is_url(first) or Path(first).is_dir() or "--sequence-key" in args


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
           output: OutOpt, scale: ScaleOpt = 1.0, seed: SeedOpt = 0, replace: ReplaceOpt = False) -> None:
    """Generate a synthetic database into a folder, a new database, or one file."""
    _check_output(output, replace)
    db = DatabaseSynthesizer.load(model)
    _write(db.iter_sample(scale, seed=seed), db, output, replace)


@app.command()
def synth(source: SourceArg, output: OutOpt, schema: SchemaOpt = None, sequence_key: SeqKeyOpt = None,
          sequence_index: SeqIdxOpt = None, scale: ScaleOpt = 1.0, seed: SeedOpt = 0, engine: EngineOpt = "argn",
          max_training_time: TimeOpt = 600.0, replace: ReplaceOpt = False,
          model_out: Annotated[Path | None, typer.Option("--model", help="Also save the model here.")] = None) -> None:
    """Learn a database (or one sequence table) and write a synthetic one, in one step."""
    _check_output(output, replace)
    if model_out is not None:
        _check_file_target(model_out)
    db = _fit(source, schema, sequence_key, sequence_index, seed, engine, max_training_time)
    if model_out is not None:
        db.save(model_out)
    _write(db.iter_sample(scale, seed=seed), db, output, replace)


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


def _write(shards: Iterator[dict[str, Any]], db: DatabaseSynthesizer, output: str, replace: bool) -> None:
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
        _write_folder(counted(), names, Path(output), replace)
        where = output + "/"
    cli.err.print(f"{len(names)} table(s), {sum(counts.values()):,} synthetic rows written to [bold]{where}[/bold]")


def _write_folder(shards: Iterable[dict[str, Any]], names: list[str], folder: Path, replace: bool) -> None:
    """Every table is appended shard by shard to a temporary folder, then moved in: a failure
    leaves nothing. The files are those of writing each whole table at once."""
    targets = {t: folder / f"{t}.csv" for t in names}
    clash = [str(p.name) for p in targets.values() if p.exists()]
    if clash and not replace:
        raise OutputError(f"{str(folder)!r} already has {', '.join(clash)}; use --replace to overwrite")
    parent = folder.parent if str(folder.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=".datatwin-", dir=parent))
    try:
        with contextlib.ExitStack() as stack:
            files = {t: stack.enter_context(open(tmp / f"{t}.csv", "w", encoding="utf-8", newline=""))
                     for t in names}
            for i, part in enumerate(shards):
                for t in names:
                    escape_formula_cells(part[t]).to_csv(files[t], index=False, header=i == 0, lineterminator="\n")
        folder.mkdir(exist_ok=True)
        for t in names:
            os.replace(tmp / f"{t}.csv", targets[t])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["app", "is_relational"]
