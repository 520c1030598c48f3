"""Column metadata: what each column is, inferred from the data and editable as JSON.

The metadata says *what* a column is (its kind and format); what the data looks like inside a
kind (levels, quantiles, rates) is learned by the encoders during ``fit``.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import MetadataError

__all__ = ["KINDS", "PII_TYPES", "ColumnMeta", "Metadata"]

METADATA_FORMAT_VERSION = 1

#: Column kinds. ``numeric``, ``categorical``, ``boolean`` and ``datetime`` are modelled jointly;
#: ``id``, ``pii`` and ``text`` are generated fresh (never copied); ``constant`` is repeated.
KINDS = ("numeric", "categorical", "boolean", "datetime", "id", "pii", "text", "constant")

#: PII types that datatwin recognises and replaces with realistic fakes.
PII_TYPES = (
    "email", "phone", "first_name", "last_name", "name", "address", "street", "city", "postcode",
    "company", "url", "ssn", "iban", "credit_card", "ip_address", "username",
)

# Column-name hints for PII (matched against a normalised, lower-case name).
_PII_NAME_HINTS: list[tuple[str, str]] = [
    (r"e_?mail", "email"),
    (r"(phone|mobile|cell|fax|tel)", "phone"),
    (r"^(first|given|fore)_?name$|^fname$", "first_name"),
    (r"^(last|sur|family)_?name$|^lname$|^surname$", "last_name"),
    (r"^(full_?|customer_?|person_?|contact_?|patient_?|client_?)?name$", "name"),
    (r"(street|address|addr)", "address"),
    (r"^(city|town)$", "city"),
    (r"(zip|postcode|postal)", "postcode"),
    (r"^(company|employer|organi[sz]ation)(_name)?$", "company"),
    (r"(url|website|homepage|web_?site)", "url"),
    (r"^(ssn|social_security.*)$", "ssn"),
    (r"iban", "iban"),
    (r"(credit_?card|card_?number)", "credit_card"),
    (r"^ip(_address)?$", "ip_address"),
    (r"^(user_?name|login|handle)$", "username"),
]
_EMAIL_RE = re.compile(r"^[\w.+'-]+@[\w-]+(\.[\w-]+)+$")
_PHONE_RE = re.compile(r"^\+?[\d\s().\-/]{7,}(\s*(x|ext\.?)\s*\d+)?$")
_ID_NAME_RE = re.compile(r"(^id$|_id$|^id_|uuid|guid|_key$|^key$|^index$|_no$|_number$)")

# Text date formats tried, in order; the first that parses (nearly) every value wins.
DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%SZ", "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y", "%d.%m.%Y %H:%M", "%d-%m-%Y",
    "%m-%d-%Y", "%Y%m%d", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y",
    "%d-%b-%Y", "%Y-%m",
)
_MIN_PARSED_SHARE = 0.95


@dataclass
class ColumnMeta:
    """What one column is.

    Attributes:
        kind: one of :data:`KINDS`.
        dtype: the pandas dtype the column had on input (output gets the same).
        integer: numeric columns that hold whole numbers only.
        decimals: decimals kept on output for numeric columns (``None`` = full precision).
        datetime_format: ``strftime`` format of a datetime stored as text (``None`` = a real
            datetime dtype).
        pii_type: one of :data:`PII_TYPES` for ``kind == "pii"``.
        value: the value of a ``constant`` column (as text, ``None`` for all-missing).
    """

    kind: str
    dtype: str = "object"
    integer: bool = False
    decimals: int | None = None
    datetime_format: str | None = None
    pii_type: str | None = None
    value: str | None = None

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
        if self.decimals is not None and not (isinstance(self.decimals, int) and 0 <= self.decimals <= 12):
            raise MetadataError(f"column {name!r}: decimals must be an integer in [0, 12], got {self.decimals!r}")


@dataclass
class Metadata:
    """The kinds and formats of a table's columns, in column order.

    Infer it from data, edit it (in code or as JSON), and pass it to ``Synthesizer.fit``.

    Example:
        >>> import pandas as pd, datatwin
        >>> df = pd.DataFrame({"age": [31, 45, 27, 60] * 5, "city": ["Oslo", "Rome", "Oslo", "Lima"] * 5})
        >>> meta = datatwin.Metadata.infer(df)
        >>> meta.columns["age"].kind, meta.columns["city"].kind
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
        """Detect each column's kind and format from the data."""
        return cls({str(c): infer_column(df[c]) for c in df.columns})

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
            if col.dtype == "object" and self.columns[name].dtype != "object":
                col = ColumnMeta(**{**asdict(col), "dtype": self.columns[name].dtype})
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


# ---------------------------------------------------------------------- per-column rules
def _norm_name(name: Any) -> str:
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name).strip())
    return re.sub(r"[^0-9a-z]+", "_", s.lower()).strip("_")


def _pii_from_name(name: str) -> str | None:
    for pattern, pii in _PII_NAME_HINTS:
        if re.search(pattern, name):
            return pii
    return None


def decimals_of(values: np.ndarray, max_decimals: int = 10) -> int | None:
    """Smallest number of decimals that represents every value exactly (None if more than max)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0
    v = np.unique(v)[:100_000]
    for d in range(max_decimals + 1):
        scaled = v * 10.0**d
        tol = np.maximum(1e-7, 1e-12 * np.abs(scaled))  # float noise of a decimal literal
        if np.all(np.abs(scaled - np.round(scaled)) <= tol):
            return d
    return None


def parse_datetime_text(s: pd.Series, fmt: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, format=fmt, errors="coerce")


def detect_datetime_format(values: pd.Series) -> str | None:
    """The first format of :data:`DATE_FORMATS` that parses >= 95% of the values, preferring
    day-first or month-first only when the data decides between them."""
    sample = values.dropna().astype(str).str.strip()
    if sample.empty:
        return None
    sample = sample.iloc[:: max(1, len(sample) // 2000)]
    if pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5 and not sample.str.len().eq(8).all():
        return None
    if not sample.str.contains(r"\d").all():
        return None
    for fmt in DATE_FORMATS:
        parsed = parse_datetime_text(sample, fmt)
        if parsed.notna().mean() >= _MIN_PARSED_SHARE:
            if fmt == "%Y%m%d" and not sample.str.fullmatch(r"(19|20)\d{6}").all():
                continue
            return fmt
    return None


def infer_column(s: pd.Series) -> ColumnMeta:
    name = _norm_name(s.name)
    dtype = str(s.dtype)
    nonnull = s.dropna()
    n, n_nonnull = len(s), len(nonnull)
    if n_nonnull == 0:
        return ColumnMeta("constant", dtype=dtype, value=None)
    nunique = int(nonnull.nunique())
    all_unique = nunique == n and n_nonnull == n and n > 20

    if pd.api.types.is_bool_dtype(s):
        return ColumnMeta("boolean", dtype=dtype)
    if pd.api.types.is_datetime64_any_dtype(s):
        return ColumnMeta("datetime", dtype=dtype)
    if pd.api.types.is_numeric_dtype(s):
        vals = nonnull.to_numpy(dtype=np.float64)
        integer = bool(np.all(vals == np.round(vals)))
        if nunique == 1 and n_nonnull == n:
            return ColumnMeta("constant", dtype=dtype, value=_num_text(vals[0], integer))
        if integer and all_unique and (_ID_NAME_RE.search(name) or _is_sequential(vals)):
            return ColumnMeta("id", dtype=dtype, integer=True)
        return ColumnMeta("numeric", dtype=dtype, integer=integer,
                          decimals=0 if integer else decimals_of(vals))

    # Text from here on.
    text = nonnull.astype(str)
    if nunique == 1 and n_nonnull == n:
        return ColumnMeta("constant", dtype=dtype, value=str(text.iloc[0]))
    lowered = set(text.str.strip().str.lower().unique()[:3])
    if nunique == 2 and lowered <= {"true", "false"}:
        return ColumnMeta("boolean", dtype=dtype)
    fmt = detect_datetime_format(text)
    if fmt is not None:
        return ColumnMeta("datetime", dtype=dtype, datetime_format=fmt)
    sample = text.iloc[:: max(1, len(text) // 2000)]
    if sample.str.fullmatch(_EMAIL_RE).mean() >= 0.9:
        return ColumnMeta("pii", dtype=dtype, pii_type="email")
    pii = _pii_from_name(name)
    if pii == "phone" and sample.str.fullmatch(_PHONE_RE).mean() < 0.9:
        pii = None
    # Person-level identifiers are PII whatever their cardinality; places, companies and the like
    # only when they are near-unique (a 'city' with ten levels is a useful category).
    weak = ("city", "postcode", "company", "url", "username")
    if pii is not None and (pii not in weak or nunique > 0.05 * n_nonnull):
        return ColumnMeta("pii", dtype=dtype, pii_type=pii)
    if all_unique and not sample.str.contains(r"\s").any() and sample.str.len().max() <= 64:
        return ColumnMeta("id", dtype=dtype)
    if _ID_NAME_RE.search(name) and nunique > 0.95 * n_nonnull and n > 20:
        return ColumnMeta("id", dtype=dtype)
    if sample.str.fullmatch(_PHONE_RE).mean() >= 0.95 and sample.str.count(r"\d").min() >= 7:
        return ColumnMeta("pii", dtype=dtype, pii_type="phone")
    words = sample.str.count(r"\s+") + 1
    if nunique > 0.5 * n_nonnull and words.mean() >= 4:
        return ColumnMeta("text", dtype=dtype)
    return ColumnMeta("categorical", dtype=dtype)


def _is_sequential(vals: np.ndarray) -> bool:
    """Whole numbers that fill (almost all of) a contiguous range, like row numbers."""
    lo, hi = float(vals.min()), float(vals.max())
    return hi - lo + 1 <= 1.1 * len(vals)


def _num_text(v: float, integer: bool) -> str:
    return str(int(v)) if integer else repr(float(v))
