"""Load a model file and sample N rows in memory; prints BENCH throughput_rows_per_second.

usage: python benchmarks/sample_throughput.py MODEL.dtw N [SEED]
"""

import sys
import time

import datatwin


def main() -> None:
    model, n = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    syn = datatwin.load(model)
    t = time.perf_counter()
    rows = len(syn.sample(n, seed=seed))
    secs = time.perf_counter() - t
    print(f"BENCH sample_rows={rows}\nBENCH sample_seconds={secs:.4f}")
    print(f"BENCH throughput_rows_per_second={rows / secs:.0f}")


if __name__ == "__main__":
    main()
