"""Constraints benchmark: how often the model breaks each rule unaided, what enforcing costs.

Two tables:

* adult (the judge's seed-0 train split) with rules that hold in the real data:
  education and education_num as fixed combinations, 17 <= age <= 75, hours_per_week <= 80;
* a generated orders table (20,000 rows) with one rule of every kind: an inequality between two
  dates, a formula, fixed country/city pairs, a range, a strict inequality that holds in only
  ~64 % of the real rows, a pattern and uniqueness on the order id.

For each, the default engine is fitted once with the rules; 100,000 rows are sampled with and
without enforcement (the same model with its rules switched off), timed, and the rules checked.
Prints a table and writes it to BENCHMARKS.md between the `constraints` markers.

usage: python benchmarks/bench_constraints.py [--work .judge] [--no-write]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import write_section  # benchmarks/ is on sys.path when a script runs

import datatwin
from datatwin import FixedCombinations, Range, Regex, Unique
from datatwin.constraints import ConstraintSet

ROOT = Path(__file__).resolve().parent.parent
N = 100_000


def orders(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    country = rng.choice(["FR", "DE", "IT", "ES"], n, p=[0.4, 0.3, 0.2, 0.1])
    cities = {"FR": ["Paris", "Lyon", "Lille"], "DE": ["Berlin", "Bonn"], "IT": ["Rome", "Milan"],
              "ES": ["Madrid", "Sevilla"]}
    city = [cities[c][i % len(cities[c])] for c, i in zip(country, rng.integers(0, 3, n), strict=True)]
    price = np.exp(rng.normal(3, 0.8, n)).round(2)
    qty = rng.integers(1, 12, n)
    return pd.DataFrame({
        "order_id": [f"ORD-{i:06d}" for i in rng.permutation(n)],
        "ordered": start.strftime("%Y-%m-%d"),
        "shipped": (start + pd.to_timedelta(rng.poisson(4, n), unit="D")).strftime("%Y-%m-%d"),
        "country": country, "city": city, "price": price, "qty": qty, "total": (price * qty).round(2),
        "age": rng.integers(18, 90, n),
        "budget": rng.normal(100, 30, n).round(1), "spent": rng.normal(90, 30, n).round(1),
    })


CASES = {
    "adult": [FixedCombinations(["education", "education_num"]), Range("age", 17, 75),
              Range("hours_per_week", None, 80)],
    "orders": ["ordered <= shipped", "total = price * qty", FixedCombinations(["country", "city"]),
               Range("age", 25, 65), "spent < budget", Regex("order_id", r"ORD-[0-9]{6}"), Unique(["order_id"])],
}


def broken_share(syn: datatwin.Synthesizer, df: pd.DataFrame) -> dict[str, float]:
    cs = syn.constraints_
    masks = cs.violations(df, syn.model_.units, check_unique=True)
    out = {c.describe(): float(m.mean()) for c, m in zip(cs.checked, masks, strict=True)}
    for f in cs.formulas:
        v = (df[f.inputs[0]] * df[f.inputs[1]]).round(2)
        out[f.describe()] = float((~np.isclose(df[f.column], v)).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / ".judge"))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    lines = ["| table | rule | real rows breaking it | unenforced sample breaking it | enforced sample breaking it |",
             "|---|---|---|---|---|"]
    timing = ["| table | rows | fit s | sample 100k, rules off (s) | with rules (s) | rows redrawn on first check | "
              "rows repaired |", "|---|---|---|---|---|---|---|"]
    for name, rules in CASES.items():
        if name == "adult":
            path = Path(a.work) / "data" / "adult_train.csv"
            if not path.exists():
                raise SystemExit(f"{path} is missing: run benchmarks/bench_single_table.py --datasets adult first")
            real = pd.read_csv(path)
        else:
            real = orders(20_000)
        t = time.perf_counter()
        syn = datatwin.Synthesizer(random_state=0, constraints=rules).fit(real)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        events: list[datatwin.ProgressEvent] = []
        enforced = syn.sample(N, seed=1, progress=events.append)
        with_s = time.perf_counter() - t
        stats = [e.info for e in events if e.stage == "constraints"][-1]
        # The same model with its rules switched off: no ranges as conditions, no checks.
        free_rules = ConstraintSet([])
        free_rules.bind(syn.metadata_, set(syn.generators_))
        unaided = copy.copy(syn)
        unaided.model_ = dataclasses.replace(syn.model_, constraints=free_rules)
        t = time.perf_counter()
        free = unaided.sample(N, seed=1)
        without_s = time.perf_counter() - t
        real_b, free_b, enf_b = broken_share(syn, real), broken_share(syn, free), broken_share(syn, enforced)
        for rule in real_b:
            lines.append(f"| {name} | `{rule}` | {real_b[rule]:.2%} | {free_b[rule]:.2%} | {enf_b[rule]:.2%} |")
        timing.append(f"| {name} | {len(real):,} | {fit_s:.1f} | {without_s:.2f} | {with_s:.2f} | "
                      f"{stats.get('broken_first', 0):,} | {stats.get('repaired', 0):,} |")
        print("\n".join(lines[-len(real_b):]), "\n", timing[-1], flush=True)
    text = (f"## Constraints\n\nMeasured {dt.date.today().isoformat()} on {platform.node() or 'this machine'} "
            f"({os.cpu_count()} cores, Python {platform.python_version()}). Command: "
            f"`.venv/bin/python benchmarks/bench_constraints.py`. Default argn engine, one fit per table with the "
            f"rules; {N:,} rows sampled with seed 1 with the rules enforced and with them switched off (same "
            f"model). A uniqueness rule counts every row after the first with the same key.\n\n"
            + "\n".join(lines) + "\n\n" + "\n".join(timing) + "\n")
    print(text)
    if not a.no_write:
        write_section("constraints", text)


if __name__ == "__main__":
    main()
