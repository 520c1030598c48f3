"""A real PostgreSQL server (throwaway cluster): schema and rows read, a synthetic database written
and its keys checked with SQL. Skips with a message where the server binaries are missing."""

from __future__ import annotations

import pytest

from datatwin import DatabaseError
from datatwin.relational import DatabaseSynthesizer, read_database, write_database
from relational_helpers import FAST, tiny_sqlite


@pytest.fixture(scope="module")
def pg_url(pg_server):
    for db in ("src", "dst"):
        pg_server.createdb(db)
    return pg_server.url


def _sql(url: str, query: str):
    import sqlalchemy as sa

    eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with eng.connect() as conn:
            return conn.execute(sa.text(query)).fetchall()
    finally:
        eng.dispose()


def test_postgres_round_trip(pg_url, tmp_path):
    # The tiny database goes into PostgreSQL, is read back with its keys, learned, and a
    # synthetic copy is written into another PostgreSQL database.
    schema, frames = read_database(tiny_sqlite(tmp_path / "tiny.db"))
    write_database(f"{pg_url}/src", schema, frames)
    pg_schema, pg_frames = read_database(f"{pg_url}/src")
    assert {str(fk) for fk in pg_schema.foreign_keys} == {str(fk) for fk in schema.foreign_keys}
    assert pg_schema.tables["account_tag"].primary_key == ["account_id", "tag_id"]
    assert len(pg_frames["trans"]) == len(frames["trans"])
    db = DatabaseSynthesizer(engine_options=FAST).fit(f"{pg_url}/src")
    write_database(f"{pg_url}/dst", db.schema_, db.sample(seed=1))
    dangling = _sql(f"{pg_url}/dst", "SELECT COUNT(*) FROM trans t LEFT JOIN account a ON t.account_id = a.account_id "
                                     "WHERE a.account_id IS NULL")[0][0]
    bosses = _sql(f"{pg_url}/dst", "SELECT COUNT(*) FROM employee e LEFT JOIN employee b ON e.boss_id = b.employee_id "
                                   "WHERE e.boss_id IS NOT NULL AND b.employee_id IS NULL")[0][0]
    dup = _sql(f"{pg_url}/dst", "SELECT COUNT(*) FROM (SELECT account_id, tag_id FROM account_tag "
                                "GROUP BY 1, 2 HAVING COUNT(*) > 1) d")[0][0]
    fks = _sql(f"{pg_url}/dst", "SELECT COUNT(*) FROM information_schema.table_constraints "
                                "WHERE constraint_type = 'FOREIGN KEY'")[0][0]
    assert (dangling, bosses, dup, fks) == (0, 0, 0, 6)
    with pytest.raises(Exception, match="already has table"):
        write_database(f"{pg_url}/dst", db.schema_, db.sample(seed=2))
    # a write that fails part-way (a duplicate key in the last table) leaves the old rows
    bad = db.sample(seed=2)
    bad["account_tag"] = bad["account_tag"].iloc[[0, 0]]
    before = _sql(f"{pg_url}/dst", "SELECT COUNT(*) FROM customer")[0][0]
    with pytest.raises(DatabaseError, match="rolled back"):
        write_database(f"{pg_url}/dst", db.schema_, bad, replace=True)
    assert _sql(f"{pg_url}/dst", "SELECT COUNT(*) FROM customer")[0][0] == before


def test_postgres_wrong_password_is_not_shown(pg_url):
    with pytest.raises(DatabaseError) as exc:
        read_database(pg_url.replace("postgres@", "postgres:hunter2@") + "/no_such_db")
    assert "hunter2" not in str(exc.value) and "cannot connect" in str(exc.value)
