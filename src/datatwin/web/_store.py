"""The app's records through SQLAlchemy Core: users, sessions, tokens, uploads, models and jobs.

The store is a SQLite file in the data folder by default (WAL mode, so the web process reads
while workers write) or any PostgreSQL database (``postgresql+psycopg://...``): the same
statements run on both. Files live under ``files/<user>/``; the rows here say who owns them.
Every read of an object takes the owner's id, so a guessed or leaked id of another user's object
finds nothing (404).

A job claim is one ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``: on
PostgreSQL two workers skip each other's locked row, on SQLite the statement runs inside ``BEGIN
IMMEDIATE`` (the database's single write lock). Either way two workers never get the same job.
Store URLs are shown only through :func:`safe_url` (password replaced by ``***``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .. import DatabaseError, InputError
from ..relational import safe_url

log = logging.getLogger("datatwin.web")

TERMINAL = ("done", "failed", "cancelled")

md = sa.MetaData()
users = sa.Table("users", md, sa.Column("id", sa.Text, primary_key=True),
                 sa.Column("name", sa.Text, unique=True, nullable=False),
                 sa.Column("pw_hash", sa.Text, nullable=False), sa.Column("created", sa.Float, nullable=False))
sessions = sa.Table("sessions", md, sa.Column("token_hash", sa.Text, primary_key=True),
                    sa.Column("user_id", sa.Text, nullable=False), sa.Column("csrf", sa.Text, nullable=False),
                    sa.Column("expires", sa.Float, nullable=False))
tokens = sa.Table("tokens", md, sa.Column("token_hash", sa.Text, primary_key=True),
                  sa.Column("user_id", sa.Text, nullable=False), sa.Column("label", sa.Text, nullable=False),
                  sa.Column("created", sa.Float, nullable=False))
login_failures = sa.Table("login_failures", md, sa.Column("key", sa.Text, nullable=False),
                          sa.Column("at", sa.Float, nullable=False),
                          sa.Index("login_failures_key", "key", "at"))
uploads = sa.Table("uploads", md, sa.Column("id", sa.Text, primary_key=True),
                   sa.Column("owner", sa.Text, nullable=False), sa.Column("name", sa.Text, nullable=False),
                   sa.Column("path", sa.Text, nullable=False), sa.Column("format", sa.Text, nullable=False),
                   sa.Column("rows", sa.Integer), sa.Column("columns", sa.Integer), sa.Column("bytes", sa.BigInteger),
                   sa.Column("created", sa.Float, nullable=False))
models = sa.Table("models", md, sa.Column("id", sa.Text, primary_key=True),
                  sa.Column("owner", sa.Text, nullable=False), sa.Column("upload_id", sa.Text),
                  sa.Column("name", sa.Text, nullable=False), sa.Column("path", sa.Text, nullable=False),
                  sa.Column("engine", sa.Text),
                  sa.Column("info", sa.Text, nullable=False, server_default="{}"),
                  sa.Column("created", sa.Float, nullable=False))
jobs = sa.Table("jobs", md, sa.Column("id", sa.Text, primary_key=True),
                sa.Column("owner", sa.Text, nullable=False), sa.Column("kind", sa.Text, nullable=False),
                sa.Column("params", sa.Text, nullable=False), sa.Column("status", sa.Text, nullable=False),
                sa.Column("progress", sa.Text, nullable=False, server_default="{}"),
                sa.Column("result", sa.Text, nullable=False, server_default="{}"), sa.Column("error", sa.Text),
                sa.Column("cancel", sa.Integer, nullable=False, server_default="0"), sa.Column("worker", sa.Text),
                sa.Column("heartbeat", sa.Float), sa.Column("created", sa.Float, nullable=False),
                sa.Column("started", sa.Float), sa.Column("finished", sa.Float),
                sa.Index("jobs_queue", "status", "created"))
TABLES = {"uploads": uploads, "models": models, "jobs": jobs}

_SCHEMA_LOCK = 0x64747769  # an arbitrary advisory-lock key ("dtwi"): one schema creator at a time on PostgreSQL


def new_id() -> str:
    """An object id nobody can guess (128 bits); ownership is still checked on every access."""
    return secrets.token_urlsafe(16)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path)}"


def _row(r: sa.Row[Any] | None) -> dict[str, Any] | None:
    if r is None:
        return None
    d = dict(r._mapping)
    for key in ("params", "progress", "result", "info"):
        if key in d and isinstance(d[key], str):
            d[key] = json.loads(d[key])
    return d


def _rows(rs: Any) -> list[dict[str, Any]]:
    return [d for r in rs if (d := _row(r)) is not None]


def _engine(url: str) -> sa.Engine:
    # psycopg 3 is the driver we ship; SQLAlchemy's bare "postgresql://" means psycopg2.
    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
    try:
        # pre-ping: a PostgreSQL server restarted under a running app costs one retry, not an error page.
        eng = sa.create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    except Exception as exc:  # unknown dialect, missing driver, malformed URL
        raise InputError(f"cannot use store URL {safe_url(url)}: {type(exc).__name__}; use sqlite:///path/file.db "
                         "or postgresql+psycopg://user@host/db") from None
    if eng.dialect.name == "sqlite":
        @sa.event.listens_for(eng, "connect")
        def _connect(dbapi_conn: Any, record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(eng, "begin")
        def _begin(conn: sa.Connection) -> None:
            # A writing transaction takes the write lock up front: a read that later upgrades to a
            # write could fail at once with SQLITE_BUSY instead of waiting.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("dt_write") else "BEGIN")
    elif eng.dialect.name != "postgresql":
        raise InputError(f"the store must be SQLite or PostgreSQL, not {eng.dialect.name} ({safe_url(url)})")
    return eng


class Store:
    """Records of one server. Safe to use from many threads and processes at once."""

    def __init__(self, url: str | Path) -> None:
        if isinstance(url, Path) or "://" not in str(url):  # a plain path: the embedded SQLite file
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            url = sqlite_url(Path(url))
        self.url = str(url)
        self.engine = _engine(self.url)
        self.dialect = self.engine.dialect.name
        try:
            if self.dialect == "sqlite":
                # Stored in the file, so every later connection uses WAL; it cannot change inside a
                # transaction, hence the raw connection.
                raw = self.engine.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA journal_mode=WAL")
                finally:
                    raw.close()
            with self._tx(write=True) as conn:
                if self.dialect == "postgresql":  # two processes starting at once must not both create tables
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
                md.create_all(conn)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            self.engine.dispose()
            raise DatabaseError(f"cannot open the store {safe_url(self.url)}: {self._scrub(exc)}") from None

    def _scrub(self, exc: BaseException) -> str:
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        first = text[0] if text else type(exc).__name__
        m = re.search(r"://[^:/@]*:([^@]*)@", self.url)
        return first.replace(m.group(1), "***") if m and m.group(1) else first

    def __repr__(self) -> str:
        return f"Store({safe_url(self.url)!r})"

    @property
    def display_url(self) -> str:
        return safe_url(self.url)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _tx(self, write: bool = False) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(dt_write=True)
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ users and sessions
    def add_user(self, name: str, pw_hash: str) -> str | None:
        uid = new_id()
        try:
            with self._tx(write=True) as c:
                c.execute(users.insert().values(id=uid, name=name, pw_hash=pw_hash, created=time.time()))
        except sa.exc.IntegrityError:
            return None
        return uid

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        with self._tx() as c:
            return _row(c.execute(users.select().where(users.c.name == name)).first())

    def user(self, uid: str) -> dict[str, Any] | None:
        with self._tx() as c:
            return _row(c.execute(users.select().where(users.c.id == uid)).first())

    def set_password_hash(self, uid: str, pw_hash: str) -> None:
        with self._tx(write=True) as c:
            c.execute(users.update().where(users.c.id == uid).values(pw_hash=pw_hash))

    def add_session(self, token_hash: str, uid: str, csrf: str, expires: float) -> None:
        with self._tx(write=True) as c:
            c.execute(sessions.delete().where(sessions.c.expires < time.time()))
            c.execute(sessions.insert().values(token_hash=token_hash, user_id=uid, csrf=csrf, expires=expires))

    def session(self, token_hash: str) -> dict[str, Any] | None:
        with self._tx() as c:
            return _row(c.execute(sessions.select().where(sessions.c.token_hash == token_hash)).first())

    def drop_session(self, token_hash: str) -> None:
        with self._tx(write=True) as c:
            c.execute(sessions.delete().where(sessions.c.token_hash == token_hash))

    def expire_session(self, token_hash: str) -> None:
        """Tests and admins: make a session expired now."""
        with self._tx(write=True) as c:
            c.execute(sessions.update().where(sessions.c.token_hash == token_hash).values(expires=0))

    def add_token(self, token_hash: str, uid: str, label: str) -> None:
        with self._tx(write=True) as c:
            c.execute(tokens.insert().values(token_hash=token_hash, user_id=uid, label=label, created=time.time()))

    def token_user(self, token_hash: str) -> str | None:
        with self._tx() as c:
            r = c.execute(sa.select(tokens.c.user_id).where(tokens.c.token_hash == token_hash)).first()
        return None if r is None else str(r[0])

    def tokens(self, uid: str) -> list[dict[str, Any]]:
        q = (sa.select(tokens.c.label, tokens.c.created, sa.func.substr(tokens.c.token_hash, 1, 8).label("hint"))
             .where(tokens.c.user_id == uid).order_by(tokens.c.created))
        with self._tx() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def note_failure(self, keys: list[str]) -> None:
        now = time.time()
        with self._tx(write=True) as c:
            c.execute(login_failures.delete().where(login_failures.c.at < now - 86400))
            c.execute(login_failures.insert(), [{"key": k, "at": now} for k in keys])

    def failures(self, key: str, since: float) -> tuple[int, float]:
        """How many failures for ``key`` since ``since``, and when the oldest of them happened."""
        q = (sa.select(sa.func.count(), sa.func.min(login_failures.c.at))
             .where(login_failures.c.key == key, login_failures.c.at >= since))
        with self._tx() as c:
            r = c.execute(q).one()
        return int(r[0]), float(r[1] or 0.0)

    def clear_failures(self, key: str) -> None:
        with self._tx(write=True) as c:
            c.execute(login_failures.delete().where(login_failures.c.key == key))

    # ------------------------------------------------------------------ uploads and models
    def add_upload(self, owner: str, uid: str, name: str, path: str, fmt: str, rows: int, columns: int,
                   size: int) -> None:
        with self._tx(write=True) as c:
            c.execute(uploads.insert().values(id=uid, owner=owner, name=name, path=path, format=fmt, rows=rows,
                                              columns=columns, bytes=size, created=time.time()))

    def upload(self, owner: str, uid: str) -> dict[str, Any] | None:
        with self._tx() as c:
            return _row(c.execute(uploads.select().where(uploads.c.id == uid, uploads.c.owner == owner)).first())

    def uploads(self, owner: str) -> list[dict[str, Any]]:
        with self._tx() as c:
            return _rows(c.execute(uploads.select().where(uploads.c.owner == owner)
                                   .order_by(uploads.c.created.desc())))

    def add_model(self, owner: str, mid: str, upload_id: str | None, name: str, path: str, engine: str | None,
                  info: dict[str, Any]) -> None:
        with self._tx(write=True) as c:
            c.execute(models.insert().values(id=mid, owner=owner, upload_id=upload_id, name=name, path=path,
                                             engine=engine, info=json.dumps(info), created=time.time()))

    def model(self, owner: str, mid: str) -> dict[str, Any] | None:
        with self._tx() as c:
            return _row(c.execute(models.select().where(models.c.id == mid, models.c.owner == owner)).first())

    def models(self, owner: str) -> list[dict[str, Any]]:
        with self._tx() as c:
            return _rows(c.execute(models.select().where(models.c.owner == owner).order_by(models.c.created.desc())))

    def delete(self, table: str, owner: str, oid: str) -> bool:
        t = TABLES[table]
        with self._tx(write=True) as c:
            cur = c.execute(t.delete().where(t.c.id == oid, t.c.owner == owner))
        return cur.rowcount > 0

    # ------------------------------------------------------------------ jobs
    def add_job(self, owner: str, kind: str, params: dict[str, Any]) -> str:
        jid = new_id()
        with self._tx(write=True) as c:
            c.execute(jobs.insert().values(id=jid, owner=owner, kind=kind, params=json.dumps(params), status="queued",
                                           created=time.time()))
        return jid

    def job(self, owner: str, jid: str) -> dict[str, Any] | None:
        with self._tx() as c:
            return _row(c.execute(jobs.select().where(jobs.c.id == jid, jobs.c.owner == owner)).first())

    def job_any(self, jid: str) -> dict[str, Any] | None:
        """The worker's view: a job by id alone (it runs every user's jobs)."""
        with self._tx() as c:
            return _row(c.execute(jobs.select().where(jobs.c.id == jid)).first())

    def jobs(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        with self._tx() as c:
            return _rows(c.execute(jobs.select().where(jobs.c.owner == owner).order_by(jobs.c.created.desc())
                                   .limit(limit)))

    def claim(self, worker: str) -> dict[str, Any] | None:
        """Take the oldest queued job, atomically: two workers never get the same job."""
        now = time.time()
        oldest = (sa.select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.created).limit(1)
                  .with_for_update(skip_locked=True).scalar_subquery())  # FOR UPDATE: PostgreSQL only
        q = (jobs.update().where(jobs.c.id == oldest, jobs.c.status == "queued")
             .values(status="running", worker=worker, heartbeat=now, started=now).returning(*jobs.c))
        with self._tx(write=True) as c:
            return _row(c.execute(q).first())

    def heartbeat(self, jid: str, progress: dict[str, Any] | None = None) -> bool:
        """Record that the job is alive (and its progress); returns whether a cancel was asked for."""
        values: dict[str, Any] = {"heartbeat": time.time()}
        if progress is not None:
            values["progress"] = json.dumps(progress)
        with self._tx(write=True) as c:
            r = c.execute(jobs.update().where(jobs.c.id == jid).values(**values).returning(jobs.c.cancel)).first()
        return bool(r and r[0])

    def finish(self, jid: str, status: str, *, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._tx(write=True) as c:
            c.execute(jobs.update().where(jobs.c.id == jid, jobs.c.status == "running")
                      .values(status=status, result=json.dumps(result or {}), error=error, finished=time.time()))

    def cancel(self, owner: str, jid: str) -> bool:
        """A queued job stops at once; a running one when its worker next reports progress."""
        mine = (jobs.c.id == jid, jobs.c.owner == owner)
        with self._tx(write=True) as c:
            c.execute(jobs.update().where(*mine, jobs.c.status == "queued")
                      .values(status="cancelled", finished=time.time(), error="cancelled before it started"))
            cur = c.execute(jobs.update().where(*mine, jobs.c.status == "running").values(cancel=1))
        return cur.rowcount > 0

    def retry(self, owner: str, jid: str) -> bool:
        with self._tx(write=True) as c:
            cur = c.execute(jobs.update().where(jobs.c.id == jid, jobs.c.owner == owner,
                                                jobs.c.status.in_(("failed", "cancelled")))
                            .values(status="queued", cancel=0, error=None, progress="{}", result="{}", worker=None,
                                    started=None, finished=None, created=time.time()))
        return cur.rowcount > 0

    def fail_orphans(self, older_than: float, *, pid: int | None = None) -> int:
        """Running jobs whose worker stopped reporting (a crash or a restart) become failed, retryable.

        ``pid`` given: only that (dead) worker's jobs, whatever their heartbeat (the other workers'
        running jobs are alive).
        """
        now = time.time()
        msg = "the worker stopped while this job ran (server restart or crash); press Retry to run it again"
        stale = jobs.c.worker == f"{socket.gethostname()}:{pid}" if pid else jobs.c.heartbeat < now - older_than
        with self._tx(write=True) as c:
            cur = c.execute(jobs.update().where(jobs.c.status == "running", stale)
                            .values(status="failed", error=msg, finished=now))
        return cur.rowcount
