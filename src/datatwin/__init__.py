"""datatwin: learn a real table and generate privacy-safe synthetic data that behaves like it.

Example:
    >>> import pandas as pd, datatwin
    >>> df = pd.DataFrame({"age": [23, 35, 47, 51, 62] * 8, "plan": ["a", "b", "a", "c", "b"] * 8})
    >>> syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(df)
    >>> syn.sample(3).shape
    (3, 2)
"""

from ._exceptions import (
    ConditionError,
    DatabaseError,
    DatatwinError,
    InputError,
    MetadataError,
    ModelFileError,
    NotFittedError,
    OutputError,
    SchemaError,
)
from ._privacy import DP
from ._progress import ProgressEvent
from ._version import __version__
from .constraints import (
    ConstraintError,
    FixedCombinations,
    Formula,
    Inequality,
    Range,
    Regex,
    Unique,
    suggest_constraints,
)
from .evaluation import AuditResult, EvaluationResult, audit_privacy, evaluate
from .io import read_table, write_table
from .metadata import ColumnMeta, Metadata
from .pii import anonymize
from .relational import DatabaseSynthesizer, Schema, SequenceSynthesizer
from .spec import Spec, SpecError, generate, generate_to_file, iter_generate
from .synthesizer import Synthesizer, augment, load

__all__ = [
    "AuditResult",
    "ColumnMeta",
    "ConditionError",
    "ConstraintError",
    "DP",
    "DatabaseError",
    "DatabaseSynthesizer",
    "DatatwinError",
    "EvaluationResult",
    "FixedCombinations",
    "Formula",
    "Inequality",
    "InputError",
    "Metadata",
    "MetadataError",
    "ModelFileError",
    "NotFittedError",
    "OutputError",
    "ProgressEvent",
    "Range",
    "Regex",
    "Schema",
    "SchemaError",
    "SequenceSynthesizer",
    "Spec",
    "SpecError",
    "Synthesizer",
    "Unique",
    "__version__",
    "anonymize",
    "audit_privacy",
    "augment",
    "evaluate",
    "generate",
    "generate_to_file",
    "iter_generate",
    "load",
    "read_table",
    "suggest_constraints",
    "write_table",
]
