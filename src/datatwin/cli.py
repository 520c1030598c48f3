"""The ``datatwin`` command: a thin Typer layer over the Python API, with rich progress bars.

Every expected failure (bad input, bad model file, unwritable output) prints one line on stderr
and exits with status 1; nothing half-written is left behind.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._exceptions import DatatwinError, InputError, OutputError
from ._progress import ProgressEvent

__all__ = ["app", "main"]

app = typer.Typer(
    name="datatwin",
    help="Learn a real table and generate privacy-safe synthetic data that behaves like it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()
log = logging.getLogger("datatwin")

SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same bytes.", min=0)]
MetaOpt = Annotated[Path | None, typer.Option("--metadata", "-m", help="JSON metadata overriding the detected "
                                               "column kinds (write a starter with 'datatwin inspect --json').")]
EngineOpt = Annotated[str, typer.Option("--engine", help="argn (default, highest fidelity) or copula (fastest).")]
TimeOpt = Annotated[float, typer.Option("--max-training-time", help="Training budget in seconds.", min=1)]
LocaleOpt = Annotated[str, typer.Option("--locale", help="Faker locale for fake names, emails, phones, ...")]
ChunkOpt = Annotated[int, typer.Option("--chunk-size", help="Rows generated and written at a time.", min=1)]


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more detail.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err, show_time=False, show_path=False)], force=True)


# What each progress stage is called on screen: fit and sample, then the stages of evaluate.
_STAGE_LABELS = {
    "fit": "training (epochs)", "sample": "sampling (rows)", "analyse": "analysing",
    "prepare": "evaluating: preparing", "fidelity": "evaluating: fidelity", "detection": "evaluating: detection",
    "utility": "evaluating: ML utility", "insights": "evaluating: insights", "privacy": "evaluating: privacy",
}


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[ProgressEvent], None]]:
    """A rich progress display fed by datatwin's progress events (one bar per stage)."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err, transient=False,
                  disable=not err.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def callback(ev: ProgressEvent) -> None:
            if ev.stage not in tasks:
                tasks[ev.stage] = bar.add_task(_STAGE_LABELS.get(ev.stage, ev.stage), total=ev.total, info="")
            if "skipped" in ev.info:  # the reason is in the report; a bar has room for one word
                info = "skipped"
            else:
                info = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in ev.info.items())
            bar.update(tasks[ev.stage], completed=ev.completed, total=ev.total, info=info)

        yield callback


def _check_output(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist; create it first")
    if path.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: it is a folder")


def _check_table_suffix(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".parquet", ".pq", ".tsv", ".txt"):
        raise InputError(f"output {str(path)!r} must end in .csv or .parquet")


def _parse_conditions(items: list[str] | None) -> dict[str, object] | None:
    """``col=value``, ``col=a|b|c`` (any of), ``col=lo..hi`` (inclusive; either end may be empty)."""
    if not items:
        return None
    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--where {item!r}: write column=value, column=a|b or column=low..high")
        if ".." in value:
            lo, hi = value.split("..", 1)
            out[name] = (_scalar(lo) if lo else None, _scalar(hi) if hi else None)
        elif "|" in value:
            out[name] = [_scalar(v) for v in value.split("|")]
        else:
            out[name] = _scalar(value)
    return out


def _scalar(text: str) -> object:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _parse_rebalance(items: list[str] | None) -> dict[str, dict[object, float]] | None:
    """``col=value:share`` (repeatable)."""
    if not items:
        return None
    out: dict[str, dict[object, float]] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        value, sep2, share = rest.rpartition(":")
        try:
            out.setdefault(name, {})[_scalar(value)] = float(share)
        except ValueError:
            raise InputError(f"--rebalance {item!r}: write column=value:share, e.g. income=>50K:0.5") from None
        if not (sep and sep2 and name):
            raise InputError(f"--rebalance {item!r}: write column=value:share, e.g. income=>50K:0.5")
    return out


def _parse_what_if(items: list[str] | None) -> dict[str, object] | None:
    """``col=*1.1``, ``col=+5``, ``col=-5``, ``col=/2`` (a change to every value of a numeric column)."""
    if not items:
        return None
    ops = {"*": lambda s, v: s * v, "+": lambda s, v: s + v, "-": lambda s, v: s - v, "/": lambda s, v: s / v}
    out: dict[str, object] = {}
    for item in items:
        name, _, change = item.partition("=")
        try:
            op, value = ops[change[:1]], float(change[1:])
        except (KeyError, ValueError):
            raise InputError(f"--what-if {item!r}: write column=*1.1, column=+5, column=-5 or column=/2") from None

        def apply(s: Any, op: Any = op, value: float = value) -> Any:
            return op(s, value)

        out[name] = apply
    return out


WhereOpt = Annotated[list[str] | None, typer.Option("--where", "-w", help="Condition every row must meet: "
                                                    "col=value, col=a|b, col=low..high (repeatable).")]
RebalanceOpt = Annotated[list[str] | None, typer.Option("--rebalance", help="Set a category's share: "
                                                        "col=value:share (repeatable).")]
BoostWhereOpt = Annotated[list[str] | None, typer.Option("--boost-where", help="Predicate of rows to boost, as "
                                                         "--where (repeatable; all must hold).")]
BoostShareOpt = Annotated[float | None, typer.Option("--boost-share", help="Exact share of rows matching "
                                                     "--boost-where (0 removes them).", min=0, max=1)]
ConstraintOpt = Annotated[list[str] | None, typer.Option("--constraint", "-c", help="Rule every row satisfies, "
                                                         "e.g. 'start <= end' or 'total = price * qty' "
                                                         "(repeatable; more kinds in the metadata file).")]


def _check_n(n: int) -> None:
    if n <= 0:
        raise InputError(f"-n must be a positive number of rows, got {n}")


@app.command()
def inspect(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the detected metadata here (to edit and "
                                                   "pass to fit --metadata).")] = None,
    spec_out: Annotated[Path | None, typer.Option("--spec", help="Write a starter spec (YAML, or JSON for .json) "
                                                   "for 'datatwin generate': fitted distributions, no real "
                                                   "extremes or rare values.")] = None,
) -> None:
    """Show the detected kind of every column (numeric, categorical, datetime, id, PII, ...)."""
    from .io import read_table
    from .metadata import Metadata

    if spec_out is not None:
        _check_output(spec_out)
    from .constraints import constraint_json, suggest_constraints

    df = read_table(data)
    meta = Metadata.infer(df)
    suggested = suggest_constraints(df, meta)
    if json_out is not None:
        _check_output(json_out)
        # Suggested rules go into the file, where the user keeps or deletes them.
        meta.constraints = [constraint_json(c) for c in suggested]
        meta.save(json_out)
    if spec_out is not None:
        from .spec import Spec

        Spec.from_data(df, meta).save(spec_out, comment=(
            f"Starter spec written by 'datatwin inspect' from {data.name}: edit it, then run\n"
            f"datatwin generate {spec_out.name} -n 1000 -o out.csv   (format: docs/spec.md)"))
    table = Table(title=f"{data} - {len(df):,} rows x {df.shape[1]} columns")
    for col in ("column", "kind", "dtype", "missing", "distinct", "detail"):
        table.add_column(col)
    for name, cm in meta.columns.items():
        s = df[name]
        detail = cm.pii_type or cm.datetime_format or ("integer" if cm.integer else "") or (
            f"{cm.decimals} decimals" if cm.decimals else "") or (f"value={cm.value}" if cm.value else "")
        table.add_row(name, cm.kind, cm.dtype, f"{s.isna().mean():.1%}", f"{s.nunique():,}", detail)
    out.print(table)
    if suggested:
        out.print("Rules that hold in every row (suggested constraints; "
                  + ("kept in the --json file: delete any that is a coincidence" if json_out is not None
                     else "write them to a metadata file with --json") + "):")
        for c in suggested:
            out.print(f"  {c.describe()}", markup=False)
    if json_out is not None:
        err.print(f"metadata written to [bold]{json_out}[/bold]")
    if spec_out is not None:
        err.print(f"starter spec written to [bold]{spec_out}[/bold]")


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file to learn.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.dtw).")],
    metadata: MetaOpt = None,
    seed: SeedOpt = 0,
    engine: EngineOpt = "argn",
    max_training_time: TimeOpt = 600.0,
    locale: LocaleOpt = "en_US",
    constraint: ConstraintOpt = None,
) -> None:
    """Learn a table and save the model (JSON + safetensors, no pickle)."""
    _check_output(output)
    syn = _fit(data, metadata, seed, engine, max_training_time, locale, constraint)
    syn.save(output)
    err.print(f"model written to [bold]{output}[/bold] ({_model_summary(syn, output)})")


def _model_summary(syn: Any, path: Path) -> str:
    size = path.stat().st_size
    text = f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"
    epochs, why = getattr(syn.engine_, "epochs_", None), getattr(syn.engine_, "stopped_by_", None)
    if epochs is not None:
        text += f"; {epochs} epochs, stopped by {str(why).replace('_', ' ')}"
    return text


def _fit(data: Path, metadata: Path | None, seed: int, engine: str, max_training_time: float,
         locale: str = "en_US", constraints: list[str] | None = None) -> Any:
    from .io import read_table
    from .synthesizer import Synthesizer

    df = read_table(data)
    syn = Synthesizer(engine, random_state=seed, max_training_time=max_training_time, locale=locale,
                      constraints=constraints or None)
    with _progress() as cb:
        syn.fit(df, metadata, progress=cb)
    return syn


@app.command()
def sample(
    model: Annotated[Path, typer.Argument(help="Model file written by 'datatwin fit'.")],
    n: Annotated[int, typer.Option("-n", "--rows", help="Number of rows to generate.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet (streamed).")],
    seed: SeedOpt = 0,
    chunk_size: ChunkOpt = 100_000,
    where: WhereOpt = None,
    rebalance: RebalanceOpt = None,
    boost_where: BoostWhereOpt = None,
    boost_share: BoostShareOpt = None,
    what_if: Annotated[list[str] | None, typer.Option("--what-if", help="Change a numeric column and regenerate "
                                                      "the rest conditionally: col=*1.1, col=+5 (repeatable).")] = None,
) -> None:
    """Generate rows from a saved model, streamed to CSV or Parquet in chunks."""
    from .io import write_table
    from .synthesizer import load

    _check_n(n)
    _check_table_suffix(output)
    _check_output(output)
    conditions, mix, changes = _parse_conditions(where), _parse_rebalance(rebalance), _parse_what_if(what_if)
    boost = None
    if boost_where or boost_share is not None:
        if not boost_where or boost_share is None:
            raise InputError("--boost-where and --boost-share go together: the rows to boost and their share")
        boost = {"where": _parse_conditions(boost_where), "share": boost_share}
    syn = load(model)
    if changes:
        if conditions or mix:
            raise InputError("--what-if cannot be combined with --where or --rebalance")
        write_table(syn.what_if(n, changes, seed=seed), output)
        err.print(f"{n:,} what-if rows written to [bold]{output}[/bold]")
        return
    with _progress() as cb:
        rows = syn.sample_to_file(n, output, seed=seed, chunk_size=chunk_size, progress=cb,
                                  conditions=conditions, rebalance=mix, boost=boost)
    err.print(f"{rows:,} synthetic rows written to [bold]{output}[/bold]")


@app.command()
def synth(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file to learn.")],
    n: Annotated[int, typer.Option("-n", "--rows", help="Number of rows to generate.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet.")],
    metadata: MetaOpt = None,
    seed: SeedOpt = 0,
    engine: EngineOpt = "argn",
    max_training_time: TimeOpt = 600.0,
    model_out: Annotated[Path | None, typer.Option("--model", help="Also save the model here.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Also write an HTML evaluation report; 20% of "
                                                 "the rows are held back from training to judge privacy and "
                                                 "utility.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Target column for the report's ML utility.")] = None,
    chunk_size: ChunkOpt = 100_000,
    locale: LocaleOpt = "en_US",
    constraint: ConstraintOpt = None,
) -> None:
    """Learn a table and generate synthetic rows in one step."""
    _check_n(n)
    _check_table_suffix(output)
    for p in (output, model_out, report):
        if p is not None:
            _check_output(p)
    if report is not None:
        _synth_with_report(data, n, output, metadata, seed, engine, max_training_time, model_out, report, target,
                           chunk_size, locale, constraint)
        return
    syn = _fit(data, metadata, seed, engine, max_training_time, locale, constraint)
    if model_out is not None:
        syn.save(model_out)
    with _progress() as cb:
        rows = syn.sample_to_file(n, output, seed=seed, chunk_size=chunk_size, progress=cb)
    err.print(f"{rows:,} synthetic rows written to [bold]{output}[/bold]")


def _synth_with_report(data: Path, n: int, output: Path, metadata: Path | None, seed: int, engine: str,
                       max_training_time: float, model_out: Path | None, report: Path, target: str | None,
                       chunk_size: int, locale: str, constraints: list[str] | None = None) -> None:
    import numpy as np

    from .evaluation import evaluate
    from .io import read_table
    from .synthesizer import Synthesizer

    df = read_table(data)
    if target is not None and target not in df.columns:
        raise InputError(f"--target {target!r} is not a column of {str(data)!r}; columns: {list(df.columns)}")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(df))
    n_hold = max(1, len(df) // 5) if len(df) >= 10 else 0
    holdout = df.iloc[np.sort(idx[:n_hold])].reset_index(drop=True) if n_hold else None
    train = df.iloc[np.sort(idx[n_hold:])].reset_index(drop=True)
    syn = Synthesizer(engine, random_state=seed, max_training_time=max_training_time, locale=locale,
                      constraints=constraints or None)
    with _progress() as cb:
        syn.fit(train, metadata, progress=cb)
    if model_out is not None:
        syn.save(model_out)
    with _progress() as cb:
        rows = syn.sample_to_file(n, output, seed=seed, chunk_size=chunk_size, progress=cb)
    err.print(f"{rows:,} synthetic rows written to [bold]{output}[/bold]")
    synthetic = syn.sample(min(n, 50_000), seed=seed)
    with _progress() as cb:
        result = evaluate(train, synthetic, holdout=holdout, target=target, metadata=syn.metadata_.kinds(),
                          random_state=seed, progress=cb)
    result.save_html(report)
    err.print(f"report written to [bold]{report}[/bold]")
    _print_summary(result)


def _print_summary(result: Any) -> None:
    """The verdicts, one line each, worst first, with the overall verdict in the title."""
    colour = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
    table = Table(title=f"evaluation: [{colour.get(result.overall, 'white')}]{result.overall}[/]")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("what it means")
    rank = {"fail": 0, "warn": 1, "pass": 2, "skip": 3}
    for v in sorted(result.verdicts, key=lambda v: rank.get(v["status"], 9)):
        table.add_row(v["title"], f"[{colour.get(v['status'], 'white')}]{v['status']}[/]", v["message"])
    err.print(table)


@app.command()
def evaluate(
    real: Annotated[Path, typer.Option("--real", help="The real (training) table.")],
    synthetic: Annotated[Path, typer.Option("--synthetic", help="The synthetic table.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML report to write.")],
    holdout: Annotated[Path | None, typer.Option("--holdout", help="Real rows never shown to the generator "
                                                  "(needed for privacy and ML utility).")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Target column for ML utility.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
    seed: SeedOpt = 0,
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows evaluated per table (seeded subsample).",
                                          min=100)] = 50_000,
) -> None:
    """Score synthetic data against real data: fidelity, detection, ML utility, privacy; write an HTML report."""
    from .evaluation import evaluate as run_evaluate
    from .io import read_table

    for p in (output, json_out):
        if p is not None:
            _check_output(p)
    real_df, syn_df = read_table(real), read_table(synthetic)
    hold_df = read_table(holdout) if holdout is not None else None
    with _progress() as cb:
        result = run_evaluate(real_df, syn_df, holdout=hold_df, target=target, max_rows=max_rows,
                              random_state=seed, progress=cb)
    result.save_html(output)
    if json_out is not None:
        result.save_json(json_out)
    err.print(f"report written to [bold]{output}[/bold]")
    _print_summary(result)


@app.command()
def generate(
    spec: Annotated[Path, typer.Argument(help="YAML or JSON spec of the columns (docs/spec.md; write a starter "
                                         "with 'datatwin inspect data.csv --spec spec.yaml').")],
    n: Annotated[int, typer.Option("-n", "--rows", help="Number of rows to generate.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet (streamed).")],
    seed: SeedOpt = 0,
    chunk_size: ChunkOpt = 100_000,
) -> None:
    """Generate rows from a spec (distributions, Faker, formulas, constraints): no real data needed."""
    from .spec import Spec, generate_to_file

    _check_n(n)
    _check_table_suffix(output)
    _check_output(output)
    parsed = Spec.load(spec)
    with _progress() as cb:
        rows = generate_to_file(parsed, n, output, seed=seed, chunk_size=chunk_size, progress=cb)
    err.print(f"{rows:,} rows written to [bold]{output}[/bold]")


@app.command()
def augment(
    data: Annotated[Path, typer.Argument(help="The real CSV or Parquet table.")],
    model: Annotated[Path, typer.Option("--model", help="Model file written by 'datatwin fit' on this table.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv or .parquet.")],
    ratio: Annotated[float, typer.Option("--ratio", help="Synthetic share of the output, in [0, 1): every real "
                                         "row is kept and synthetic rows are added until they make up this "
                                         "share (0.5 doubles the table; 0.2 adds one per four real rows).")] = 0.5,
    rows: Annotated[int | None, typer.Option("-n", "--rows", help="Total output rows instead: ratio * n synthetic, "
                                             "the rest real rows drawn at random.")] = None,
    label_column: Annotated[str | None, typer.Option("--label-column", help="Add this column saying 'real' or "
                                                     "'synthetic' for each row.")] = None,
    seed: SeedOpt = 0,
) -> None:
    """Blend real rows with synthetic rows from a model at a chosen share, shuffled."""
    from .io import read_table, write_table
    from .synthesizer import augment as blend
    from .synthesizer import load

    if rows is not None:
        _check_n(rows)
    _check_table_suffix(output)
    _check_output(output)
    if not 0 <= ratio <= 1 or (ratio == 1 and rows is None):
        raise InputError(f"--ratio is the synthetic share of the output and must be in [0, 1), got {ratio}")
    real = read_table(data)
    syn = load(model)
    mixed = blend(real, syn, ratio, n=rows, label_column=label_column, seed=seed)
    write_table(mixed, output)
    n_syn = int(round(len(mixed) * ratio)) if rows is not None else len(mixed) - len(real)
    err.print(f"{len(mixed):,} rows ({len(mixed) - n_syn:,} real, {n_syn:,} synthetic) written to "
              f"[bold]{output}[/bold]")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning expected errors into one line and exit status 1."""
    debug = "--debug" in (argv if argv is not None else sys.argv)
    args = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--debug"]
    try:
        app(args=args, prog_name="datatwin", standalone_mode=False)
    except DatatwinError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        sys.exit(130)
    except Exception as exc:  # usage errors from Typer's (vendored) click, and anything unexpected
        if isinstance(exc, typer.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Abort):
            err.print("[red]aborted[/red]")
            sys.exit(130)
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show(file=sys.stderr)
            sys.exit(code)
        if debug:
            raise
        err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc} (run again with --debug for details)",
                  highlight=False, soft_wrap=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
