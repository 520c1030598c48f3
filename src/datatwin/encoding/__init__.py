"""Columns <-> small-integer sub-columns (and back): the engines' input and output.

Each modelled column becomes one or more sub-columns of small integer codes: categorical and
boolean columns one (``_categorical``), numbers and dates one or two (``_numeric``); the
``TableEncoder`` stacks them into one ``int32`` matrix (``_table``). ``_convert`` turns column
values into floats and back, for the encoders and for the stages that compare raw values.
"""

from ._categorical import CategoricalEncoder
from ._column import ColumnEncoder
from ._convert import DT_UNITS, as_text_dtype, from_float, is_missing, to_seconds
from ._numeric import NumericEncoder
from ._private import measured_steps
from ._table import MODELLED_KINDS, SubColumn, TableEncoder, make_encoder

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
    "measured_steps",
    "to_seconds",
]
