"""What each column is: kind, dtype, format, detected from the data and edited by the user.

Modules, bottom up: ``_column`` (one column's metadata), ``_dates`` (datetimes stored as text),
``_infer`` (the rules that detect a column's kind), ``_metadata`` (a table's metadata).
"""

from ._column import KINDS, PII_TYPES, ColumnMeta
from ._dates import EPOCH_FORMATS, MIN_PARSED_SHARE, mostly_numbers, offset_seconds, parse_datetime_text
from ._infer import ID_MIN_ROWS, Counts, is_whole
from ._metadata import Metadata

__all__ = ["EPOCH_FORMATS", "ID_MIN_ROWS", "KINDS", "MIN_PARSED_SHARE", "PII_TYPES", "ColumnMeta", "Counts",
           "Metadata", "is_whole", "mostly_numbers", "offset_seconds", "parse_datetime_text"]
