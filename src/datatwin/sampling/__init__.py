"""Sampling under control: conditions, rebalancing and seed rows turned into engine inputs."""

from ._plan import CANDIDATES, Plan, encode_seed_rows, make_plan, row_matches

__all__ = ["CANDIDATES", "Plan", "encode_seed_rows", "make_plan", "row_matches"]
