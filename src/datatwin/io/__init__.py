"""Reading and writing: tables (CSV/Parquet, atomic) and the model file (JSON + safetensors)."""

from ._model_file import read_model_file, write_model_file
from ._tables import (
    ParquetSource,
    atomic_output,
    atomic_write_text,
    csv_bytes,
    escape_formula_cells,
    is_parquet_dataset,
    read_table,
    write_table,
    write_table_chunks,
)

__all__ = [
    "ParquetSource",
    "atomic_output",
    "atomic_write_text",
    "csv_bytes",
    "escape_formula_cells",
    "is_parquet_dataset",
    "read_model_file",
    "read_table",
    "write_model_file",
    "write_table",
    "write_table_chunks",
]
