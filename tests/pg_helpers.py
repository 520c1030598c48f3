"""A throwaway PostgreSQL cluster started from Debian's server binaries (initdb, pg_ctl), for tests.

Used through the ``pg_server`` fixture (tests/conftest.py): one cluster per test session, a fresh
database per test that asks for one. Skips with a message where the binaries are missing
(CI installs them: apt-get install -y postgresql).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def bindir() -> str | None:
    if shutil.which("pg_config") is None:
        return None
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    return out if os.path.exists(os.path.join(out, "initdb")) else None


class PgServer:
    """A running cluster: ``url`` (postgresql://postgres@127.0.0.1:PORT) and ``createdb``."""

    def __init__(self, bin_dir: str, port: int, as_pg: list[str], cwd: str) -> None:
        self.bin_dir, self.port, self.as_pg, self.cwd = bin_dir, port, as_pg, cwd
        self.url = f"postgresql://postgres@127.0.0.1:{port}"
        self._n = itertools.count()

    def createdb(self, name: str | None = None) -> str:
        """Create a database (a fresh unique name if none) and return its URL."""
        name = name or f"t{next(self._n)}"
        subprocess.run([*self.as_pg, f"{self.bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", "postgres", name], check=True, capture_output=True, cwd=self.cwd)
        return f"{self.url}/{name}"


@contextmanager
def pg_cluster() -> Iterator[PgServer]:
    bin_dir = bindir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install -y postgresql)")
    tmp = tempfile.mkdtemp(prefix="dt-pg-")
    # initdb and pg_ctl refuse root: run them as the postgres user where we are root.
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_pg:
        shutil.chown(tmp, "postgres", "postgres")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    data, log = os.path.join(tmp, "data"), os.path.join(tmp, "pg.log")
    run = dict(check=True, capture_output=True, cwd=tmp)
    try:
        subprocess.run([*as_pg, f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                        "--locale=C.UTF-8"], **run)
        subprocess.run([*as_pg, f"{bin_dir}/pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "-o",
                        f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off -c synchronous_commit=off",
                        "start"], **run)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"cannot start a throwaway PostgreSQL cluster: {exc}")
    try:
        yield PgServer(bin_dir, port, as_pg, tmp)
    finally:
        subprocess.run([*as_pg, f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True,
                       cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)
