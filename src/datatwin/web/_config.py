"""Settings of one server: where its files live and the limits every request is held to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Limits are deliberately small for a shared local server; raise them with ``datatwin serve`` options.

    ``secure_cookies`` is off by default because the server listens on plain http on 127.0.0.1;
    turn it on behind an HTTPS proxy.
    """

    data_dir: Path
    max_upload_bytes: int = 50 * 2**20
    max_decompressed_bytes: int = 200 * 2**20
    max_rows_out: int = 1_000_000
    max_columns: int = 500
    session_seconds: int = 8 * 3600
    login_failures: int = 5
    login_window_seconds: int = 900
    secure_cookies: bool = False
    orphan_seconds: float = 30.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "datatwin.sqlite3"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"
