"""The result of :func:`datatwin.evaluate`: figures, verdicts, and their JSON and HTML forms."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from .._exceptions import InputError, OutputError
from .._json import plain

__all__ = ["DatabaseEvaluationResult", "EvaluationResult"]

RESULT_FORMAT_VERSION = 1


class EvaluationResult:
    """Figures and plain-language verdicts of one evaluation.

    Attributes:
        summary: the headline figures (quality, detection AUC, TSTR vs TRTR, privacy shares, the
            overall verdict and the rows used), as a flat dict.
        verdicts: one dict per check: ``key``, ``section``, ``title``, ``status`` (pass / warn /
            fail / skip), ``value`` and a one-sentence ``message``.
        overall: "pass", "warn" or "fail": the worst of the verdicts that were measured.

    ``to_dict()`` gives everything as JSON-serialisable data; ``save_json``, ``to_html`` and
    ``save_html`` write it out. ``EvaluationResult.from_dict(result.to_dict())`` rebuilds it.
    """

    def __init__(self, data: dict[str, Any]):
        # Plain JSON data only (numpy unwrapped, NaN and infinities as None), so that to_json and
        # from_dict(to_dict()) round-trip exactly.
        self._data = plain(data)

    # ------------------------------------------------------------------ access
    @property
    def summary(self) -> dict[str, Any]:
        return self._data["summary"]

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        return self._data["verdicts"]

    @property
    def overall(self) -> str:
        return self._data["summary"]["overall"]

    def verdict(self, key: str) -> dict[str, Any]:
        """The verdict with this ``key`` (e.g. "detection", "dcr_share")."""
        for v in self.verdicts:
            if v["key"] == key:
                return v
        raise KeyError(f"no verdict {key!r}; known: {', '.join(v['key'] for v in self.verdicts)}")

    def __getitem__(self, section: str) -> Any:
        """A section of the figures: "fidelity", "detection", "utility", "insights", "privacy", "data"."""
        return self._data[section]

    def __repr__(self) -> str:
        s = self.summary
        figs = [f"overall={s['overall']!r}"]
        for k in ("quality", "detection_auc", "tstr_delta", "dcr_share", "mia_auc"):
            if s.get(k) is not None:
                figs.append(f"{k}={s[k]:.3f}")
        return f"EvaluationResult({', '.join(figs)})"

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        if not isinstance(data, dict) or "summary" not in data or "verdicts" not in data:
            raise InputError("not an evaluation result: expected the dict that EvaluationResult.to_dict() gives")
        if data.get("kind") == "database" and cls is EvaluationResult:
            return DatabaseEvaluationResult(data)
        return cls(data)

    @classmethod
    def load_json(cls, path: str | os.PathLike[str]) -> EvaluationResult:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read an evaluation result from {str(path)!r}: {exc}") from None
        return cls.from_dict(data)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self._data, indent=indent, allow_nan=False)

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        _check_folder(path)
        return _write(path, self.to_json())

    def to_html(self) -> str:
        """The self-contained HTML report (plots embedded; needs matplotlib)."""
        from ._report import render_html

        return render_html(self._data)

    def save_html(self, path: str | os.PathLike[str]) -> Path:
        _check_folder(path)  # before the (slower) rendering
        return _write(path, self.to_html())


def _check_folder(path: str | os.PathLike[str]) -> None:
    p = Path(path)
    if not p.parent.is_dir():
        raise OutputError(f"cannot write {str(p)!r}: the folder {str(p.parent)!r} does not exist; create it first")
    if p.is_dir():
        raise OutputError(f"cannot write {str(p)!r}: it is a folder; give a file name")


def _write(path: str | os.PathLike[str], text: str) -> Path:
    p = Path(path)
    _check_folder(p)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {str(p)!r}: {exc.strerror or exc}") from None
    return p


class DatabaseEvaluationResult(EvaluationResult):
    """Figures and verdicts of a database or sequence-table evaluation
    (:func:`datatwin.evaluation.evaluate_database`): the same access and output methods, its own
    sections ("keys", "cardinality", "tables", "trends", "detection", "sequences") and report."""

    def __getitem__(self, section: str) -> Any:
        """``"figures"`` (synthetic against real), ``"reference"`` (holdout against real, or None), ``"data"``."""
        return self._data[section]

    def __repr__(self) -> str:
        s = self.summary
        figs = [f"overall={s['overall']!r}"]
        for k in ("fk_integrity_min", "cardinality_mean", "table_quality_mean", "detection_child_parent_auc_mean"):
            if s.get(k) is not None:
                figs.append(f"{k}={s[k]:.3f}")
        return f"DatabaseEvaluationResult({', '.join(figs)})"

    def to_html(self) -> str:
        """The self-contained HTML report of the database (plots embedded; needs matplotlib)."""
        from ._database_report import render_database_html

        return render_database_html(self._data)
