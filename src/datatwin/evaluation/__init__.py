"""Evaluation of synthetic data: fidelity, detection, ML utility, equivalence of insights and
privacy, with plain-language verdicts and a self-contained HTML report.

>>> result = evaluate(train, synthetic, holdout=holdout, target="income")   # doctest: +SKIP
>>> result.summary["detection_auc"], result.overall                         # doctest: +SKIP
>>> result.save_html("report.html")                                         # doctest: +SKIP

``evaluate_database`` and ``evaluate_sequence`` do the same for a database (keys, children per
parent, each table, parent-to-child trends, detection with parents, sequences) and for one
table of histories; ``split_database`` holds back whole entities as their holdout.

``audit_privacy`` audits a differential-privacy claim with canaries and one training run.
"""

from ._audit import AuditResult, audit_privacy, epsilon_lower_bound
from ._database import evaluate_database, evaluate_sequence, split_database
from ._evaluate import evaluate
from ._result import DatabaseEvaluationResult, EvaluationResult

__all__ = ["AuditResult", "DatabaseEvaluationResult", "EvaluationResult", "audit_privacy", "epsilon_lower_bound",
           "evaluate", "evaluate_database", "evaluate_sequence", "split_database"]
