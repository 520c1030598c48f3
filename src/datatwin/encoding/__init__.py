"""Columns <-> small-integer sub-columns (and back): the engines' input and output."""

from ._encoding import (
    DT_UNITS,
    MODELLED_KINDS,
    CategoricalEncoder,
    ColumnEncoder,
    NumericEncoder,
    SubColumn,
    TableEncoder,
    as_text_dtype,
    from_float,
    is_missing,
    make_encoder,
    to_seconds,
)

__all__ = [
    "CategoricalEncoder",
    "ColumnEncoder",
    "DT_UNITS",
    "MODELLED_KINDS",
    "NumericEncoder",
    "SubColumn",
    "TableEncoder",
    "as_text_dtype",
    "from_float",
    "is_missing",
    "make_encoder",
    "to_seconds",
]
