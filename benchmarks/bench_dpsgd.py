"""DP-SGD ARGN against non-private ARGN on one table: quality, detection, utility, fit time.

The engine alone is private here: the encoders (bins, category lists) are fitted as usual,
and the ledger handed to the engine starts empty, so DP-SGD gets the whole (ε, δ). With
``Synthesizer(privacy=DP(...))`` the encoders spend a share of the budget first.

usage: PYTHONPATH=src python benchmarks/bench_dpsgd.py [--data ../shared/datasets/adult.csv]
           [--target income] [--epsilon 10] [--delta 1e-5] [--runs plain,dp]
           [--dp-options '{"dp_epochs": 20}'] [--plain-options '{}']
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

import datatwin
from datatwin._privacy import PrivacyLedger
from datatwin.engines import ARGNEngine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/adult.csv")
    ap.add_argument("--target", default="income")
    ap.add_argument("--epsilon", type=float, default=10.0)
    ap.add_argument("--delta", type=float, default=1e-5)
    ap.add_argument("--runs", default="plain,dp")
    ap.add_argument("--dp-options", default="{}")
    ap.add_argument("--plain-options", default="{}")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    df = pd.read_csv(args.data)
    rng = np.random.default_rng(args.seed)
    test = rng.random(len(df)) < 0.2
    train, holdout = df[~test].reset_index(drop=True), df[test].reset_index(drop=True)
    fit = ARGNEngine.fit
    for run in args.runs.split(","):
        ledger = PrivacyLedger(args.epsilon, args.delta) if run == "dp" else None
        options = json.loads(args.dp_options if run == "dp" else args.plain_options)

        def fit_with_ledger(self, codes, subcolumns, *, _ledger=ledger, **kw):
            return fit(self, codes, subcolumns, privacy=_ledger, **kw)

        ARGNEngine.fit = fit_with_ledger  # the estimator's fit, with the ledger reaching the engine
        t0 = time.perf_counter()
        syn = datatwin.Synthesizer(random_state=args.seed, engine_options=options).fit(train)
        fit_s = time.perf_counter() - t0
        ARGNEngine.fit = fit
        synthetic = syn.sample(len(train), seed=1)
        result = datatwin.evaluate(train, synthetic, holdout=holdout, target=args.target, random_state=0)
        s = result.summary
        row = {"run": run, "fit_s": round(fit_s, 1), "epochs": getattr(syn.engine_, "epochs_", None),
               **{k: (round(s[k], 4) if isinstance(s.get(k), float) else s.get(k))
                  for k in ("quality", "column_shapes", "pair_trends", "detection_auc", "tstr", "trtr", "overall")}}
        if ledger is not None:
            dp = syn.engine_.dp_
            row.update(epsilon_spent=round(ledger.spent()["epsilon"], 4), sigma=round(dp["noise_multiplier"], 3),
                       q=round(dp["sample_rate"], 4), steps=dp["steps"], batch=dp["batch_size"],
                       lr=dp["learning_rate"], options=options)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
