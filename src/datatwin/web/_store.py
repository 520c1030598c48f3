"""The app's records in SQLite (WAL): users, sessions, tokens, uploads, models and jobs.

Files live under ``files/<user>/``; the rows here say who owns them. Every read of an object
takes the owner's id, so a guessed or leaked id of another user's object finds nothing (404).
One short-lived connection per operation: SQLite in WAL mode lets the web process read while
the worker writes, and ``BEGIN IMMEDIATE`` makes a job claim atomic across processes.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, pw_hash TEXT NOT NULL,
                                  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, csrf TEXT NOT NULL,
                                     expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, label TEXT NOT NULL,
                                   created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS login_failures (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (key, at);
CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,
                                    path TEXT NOT NULL, format TEXT NOT NULL, rows INTEGER, columns INTEGER,
                                    bytes INTEGER, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS models (id TEXT PRIMARY KEY, owner TEXT NOT NULL, upload_id TEXT, name TEXT NOT NULL,
                                   path TEXT NOT NULL, engine TEXT, info TEXT NOT NULL DEFAULT '{}',
                                   created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT NOT NULL,
                                 params TEXT NOT NULL, status TEXT NOT NULL, progress TEXT NOT NULL DEFAULT '{}',
                                 result TEXT NOT NULL DEFAULT '{}', error TEXT, cancel INTEGER NOT NULL DEFAULT 0,
                                 worker TEXT, heartbeat REAL, created REAL NOT NULL, started REAL, finished REAL);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, created);
"""

TERMINAL = ("done", "failed", "cancelled")


def new_id() -> str:
    """An object id nobody can guess (128 bits); ownership is still checked on every access."""
    return secrets.token_urlsafe(16)


def _row(r: sqlite3.Row | None) -> dict[str, Any] | None:
    if r is None:
        return None
    d = dict(r)
    for key in ("params", "progress", "result", "info"):
        if key in d and isinstance(d[key], str):
            d[key] = json.loads(d[key])
    return d


class Store:
    """Records of one data folder. Safe to use from many threads and processes at once."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")  # stored in the file: every later connection uses it
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    @contextlib.contextmanager
    def _conn(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: we issue BEGIN ourselves, so a claim is one IMMEDIATE transaction.
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    # ------------------------------------------------------------------ users and sessions
    def add_user(self, name: str, pw_hash: str) -> str | None:
        uid = new_id()
        try:
            with self._conn(immediate=True) as c:
                c.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (uid, name, pw_hash, time.time()))
        except sqlite3.IntegrityError:
            return None
        return uid

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        with self._conn() as c:
            return _row(c.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone())

    def user(self, uid: str) -> dict[str, Any] | None:
        with self._conn() as c:
            return _row(c.execute("SELECT * FROM users WHERE id = ?", (uid,)).fetchone())

    def set_password_hash(self, uid: str, pw_hash: str) -> None:
        with self._conn(immediate=True) as c:
            c.execute("UPDATE users SET pw_hash = ? WHERE id = ?", (pw_hash, uid))

    def add_session(self, token_hash: str, uid: str, csrf: str, expires: float) -> None:
        with self._conn(immediate=True) as c:
            c.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            c.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (token_hash, uid, csrf, expires))

    def session(self, token_hash: str) -> dict[str, Any] | None:
        with self._conn() as c:
            return _row(c.execute("SELECT * FROM sessions WHERE token_hash = ?", (token_hash,)).fetchone())

    def drop_session(self, token_hash: str) -> None:
        with self._conn(immediate=True) as c:
            c.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def expire_session(self, token_hash: str) -> None:
        """Tests and admins: make a session expired now."""
        with self._conn(immediate=True) as c:
            c.execute("UPDATE sessions SET expires = 0 WHERE token_hash = ?", (token_hash,))

    def add_token(self, token_hash: str, uid: str, label: str) -> None:
        with self._conn(immediate=True) as c:
            c.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)", (token_hash, uid, label, time.time()))

    def token_user(self, token_hash: str) -> str | None:
        with self._conn() as c:
            r = c.execute("SELECT user_id FROM tokens WHERE token_hash = ?", (token_hash,)).fetchone()
        return None if r is None else str(r[0])

    def tokens(self, uid: str) -> list[dict[str, Any]]:
        with self._conn() as c:
            rows = c.execute("SELECT label, created, substr(token_hash, 1, 8) AS hint FROM tokens "
                             "WHERE user_id = ? ORDER BY created", (uid,)).fetchall()
        return [dict(r) for r in rows]

    def note_failure(self, keys: list[str]) -> None:
        now = time.time()
        with self._conn(immediate=True) as c:
            c.execute("DELETE FROM login_failures WHERE at < ?", (now - 86400,))
            c.executemany("INSERT INTO login_failures VALUES (?, ?)", [(k, now) for k in keys])

    def failures(self, key: str, since: float) -> tuple[int, float]:
        """How many failures for ``key`` since ``since``, and when the oldest of them happened."""
        with self._conn() as c:
            r = c.execute("SELECT count(*), min(at) FROM login_failures WHERE key = ? AND at >= ?",
                          (key, since)).fetchone()
        return int(r[0]), float(r[1] or 0.0)

    def clear_failures(self, key: str) -> None:
        with self._conn(immediate=True) as c:
            c.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    # ------------------------------------------------------------------ uploads and models
    def add_upload(self, owner: str, uid: str, name: str, path: str, fmt: str, rows: int, columns: int,
                   size: int) -> None:
        with self._conn(immediate=True) as c:
            c.execute("INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (uid, owner, name, path, fmt, rows, columns, size, time.time()))

    def upload(self, owner: str, uid: str) -> dict[str, Any] | None:
        with self._conn() as c:
            return _row(c.execute("SELECT * FROM uploads WHERE id = ? AND owner = ?", (uid, owner)).fetchone())

    def uploads(self, owner: str) -> list[dict[str, Any]]:
        with self._conn() as c:
            rows = c.execute("SELECT * FROM uploads WHERE owner = ? ORDER BY created DESC", (owner,)).fetchall()
        return [d for r in rows if (d := _row(r)) is not None]

    def add_model(self, owner: str, mid: str, upload_id: str | None, name: str, path: str, engine: str | None,
                  info: dict[str, Any]) -> None:
        with self._conn(immediate=True) as c:
            c.execute("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (mid, owner, upload_id, name, path, engine, json.dumps(info), time.time()))

    def model(self, owner: str, mid: str) -> dict[str, Any] | None:
        with self._conn() as c:
            return _row(c.execute("SELECT * FROM models WHERE id = ? AND owner = ?", (mid, owner)).fetchone())

    def models(self, owner: str) -> list[dict[str, Any]]:
        with self._conn() as c:
            rows = c.execute("SELECT * FROM models WHERE owner = ? ORDER BY created DESC", (owner,)).fetchall()
        return [d for r in rows if (d := _row(r)) is not None]

    def delete(self, table: str, owner: str, oid: str) -> bool:
        if table not in ("uploads", "models", "jobs"):
            raise ValueError(table)
        with self._conn(immediate=True) as c:
            cur = c.execute(f"DELETE FROM {table} WHERE id = ? AND owner = ?", (oid, owner))
        return cur.rowcount > 0

    # ------------------------------------------------------------------ jobs
    def add_job(self, owner: str, kind: str, params: dict[str, Any]) -> str:
        jid = new_id()
        with self._conn(immediate=True) as c:
            c.execute("INSERT INTO jobs (id, owner, kind, params, status, created) VALUES (?, ?, ?, ?, 'queued', ?)",
                      (jid, owner, kind, json.dumps(params), time.time()))
        return jid

    def job(self, owner: str, jid: str) -> dict[str, Any] | None:
        with self._conn() as c:
            return _row(c.execute("SELECT * FROM jobs WHERE id = ? AND owner = ?", (jid, owner)).fetchone())

    def job_any(self, jid: str) -> dict[str, Any] | None:
        """The worker's view: a job by id alone (it runs every user's jobs)."""
        with self._conn() as c:
            return _row(c.execute("SELECT * FROM jobs WHERE id = ?", (jid,)).fetchone())

    def jobs(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        with self._conn() as c:
            rows = c.execute("SELECT * FROM jobs WHERE owner = ? ORDER BY created DESC LIMIT ?",
                             (owner, limit)).fetchall()
        return [d for r in rows if (d := _row(r)) is not None]

    def claim(self, worker: str) -> dict[str, Any] | None:
        """Take the oldest queued job, atomically: two workers never get the same job."""
        now = time.time()
        with self._conn(immediate=True) as c:
            r = c.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created LIMIT 1").fetchone()
            if r is None:
                return None
            c.execute("UPDATE jobs SET status = 'running', worker = ?, heartbeat = ?, started = ? "
                      "WHERE id = ? AND status = 'queued'", (worker, now, now, r[0]))
            return _row(c.execute("SELECT * FROM jobs WHERE id = ?", (r[0],)).fetchone())

    def heartbeat(self, jid: str, progress: dict[str, Any] | None = None) -> bool:
        """Record that the job is alive (and its progress); returns whether a cancel was asked for."""
        with self._conn(immediate=True) as c:
            if progress is None:
                c.execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (time.time(), jid))
            else:
                c.execute("UPDATE jobs SET heartbeat = ?, progress = ? WHERE id = ?",
                          (time.time(), json.dumps(progress), jid))
            r = c.execute("SELECT cancel FROM jobs WHERE id = ?", (jid,)).fetchone()
        return bool(r and r[0])

    def finish(self, jid: str, status: str, *, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._conn(immediate=True) as c:
            c.execute("UPDATE jobs SET status = ?, result = ?, error = ?, finished = ? WHERE id = ? "
                      "AND status = 'running'", (status, json.dumps(result or {}), error, time.time(), jid))

    def cancel(self, owner: str, jid: str) -> bool:
        """A queued job stops at once; a running one when its worker next reports progress."""
        with self._conn(immediate=True) as c:
            c.execute("UPDATE jobs SET status = 'cancelled', finished = ?, error = 'cancelled before it started' "
                      "WHERE id = ? AND owner = ? AND status = 'queued'", (time.time(), jid, owner))
            cur = c.execute("UPDATE jobs SET cancel = 1 WHERE id = ? AND owner = ? AND status = 'running'",
                            (jid, owner))
        return cur.rowcount > 0

    def retry(self, owner: str, jid: str) -> bool:
        with self._conn(immediate=True) as c:
            cur = c.execute("UPDATE jobs SET status = 'queued', cancel = 0, error = NULL, progress = '{}', "
                            "result = '{}', worker = NULL, started = NULL, finished = NULL, created = ? "
                            "WHERE id = ? AND owner = ? AND status IN ('failed', 'cancelled')",
                            (time.time(), jid, owner))
        return cur.rowcount > 0

    def fail_orphans(self, older_than: float, *, pid: int | None = None) -> int:
        """Running jobs whose worker stopped reporting (a crash or a restart) become failed, retryable.

        ``pid`` given: that (dead) worker's jobs fail whatever their heartbeat.
        """
        now = time.time()
        msg = "the worker stopped while this job ran (server restart or crash); press Retry to run it again"
        with self._conn(immediate=True) as c:
            cur = c.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE status = 'running' "
                            "AND (heartbeat < ? OR worker LIKE ?)", (msg, now, now - older_than,
                                                                      f"%:{pid}" if pid else ""))
        return cur.rowcount

