"""The web app with its store on a real PostgreSQL server (a throwaway cluster, tests/pg_helpers.py).

The same pages, API and worker code as tests/test_web.py, with ``Settings(store_url=...)``: register,
log in, upload, fit, sample, download, ownership, restart recovery, and the atomic job claim
(also checked on SQLite). Skips where the PostgreSQL server binaries are missing.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'datatwin[web]'")

from datatwin import DatabaseError  # noqa: E402
from datatwin.web import Settings, create_app  # noqa: E402
from datatwin.web._store import Store  # noqa: E402
from datatwin.web._worker import run as run_worker  # noqa: E402
from test_web import PASSWORD, _client, _csv_bytes, _job_id, _register, _upload, _upload_id  # noqa: E402


@pytest.fixture()
def pg_store_url(pg_server) -> str:
    return pg_server.createdb().replace("postgresql://", "postgresql+psycopg://")


@pytest.fixture()
def pg_app(tmp_path: Path, pg_store_url: str):
    app = create_app(Settings(data_dir=tmp_path / "data", store_url=pg_store_url, max_upload_bytes=200_000,
                              max_rows_out=5000))
    yield app
    app.state.ctx.store.dispose()


def _work(app) -> int:
    s = app.state.ctx.settings
    return run_worker(s.data_dir, once=True, store_url=s.store_url)


def test_pages_and_api_flow_with_postgres_store(pg_app, pg_store_url: str) -> None:
    store = pg_app.state.ctx.store
    assert store.dialect == "postgresql"
    a = _client(pg_app)
    a_csrf = _register(a, "alice")
    b = _client(pg_app)
    b_csrf = _register(b, "bob")
    up = _upload_id(_upload(a, a_csrf, "people.csv", _csv_bytes()))
    jid = _job_id(a.post(f"/uploads/{up}/fit", data={"csrf": a_csrf, "engine": "copula", "max_training_time": "30"}))
    assert _work(pg_app) == 1
    page = a.get(f"/jobs/{jid}").text
    assert "done" in page
    mid = re.search(r'href="/models/([^"]+)"', page).group(1)
    sj = _job_id(a.post(f"/models/{mid}/sample", data={"csrf": a_csrf, "n": "40", "seed": "1"}))
    assert _work(pg_app) == 1
    assert pg_app.state.ctx.store.job_any(sj)["status"] == "done", pg_app.state.ctx.store.job_any(sj)["error"]
    out = pd.read_csv(io.StringIO(a.get(f"/jobs/{sj}/download/csv").text))
    assert len(out) == 40 and set(out["plan"]) <= {"basic", "plus", "pro"}
    # The rows are in PostgreSQL, not in a SQLite file beside the data.
    assert not (pg_app.state.ctx.settings.data_dir / "datatwin.sqlite3").exists()
    import sqlalchemy as sa

    eng = sa.create_engine(pg_store_url)
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 2
        assert conn.execute(sa.text("SELECT status FROM jobs WHERE id = :j"), {"j": sj}).scalar() == "done"
    eng.dispose()
    # Ownership: bob sees nothing of alice's, through pages or the API.
    for url in (f"/uploads/{up}", f"/models/{mid}", f"/models/{mid}/download", f"/jobs/{sj}",
                f"/jobs/{sj}/download/csv"):
        assert b.get(url).status_code == 404, url
    for url in (f"/uploads/{up}/delete", f"/models/{mid}/sample", f"/jobs/{sj}/delete"):
        assert b.post(url, data={"csrf": b_csrf, "n": "5"}).status_code == 404, url
    token = _client(pg_app).post("/api/token", json={"name": "bob", "password": PASSWORD}).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    assert _client(pg_app).get(f"/api/jobs/{sj}", headers=h).status_code == 404
    assert _client(pg_app).get("/api/models", headers=h).json() == []
    # A wrong password counts towards the lockout in PostgreSQL too.
    c = _client(pg_app)
    for _ in range(6):  # five failures lock the name: the sixth try is refused
        r = c.post("/api/token", json={"name": "alice", "password": "wrong password"})
    assert r.status_code == 429


def test_database_upload_with_postgres_store(pg_app, tmp_path: Path) -> None:
    # The uploaded SQLite database is a file in the data folder; its records are in PostgreSQL.
    from test_web_database import shop_db

    a = _client(pg_app)
    csrf = _register(a, "alice")
    up = _upload_id(_upload(a, csrf, "shop.sqlite", shop_db(tmp_path / "shop.db")))
    jid = _job_id(a.post(f"/uploads/{up}/fit", data={"csrf": csrf, "engine": "marginal"}))
    assert _work(pg_app) == 1
    store = pg_app.state.ctx.store
    job = store.job_any(jid)
    assert job["status"] == "done", job["error"]
    sj = _job_id(a.post(f"/models/{job['result']['model_id']}/sample", data={"csrf": csrf, "scale": "0.5"}))
    assert _work(pg_app) == 1
    tables = store.job_any(sj)["result"]["tables"]
    assert tables["customer"] == 40 and tables["orders"] > 0 and set(tables) == {"customer", "orders"}
    assert a.get(f"/jobs/{sj}/download/sqlite").content.startswith(b"SQLite format 3\x00")
    b = _client(pg_app)
    _register(b, "bob")
    assert b.get(f"/jobs/{sj}/download/sqlite").status_code == 404


def test_restart_recovery_with_postgres_store(pg_app) -> None:
    a = _client(pg_app)
    csrf = _register(a, "alice")
    up = _upload_id(_upload(a, csrf, "people.csv", _csv_bytes()))
    jid = _job_id(a.post(f"/uploads/{up}/fit", data={"csrf": csrf, "engine": "copula"}))
    store = pg_app.state.ctx.store
    assert store.claim("gone-host:999999")["id"] == jid  # a worker claims it, then the server stops
    assert store.claim("other-host:1") is None  # nobody else gets it meanwhile
    assert store.fail_orphans(0.0) == 1  # what `datatwin serve` does when it starts again
    page = a.get(f"/jobs/{jid}").text
    assert "worker stopped" in page and "Retry" in page
    a.post(f"/jobs/{jid}/retry", data={"csrf": csrf})
    assert _work(pg_app) == 1
    assert a.get(f"/api/jobs/{jid}").status_code == 401
    assert store.job_any(jid)["status"] == "done"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_claims_never_share_a_job(backend: str, tmp_path: Path, request) -> None:
    url = (request.getfixturevalue("pg_store_url") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'store.sqlite3'}")
    first = Store(url)
    ids = [first.add_job("u", "sample", {"i": i}) for i in range(60)]
    stores = [Store(url) for _ in range(6)]
    got: list[list[str]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def claim_all(i: int) -> None:
        start.wait()
        while (job := stores[i].claim(f"host:{i}")) is not None:
            got[i].append(job["id"])

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [j for g in got for j in g]
    assert sorted(claimed) == sorted(ids)  # every job claimed exactly once
    assert sum(1 for g in got if g) > 1  # and the workers really competed
    assert {first.job_any(j)["status"] for j in ids} == {"running"}
    # A dead worker's restart fails that worker's jobs only.
    dead = next(i for i, g in enumerate(got) if g)
    import socket

    for j in got[dead]:
        with first.engine.begin() as conn:
            from datatwin.web._store import jobs

            conn.execute(jobs.update().where(jobs.c.id == j).values(worker=f"{socket.gethostname()}:4242{dead}"))
    assert first.fail_orphans(0.0, pid=int(f"4242{dead}")) == len(got[dead])
    assert sum(first.job_any(j)["status"] == "failed" for j in ids) == len(got[dead])
    for s in (first, *stores):
        s.dispose()


def test_store_url_password_never_shown(pg_server, tmp_path: Path) -> None:
    url = pg_server.url.replace("postgres@", "postgres:hunter2@").replace("postgresql://", "postgresql+psycopg://")
    with pytest.raises(DatabaseError) as exc:
        Store(url + "/no_such_db")
    assert "hunter2" not in str(exc.value) and "***" in str(exc.value) and "no_such_db" in str(exc.value)
    # The CLI: one line, exit status 1, no password, whether given as an option or in the environment.
    for args, env in ((["--store-url", url + "/no_such_db"], {}), ([], {"DATATWIN_STORE_URL": url + "/nope"})):
        r = subprocess.run([sys.executable, "-m", "datatwin", "serve", "--data-dir", str(tmp_path / "d"),
                            "--port", "1", *args], capture_output=True, text=True, timeout=120,
                           env={**__import__("os").environ, **env})
        assert r.returncode == 1, r.stderr
        assert "hunter2" not in r.stderr + r.stdout and "cannot open the store" in r.stderr
        assert "Traceback" not in r.stderr
