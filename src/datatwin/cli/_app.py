"""The Typer app: one command per task, each a thin layer over the Python API."""

from __future__ import annotations

import json
import logging
import signal
import sys
import zipfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.logging import RichHandler
from rich.table import Table

from .. import cli  # the package: its consoles are looked up at call time (see cli/__init__.py)
from .._exceptions import DatatwinError, InputError
from .._privacy import DP
from .._privacy import describe_spent as privacy_text
from ..constraints import constraint_json, suggest_constraints
from ..evaluation import audit_privacy
from ..evaluation import evaluate as run_evaluate
from ..io import is_parquet_dataset, read_table, write_table
from ..metadata import Metadata
from ..spec import Spec, generate_to_file
from ..synthesizer import Synthesizer, load
from ..synthesizer import augment as blend
from ._options import (
    AUGMENT,
    DATASET,
    EVALUATE,
    GENERATE,
    SAMPLE,
    SAMPLE_SEED,
    SYNTHESIZER,
    BoostShareOpt,
    BoostWhereOpt,
    ChunkOpt,
    ConstraintOpt,
    DataArg,
    DeltaOpt,
    EngineOpt,
    EpsilonOpt,
    FitOptions,
    FormatOpt,
    FormulasOpt,
    LocaleOpt,
    MetaOpt,
    PartitionOpt,
    RebalanceOpt,
    RowsOpt,
    SchedulerOpt,
    SeedOpt,
    TimeOpt,
    WhatIfOpt,
    WhereOpt,
)
from ._parse import check_n, check_output, check_table_suffix, parse_conditions, parse_rebalance, parse_what_if
from ._progress import progress_bars
from ._verdicts import print_verdicts

app = typer.Typer(
    name="datatwin",
    help="Learn a real table and generate privacy-safe synthetic data that behaves like it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more detail.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=cli.err, show_time=False, show_path=False)], force=True)


@app.command()
def inspect(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the detected metadata here (to edit and "
                                                   "pass to fit --metadata).")] = None,
    spec_out: Annotated[Path | None, typer.Option("--spec", help="Write a starter spec (YAML, or JSON for .json) "
                                                   "for 'datatwin generate': fitted distributions, no real "
                                                   "extremes or rare values.")] = None,
) -> None:
    """Show the detected kind of every column (numeric, categorical, datetime, id, PII, ...) and why.

    To override a kind, write the metadata with --json, edit it, and pass it to fit --metadata.
    Given a model file (.dtw), show what it learned instead: columns, engine, privacy guarantee."""
    if zipfile.is_zipfile(data) and data.suffix.lower() != ".parquet":
        _inspect_model(data)
        return
    if spec_out is not None:
        check_output(spec_out, (data,), (json_out,))
    df = read_table(data)
    meta = Metadata.infer(df)
    suggested = suggest_constraints(df, meta)
    if json_out is not None:
        check_output(json_out, (data,))
        # Suggested rules go into the file, where the user keeps or deletes them.
        meta.constraints = [constraint_json(c) for c in suggested]
        meta.save(json_out)
    if spec_out is not None:
        Spec.from_data(df, meta).save(spec_out, comment=(
            f"Starter spec written by 'datatwin inspect' from {data.name}: edit it, then run\n"
            f"datatwin generate {spec_out.name} -n 1000 -o out.csv   (format: docs/spec.md)"))
    table = Table(title=f"{data} - {len(df):,} rows x {df.shape[1]} columns")
    for col in ("column", "kind", "dtype", "missing", "distinct", "detail"):
        table.add_column(col)
    why = Metadata.reasons(df)
    for name, cm in meta.columns.items():
        s = df[name]
        detail = cm.pii_type or cm.datetime_format or ("integer" if cm.integer else "") or (
            f"{cm.decimals} decimals" if cm.decimals else "") or (f"value={cm.value}" if cm.value else "")
        table.add_row(name, cm.kind, cm.dtype, f"{s.isna().mean():.1%}", f"{s.nunique():,}", detail)
    cli.out.print(table)
    cli.out.print("Why each kind (override in a --json metadata file):")
    for name, cm in meta.columns.items():
        cli.out.print(f"  {name}: {cm.kind}, {why[name]}", markup=False)
    if suggested:
        cli.out.print("Rules that hold in every row (suggested constraints; "
                      + ("kept in the --json file: delete any that is a coincidence" if json_out is not None
                         else "write them to a metadata file with --json") + "):")
        for c in suggested:
            cli.out.print(f"  {c.describe()}", markup=False)
    if json_out is not None:
        cli.err.print(f"metadata written to [bold]{json_out}[/bold]")
    if spec_out is not None:
        cli.err.print(f"starter spec written to [bold]{spec_out}[/bold]")


def _inspect_model(path: Path) -> None:
    syn = load(path)
    model = syn.model_
    table = Table(title=f"{path} - a datatwin model of {len(model.columns)} columns, fitted on {syn.n_rows_:,} rows")
    table.add_column("column")
    table.add_column("kind")
    for name in model.columns:
        table.add_row(name, model.metadata.columns[name].kind)
    cli.out.print(table)
    cli.out.print(f"engine: {model.engine.name}", markup=False)
    spent = syn.privacy_
    if spent is None:
        cli.out.print("privacy: not differentially private (empirical protections only: rare values, "
                      "extremes and real PII are never reproduced)", markup=False)
        return
    cli.out.print(f"privacy: {privacy_text(spent)}", markup=False)
    cli.out.print(f"  budget: epsilon={spent['epsilon_budget']:g}, delta={spent['delta_budget']:.2g}; "
                  f"accountant: {spent['accountant']}", markup=False)
    for step in spent["steps"]:
        what = {k: v for k, v in step.items() if k != "what"}
        cli.out.print(f"  - {step['what']}: {what}", markup=False)


@app.command()
def fit(
    data: DataArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.dtw).")],
    metadata: MetaOpt = None,
    seed: SeedOpt = SYNTHESIZER["random_state"],
    engine: EngineOpt = SYNTHESIZER["engine"],
    max_training_time: TimeOpt = SYNTHESIZER["max_training_time"],
    locale: LocaleOpt = SYNTHESIZER["locale"],
    constraint: ConstraintOpt = None,
    epsilon: EpsilonOpt = None,
    delta: DeltaOpt = None,
    infer_formulas: FormulasOpt = SYNTHESIZER["infer_formulas"],
) -> None:
    """Learn a table and save the model (JSON + safetensors, no pickle)."""
    check_output(output, (data, metadata))
    # A Parquet file or folder goes to fit as a path: one larger than memory is streamed.
    syn = _fit(data if is_parquet_dataset(data) else read_table(data),
               FitOptions(metadata, seed, engine, max_training_time, locale, constraint, epsilon, delta,
                          infer_formulas))
    _keep_if_learned(syn)
    syn.save(output)
    cli.err.print(f"model written to [bold]{output}[/bold] ({_model_summary(syn, output)})")
    if getattr(syn.engine_, "interrupted_", False):
        cli.err.print("[red]interrupted[/red]: the model written is the best one before the interruption")
        sys.exit(130)


def _keep_if_learned(syn: Synthesizer) -> None:
    """An interrupted fit that finished no epoch learned nothing: no model is written (exit 130)."""
    engine = syn.engine_
    if getattr(engine, "interrupted_", False) and not getattr(engine, "history_", None):
        cli.err.print("[red]interrupted[/red] during the first epoch: nothing was learned, so no model was written")
        sys.exit(130)


def _model_summary(syn: Synthesizer, path: Path) -> str:
    size = path.stat().st_size
    text = f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"
    epochs, why = getattr(syn.engine_, "epochs_", None), getattr(syn.engine_, "stopped_by_", None)
    if epochs is not None:
        text += f"; {epochs} epochs, stopped by {str(why).replace('_', ' ')}"
    if syn.privacy_ is not None:
        text += f"; {privacy_text(syn.privacy_)}"
    return text


def _fit(df: pd.DataFrame | Path, options: FitOptions) -> Synthesizer:
    syn = options.synthesizer()
    with progress_bars(cli.err) as cb:
        syn.fit(df, options.metadata, progress=cb)
    return syn


@app.command()
def sample(
    model: Annotated[Path, typer.Argument(help="Model file written by 'datatwin fit'.")],
    n: RowsOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet (streamed); a folder "
                                         "with --scheduler.")],
    seed: SeedOpt = SAMPLE_SEED,
    chunk_size: ChunkOpt = SAMPLE["chunk_size"],
    where: WhereOpt = None,
    rebalance: RebalanceOpt = None,
    boost_where: BoostWhereOpt = None,
    boost_share: BoostShareOpt = None,
    what_if: WhatIfOpt = None,
    scheduler: SchedulerOpt = None,
    fmt: FormatOpt = None,
    partition_size: PartitionOpt = None,
) -> None:
    """Generate rows from a saved model, streamed to CSV or Parquet in chunks (or, with --scheduler,
    drawn on a Dask cluster into a partitioned dataset that a rerun resumes)."""
    check_n(n)
    if fmt is not None and fmt not in ("parquet", "csv"):
        raise InputError(f"--format must be parquet or csv, got {fmt!r}")
    if scheduler is None:
        if partition_size is not None:
            raise InputError("--partition-size sets the parts of a --scheduler dataset; add --scheduler, or leave "
                             "it out")
        check_table_suffix(output)
        suffix_format = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".txt": "csv"}
        if fmt is not None and suffix_format.get(output.suffix.lower()) != fmt:
            raise InputError(f"--format {fmt} does not match the output {str(output)!r}; name the file *.{fmt} "
                             f"(without --scheduler the suffix decides the format)")
        check_output(output, (model,))
    conditions, mix, changes = parse_conditions(where), parse_rebalance(rebalance), parse_what_if(what_if)
    boost = None
    if boost_where or boost_share is not None:
        if not boost_where or boost_share is None:
            raise InputError("--boost-where and --boost-share go together: the rows to boost and their share")
        boost = {"where": parse_conditions(boost_where), "share": boost_share}
    if changes and scheduler is not None:
        raise InputError("--what-if runs on one machine; leave out --scheduler")
    syn = load(model)
    if changes:
        if conditions or mix:
            raise InputError("--what-if cannot be combined with --where or --rebalance")
        write_table(syn.what_if(n, changes, seed=seed), output)
        cli.err.print(f"{n:,} what-if rows written to [bold]{output}[/bold]")
        return
    if scheduler is not None:
        with progress_bars(cli.err) as cb:
            rows = syn.sample_to_dataset(n, output, seed=seed, scheduler=scheduler, conditions=conditions,
                                         rebalance=mix, boost=boost, format=fmt or DATASET["format"],
                                         partition_size=partition_size or DATASET["partition_size"], progress=cb)
        cli.err.print(f"{rows:,} synthetic rows written to [bold]{output}[/bold] (a partitioned dataset)")
        return
    with progress_bars(cli.err) as cb:
        rows = syn.sample_to_file(n, output, seed=seed, chunk_size=chunk_size, progress=cb,
                                  conditions=conditions, rebalance=mix, boost=boost)
    cli.err.print(f"{rows:,} synthetic rows written to [bold]{output}[/bold]")


@app.command()
def synth(
    data: DataArg,
    n: RowsOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet.")],
    metadata: MetaOpt = None,
    seed: SeedOpt = SYNTHESIZER["random_state"],
    engine: EngineOpt = SYNTHESIZER["engine"],
    max_training_time: TimeOpt = SYNTHESIZER["max_training_time"],
    model_out: Annotated[Path | None, typer.Option("--model", help="Also save the model here.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Also write an HTML evaluation report; 20% of "
                                                 "the rows are held back from training to judge privacy and "
                                                 "utility.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Target column for the report's ML utility.")] = None,
    chunk_size: ChunkOpt = SAMPLE["chunk_size"],
    locale: LocaleOpt = SYNTHESIZER["locale"],
    constraint: ConstraintOpt = None,
    epsilon: EpsilonOpt = None,
    delta: DeltaOpt = None,
    infer_formulas: FormulasOpt = SYNTHESIZER["infer_formulas"],
) -> None:
    """Learn a table and generate synthetic rows in one step."""
    check_n(n)
    check_table_suffix(output)
    outputs = (output, model_out, report)
    for i, p in enumerate(outputs):
        if p is not None:
            check_output(p, (data, metadata), outputs[:i])
    options = FitOptions(metadata, seed, engine, max_training_time, locale, constraint, epsilon, delta, infer_formulas)
    if report is not None:
        _synth_with_report(data, n, output, options, model_out, report, target, chunk_size)
        return
    syn = _fit(read_table(data), options)
    _keep_if_learned(syn)
    if model_out is not None:
        syn.save(model_out)
    with progress_bars(cli.err) as cb:
        rows = syn.sample_to_file(n, output, seed=seed, chunk_size=chunk_size, progress=cb)
    cli.err.print(f"{rows:,} synthetic rows written to [bold]{output}[/bold]")


def _synth_with_report(data: Path, n: int, output: Path, options: FitOptions, model_out: Path | None,
                       report: Path, target: str | None, chunk_size: int) -> None:
    """'synth --report': a fifth of the rows held back from training, to judge privacy and utility."""
    seed = options.seed
    df = read_table(data)
    if target is not None and target not in df.columns:
        raise InputError(f"--target {target!r} is not a column of {str(data)!r}; columns: {list(df.columns)}")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(df))
    n_hold = max(1, len(df) // 5) if len(df) >= 10 else 0
    holdout = df.iloc[np.sort(idx[:n_hold])].reset_index(drop=True) if n_hold else None
    train = df.iloc[np.sort(idx[n_hold:])].reset_index(drop=True)
    syn = _fit(train, options)
    _keep_if_learned(syn)
    if model_out is not None:
        syn.save(model_out)
    with progress_bars(cli.err) as cb:
        rows = syn.sample_to_file(n, output, seed=seed, chunk_size=chunk_size, progress=cb)
    cli.err.print(f"{rows:,} synthetic rows written to [bold]{output}[/bold]")
    synthetic = syn.sample(min(n, 50_000), seed=seed)
    with progress_bars(cli.err) as cb:
        result = run_evaluate(train, synthetic, holdout=holdout, target=target, metadata=syn.metadata_.kinds(),
                              random_state=seed, progress=cb, guarantee=syn.privacy_)
    result.save_html(report)
    cli.err.print(f"report written to [bold]{report}[/bold]")
    print_verdicts(result)


@app.command()
def evaluate(
    real: Annotated[Path, typer.Option("--real", help="The real (training) table.")],
    synthetic: Annotated[Path, typer.Option("--synthetic", help="The synthetic table.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML report to write.")],
    holdout: Annotated[Path | None, typer.Option("--holdout", help="Real rows never shown to the generator "
                                                  "(needed for privacy and ML utility).")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Target column for ML utility.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
    seed: SeedOpt = EVALUATE["random_state"],
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows evaluated per table (seeded subsample).",
                                          min=100)] = EVALUATE["max_rows"],
) -> None:
    """Score synthetic data against real data: fidelity, detection, ML utility, privacy; write an HTML report."""
    for p, earlier in ((output, ()), (json_out, (output,))):
        if p is not None:
            check_output(p, (real, synthetic, holdout), earlier)
    real_df, syn_df = read_table(real), read_table(synthetic)
    hold_df = read_table(holdout) if holdout is not None else None
    with progress_bars(cli.err) as cb:
        result = run_evaluate(real_df, syn_df, holdout=hold_df, target=target, max_rows=max_rows,
                              random_state=seed, progress=cb)
    result.save_html(output)
    if json_out is not None:
        result.save_json(json_out)
    cli.err.print(f"report written to [bold]{output}[/bold]")
    print_verdicts(result)


AUDIT_VIOLATED = 4  # exit status when the audit proves the claimed epsilon false (3 is an internal error)


@app.command()
def audit(
    data: Annotated[Path, typer.Argument(help="The real CSV or Parquet table.")],
    epsilon: Annotated[float, typer.Option("--epsilon", help="The privacy budget epsilon to fit with and audit.")],
    delta: Annotated[float | None, typer.Option("--delta", help="The budget's delta (default: 1e-7)."
                                                )] = None,
    engine: Annotated[str, typer.Option("--engine", help="Engine trained under the budget.")] = "marginal",
    canaries: Annotated[int, typer.Option("--canaries", help="Canary rows (half are inserted, at random).",
                                          min=10)] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the canaries, their insertion and the attack.",
                                      min=0)] = 0,
    confidence: Annotated[float, typer.Option("--confidence", help="Confidence of the lower bound.")] = 0.95,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
) -> int:
    """Audit differential privacy: insert canaries, fit once, attack, and compare the empirical epsilon
    lower bound with the claimed epsilon (exit status 4 when the claim is proved false)."""
    if json_out is not None:
        check_output(json_out, (data,))
    dp = DP(epsilon=epsilon, delta=delta)
    dp.check()
    df = read_table(data)
    syn = Synthesizer(engine=engine, privacy=dp, random_state=seed)
    result = audit_privacy(df, syn, canaries=canaries, confidence=confidence, seed=seed)
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    colour = "red" if result.violated else "green"
    table = Table(title=f"privacy audit: [{colour}]{result.verdict}[/]")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in (("claimed epsilon", f"{result.claimed_epsilon:.3f}"),
                         ("claimed delta", f"{result.claimed_delta:.2g}"),
                         (f"empirical epsilon (lower bound, {result.confidence:.0%})",
                          f"{result.empirical_epsilon:.3f}"),
                         ("canaries (inserted)", f"{result.canaries} ({result.included})"),
                         ("guesses (correct)", f"{result.guesses} ({result.correct})"),
                         ("synthetic rows attacked", f"{result.n_synthetic:,}")):
        table.add_row(label, value)
    cli.out.print(table)
    if result.violated:
        cli.err.print("[red]the attack proves more privacy loss than the claimed epsilon: the claim is false[/red]")
        return AUDIT_VIOLATED
    cli.err.print("consistent: this attack found no loss beyond the claim (a lower bound; it does not prove "
                  "privacy)")
    return 0


@app.command()
def generate(
    spec: Annotated[Path, typer.Argument(help="YAML or JSON spec of the columns (docs/spec.md; write a starter "
                                         "with 'datatwin inspect data.csv --spec spec.yaml').")],
    n: RowsOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet (streamed).")],
    seed: SeedOpt = GENERATE["seed"],
    chunk_size: ChunkOpt = GENERATE["chunk_size"],
) -> None:
    """Generate rows from a spec (distributions, Faker, formulas, constraints): no real data needed."""
    check_n(n)
    check_table_suffix(output)
    check_output(output, (spec,))
    parsed = Spec.load(spec)
    with progress_bars(cli.err) as cb:
        rows = generate_to_file(parsed, n, output, seed=seed, chunk_size=chunk_size, progress=cb)
    cli.err.print(f"{rows:,} rows written to [bold]{output}[/bold]")


@app.command()
def augment(
    data: Annotated[Path, typer.Argument(help="The real CSV or Parquet table.")],
    model: Annotated[Path, typer.Option("--model", help="Model file written by 'datatwin fit' on this table.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet.")],
    ratio: Annotated[float, typer.Option("--ratio", help="Synthetic share of the output, in [0, 1): every real "
                                         "row is kept and synthetic rows are added until they make up this "
                                         "share (0.5 doubles the table; 0.2 adds one per four real rows).")]
    = AUGMENT["ratio"],
    rows: Annotated[int | None, typer.Option("-n", "--rows", help="Total output rows instead: ratio * n synthetic, "
                                             "the rest real rows drawn at random.")] = None,
    label_column: Annotated[str | None, typer.Option("--label-column", help="Add this column saying 'real' or "
                                                     "'synthetic' for each row.")] = None,
    seed: SeedOpt = AUGMENT["seed"],
) -> None:
    """Blend real rows with synthetic rows from a model at a chosen share, shuffled."""
    if rows is not None:
        check_n(rows)
    check_table_suffix(output)
    check_output(output, (data, model))
    if not 0 <= ratio <= 1 or (ratio == 1 and rows is None):
        raise InputError(f"--ratio is the synthetic share of the output and must be in [0, 1), got {ratio}")
    real = read_table(data)
    syn = load(model)
    mixed = blend(real, syn, ratio, n=rows, label_column=label_column, seed=seed)
    write_table(mixed, output)
    n_syn = int(round(len(mixed) * ratio)) if rows is not None else len(mixed) - len(real)
    cli.err.print(f"{len(mixed):,} rows ({len(mixed) - n_syn:,} real, {n_syn:,} synthetic) written to "
                  f"[bold]{output}[/bold]")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder for the database, uploads, models and "
                                           "outputs (created if missing).")] = Path("datatwin-data"),
    workers: Annotated[int, typer.Option("--workers", help="Job worker processes (fit, sample, report).",
                                         min=1, max=32)] = 2,
    store_url: Annotated[str | None, typer.Option(
        "--store-url", envvar="DATATWIN_STORE_URL", show_envvar=True,
        help="Where the app keeps its records (users, jobs, ...): a PostgreSQL URL such as "
             "postgresql+psycopg://user@host/db. Default: a SQLite file in --data-dir. Prefer the environment "
             "variable for a URL with a password (the command line is visible to other users).")] = None,
) -> None:
    """Start the local web app: upload a table or a SQLite database, train, watch progress, sample, download,
    read the report."""
    try:
        from ..web import serve as run_server
    except ImportError as exc:  # the web extra is optional: say how to get it
        raise InputError(f"the web app needs the 'web' extra ({exc.name} is missing): "
                         "pip install 'datatwin[web]'") from None
    from ..relational import safe_url

    where = f"data in {data_dir}" + (f", records in {safe_url(store_url)}" if store_url else "")
    cli.err.print(f"datatwin web app on [bold]http://{host}:{port}/[/bold] ({where}); Ctrl-C stops it",
                  highlight=False)
    run_server(host, port, data_dir, workers=workers, store_url=store_url)


def _interrupt(signum: int, frame: Any) -> None:
    # Said here, at the moment of the signal: Typer turns the KeyboardInterrupt into a silent exit 130.
    cli.err.print(f"[red]interrupted[/red] ({signal.Signals(signum).name}): stopping")
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning expected errors into one line and exit status 1."""
    debug = "--debug" in (argv if argv is not None else sys.argv)
    args = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--debug"]
    try:
        # A database URL, a folder of tables, a database model or --sequence-key: the relational verbs.
        from ._relational import app as relational_app
        from ._relational import is_relational

        target = relational_app if is_relational(args) else app
        # Ctrl-C and SIGTERM (kill, a stopping container) end a run alike: one line, temp files
        # removed, exit status 130.
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = target(args=args, prog_name="datatwin", standalone_mode=False)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        # Outside standalone mode click returns a command's exit code instead of exiting with it.
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except DatatwinError as exc:
        cli.err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)  # the signal handler has said so
    except Exception as exc:  # usage errors from Typer's (vendored) click, and anything unexpected
        if isinstance(exc, typer.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Abort):
            cli.err.print("[red]aborted[/red]")
            sys.exit(130)
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show(file=sys.stderr)
            sys.exit(code)
        if debug:
            raise
        cli.err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc} (run again with --debug for details)",
                      highlight=False, soft_wrap=True)
        sys.exit(3)
