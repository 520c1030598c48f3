"""Reading and writing: tables (CSV/Parquet, atomic) and the model file (JSON + safetensors)."""

from ._model_file import read_model_file, write_model_file
from ._tables import atomic_output, atomic_write_text, escape_formula_cells, read_table, write_table, write_table_chunks

__all__ = [
    "atomic_output",
    "atomic_write_text",
    "escape_formula_cells",
    "read_model_file",
    "read_table",
    "write_model_file",
    "write_table",
    "write_table_chunks",
]
