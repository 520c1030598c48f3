"""Small tables (issue #17): DCR share and detection over several seeds, per engine setting.

One seed's DCR share on a 200-row holdout moves by about 0.03, so settings for small tables are
compared on the mean of several seeds. For each table x setting x seed: fit datatwin on the
broad benchmark's seed-0 train split (`bench_broad.py` writes the splits), sample as many rows,
and score them with the shared judge (`judge.py score --skip-quality`: detection, TSTR, DCR
share, exact copies). Rows are cached in `<work>/small/<table>_<setting>_<seed>.json`.

usage: python benchmarks/bench_small_tables.py [--tables insurance,framing] [--seeds 0,1,2]
           [--settings '{"default": {}, "dropout25": {"dropout": 0.25}}'] [--work .judge]
Run from the repository root with datatwin importable (PYTHONPATH=src); needs the judge's venv.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_TABLES = "insurance,breast_cancer,dietox,framing,modechoice,anes96"
TARGETS = {"insurance": "charges"}  # tables outside the broad set


def _target(name: str) -> str | None:
    from _broad_tables import TABLES

    return TARGETS.get(name) or next((t.target for t in TABLES if t.name == name), None)


def _split(name: str, data: Path, shared: Path, judge_py: Path) -> None:
    """The judge's seed-0 split of a table the broad benchmark does not hold (insurance)."""
    if (data / f"{name}_train.csv").exists():
        return
    src = ROOT / "src" / "datatwin" / "datasets" / f"{name}.csv"
    subprocess.run([str(judge_py), str(shared / "bench" / "judge.py"), "split", "--real", str(src),
                    "--out-dir", str(data), "--name", name, "--seed", "0"], check=True, capture_output=True)


def run_one(name: str, setting: str, options: dict[str, Any], seed: int, work: Path, shared: Path,
            judge_py: Path) -> dict[str, Any]:
    import datatwin
    from datatwin.io import read_table, write_table

    cache = work / "small" / f"{name}_{setting}_{seed}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    data = work / "broad" / "data"
    _split(name, data, shared, judge_py)
    train = read_table(str(data / f"{name}_train.csv"))
    t = time.perf_counter()
    model = datatwin.Synthesizer(random_state=seed, engine_options=options or None).fit(train)
    fit_s = time.perf_counter() - t
    out = cache.with_suffix(".csv")
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_table(model.sample(len(train), seed=seed), str(out))
    cmd = [str(judge_py), str(shared / "bench" / "judge.py"), "score", "--train", str(data / f"{name}_train.csv"),
           "--holdout", str(data / f"{name}_holdout.csv"), "--synthetic", str(out), "--skip-quality",
           "--n-jobs", "1", "--out", str(out) + ".judge.json"]
    if _target(name):
        cmd += ["--target", str(_target(name))]
    subprocess.run(cmd, check=True, capture_output=True)
    s = json.loads(Path(str(out) + ".judge.json").read_text())["summary"]
    row = {"table": name, "setting": setting, "seed": seed, "fit_s": round(fit_s, 1),
           "detection": s["detection_auc"], "dcr_share": s["dcr_share"],
           "tstr_delta": s.get("delta_auc", s.get("delta_r2")), "copies": s["exact_copy_rate"]}
    cache.write_text(json.dumps(row))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default=DEFAULT_TABLES)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--settings", default='{"default": {}}', help="JSON: name -> engine_options")
    ap.add_argument("--work", default=str(ROOT / ".judge"))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    a = ap.parse_args()
    work, shared = Path(a.work), Path(a.shared)
    judge_py = work / "venv" / "bin" / "python"
    settings = json.loads(a.settings)
    seeds = [int(s) for s in a.seeds.split(",")]
    print("| table | setting | DCR share | detection | TSTR Δ | fit s | seeds |")
    print("|---|---|---|---|---|---|---|")
    for name in a.tables.split(","):
        for setting, options in settings.items():
            rows = [run_one(name, setting, options, s, work, shared, judge_py) for s in seeds]

            def mean(key: str, rows: list[dict[str, Any]] = rows) -> str:
                vals = [r[key] for r in rows if r[key] is not None]
                return f"{statistics.mean(vals):.3f}" if vals else "–"

            print(f"| {name} | {setting} | {mean('dcr_share')} | {mean('detection')} | {mean('tstr_delta')} | "
                  f"{mean('fit_s')} | {len(rows)} |", flush=True)


if __name__ == "__main__":
    main()
