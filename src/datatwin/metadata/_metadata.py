"""Table metadata: what each column is, inferred from the data and editable as JSON.

The metadata says *what* a column is (its kind and format); what the data looks like inside a
kind (levels, quantiles, rates) is learned by the encoders during ``fit``. The rules that infer
a column's kind live in ``_infer``; one column's metadata in ``_column``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._exceptions import MetadataError
from ._column import ColumnMeta
from ._infer import explain_column

__all__ = ["METADATA_FORMAT_VERSION", "Metadata"]

METADATA_FORMAT_VERSION = 1


@dataclass
class Metadata:
    """The kinds and formats of a table's columns, in column order.

    Infer it from data, edit it (in code or as JSON), and pass it to ``Synthesizer.fit``.

    Example:
        >>> import pandas as pd, datatwin
        >>> df = pd.DataFrame({"age": [31, 45, 27, 60] * 5, "plan": ["free", "pro", "free", "team"] * 5})
        >>> meta = datatwin.Metadata.infer(df)
        >>> meta.columns["age"].kind, meta.columns["plan"].kind
        ('numeric', 'categorical')
    """

    columns: dict[str, ColumnMeta] = field(default_factory=dict)
    # Reserved for multi-table and sequential data: a key that identifies the entity a row
    # belongs to, and the column that orders an entity's rows.
    primary_key: str | None = None
    sequence_key: str | None = None
    sequence_order: str | None = None
    # Rules every generated row satisfies, in their JSON form (see datatwin.Inequality etc.):
    # {"type": "inequality", "low": "start", "high": "end"} or text such as "start <= end".
    constraints: list[Any] = field(default_factory=list)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": METADATA_FORMAT_VERSION}
        for key in ("primary_key", "sequence_key", "sequence_order"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["columns"] = {name: col.to_dict() for name, col in self.columns.items()}
        if self.constraints:
            out["constraints"] = [c.to_dict() if hasattr(c, "to_dict") else c for c in self.constraints]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metadata:
        if not isinstance(d, dict) or not isinstance(d.get("columns"), dict):
            raise MetadataError("metadata must be a JSON object with a 'columns' object")
        version = d.get("format_version", METADATA_FORMAT_VERSION)
        if version != METADATA_FORMAT_VERSION:
            raise MetadataError(
                f"metadata format_version {version!r} is not supported (this datatwin reads "
                f"{METADATA_FORMAT_VERSION}); re-create it with 'datatwin inspect --json'"
            )
        unknown = set(d) - {"format_version", "columns", "primary_key", "sequence_key", "sequence_order",
                            "constraints"}
        if unknown:
            raise MetadataError(f"metadata has unknown field(s) {sorted(unknown)}")
        constraints = d.get("constraints", [])
        if not isinstance(constraints, list):
            raise MetadataError("metadata 'constraints' must be a list, e.g. [\"start_date <= end_date\"]")
        cols = {str(n): ColumnMeta.from_dict(str(n), c) for n, c in d["columns"].items()}
        return cls(cols, d.get("primary_key"), d.get("sequence_key"), d.get("sequence_order"), list(constraints))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | os.PathLike[str]) -> None:
        from ..io import atomic_write_text

        atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Metadata:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MetadataError(f"metadata file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MetadataError(f"cannot read metadata file {str(path)!r}: {exc}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError(
                f"metadata file {str(path)!r} is not valid JSON (line {exc.lineno}: {exc.msg})"
            ) from None
        return cls.from_dict(d)

    # ------------------------------------------------------------------ inference
    @classmethod
    def infer(cls, df: pd.DataFrame) -> Metadata:
        """Detect each column's kind and format from the data (:meth:`reasons` says why)."""
        return cls({str(c): explain_column(df[c])[0] for c in df.columns})

    @staticmethod
    def reasons(df: pd.DataFrame) -> dict[str, str]:
        """The evidence behind each inferred kind, e.g. ``{"city": "a city name, but values repeat ..."}``."""
        return {str(c): explain_column(df[c])[1] for c in df.columns}

    def update(self, overrides: Metadata | dict[str, Any]) -> Metadata:
        """Return a copy where the columns named in ``overrides`` take the given metadata."""
        if isinstance(overrides, dict):
            overrides = Metadata.from_dict(overrides)
        unknown = [c for c in overrides.columns if c not in self.columns]
        if unknown:
            raise MetadataError(
                f"metadata names column(s) {unknown} that the data does not have; "
                f"the data's columns are {list(self.columns)}"
            )
        cols = dict(self.columns)
        for name, col in overrides.columns.items():
            inferred = self.columns[name]
            if col.kind == inferred.kind:
                # Same kind: what the override leaves unset (bounds added to an inferred
                # number, say) keeps the inferred format, dtype and precision.
                given = {k: v for k, v in asdict(col).items() if v is not None and v is not False}
                col = ColumnMeta(**{**asdict(inferred), **given})
            if col.dtype == "object" and inferred.dtype != "object":
                col = ColumnMeta(**{**asdict(col), "dtype": inferred.dtype})
            cols[name] = col
        return Metadata(
            cols,
            overrides.primary_key or self.primary_key,
            overrides.sequence_key or self.sequence_key,
            overrides.sequence_order or self.sequence_order,
            [*self.constraints, *overrides.constraints],
        )

    def kinds(self) -> dict[str, str]:
        return {name: c.kind for name, c in self.columns.items()}
