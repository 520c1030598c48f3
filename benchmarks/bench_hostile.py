"""Fuzz the three untrusted inputs (#15): the CSV reader, the metadata file and the model manifest.

Seeded mutational fuzzing: valid seeds (a CSV, a metadata JSON, model files of each engine) are
mutated (byte flips, insertions, deletions, truncations, splices; JSON values replaced, deleted,
retyped) and fed to datatwin. Each input ends one of three ways:

* clean error: a DatatwinError with a one-line message;
* correct result: no error, and the result is usable (a table with columns and rows; metadata
  that reads back; a model that samples);
* failing: any other exception, a multi-line message, or an unusable result.

    python benchmarks/bench_hostile.py [--n 10000] [--seed 0] [--write]

``--write`` appends a dated section to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import random
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import datatwin
from datatwin import DatatwinError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from _common import write_section  # noqa: E402


def _table(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.integers(18, 70, n), "income": rng.normal(5e4, 1e4, n).round(2),
        "city": rng.choice(["Paris", "Rome", "Oslo"], n), "member": rng.random(n) < 0.4,
        "joined": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
                   ).strftime("%Y-%m-%d"),
    })


# ---------------------------------------------------------------------- mutators
def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        i = rng.randrange(len(b) + 1) if b else 0
        if op == 0 and b:  # flip a byte
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:  # insert interesting bytes
            b[i:i] = rng.choice([b"\x00", b",", b"\n", b'"', b"\r\n", b"\xff\xfe", b"inf", b"-inf", b"NaN",
                                 b"9999-12-31", b"0001-01-01", b"1e400", b"\xc3", b"=cmd|'/c calc'!A1", b"\t",
                                 "é".encode(), b"," * 50, b"9" * 400])
        elif op == 2 and b:  # delete a run
            del b[i:i + rng.randint(1, 40)]
        elif op == 3:  # truncate
            b = b[:i]
        elif op == 4 and b:  # duplicate a run
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + rng.randint(1, 200)]
        elif op == 5:  # re-encode
            with contextlib.suppress(UnicodeDecodeError, UnicodeEncodeError):
                b = bytearray(bytes(b).decode("utf-8").encode(rng.choice(["utf-16", "utf-16-le", "cp1252", "utf-32"])))
        elif op == 6:  # random garbage
            b = bytearray(rng.randbytes(rng.randint(0, 300)))
    return bytes(b)


_VALUES: list[Any] = [None, True, False, 0, -1, 1, 2**63, -(2**70), 1e308, float("nan"), float("inf"), 0.5, "",
                      "x", "numeric", "categorical", "datetime", [], [1, "a"], {}, {"kind": "numeric"}, "é" * 3,
                      10**9, [[]], {"a": {"b": None}}]


def json_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        if len(prefix) < 6:
            out.extend(json_paths(v, (*prefix, k)))
    return out


def mutate_json(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = json_paths(doc)
        if not paths:
            return copy.deepcopy(rng.choice(_VALUES))
        path = rng.choice(paths)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = rng.randrange(5)
        if op == 0:
            parent.pop(key) if isinstance(parent, (dict, list)) else None
        elif op == 1:
            parent[key] = copy.deepcopy(rng.choice(_VALUES))
        elif op == 2 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = parent[key] * rng.choice([-1, 2, 1000, 10**12]) + rng.choice([0, 1, -1])
        elif op == 3 and isinstance(parent[key], list):
            pool = parent[key] or _VALUES
            parent[key].append(copy.deepcopy(rng.choice(pool)))
        elif op == 4 and isinstance(parent, dict):
            parent[rng.choice(["ghost", "kind", "x" * 5, str(key) + "_"])] = copy.deepcopy(rng.choice(_VALUES))
    return doc


# ---------------------------------------------------------------------- targets
def run_csv(data: bytes, folder: Path) -> str:
    p = folder / "f.csv"
    p.write_bytes(data)
    df = datatwin.read_table(p)
    datatwin.Metadata.infer(df)
    return "ok" if df.shape[0] > 0 and df.shape[1] > 0 else "bad result"


def run_metadata(doc: Any, folder: Path, df: pd.DataFrame) -> str:
    p = folder / "meta.json"
    p.write_text(json.dumps(doc, allow_nan=True))
    meta = datatwin.Metadata.load(p)
    merged = datatwin.Metadata.infer(df).update(meta)
    datatwin.Metadata.from_dict(json.loads(merged.to_json()))
    return "ok"


def write_model(path: Path, manifest: Any, arrays: bytes) -> None:
    mbytes = json.dumps(manifest, allow_nan=True).encode()
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in
                   (("manifest.json", mbytes), ("arrays.safetensors", arrays)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", mbytes)
        zf.writestr("arrays.safetensors", arrays)
        zf.writestr("SHA256SUMS", sums)


def run_model(manifest: Any, arrays: bytes, folder: Path) -> str:
    p = folder / "m.dtw"
    write_model(p, manifest, arrays)
    out = datatwin.load(p).sample(5, seed=1)
    return "ok" if len(out) == 5 else "bad result"


def classify(fn: Any, *args: Any) -> tuple[str, str]:
    try:
        res = fn(*args)
    except DatatwinError as exc:
        msg = str(exc)
        return ("clean error", "") if msg and "\n" not in msg else ("failing", f"multi-line message: {msg[:200]!r}")
    except Exception as exc:  # noqa: BLE001 - counting every other failure is the point
        return "failing", f"{type(exc).__name__}: {str(exc)[:200]}"
    return ("correct result", "") if res == "ok" else ("failing", res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="generated inputs in all (split 50/25/25)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="append a dated section to BENCHMARKS.md")
    args = ap.parse_args()
    import logging

    logging.getLogger("datatwin").setLevel(logging.ERROR)  # the warnings of read-as-missing etc.
    rng = random.Random(args.seed)
    df = _table()
    csv_seed = df.to_csv(index=False).encode()
    meta_seed = datatwin.Metadata.infer(df).to_dict()
    results: dict[str, Counter[str]] = {}
    examples: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        models = []
        for engine, opts in (("copula", None), ("marginal", None), ("argn", {"max_epochs": 2, "n_threads": 1})):
            p = folder / f"{engine}.dtw"
            datatwin.Synthesizer(engine=engine, engine_options=opts).fit(df).save(p)
            with zipfile.ZipFile(p) as zf:
                models.append((json.loads(zf.read("manifest.json")), zf.read("arrays.safetensors")))
        n_csv, n_meta = args.n // 2, args.n // 4
        n_model = args.n - n_csv - n_meta
        plan = [("CSV reader", n_csv), ("metadata file", n_meta), ("model manifest", n_model)]
        for target, count in plan:
            c: Counter[str] = Counter()
            for _ in range(count):
                if target == "CSV reader":
                    outcome, why = classify(run_csv, mutate_bytes(csv_seed, rng), folder)
                elif target == "metadata file":
                    outcome, why = classify(run_metadata, mutate_json(meta_seed, rng), folder, df)
                else:
                    manifest, arrays = rng.choice(models)
                    outcome, why = classify(run_model, mutate_json(manifest, rng), arrays, folder)
                c[outcome] += 1
                if why and len(examples.setdefault(target, [])) < 5:
                    examples[target].append(why)
            results[target] = c
    elapsed = time.perf_counter() - t0
    lines = ["| target | tried | clean error | correct result | failing |", "|---|---:|---:|---:|---:|"]
    total: Counter[str] = Counter()
    for target, c in results.items():
        tried = sum(c.values())
        total.update(c)
        lines.append(f"| {target} | {tried:,} | {c['clean error']:,} | {c['correct result']:,} | {c['failing']:,} |")
    lines.append(f"| **all** | {sum(total.values()):,} | {total['clean error']:,} | {total['correct result']:,} | "
                 f"{total['failing']:,} |")
    table = "\n".join(lines)
    print(table)
    print(f"\n{elapsed:.0f} s, seed {args.seed}")
    for target, ex in examples.items():
        for e in ex:
            print(f"  failing ({target}): {e}")
    if args.write:
        today = dt.date.today().isoformat()
        body = (f"### Hostile inputs, fuzzed ({today})\n\n"
                f"`python benchmarks/bench_hostile.py --n {args.n} --seed {args.seed}`: seeded mutations of a "
                f"valid CSV (byte flips, insertions of NUL/BOM/inf/sentinel dates, truncation, re-encoding to "
                f"UTF-16/32 and cp1252, garbage), of its metadata JSON and of model manifests of the copula, "
                f"marginal and ARGN engines (values replaced, deleted, retyped, scaled; checksums recomputed, "
                f"so validation is what is tested). {elapsed:.0f} s.\n\n{table}\n")
        write_section(f"hostile-{today}", body, "## Hostile inputs (#15)")
        print("BENCHMARKS.md updated")


if __name__ == "__main__":
    main()
