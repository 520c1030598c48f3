"""Sampling: a read-only fitted model, a plan per call (conditions, rebalancing, seed rows,
constraint ranges), seeded blocks, and one run object that holds the call's state."""

from ._blocks import BLOCK, SAMPLE_TAG, rechunk, seed_int
from ._distributed import (
    MANIFEST_NAME,
    DatasetManifest,
    SampleJob,
    check_distributable,
    draw_rows,
    partitions,
    write_part,
)
from ._fitted import FittedModel, check_constraints, units_of, usable
from ._plan import CANDIDATES, Plan, encode_numbers, encode_seed_rows, make_plan, row_matches
from ._run import (
    BlockPlan,
    SamplingRun,
    block_threads,
    check_n,
    complete_codes,
    complete_rows,
    draw_codes,
    iter_rows,
    needs_earlier_keys,
    require,
)
from ._text import parse_condition, parse_scalar

__all__ = [
    "BLOCK",
    "CANDIDATES",
    "MANIFEST_NAME",
    "SAMPLE_TAG",
    "BlockPlan",
    "DatasetManifest",
    "FittedModel",
    "Plan",
    "SampleJob",
    "SamplingRun",
    "block_threads",
    "check_constraints",
    "check_distributable",
    "check_n",
    "complete_codes",
    "complete_rows",
    "draw_codes",
    "draw_rows",
    "encode_numbers",
    "encode_seed_rows",
    "iter_rows",
    "make_plan",
    "needs_earlier_keys",
    "parse_condition",
    "parse_scalar",
    "partitions",
    "rechunk",
    "require",
    "row_matches",
    "seed_int",
    "units_of",
    "usable",
    "write_part",
]
