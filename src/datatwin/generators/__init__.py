"""Columns generated fresh instead of learned: ids, PII, free text, constants."""

from ._generators import ColumnGenerator, FakerGenerator, IdGenerator, build_fake_pools, make_generator

__all__ = ["ColumnGenerator", "FakerGenerator", "IdGenerator", "build_fake_pools", "make_generator"]
