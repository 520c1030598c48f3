"""Evaluation of synthetic data: fidelity, detection, ML utility, equivalence of insights and
privacy, with plain-language verdicts and a self-contained HTML report.

>>> result = evaluate(train, synthetic, holdout=holdout, target="income")   # doctest: +SKIP
>>> result.summary["detection_auc"], result.overall                         # doctest: +SKIP
>>> result.save_html("report.html")                                         # doctest: +SKIP

``audit_privacy`` audits a differential-privacy claim with canaries and one training run.
"""

from ._audit import AuditResult, audit_privacy, epsilon_lower_bound
from ._evaluate import evaluate
from ._result import EvaluationResult

__all__ = ["AuditResult", "EvaluationResult", "audit_privacy", "epsilon_lower_bound", "evaluate"]
