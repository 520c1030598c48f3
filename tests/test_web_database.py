"""Uploaded SQLite databases in the web app (TestClient, real SQLite, the real worker code):
tables and keys shown, a database model fitted and sampled, the synthetic database downloaded as
SQLite and as a zip of CSVs, the database evaluation report; hostile database files refused with nothing kept."""

from __future__ import annotations

import hashlib
import html
import io
import re
import sqlite3
import zipfile
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'datatwin[web]'")

from datatwin.web import Settings, create_app  # noqa: E402
from datatwin.web._databases import write_csv_zip  # noqa: E402
from datatwin.web._worker import run as run_worker  # noqa: E402
from relational_helpers import tiny_sqlite  # noqa: E402
from test_web import PASSWORD, _client, _job_id, _register, _stored_files, _upload, _upload_id  # noqa: E402

FORMULAS = ['=HYPERLINK("http://evil")', "+1+2", "@SUM(A1)", "plain"]


def shop_db(path: Path, *, wal: bool = False) -> bytes:
    """customer (a note column full of spreadsheet formulas) <- orders: two tables, one foreign key."""
    con = sqlite3.connect(path)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.executescript("""
        CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, note TEXT, age INTEGER);
        CREATE TABLE orders (order_id INTEGER PRIMARY KEY,
                             customer_id INTEGER NOT NULL REFERENCES customer(customer_id), amount REAL);""")
    con.executemany("INSERT INTO customer VALUES (?, ?, ?)",
                    [(i, FORMULAS[i % 4], 20 + i % 50) for i in range(1, 81)])
    con.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, 1 + i % 80, float(i % 17)) for i in range(1, 201)])
    con.commit()
    if wal:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path.read_bytes()


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture()
def app(data_dir: Path):
    return create_app(Settings(data_dir=data_dir, max_upload_bytes=400_000, max_rows_out=5000, max_tables=10,
                               max_columns=20))


@pytest.fixture()
def alice(app):
    c = _client(app)
    return c, _register(c, "alice")


def _fit_db(client, csrf: str, data_dir: Path, up: str, engine: str = "marginal") -> str:
    jid = _job_id(client.post(f"/uploads/{up}/fit", data={"csrf": csrf, "engine": engine,
                                                          "max_training_time": "30"}))
    assert run_worker(data_dir, once=True) == 1
    page = client.get(f"/jobs/{jid}").text
    assert "Generate rows from the model" in page, page[-1500:]
    return re.search(r'href="/models/([^"]+)"', page).group(1)


def test_database_pages_flow(alice, data_dir: Path, tmp_path: Path) -> None:
    client, csrf = alice
    raw = shop_db(tmp_path / "shop.db", wal=True)  # a WAL-mode file: read without its -wal/-shm (immutable)
    r = _upload(client, csrf, "shop.sqlite", raw)
    up = _upload_id(r)
    # Tables, row counts, primary and foreign keys as detected.
    assert re.search(r"<b>customer</b></td><td>80</td>", r.text) and re.search(r"<b>orders</b></td><td>200</td>",
                                                                              r.text)
    assert "customer_id &rarr; customer.customer_id" in r.text and "Train a database model" in r.text
    stored = next(p for p in _stored_files(data_dir) if p.suffix == ".sqlite")
    digest = hashlib.sha256(stored.read_bytes()).hexdigest()
    jid = _job_id(client.post(f"/uploads/{up}/fit", data={"csrf": csrf, "engine": "argn", "max_training_time": "30",
                                                          "max_epochs": "2"}))
    assert run_worker(data_dir, once=True) == 1
    job = client.app.state.ctx.store.job_any(jid)
    assert job["status"] == "done", job["error"]
    assert job["progress"]["tables"] == 2 and job["progress"]["table"] in ("customer", "orders")
    mid = job["result"]["model_id"]
    assert "Generate a synthetic database" in client.get(f"/models/{mid}").text
    sj = _job_id(client.post(f"/models/{mid}/sample", data={"csrf": csrf, "scale": "0.5", "seed": "3"}))
    assert run_worker(data_dir, once=True) == 1
    result = client.app.state.ctx.store.job_any(sj)["result"]
    assert result["tables"]["customer"] == 40 and result["rows"] == sum(result["tables"].values())
    assert "Download SQLite database" in client.get(f"/jobs/{sj}").text
    # The SQLite download: every order points to a customer, and the values are as generated.
    db_file = tmp_path / "synthetic.sqlite"
    db_file.write_bytes(client.get(f"/jobs/{sj}/download/sqlite").content)
    con = sqlite3.connect(db_file)
    dangling = con.execute("SELECT count(*) FROM orders o LEFT JOIN customer c ON o.customer_id = c.customer_id "
                           "WHERE c.customer_id IS NULL").fetchone()[0]
    notes = {r[0] for r in con.execute("SELECT note FROM customer")}
    n_orders = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    con.close()
    assert dangling == 0 and n_orders == result["tables"]["orders"] and notes & set(FORMULAS[:3])
    # The zip of CSVs: one per table, formula cells escaped for spreadsheets.
    z = zipfile.ZipFile(io.BytesIO(client.get(f"/jobs/{sj}/download/zip").content))
    assert sorted(z.namelist()) == ["customer.csv", "orders.csv"]
    customers = pd.read_csv(z.open("customer.csv"), keep_default_na=False)
    assert len(customers) == 40
    assert not customers["note"].str.startswith(("=", "+", "-", "@")).any()
    assert customers["note"].str.startswith("'=").any()
    # The database evaluation: keys, children per parent, each table, trends, detection.
    rj = _job_id(client.post(f"/jobs/{sj}/report", data={"csrf": csrf}))
    assert run_worker(data_dir, once=True) == 1
    rep = client.app.state.ctx.store.job_any(rj)
    assert rep["status"] == "done", rep["error"]
    assert rep["result"]["tables"]["orders"] == {"rows_real": 200, "rows_synthetic": result["tables"]["orders"]}
    verdicts = {v["title"]: v["status"] for v in rep["result"]["verdicts"]}
    assert len(verdicts) >= 4 and rep["result"]["overall"] in ("pass", "warn", "fail")
    assert any("integrity" in t.lower() or "key" in t.lower() for t in verdicts), verdicts
    page = client.get(f"/jobs/{rj}").text
    assert "Open the full database report" in page
    report = client.get(f"/jobs/{rj}/report")
    assert report.status_code == 200 and "sandbox" in report.headers["content-security-policy"]
    assert "orders" in report.text and "customer" in report.text and "<script src" not in report.text
    assert client.get(f"/jobs/{rj}/report?table=7").status_code == 404
    # The uploaded file was only read: same bytes, no journal, WAL or lock files beside it.
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in stored.parent.iterdir()) == ["data.sqlite", "info.json"]


def test_database_rest_api(app, alice, data_dir: Path, tmp_path: Path) -> None:
    client = _client(app)
    token = client.post("/api/token", json={"name": "alice", "password": PASSWORD}).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    tiny_sqlite(tmp_path / "tiny.db")
    up = client.post("/api/databases", headers=h, files={"file": ("bank.db", (tmp_path / "tiny.db").read_bytes())})
    assert up.status_code == 200, up.text
    info = up.json()["info"]["database"]
    tables = {t["name"]: t for t in info["tables"]}
    assert tables["account_tag"]["primary_key"] == ["account_id", "tag_id"] and tables["trans"]["rows"] > 100
    assert len(info["foreign_keys"]) == 6 and "path" not in up.json()
    uid = up.json()["id"]
    assert client.get(f"/api/databases/{uid}", headers=h).json()["id"] == uid
    assert client.post(f"/api/databases/{uid}/fit", headers=h, json={"engine": "gan"}).status_code == 400
    r = client.post(f"/api/databases/{uid}/fit", headers=h, json={"engine": "marginal", "max_epochs": 3})
    assert r.status_code == 400 and "argn engine only" in r.json()["detail"]
    jid = client.post(f"/api/databases/{uid}/fit", headers=h, json={"engine": "marginal", "max_training_time": 20}
                      ).json()["job_id"]
    run_worker(data_dir, once=True)
    job = client.get(f"/api/jobs/{jid}", headers=h).json()
    assert job["status"] == "done", job
    mid = job["result"]["model_id"]
    for body, words in (({"scale": 0}, "above 0"), ({"scale": 1e6}, "at most 100"), ({"scale": 50}, "the limit is")):
        r = client.post(f"/api/database-models/{mid}/sample", headers=h, json=body)
        assert r.status_code == 400 and words in r.json()["detail"], r.text
    r = client.post(f"/api/models/{mid}/sample", headers=h, json={"n": 10})
    assert r.status_code == 400 and "scale" in r.json()["detail"]
    sj = client.post(f"/api/database-models/{mid}/sample", headers=h, json={"scale": 1, "seed": 2}).json()["job_id"]
    run_worker(data_dir, once=True)
    sample_job = client.get(f"/api/jobs/{sj}", headers=h).json()
    assert sample_job["status"] == "done", sample_job["error"]
    got = client.get(f"/api/jobs/{sj}/download?format=sqlite", headers=h)
    assert got.status_code == 200 and got.content.startswith(b"SQLite format 3\x00")
    names = zipfile.ZipFile(io.BytesIO(client.get(f"/api/jobs/{sj}/download?format=zip", headers=h).content)).namelist()
    assert len(names) == 6 and "trans.csv" in names
    assert client.get(f"/api/jobs/{sj}/download?format=exe", headers=h).status_code == 400
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/databases", "/api/databases/{upload_id}/fit", "/api/database-models/{model_id}/sample"} <= set(paths)
    # A table's upload is not a database, and a database cannot go through the table-only route's options.
    r = client.post("/api/databases", headers=h, files={"file": ("t.csv", b"a,b\n1,2\n")})
    assert r.status_code == 400 and ".sqlite" in r.json()["detail"]
    r = client.post(f"/api/uploads/{uid}/fit", headers=h, json={"epsilon": 1})
    assert r.status_code == 400 and "privacy budget" in r.json()["detail"]


def test_other_users_database_objects_are_404(app, alice, data_dir: Path, tmp_path: Path) -> None:
    a, a_csrf = alice
    up = _upload_id(_upload(a, a_csrf, "shop.db", shop_db(tmp_path / "shop.db")))
    mid = _fit_db(a, a_csrf, data_dir, up)
    sj = _job_id(a.post(f"/models/{mid}/sample", data={"csrf": a_csrf, "scale": "1"}))
    run_worker(data_dir, once=True)
    b = _client(app)
    b_csrf = _register(b, "bob")
    for url in (f"/uploads/{up}", f"/models/{mid}", f"/jobs/{sj}/download/sqlite", f"/jobs/{sj}/download/zip"):
        assert b.get(url).status_code == 404, url
    for url in (f"/uploads/{up}/fit", f"/models/{mid}/sample", f"/jobs/{sj}/report"):
        assert b.post(url, data={"csrf": b_csrf, "scale": "1"}).status_code == 404, url
    token = _client(app).post("/api/token", json={"name": "bob", "password": PASSWORD}).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    assert b.post(f"/api/database-models/{mid}/sample", headers=h, json={"scale": 1}).status_code == 404
    assert b.post(f"/api/databases/{up}/fit", headers=h, json={}).status_code == 404
    assert b.get(f"/api/databases/{up}", headers=h).status_code == 404
    assert b.get(f"/api/jobs/{sj}/download?format=sqlite", headers=h).status_code == 404
    assert a.get(f"/jobs/{sj}/download/sqlite").status_code == 200  # still there for its owner


def _db_bytes(tmp_path: Path, sql: str, name: str = "x.db") -> bytes:
    p = tmp_path / name
    con = sqlite3.connect(p)
    con.executescript(sql)
    con.commit()
    con.close()
    return p.read_bytes()


def _hostile(tmp_path: Path, case: str) -> tuple[str, bytes]:
    good = shop_db(tmp_path / "good.db")
    if case == "truncated":
        return "shop.sqlite", good[: len(good) // 2]
    if case == "corrupt":
        # The first page (the catalogue) overwritten with noise, the header kept.
        return "shop.db", good[:100] + bytes((i * 37) % 251 for i in range(4000)) + good[4100:]
    if case == "too many tables":
        return "wide.db", _db_bytes(tmp_path, "".join(f"CREATE TABLE t{i} (a);" for i in range(11)))
    if case == "too many columns":
        cols = ", ".join(f"c{i}" for i in range(21))
        return "wide.db", _db_bytes(tmp_path, f"CREATE TABLE t ({cols});")
    if case == "foreign key to a missing table":
        return "ghost.db", _db_bytes(tmp_path, "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                                               "ghost_id INTEGER REFERENCES ghost(id), v TEXT);"
                                               + "".join(f"INSERT INTO child VALUES ({i}, 1, 'x');"
                                                         for i in range(1, 6)))
    if case == "no tables":
        return "empty.db", _db_bytes(tmp_path, "CREATE VIEW v AS SELECT 1;")
    if case == "csv named sqlite":
        return "data.sqlite", b"a,b\n1,2\n"
    if case == "sqlite named csv":
        return "data.csv", good
    raise AssertionError(case)


HOSTILE_DBS = [
    ("truncated", "damaged or truncated"),
    ("corrupt", "damaged or truncated"),
    ("too many tables", "has 11 tables; the limit is 10"),
    ("too many columns", "has 21 columns; the limit is 20"),
    ("foreign key to a missing table", "names table 'ghost', which is not in the schema"),
    ("no tables", "has no tables"),
    ("csv named sqlite", "content is not a SQLite database"),
    ("sqlite named csv", "content is sqlite"),
]


@pytest.mark.parametrize("case,words", HOSTILE_DBS, ids=[h[0] for h in HOSTILE_DBS])
def test_hostile_database_refused_and_nothing_stored(alice, data_dir: Path, tmp_path: Path, case: str,
                                                     words: str) -> None:
    client, csrf = alice
    name, content = _hostile(tmp_path, case)
    before = _stored_files(data_dir)
    r = _upload(client, csrf, name, content)
    assert r.status_code == 400, (case, r.status_code, r.text[:300])
    text = html.unescape(r.text)
    assert words in text, (words, re.sub(r"\s+", " ", text)[-700:])
    assert _stored_files(data_dir) == before
    store = client.app.state.ctx.store
    assert store.uploads(store.user_by_name("alice")["id"]) == []


def test_zip_entries_are_plain_names_whatever_the_table_is_called(tmp_path: Path) -> None:
    frames = {"../../etc/cron": pd.DataFrame({"a": ["=1+1"]}), "a/b": pd.DataFrame({"a": [1]}),
              "A_B": pd.DataFrame({"a": [2]}), ".hidden": pd.DataFrame({"a": [3]})}
    write_csv_zip(frames, tmp_path / "out.zip")
    names = zipfile.ZipFile(tmp_path / "out.zip").namelist()
    assert len(set(n.lower() for n in names)) == 4
    assert all("/" not in n and "\\" not in n and not n.startswith(".") for n in names), names
    text = zipfile.ZipFile(tmp_path / "out.zip").read(names[0]).decode()
    assert "'=1+1" in text
    assert [p.name for p in tmp_path.iterdir()] == ["out.zip"]  # no temp file left


def test_database_conditions(alice, data_dir: Path, tmp_path: Path) -> None:
    """A root table's condition on the sample form and the REST endpoint: every synthetic
    customer matches, every order still points to one; bad conditions get a clear 400."""
    client, csrf = alice
    up = _upload_id(_upload(client, csrf, "shop.sqlite", shop_db(tmp_path / "shop.db")))
    mid = _fit_db(client, csrf, data_dir, up)
    assert "table.column=value" in client.get(f"/models/{mid}").text
    sj = _job_id(client.post(f"/models/{mid}/sample", data={"csrf": csrf, "scale": "1", "seed": "1",
                                                            "where": "customer.age=30..40"}))
    assert run_worker(data_dir, once=True) == 1
    job = client.app.state.ctx.store.job_any(sj)
    assert job["status"] == "done", job["error"]
    assert job["params"]["conditions"] == {"customer": {"age": {"range": [30, 40]}}}
    db_file = tmp_path / "synthetic.sqlite"
    db_file.write_bytes(client.get(f"/jobs/{sj}/download/sqlite").content)
    con = sqlite3.connect(db_file)
    ages = [r[0] for r in con.execute("SELECT age FROM customer")]
    dangling = con.execute("SELECT count(*) FROM orders o LEFT JOIN customer c ON o.customer_id = c.customer_id "
                           "WHERE c.customer_id IS NULL").fetchone()[0]
    n_orders = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    con.close()
    assert len(ages) == 80 and all(30 <= a <= 40 for a in ages) and dangling == 0 and n_orders > 0
    # The REST endpoint takes the same lines; bad ones say what is wrong, and no job is queued.
    token = client.post("/api/token", json={"name": "alice", "password": PASSWORD}).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    url = f"/api/database-models/{mid}/sample"
    r = client.post(url, headers=h, json={"scale": 0.5, "where": ["customer.note=plain"]})
    assert r.status_code == 200, r.text
    owner = client.app.state.ctx.store.job_any(sj)["owner"]
    n_jobs = len(client.app.state.ctx.store.jobs(owner))
    for where, words in ((["orders.amount=3"], "generated from their parent 'customer'"),
                         (["shop.age=3"], "write table.column=value"),
                         (["customer.height=3"], "no such learned column"),
                         (["customer.customer_id=3"], "a key column"),
                         (["customer.age"], "customer.age")):
        r = client.post(url, headers=h, json={"scale": 1, "where": where})
        assert r.status_code == 400 and words in r.json()["detail"], (where, r.text)
    assert len(client.app.state.ctx.store.jobs(owner)) == n_jobs
    page = client.post(f"/models/{mid}/sample", data={"csrf": csrf, "scale": "1", "where": "orders.amount=3"})
    assert page.status_code == 400 and "put the condition on a table generated first" in html.unescape(page.text)


def _bearer(client) -> dict[str, str]:
    token = client.post("/api/token", json={"name": "alice", "password": PASSWORD}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def sales_db(path: Path) -> bytes:
    """store <- sales: 12 stores, each with 15 weeks of sales that grow week by week."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE store (store_id INTEGER PRIMARY KEY, region TEXT);
        CREATE TABLE sales (sale_id INTEGER PRIMARY KEY, store_id INTEGER NOT NULL REFERENCES store(store_id),
                            week INTEGER NOT NULL, amount REAL);""")
    con.executemany("INSERT INTO store VALUES (?, ?)", [(s, "north" if s % 2 else "south") for s in range(1, 13)])
    con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)",
                    [(s * 100 + w, s, w, 10.0 * s + 2.0 * w) for s in range(1, 13) for w in range(1, 16)])
    con.commit()
    con.close()
    return path.read_bytes()


def test_database_sequence_tables(alice, data_dir: Path, tmp_path: Path) -> None:
    """A table marked as histories on the upload page is fitted as a sequence table (the model
    says so), sampled in order per entity, and its sequence figures are in the report."""
    client, csrf = alice
    r = _upload(client, csrf, "sales.sqlite", sales_db(tmp_path / "sales.db"))
    up = _upload_id(r)
    # The page's selects are numbered by table position.
    i = [t["name"] for t in client.get(f"/api/databases/{up}", headers=_bearer(client))
         .json()["info"]["database"]["tables"]].index("sales")
    assert f'name="seq_key_{i}"' in r.text and f'name="seq_index_{i}"' in r.text
    h = _bearer(client)
    for seqs, words in (({"nope": {"key": "a", "index": "b"}}, "not a table"),
                        ({"sales": {"key": "store_id"}}, "needs both"),
                        ({"sales": {"key": "store_id", "index": "day"}}, "no such column"),
                        ({"sales": {"key": "week", "index": "week"}}, "must differ"),
                        ({"sales": {"key": "sale_id", "index": "week"}}, "primary key")):
        r = client.post(f"/api/databases/{up}/fit", headers=h, json={"engine": "argn", "sequences": seqs})
        assert r.status_code == 400 and words in r.json()["detail"], (seqs, r.text)
    jid = _job_id(client.post(f"/uploads/{up}/fit", data={"csrf": csrf, "engine": "argn", "max_training_time": "30",
                                                          "max_epochs": "2", f"seq_key_{i}": "store_id",
                                                          f"seq_index_{i}": "week"}))
    assert run_worker(data_dir, once=True) == 1
    job = client.app.state.ctx.store.job_any(jid)
    assert job["status"] == "done", job["error"]
    model = client.app.state.ctx.store.model(job["owner"], job["result"]["model_id"])
    assert model["info"]["sequences"] == {"sales": {"key": "store_id", "index": "week"}}
    from datatwin.relational import DatabaseSynthesizer
    assert DatabaseSynthesizer.load(model["path"]).schema_.tables["sales"].sequence_index == "week"
    sj = _job_id(client.post(f"/models/{model['id']}/sample", data={"csrf": csrf, "scale": "1", "seed": "0"}))
    assert run_worker(data_dir, once=True) == 1
    assert client.app.state.ctx.store.job_any(sj)["status"] == "done"
    rj = _job_id(client.post(f"/jobs/{sj}/report", data={"csrf": csrf}))
    assert run_worker(data_dir, once=True) == 1
    rep = client.app.state.ctx.store.job_any(rj)
    assert rep["status"] == "done", rep["error"]
    titles = " ".join(v["title"].lower() for v in rep["result"]["verdicts"])
    assert "sequence" in titles or "histor" in titles or "lag" in titles, titles
