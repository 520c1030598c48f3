"""Settings of one server: where its records and files live, and the limits every request is held to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Limits are deliberately small for a shared local server; raise them with ``datatwin serve`` options.

    ``store_url`` picks where the app's records live: None is a SQLite file in ``data_dir``; a
    ``postgresql+psycopg://user:pass@host/db`` URL shares them through PostgreSQL (the files stay in
    ``data_dir``, which every worker must see). ``secure_cookies`` is off by default because the
    server listens on plain http on 127.0.0.1; turn it on behind an HTTPS proxy.
    """

    data_dir: Path
    store_url: str | None = None
    max_upload_bytes: int = 50 * 2**20
    max_decompressed_bytes: int = 200 * 2**20
    max_rows_out: int = 1_000_000
    max_columns: int = 500
    max_tables: int = 100  # an uploaded SQLite database with more tables is refused before it is read
    session_seconds: int = 8 * 3600
    login_failures: int = 5
    login_window_seconds: int = 900
    secure_cookies: bool = False
    orphan_seconds: float = 30.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "datatwin.sqlite3"

    @property
    def store(self) -> str:
        """The store's URL (the embedded SQLite file unless ``store_url`` is given)."""
        return self.store_url or f"sqlite:///{self.db_path}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"
