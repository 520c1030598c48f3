"""Rule-based data from a spec, with no real data at all.

A spec names each column's type and distribution, Faker providers, dependencies between
columns (parameters per value of a category column, bounds and formulas over other columns)
and row constraints; ``generate(spec, n, seed)`` gives the same rows for the same seed,
whatever the chunking (see ``docs/spec.md``).

Modules: ``_source`` reads files and locates errors, ``_checks`` checks single values,
``_expr`` compiles formulas (the shared language of ``datatwin._formula`` plus conditions,
categories and dates), ``_dates`` parses and formats dates, ``_columns`` is the base of the
column types in ``_numbers``, ``_categories``, ``_sequence``, ``_fake`` and ``_computed``,
``_model`` holds :class:`Spec`, ``_generate`` the seeded generation, ``_starter`` the starter
spec from real data.
"""

from .._exceptions import SpecError
from ._generate import generate, generate_to_file, iter_generate
from ._model import Spec

__all__ = ["Spec", "SpecError", "generate", "generate_to_file", "iter_generate"]
