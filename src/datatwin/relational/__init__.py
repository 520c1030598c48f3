"""Databases and sequences: every table, every key, every entity's history.

- ``_schema``: tables, primary and foreign keys, their order, the editable JSON file;
- ``_discover``: a folder of CSV/Parquet files as a database, keys detected;
- ``_sql``: schema and rows read from a database URL, synthetic databases written in one transaction;
- ``_sequence``: ordered histories per entity, generated step by step;
- ``_model``: :class:`DatabaseSynthesizer` (and :class:`SequenceSynthesizer` for one table);
- ``_conditions``: conditions and what-if on a parent, flowing to its children;
- ``_persistence``: the model file.
"""

from ._discover import detect_schema, read_folder
from ._model import DatabaseSynthesizer, read_source
from ._persistence import is_database_model
from ._schema import ForeignKey, Schema, TableSchema
from ._sequence_api import SequenceSynthesizer
from ._sql import is_url, read_database, read_sqlite_file, safe_url, write_database

__all__ = [
    "DatabaseSynthesizer",
    "ForeignKey",
    "Schema",
    "SequenceSynthesizer",
    "TableSchema",
    "detect_schema",
    "is_database_model",
    "is_url",
    "read_database",
    "read_folder",
    "read_source",
    "read_sqlite_file",
    "safe_url",
    "write_database",
]
