"""End to end in a real browser: `datatwin serve` (uvicorn + worker process) driven by Debian's Chromium.

log in -> upload a slice of adult -> fit briefly -> watch progress -> sample 10k rows with a
condition -> download -> open the report; a second user cannot reach the first user's files.
Screenshots of each page go to the test's tmp dir (set DATATWIN_SCREENSHOTS=DIR to keep them).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'datatwin[web]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")

CHROMIUM = shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.csv"
REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: apt-get install -y chromium")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def server(tmp_path: Path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "datatwin", "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "data"), "--workers", "1"], env=env, cwd=tmp_path,
                            start_new_session=True)  # its own process group: workers and pools go with it
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("datatwin serve did not start")
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    # Whatever the server started (job workers, analysis pool) ends with it: nothing left running.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _shot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _register(page, url: str, name: str) -> None:
    page.goto(f"{url}/register")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#register")
    page.wait_for_url(f"{url}/app")


@contextlib.contextmanager
def _chromium(url: str, user: str):
    """Real Chromium with a page of a newly registered ``user``, and the console errors it logs."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            ctx = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 800})
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _register(page, url, user)
            yield browser, page, errors
        finally:
            browser.close()


def test_browser_end_to_end(server: str, tmp_path: Path) -> None:
    if not ADULT.exists():
        pytest.skip(f"{ADULT} is missing")
    shots = Path(os.environ.get("DATATWIN_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    data = tmp_path / "adult_slice.csv"
    pd.read_csv(ADULT, nrows=2000).to_csv(data, index=False)
    url = server
    with _chromium(url, "alice") as (browser, page, errors):
        _shot(page, shots, "1-history")

        page.set_input_files("#file", str(data))
        page.click("#upload")
        page.wait_for_selector("#fit-form")
        assert "2,000 rows" in page.content()
        _shot(page, shots, "2-upload")

        page.fill("#budget", "20")
        page.fill("#epochs", "4")
        page.click("#train")
        page.wait_for_url("**/jobs/*")
        job_url = page.url
        # Live progress: the SSE stream fills in the epoch line while the worker trains.
        # (polled from Python: the app's CSP forbids the eval that wait_for_function uses)
        seen = ""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if page.query_selector("#open-model"):
                    break
                detail = page.query_selector("#detail")
                text = detail.text_content() if detail else ""
            except sync_api.Error:  # the page reloads itself when the job ends
                time.sleep(0.2)
                continue
            if "epoch" in (text or "") and not seen:
                seen = text or ""
                _shot(page, shots, "3-training")
            time.sleep(0.2)
        page.wait_for_selector("#open-model")
        assert "epoch" in seen, "no live progress was shown while training"
        _shot(page, shots, "4-trained")
        page.click("#open-model")

        page.fill("#n", "10000")
        page.fill("#where", "sex=Female")
        page.click("#sample")
        page.wait_for_selector("#download-csv")
        sample_url = page.url
        with page.expect_download() as dl:
            page.click("#download-csv")
        text = Path(dl.value.path()).read_text(encoding="utf-8")
        rows = pd.read_csv(io.StringIO(text))
        assert len(rows) == 10_000 and set(rows["sex"]) == {"Female"}

        page.select_option("#target", "income")
        page.click("#make-report")
        page.wait_for_selector("#open-report", timeout=300_000)
        assert page.inner_text("#overall") in ("pass", "warn", "fail")
        _shot(page, shots, "5-report-summary")
        with page.context.expect_page() as new_page:
            page.click("#open-report")
        report = new_page.value
        report.wait_for_load_state()
        assert "income" in report.content()
        _shot(report, shots, "6-report")
        assert not [e for e in errors if "Content Security Policy" in e], errors

        # A second user: every one of alice's pages and files is "not found".
        other = browser.new_context(accept_downloads=True).new_page()
        _register(other, url, "bob")
        for target in (job_url, sample_url, sample_url + "/download/csv"):
            assert other.goto(target).status == 404, target
        assert "alice" not in other.content()
        _shot(other, shots, "7-other-user-404")


def test_browser_database(server: str, tmp_path: Path) -> None:
    """A small SQLite database through the pages: upload, mark its table of histories, fit
    briefly, sample with a condition on the root table, download both forms, open the report."""
    import sqlite3
    import zipfile

    from test_web_database import sales_db

    data = tmp_path / "sales.sqlite"
    sales_db(data)
    shots = Path(os.environ.get("DATATWIN_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    url = server
    with _chromium(url, "carol") as (browser, page, errors):
        page.set_input_files("#file", str(data))
        page.click("#upload")
        page.wait_for_selector("#db-tables")
        assert "store_id &rarr; store.store_id" in page.content() or "store_id → store.store_id" in page.content()
        page.click("#sequences summary")
        page.select_option('tr:has(td:text-is("sales")) select[name^="seq_key_"]', "store_id")
        page.select_option('tr:has(td:text-is("sales")) select[name^="seq_index_"]', "week")
        page.fill("#budget", "20")
        page.fill("#epochs", "2")
        _shot(page, shots, "db-1-upload")
        page.click("#train")
        page.wait_for_url("**/jobs/*")
        page.wait_for_selector("#open-model", timeout=240_000)
        page.click("#open-model")
        page.wait_for_selector("#scale")
        page.fill("#scale", "1")
        page.fill("#where", "store.region=north")
        page.click("#sample")
        page.wait_for_selector("#download-sqlite", timeout=240_000)
        _shot(page, shots, "db-2-sampled")
        with page.expect_download() as dl:
            page.click("#download-sqlite")
        db_file = tmp_path / "synthetic.sqlite"
        shutil.copy(dl.value.path(), db_file)
        con = sqlite3.connect(db_file)
        regions = {r[0] for r in con.execute("SELECT region FROM store")}
        dangling = con.execute("SELECT count(*) FROM sales s LEFT JOIN store t ON s.store_id = t.store_id "
                               "WHERE t.store_id IS NULL").fetchone()[0]
        n_sales = con.execute("SELECT count(*) FROM sales").fetchone()[0]
        con.close()
        assert regions == {"north"} and dangling == 0 and n_sales > 0
        with page.expect_download() as dl:
            page.click("#download-zip")
        assert sorted(zipfile.ZipFile(dl.value.path()).namelist()) == ["sales.csv", "store.csv"]
        page.click("#make-report")
        page.wait_for_selector("#open-report", timeout=300_000)
        assert page.inner_text("#overall") in ("pass", "warn", "fail")
        assert "generated under conditions" in page.inner_text("#conditioned")
        _shot(page, shots, "db-3-report-summary")
        with page.context.expect_page() as new_page:
            page.click("#open-report")
        report = new_page.value
        report.wait_for_load_state()
        assert "sales" in report.content() and "store" in report.content()
        _shot(report, shots, "db-4-report")
        assert not [e for e in errors if "Content Security Policy" in e], errors
