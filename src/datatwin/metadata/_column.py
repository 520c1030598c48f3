"""One column's metadata: its kind, dtype and format, and its JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .._exceptions import MetadataError

__all__ = ["KINDS", "PII_TYPES", "ColumnMeta"]

#: Column kinds. ``numeric``, ``categorical``, ``boolean`` and ``datetime`` are modelled jointly;
#: ``id``, ``pii`` and ``text`` are generated fresh (never copied); ``constant`` is repeated.
KINDS = ("numeric", "categorical", "boolean", "datetime", "id", "pii", "text", "constant")

#: PII types that datatwin recognises and replaces with realistic fakes.
PII_TYPES = (
    "email", "phone", "first_name", "last_name", "name", "address", "street", "city", "postcode",
    "company", "url", "ssn", "iban", "credit_card", "ip_address", "username",
)


@dataclass
class ColumnMeta:
    """What one column is.

    Attributes:
        kind: one of :data:`KINDS`.
        dtype: the pandas dtype the column had on input (output gets the same).
        integer: numeric columns that hold whole numbers only.
        decimals: decimals kept on output for numeric columns (``None`` = full precision).
        datetime_format: ``strftime`` format of a datetime stored as text (``None`` = a real
            datetime dtype), or ``epoch_s`` / ``epoch_ms`` for numbers counting from 1970.
        utc_offset: the UTC offset a datetime with ``%z`` is written back with, as the input
            wrote it (``"+00:00"``, ``"Z"``).
        pii_type: one of :data:`PII_TYPES` for ``kind == "pii"``.
        value: the value of a ``constant`` column (as text, ``None`` for all-missing).
        min, max: public bounds of a numeric or datetime column (a date as ISO text). Values
            outside are clipped to them. Under differential privacy they replace bounds
            measured from the data, which saves budget and keeps outliers out of the model.
        categories: the public list of a categorical column's values. Other values are
            never generated. Under differential privacy it replaces the noisy category list.
    """

    kind: str
    dtype: str = "object"
    integer: bool = False
    decimals: int | None = None
    datetime_format: str | None = None
    utc_offset: str | None = None
    pii_type: str | None = None
    value: str | None = None
    min: float | str | None = None
    max: float | str | None = None
    categories: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> ColumnMeta:
        if not isinstance(d, dict):
            raise MetadataError(f"metadata for column {name!r} must be an object, got {type(d).__name__}")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise MetadataError(
                f"metadata for column {name!r} has unknown field(s) {sorted(unknown)}; "
                f"allowed: {sorted(cls.__dataclass_fields__)}"
            )
        if "kind" not in d:
            raise MetadataError(f"metadata for column {name!r} lacks 'kind' (one of {', '.join(KINDS)})")
        meta = cls(**d)
        meta.check(name)
        return meta

    def check(self, name: str) -> None:
        if self.kind not in KINDS:
            raise MetadataError(f"column {name!r}: unknown kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.kind == "pii" and self.pii_type not in PII_TYPES:
            raise MetadataError(
                f"column {name!r}: pii_type {self.pii_type!r} is not known; use one of {', '.join(PII_TYPES)}"
            )
        if (self.min is not None or self.max is not None) and self.kind not in ("numeric", "datetime"):
            raise MetadataError(f"column {name!r}: min/max apply to numeric and datetime columns, not {self.kind!r}")
        if self.kind == "numeric":
            for bound in (self.min, self.max):
                if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))
                                          or bound != bound or abs(bound) == float("inf")):
                    raise MetadataError(f"column {name!r}: min/max must be finite numbers, got {bound!r}")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise MetadataError(f"column {name!r}: min {self.min!r} is above max {self.max!r}")
        if self.categories is not None:
            if self.kind not in ("categorical", "boolean"):
                raise MetadataError(f"column {name!r}: categories apply to categorical columns, not {self.kind!r}")
            if (not isinstance(self.categories, list) or not self.categories
                    or len(set(map(str, self.categories))) != len(self.categories)):
                raise MetadataError(f"column {name!r}: categories must be a non-empty list of distinct values")
        if self.decimals is not None and not (isinstance(self.decimals, int) and 0 <= self.decimals <= 12):
            raise MetadataError(f"column {name!r}: decimals must be an integer in [0, 12], got {self.decimals!r}")
