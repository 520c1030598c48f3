"""The options of the commands, each declared once, with defaults read from the Python API.

A default is the one of the API parameter the option feeds (``--engine`` -> ``Synthesizer``'s
``engine``), read from its signature, so the command line and the library cannot drift apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from .._exceptions import InputError
from .._privacy import DP
from ..evaluation import evaluate
from ..spec import generate_to_file
from ..synthesizer import Synthesizer, augment


def defaults_of(func: Callable[..., Any]) -> dict[str, Any]:
    """The parameters of ``func`` that have a default, with it."""
    return {name: p.default for name, p in inspect.signature(func).parameters.items()
            if p.default is not inspect.Parameter.empty}


SYNTHESIZER = defaults_of(Synthesizer.__init__)
SAMPLE = defaults_of(Synthesizer.sample_to_file)
DATASET = defaults_of(Synthesizer.sample_to_dataset)
GENERATE = defaults_of(generate_to_file)
EVALUATE = defaults_of(evaluate)
AUGMENT = defaults_of(augment)
# The API samples with fresh randomness when given no seed; the command repeats its bytes instead.
SAMPLE_SEED = 0

SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same bytes.", min=0)]
RowsOpt = Annotated[int, typer.Option("-n", "--rows", help="Number of rows to generate.")]
ChunkOpt = Annotated[int, typer.Option("--chunk-size", help="Rows generated and written at a time.", min=1)]

# Learning a table: shared by 'fit' and 'synth'.
DataArg = Annotated[Path, typer.Argument(help="CSV or Parquet file to learn.")]
MetaOpt = Annotated[Path | None, typer.Option("--metadata", "-m", help="JSON metadata overriding the detected "
                                               "column kinds (write a starter with 'datatwin inspect --json').")]
EngineOpt = Annotated[str, typer.Option("--engine", help="auto (default: argn, or under --epsilon the engine for "
                                          "the budget), argn (highest fidelity), marginal (small epsilon) or "
                                          "copula (fastest).")]
EpsilonOpt = Annotated[float | None, typer.Option("--epsilon", help="Train with differential privacy at this "
                                                  "privacy-loss budget (e.g. 1; smaller is more private). See "
                                                  "docs/privacy.md.", min=0)]
DeltaOpt = Annotated[float | None, typer.Option("--delta", help="The delta of (epsilon, delta)-DP (default: "
                                                "1e-7).", min=0, max=1)]
TimeOpt = Annotated[float, typer.Option("--max-training-time", help="Training budget in seconds.", min=1)]
LocaleOpt = Annotated[str, typer.Option("--locale", help="Faker locale for fake names, emails, phones, ...")]
ConstraintOpt = Annotated[list[str] | None, typer.Option("--constraint", "-c", help="Rule every row satisfies, "
                                                         "e.g. 'start <= end' or 'total = price * qty' "
                                                         "(repeatable; more kinds in the metadata file).")]
FormulasOpt = Annotated[bool, typer.Option("--infer-formulas/--no-infer-formulas", help="Keep 'c = a * b' and "
                                           "'c = a + b' identities that hold in every real row (50 or more) "
                                           "without declaring them.")]

# Steering the sample: 'sample' only.
WhereOpt = Annotated[list[str] | None, typer.Option("--where", "-w", help="Condition every row must meet: "
                                                    "col=value, col=a|b, col=low..high (repeatable).")]
RebalanceOpt = Annotated[list[str] | None, typer.Option("--rebalance", help="Set a category's share: "
                                                        "col=value:share (repeatable).")]
BoostWhereOpt = Annotated[list[str] | None, typer.Option("--boost-where", help="Predicate of rows to boost, as "
                                                         "--where (repeatable; all must hold).")]
BoostShareOpt = Annotated[float | None, typer.Option("--boost-share", help="Exact share of rows matching "
                                                     "--boost-where (0 removes them).", min=0, max=1)]
# Scale-out on Dask: 'sample' only.
SchedulerOpt = Annotated[str | None, typer.Option("--scheduler", help="Draw on a Dask cluster and write a partitioned "
                                                  "dataset to the -o folder: tcp://host:8786, or local:N for N "
                                                  "local workers (needs datatwin[dask]).")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="parquet or csv: the parts of a --scheduler "
                                               "dataset (default parquet); otherwise the -o suffix decides.")]
PartitionOpt = Annotated[int | None, typer.Option("--partition-size", help="Rows per part of a --scheduler "
                                                  "dataset (default one block, 100,000).", min=1)]
WhatIfOpt = Annotated[list[str] | None, typer.Option("--what-if", help="Change a numeric column and regenerate "
                                                     "the rest conditionally: col=*1.1, col=+5 (repeatable).")]


@dataclass(frozen=True)
class FitOptions:
    """The learning options of 'fit' and 'synth', as one value."""

    metadata: Path | None
    seed: int
    engine: str
    max_training_time: float
    locale: str
    constraints: list[str] | None
    epsilon: float | None = None
    delta: float | None = None
    infer_formulas: bool = True

    def synthesizer(self) -> Synthesizer:
        """An unfitted synthesizer with these options."""
        if self.delta is not None and self.epsilon is None:
            raise InputError("--delta needs --epsilon (the privacy budget); add --epsilon")
        privacy = None if self.epsilon is None else DP(self.epsilon, self.delta)
        return Synthesizer(self.engine, random_state=self.seed, max_training_time=self.max_training_time,
                           locale=self.locale, constraints=self.constraints or None, privacy=privacy,
                           infer_formulas=self.infer_formulas)
