"""The datatwin exception tree.

Every error datatwin raises on purpose is a ``DatatwinError``; each subclass also derives from
the built-in exception a caller would naturally catch::

    DatatwinError(Exception)
    ├── InputError(ValueError)            bad data or arguments: empty file, unknown column, n <= 0
    │   ├── MetadataError                 a metadata file or override that does not fit the data
    │   │   └── SchemaError               tables and keys that do not fit together (missing parent, cycle, orphans)
    │   ├── ConditionError                a sampling condition that cannot be met
    │   ├── ConstraintError               a constraint that is malformed, conflicts, or cannot be met
    │   └── SpecError                     a rule-based spec that is malformed; names its file, line, field
    ├── ModelFileError(ValueError)        not a model file, corrupt, tampered or from a newer version
    ├── NotFittedError(ValueError, AttributeError)   sample/save before fit
    ├── OutputError(OSError)              the output cannot be written (missing folder, full disk)
    └── DatabaseError(OSError)            a database cannot be reached, read or written (password never shown)

Messages say what was wrong and what to do about it, in one line.
"""

from __future__ import annotations

__all__ = [
    "ConditionError",
    "ConstraintError",
    "DatabaseError",
    "DatatwinError",
    "InputError",
    "MetadataError",
    "ModelFileError",
    "NotFittedError",
    "OutputError",
    "SchemaError",
    "SpecError",
]


class DatatwinError(Exception):
    """Base class of every error datatwin raises on purpose."""


class InputError(DatatwinError, ValueError):
    """The input data or an argument is unusable."""


class MetadataError(InputError):
    """Metadata (inferred or given) does not fit the data."""


class ConditionError(InputError):
    """A sampling condition names unknown columns or values, or cannot be satisfied."""


class ConstraintError(InputError):
    """A constraint is malformed, conflicts with another one, or cannot be met."""


class SpecError(InputError):
    """A spec that cannot be used; the message names the file, line and field, in one line.

    Attributes:
        field: the dotted path of the offending field, e.g. ``columns.age.distribution``.
        line: 1-based line in the spec file (YAML or JSON), when known.
        source: the spec file's name, when the spec came from a file.
        reason: the message without the location.
    """

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None,
                 source: str | None = None) -> None:
        self.field, self.line, self.source, self.reason = field, line, source, message
        super().__init__(_locate(source, line, field) + message)


def _locate(source: str | None, line: int | None, field: str | None) -> str:
    where = source or ("spec" if field or line else "")
    if line is not None:
        where += f" line {line}"
    if field:
        where += f", {field}" if source or line is not None else f" {field}"
    return f"{where}: " if where else ""


class ModelFileError(DatatwinError, ValueError):
    """A model file is not a datatwin model, is corrupt or tampered with, or is incompatible."""


class NotFittedError(DatatwinError, ValueError, AttributeError):
    """The synthesizer was used before ``fit``."""


class OutputError(DatatwinError, OSError):
    """An output file cannot be written."""


class SchemaError(MetadataError):
    """Tables and keys do not fit together: a foreign key to a missing table or column, orphan
    child rows, a key cycle that no nullable foreign key breaks."""


class DatabaseError(DatatwinError, OSError):
    """A database cannot be connected to, read or written; messages never show a password."""
