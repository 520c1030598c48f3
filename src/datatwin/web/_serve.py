"""``datatwin serve``: the web process (uvicorn) plus worker processes that it keeps alive."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

from ._config import Settings
from ._store import Store

log = logging.getLogger("datatwin.web")


class Workers:
    """Worker processes, restarted if one dies (its job is then marked failed with a retry)."""

    def __init__(self, data_dir: Path, count: int) -> None:
        self.data_dir, self.count = data_dir, count
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stop = threading.Event()
        self.store = Store(data_dir / "datatwin.sqlite3")

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "datatwin.web", str(self.data_dir)])

    def start(self) -> None:
        # Nothing runs yet, so any job still marked running was cut off by the last shutdown.
        n = self.store.fail_orphans(0.0)
        if n:
            log.warning("%d job(s) were running when the server last stopped: marked failed (retryable)", n)
        self.procs = [self._spawn() for _ in range(self.count)]
        threading.Thread(target=self._watch, daemon=True, name="datatwin-workers").start()

    def _watch(self) -> None:
        while not self.stop.wait(2.0):
            for i, p in enumerate(self.procs):
                if p.poll() is not None and not self.stop.is_set():
                    log.warning("worker %d exited with %s; starting a new one", p.pid, p.returncode)
                    self.store.fail_orphans(0.0, pid=p.pid)
                    self.procs[i] = self._spawn()

    def close(self) -> None:
        self.stop.set()
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def serve(host: str = "127.0.0.1", port: int = 8000, data_dir: str | Path = "datatwin-data", *,
          workers: int = 2, settings: Settings | None = None) -> None:
    """Run the app until Ctrl-C: uvicorn in this process, ``workers`` job processes beside it."""
    import uvicorn

    from ._app import create_app

    folder = Path(data_dir).resolve()
    settings = settings or Settings(data_dir=folder)
    app = create_app(settings)
    pool = Workers(folder, workers)
    pool.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        pool.close()
