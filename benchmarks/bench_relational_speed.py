"""Sampling speed and peak memory of databases and sequences, this version beside a baseline.

    .venv/bin/python benchmarks/bench_relational_speed.py --baseline-src ../base/src
                     [--datasets berka,walmart,stocks] [--max-training-time 10] [--scale-memory 10] [--repeat 3]

Fits each model once (with the baseline's code when given, so that both versions can read it),
then, in fresh processes, samples it with each version (scale 1, seed 0) and reports rows per
second over all tables; on berka it also runs ``datatwin sample MODEL -o folder --scale N``
under ``/usr/bin/time`` and reports the peak resident memory. Quality is not measured here
(see bench_relational.py): the short training budget only sets the models' size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import write_section

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

FIT = """
import sys, json
sys.path.insert(0, {bench!r})
import datatwin
from bench_relational import berka_subset, DATA
name, tmt, out = {name!r}, {tmt!r}, {out!r}
if name in ("walmart", "stocks"):
    csv = DATA / ("walmart_weekly_sales.csv" if name == "walmart" else "stocks_daily.csv")
    m = datatwin.SequenceSynthesizer("store" if name == "walmart" else "ticker", "date", max_training_time=tmt).fit(csv)
    m.database_.save(out)
else:
    frames, schema = berka_subset()
    datatwin.DatabaseSynthesizer(max_training_time=tmt).fit(frames, schema).save(out)
"""

SAMPLE = """
import json, time
from datatwin.relational import DatabaseSynthesizer
m = DatabaseSynthesizer.load({model!r})
t = time.perf_counter()
out = m.sample(seed=0)
s = time.perf_counter() - t
print(json.dumps({{"rows": sum(len(v) for v in out.values()), "seconds": s}}))
"""


def run_py(code: str, src: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout


def peak_rss(src: Path, model: Path, scale: float, work: Path) -> tuple[float, float]:
    """Peak resident MiB and wall seconds of the CLI writing the database to a folder."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    stats = work / "time.txt"
    out = work / "out"
    cmd = ["/usr/bin/time", "-f", "%M %e", "-o", str(stats), sys.executable, "-m", "datatwin", "sample", str(model),
           "-o", str(out), "--scale", f"{scale:g}", "--replace"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    kb, secs = stats.read_text().split()[-2:]
    return int(kb) / 1024, float(secs)


def uptime() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-src", type=Path, help="src folder of the previous version")
    ap.add_argument("--baseline-label", default="before")
    ap.add_argument("--datasets", default="berka,walmart,stocks")
    ap.add_argument("--max-training-time", type=float, default=10.0)
    ap.add_argument("--scale-memory", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=1, help="fresh processes per version; the fastest counts")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    versions = ([(a.baseline_label, a.baseline_src.resolve())] if a.baseline_src else []) + [("this", SRC)]
    fit_src = versions[0][1]
    rows = []
    load = [uptime()]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in a.datasets.split(","):
            model = work / f"{name}.dtw"
            print(f"[fit] {name}", flush=True)
            run_py(FIT.format(bench=str(ROOT / "benchmarks"), name=name, tmt=a.max_training_time, out=str(model)),
                   fit_src)
            best: dict[str, dict] = {}
            for _ in range(a.repeat):  # versions alternate, so a burst of load hits both alike
                for label, src in versions:
                    r = json.loads(run_py(SAMPLE.format(model=str(model)), src).strip().splitlines()[-1])
                    if label not in best or r["seconds"] < best[label]["seconds"]:
                        best[label] = r
            for label, src in versions:
                r = best[label]
                fig = {"data": name, "version": label, "rows": r["rows"], "sample_s": round(r["seconds"], 2),
                       "rows_per_s": round(r["rows"] / r["seconds"])}
                if name == "berka" and a.scale_memory and label == "this":  # the baseline would take many minutes
                    mib, secs = peak_rss(src, model, a.scale_memory, work)
                    fig.update(peak_rss_mib=round(mib), cli_s=round(secs, 1))
                print(json.dumps(fig), flush=True)
                rows.append(fig)
    load.append(uptime())
    lines = ["| data | version | rows | sample s | rows/s | CLI --scale peak RSS MiB | CLI s |",
             "|---|---|---|---|---|---|---|"]
    for f in rows:
        lines.append(f"| {f['data']} | {f['version']} | {f['rows']:,} | {f['sample_s']} | {f['rows_per_s']:,} | "
                     f"{f.get('peak_rss_mib', '–')} | {f.get('cli_s', '–')} |")
    table = "\n".join(lines)
    print(table)
    body = (f"Measured {dt.date.today().isoformat()} on {platform.node() or 'vm'} (2-core VM shared with other "
            f"agents; load average {load[0]} before, {load[1]} after){'; ' + a.note if a.note else ''}. Command: "
            f"`.venv/bin/python benchmarks/bench_relational_speed.py --datasets {a.datasets} --max-training-time "
            f"{a.max_training_time:g} --scale-memory {a.scale_memory:g}"
            f"{f' --repeat {a.repeat}' if a.repeat > 1 else ''}"
            f"{' --baseline-src ' + str(a.baseline_src) if a.baseline_src else ''}`. Each version samples the "
            f"same model (fitted with {versions[0][0]}'s code, {a.max_training_time:g} s per table) in a fresh "
            f"process (imports before the clock starts)"
            f"{f', fastest of {a.repeat} alternating runs' if a.repeat > 1 else ''}; "
            f"rows/s over all tables at scale 1, seed 0. Peak RSS "
            f"(this version): `datatwin sample MODEL -o folder --scale {a.scale_memory:g}` under `/usr/bin/time` "
            f"(berka).\n\n"
            + table)
    write_section("relational-speed", body, "## Databases and sequences: sampling speed and memory")


if __name__ == "__main__":
    main()
