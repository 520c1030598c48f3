"""Evaluation of synthetic data: fidelity, detection, ML utility, equivalence of insights and
privacy, with plain-language verdicts and a self-contained HTML report.

>>> result = evaluate(train, synthetic, holdout=holdout, target="income")   # doctest: +SKIP
>>> result.summary["detection_auc"], result.overall                         # doctest: +SKIP
>>> result.save_html("report.html")                                         # doctest: +SKIP
"""

from ._evaluate import evaluate
from ._result import EvaluationResult

__all__ = ["EvaluationResult", "evaluate"]
