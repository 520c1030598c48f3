"""``datatwin serve``: the web process (uvicorn) plus worker processes that it keeps alive."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from ._config import Settings
from ._store import Store
from ._worker import STORE_ENV

log = logging.getLogger("datatwin.web")


class Workers:
    """Worker processes, restarted if one dies (its job is then marked failed with a retry)."""

    def __init__(self, data_dir: Path, count: int, store_url: str | None = None) -> None:
        self.data_dir, self.count = data_dir, count
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stop = threading.Event()
        self.store_url = store_url
        self.store = Store(store_url or Settings(data_dir=data_dir).store)

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.store_url:
            # Through the environment, not the command line: a password in argv is visible to every
            # user of the machine (ps).
            env[STORE_ENV] = self.store_url
        else:
            env.pop(STORE_ENV, None)
        return subprocess.Popen([sys.executable, "-m", "datatwin.web", str(self.data_dir)], env=env)

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
          workers: int = 2, settings: Settings | None = None, store_url: str | None = None) -> None:
    """Run the app until Ctrl-C: uvicorn in this process, ``workers`` job processes beside it.

    ``store_url`` (or ``settings.store_url``): a PostgreSQL URL for the app's records instead of the
    SQLite file in ``data_dir``.
    """
    import uvicorn

    from ._app import create_app

    folder = Path(data_dir).resolve()
    settings = settings or Settings(data_dir=folder, store_url=store_url or None)
    app = create_app(settings)
    log.info("store: %s", app.state.ctx.store.display_url)
    pool = Workers(folder, workers, settings.store_url)
    pool.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        pool.close()
