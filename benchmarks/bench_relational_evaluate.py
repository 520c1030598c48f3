"""Does ``datatwin evaluate`` on a database agree with the multi-table judge?

    .venv/bin/python benchmarks/bench_relational_evaluate.py [--datasets walmart,berka]
                                                             [--max-training-time 20] [--judge .judge/venv/bin/python]

For each dataset, four "synthetic" outputs of different quality are scored by both the judge
(``../shared/bench/multitable_judge.py``, in its own venv) and datatwin's evaluator
(``evaluate_database`` / ``evaluate_sequence``):

- ``argn``: DatabaseSynthesizer / SequenceSynthesizer (ARGN engine, the given budget per table);
- ``argn_1epoch``: the same trained for one epoch (undertrained);
- ``shuffled``: the ``argn`` output with every non-key number shuffled across its table's rows
  (marginals kept; persistence, steps, trends and relations broken);
- ``half``: the real data against itself, split in halves along whole entities (each tool's
  own split: the judge's ``--half-split``, datatwin's ``split_database(share=0.5)``).
(The copula and marginal engines cannot generate sequences: they cannot complete the step
model's seed rows.)

The figures are defined alike but not identically (SDMetrics in the judge, datatwin's own
implementation; different half splits), so the check is on *direction*: for each figure and
each pair of outputs, do both tools say the same one is better? Prints the figures and the
share of pairs that agree, and writes a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_relational import BERKA5, DATA, JUDGE, berka_subset  # noqa: E402

import datatwin  # noqa: E402
from datatwin.evaluation import evaluate_database, evaluate_sequence, split_database  # noqa: E402

# (judge summary key, datatwin summary key): the same figure, or the closest one
PAIRS = {
    "walmart": [("seq_length_sim", "data.length_score"), ("acf1_mad", "data.acf1_distance"),
                ("index_step_sim", "data.index_step_score"),
                ("detection_with_previous_row_auc", "data.detection_with_previous_row_auc")],
    "berka": [("cardinality_mean", "cardinality_mean"), ("table_quality_mean", "table_quality_mean"),
              ("detection_child_parent_auc_mean", "detection_child_parent_auc_mean"),
              ("trans_acf1_mad", "trans.acf1_distance"), ("trans_seq_length_sim", "trans.length_score")],
}


VARIANTS = [("argn", None), ("argn_1epoch", {"max_epochs": 1})]


def shuffled(tables: dict, keep: dict) -> dict:
    """Every non-key numeric column permuted across its table's rows (seeded)."""
    rng = np.random.default_rng(0)
    out = {}
    for t, df in tables.items():
        df = df.copy()
        for c in df.columns:
            if c not in keep.get(t, []) and pd.api.types.is_numeric_dtype(df[c]):
                df[c] = rng.permutation(df[c].to_numpy())
        out[t] = df
    return out


def judge(py: str, args: list[str], out: Path) -> dict:
    subprocess.run([py, str(JUDGE), *args, "--out", str(out)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())["summary"]


def run(name: str, tmt: float, judge_py: str, work: Path) -> dict[str, dict[str, dict]]:
    res: dict[str, dict[str, dict]] = {}
    if name == "walmart":
        csv = DATA / "walmart_weekly_sales.csv"
        real = datatwin.read_table(csv)
        outs = {}
        for engine, opts in VARIANTS:
            syn = datatwin.SequenceSynthesizer("store", "date", max_training_time=tmt, engine_options=opts).fit(real)
            outs[engine] = {"data": syn.sample(seed=0)}
        outs["shuffled"] = shuffled(outs["argn"], {"data": ["store", "date"]})
        for engine, out in outs.items():
            path = work / f"walmart_{engine}.csv"
            out["data"].to_csv(path, index=False)
            j = judge(judge_py, ["score-seq", "--real", str(csv), "--synthetic", str(path), "--sequence-key", "store",
                                 "--sequence-index", "date"], work / f"w_{engine}.json")
            t0 = time.time()
            d = evaluate_sequence(real, datatwin.read_table(path), "store", "date").summary
            d["eval_s"] = time.time() - t0
            res[engine] = {"judge": j, "datatwin": d}
        j = judge(judge_py, ["score-seq", "--real", str(csv), "--half-split", "--sequence-key", "store",
                             "--sequence-index", "date"], work / "w_half.json")
        schema = {"tables": {"data": {"sequence_key": "store", "sequence_index": "date"}}, "foreign_keys": []}
        a, b = split_database({"data": real}, schema, share=0.5, seed=0)
        res["half"] = {"judge": j, "datatwin": evaluate_sequence(b["data"], a["data"], "store", "date").summary}
        return res
    frames, schema = berka_subset()
    jargs = ["--metadata", str(DATA / "berka" / "metadata.json"), "--tables", ",".join(BERKA5),
             "--sequence", "trans:account_id:date", "--skip-sdmetrics-report"]
    outs = {}
    for engine, opts in VARIANTS:
        db = datatwin.DatabaseSynthesizer(max_training_time=tmt, engine_options=opts).fit(frames, schema)
        outs[engine] = db.sample(seed=0)
    keys = {t: list(ts.primary_key) + [c for fk in schema.parents_of(t) for c in fk.columns] + ["date"]
            for t, ts in schema.tables.items()}
    outs["shuffled"] = shuffled(outs["argn"], keys)
    for engine, tables in outs.items():
        folder = work / f"berka_{engine}"
        folder.mkdir()
        for t, df in tables.items():
            df.to_csv(folder / f"{t}.csv", index=False)
        j = judge(judge_py, ["score", *jargs, "--synthetic", str(folder)], work / f"b_{engine}.json")
        _, syn = datatwin.relational.read_source(folder, schema)
        t0 = time.time()
        d = evaluate_database(frames, syn, schema).summary
        d["eval_s"] = time.time() - t0
        res[engine] = {"judge": j, "datatwin": d}
    j = judge(judge_py, ["score", *jargs, "--half-split", "account"], work / "b_half.json")
    a, b = split_database(frames, schema, share=0.5, seed=0)
    res["half"] = {"judge": j, "datatwin": evaluate_database(b, a, schema).summary}
    return res


def fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="walmart,berka")
    ap.add_argument("--max-training-time", type=float, default=20.0, help="seconds per table (default 20)")
    ap.add_argument("--judge", default=str(ROOT / ".judge" / "venv" / "bin" / "python"))
    ap.add_argument("--note", default="", help="what else ran on the machine")
    ap.add_argument("--json", help="also write every figure of both tools here")
    a = ap.parse_args()
    lines = ["| data | figure (judge / datatwin) | output | judge | datatwin |", "|---|---|---|---|---|"]
    agree_lines = ["| data | figure | pairs of outputs ordered alike |", "|---|---|---|"]
    total = [0, 0]
    raw: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.datasets.split(","):
            print(f"[bench] {name} ...", flush=True)
            res = run(name, a.max_training_time, a.judge, Path(tmp))
            raw[name] = res
            if a.json:
                Path(a.json).write_text(json.dumps(raw, indent=1, default=str))
            for jk, dk in PAIRS[name]:
                vals = {o: (r["judge"].get(jk), r["datatwin"].get(dk)) for o, r in res.items()}
                for o, (jv, dv) in vals.items():
                    lines.append(f"| {name} | {jk} / {dk} | {o} | {fmt(jv)} | {fmt(dv)} |")
                same = n = ties = 0
                for x, y in itertools.combinations(vals, 2):
                    (jx, dx), (jy, dy) = vals[x], vals[y]
                    if None in (jx, dx, jy, dy):
                        continue
                    if abs(jx - jy) < 1e-3 or abs(dx - dy) < 1e-3:  # a tie orders nothing
                        ties += 1
                        continue
                    n += 1
                    same += (jx - jy) * (dx - dy) > 0
                agree_lines.append(f"| {name} | {jk} | {same} of {n}" + (f" ({ties} tied)" if ties else "") + " |")
                total[0] += same
                total[1] += n
            secs = ", ".join(f"{o} {r['datatwin'].get('eval_s', 0):.0f} s" for o, r in res.items() if "eval_s"
                             in r["datatwin"])
            agree_lines.append(f"| {name} | (datatwin evaluation time) | {secs} |")
            print("\n".join(lines), flush=True)
    table = "\n".join(lines) + "\n\n" + "\n".join(agree_lines)
    print(table)
    print(f"direction agrees on {total[0]} of {total[1]} pairs")
    body = (f"Measured {dt.date.today().isoformat()} on {platform.node() or 'vm'} (2-core VM, Python "
            f"{platform.python_version()}, {os.cpu_count()} CPUs seen){'; ' + a.note if a.note else ''}. Command: "
            f"`.venv/bin/python benchmarks/bench_relational_evaluate.py --datasets {a.datasets} --max-training-time "
            f"{a.max_training_time:g}`. Four outputs per dataset (ARGN, ARGN after one epoch, the ARGN output "
            f"with its numbers shuffled across rows, the real data's half split along entities) scored by the "
            f"judge and by `datatwin.evaluation.evaluate_database` / `evaluate_sequence`; a pair of outputs is "
            f"*ordered alike* when both tools say the same one is better (pairs within 0.001 on either side "
            f"are ties and order nothing). Direction agrees on {total[0]} of "
            f"{total[1]} pairs.\n\n" + table)
    write_section("relational_evaluate", body, "## Database evaluation against the multi-table judge")


if __name__ == "__main__":
    main()
