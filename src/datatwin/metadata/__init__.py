"""What each column is: kind, dtype, format, detected from the data and edited by the user."""

from ._metadata import PII_TYPES, ColumnMeta, Metadata, parse_datetime_text

__all__ = ["ColumnMeta", "Metadata", "PII_TYPES", "parse_datetime_text"]
