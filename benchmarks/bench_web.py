"""Load on the web app: 20 users browsing, uploading and sampling while a fit runs.

Starts ``datatwin serve`` (uvicorn + 2 worker processes) on 127.0.0.1, registers the users, starts
one argn fit on a slice of adult (the background load) and prepares one fitted model to sample
from. Then every user loops for ``--seconds``: history page, job page, job status (API), and
now and then an upload (API) or a 2,000-row sample job served from the saved model. Prints p50 /
p95 / max latency per request kind and appends a dated section to BENCHMARKS.md.

    PYTHONPATH=src python benchmarks/bench_web.py [--users 20] [--seconds 30] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT.parent / "shared" / "datasets" / "adult.csv"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "benchmark password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("datatwin serve exited")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("datatwin serve did not start")


def _register(url: str, name: str) -> tuple[httpx.Client, dict[str, str]]:
    c = httpx.Client(base_url=url, timeout=60, follow_redirects=True)
    token = CSRF_RE.search(c.get("/register").text).group(1)
    r = c.post("/register", data={"name": name, "password": PASSWORD, "csrf": token})
    r.raise_for_status()
    api = c.post("/api/token", json={"name": name, "password": PASSWORD}).json()["token"]
    return c, {"Authorization": f"Bearer {api}"}


def _wait_job(c: httpx.Client, h: dict[str, str], jid: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = c.get(f"/api/jobs/{jid}", headers=h).json()
        if state["status"] in ("done", "failed", "cancelled"):
            return state
        time.sleep(0.5)
    raise SystemExit(f"job {jid} did not finish")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--no-write", action="store_true", help="do not append to BENCHMARKS.md")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_web."))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "datatwin", "serve", "--port", str(port), "--data-dir",
                             str(tmp / "data"), "--workers", "2"], env=env, stderr=subprocess.DEVNULL)
    try:
        _wait_up(url, proc)
        adult = pd.read_csv(ADULT, nrows=5000)
        big, small = adult.to_csv(index=False).encode(), adult.head(300).to_csv(index=False).encode()
        users = [_register(url, f"user{i:02d}") for i in range(args.users)]
        c0, h0 = users[0]
        # Each user's own model to sample from (copula on 300 rows: ready in seconds)...
        setup = []
        for c, h in users:
            u = c.post("/api/uploads", headers=h, files={"file": ("mine.csv", small)}).json()
            setup.append(c.post(f"/api/uploads/{u['id']}/fit", headers=h, json={"engine": "copula"}).json()["job_id"])
        models = [_wait_job(c, h, j)["result"]["model_id"] for (c, h), j in zip(users, setup, strict=True)]
        # ...then the long fit that runs in the background during the whole test.
        up = c0.post("/api/uploads", headers=h0, files={"file": ("adult.csv", big)}).json()
        fit_job = c0.post(f"/api/uploads/{up['id']}/fit", headers=h0,
                          json={"engine": "argn", "max_training_time": int(args.seconds) + 30}).json()["job_id"]
        time.sleep(2)

        lat: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        sample_secs: list[float] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def timed(kind: str, fn, *a, **kw) -> httpx.Response | None:
            t = time.perf_counter()
            try:
                r = fn(*a, **kw)
            except httpx.HTTPError as exc:
                with lock:
                    errors.append(f"{kind}: {type(exc).__name__}")
                return None
            ms = (time.perf_counter() - t) * 1000
            with lock:
                lat[kind].append(ms)
                if r.status_code >= 400:
                    errors.append(f"{kind}: HTTP {r.status_code}")
            return r

        def user_loop(i: int) -> None:
            c, h = users[i]
            rng = random.Random(i)
            pending: list[tuple[str, float]] = []
            while time.monotonic() < stop_at:
                timed("page: history", c.get, "/app")
                timed("page: job", c.get, f"/jobs/{fit_job}" if i == 0 else "/generate")
                for jid, t0 in list(pending):
                    r = timed("api: job status", c.get, f"/api/jobs/{jid}", headers=h)
                    if r is not None and r.json().get("status") == "done":
                        pending.remove((jid, t0))
                        with lock:
                            sample_secs.append(time.monotonic() - t0)
                if i == 0:
                    timed("api: job status", c.get, f"/api/jobs/{fit_job}", headers=h)
                roll = rng.random()
                if roll < 0.08:
                    timed("api: upload 300 rows", c.post, "/api/uploads", headers=h,
                          files={"file": (f"u{i}.csv", small)})
                elif roll < 0.16 and not pending:
                    r = timed("api: queue sample", c.post, f"/api/models/{models[i]}/sample", headers=h,
                              json={"n": 2000, "seed": rng.randrange(1000)})
                    if r is not None and r.status_code == 200:
                        pending.append((r.json()["job_id"], time.monotonic()))
                time.sleep(rng.uniform(0.1, 0.4))  # think time

        threads = [threading.Thread(target=user_loop, args=(i,)) for i in range(args.users)]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t_start
        fit_state = c0.get(f"/api/jobs/{fit_job}", headers=h0).json()
        fits = [j for j in c0.get("/api/jobs", headers=h0).json() if j["kind"] == "fit"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    def pct(xs: list[float], q: float) -> float:
        s = sorted(xs)
        return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")

    rows = [(k, len(v), pct(v, 0.5), pct(v, 0.95), max(v)) for k, v in sorted(lat.items())]
    total = sum(r[1] for r in rows)
    load = os.getloadavg()
    lines = ["| request | count | p50 ms | p95 ms | max ms |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | {n} | {p50:.0f} | {p95:.0f} | {mx:.0f} |" for k, n, p50, p95, mx in rows]
    summary = (f"{args.users} users for {wall:.0f} s: {total} requests ({total / wall:.0f}/s), "
               f"{len(errors)} errors{' (' + ', '.join(sorted(set(errors))[:5]) + ')' if errors else ''}; "
               f"{len(sample_secs)} sample jobs of 2,000 rows finished (median {pct(sample_secs, 0.5):.1f} s from "
               f"queue to done), served from the saved models: user 0 ran {len(fits)} fit jobs in all (its model + the "
               f"background fit, which was '{fit_state['status']}' at the end, "
               f"epoch {fit_state['progress'].get('epoch', '?')}).")
    print("\n".join(lines))
    print(summary)
    if not args.no_write:
        cpu = os.cpu_count()
        section = [
            "", f"## Web app under load ({dt.date.today().isoformat()})", "",
            f"`PYTHONPATH=src python benchmarks/bench_web.py --users {args.users} --seconds {args.seconds:.0f}`: "
            f"`datatwin serve` (uvicorn, 1 web process, 2 worker processes) on 127.0.0.1, {cpu}-core VM "
            f"({platform.machine()}, Python {platform.python_version()}), load average at the end "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. While it ran, an argn fit on 5,000 adult rows "
            "trained in one worker; other agents' builds and tests shared the machine.", "",
            *lines, "", summary, "",
        ]
        with open(ROOT / "BENCHMARKS.md", "a", encoding="utf-8") as f:
            f.write("\n".join(section))


if __name__ == "__main__":
    main()
