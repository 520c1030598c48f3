"""The HTML report: one self-contained file that opens offline, and shows in a real browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datatwin._exceptions import OutputError
from datatwin.evaluation import EvaluationResult, evaluate

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
ADULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.csv"  # ../shared beside the repository
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def adult_result() -> EvaluationResult:
    if not ADULT.exists():
        pytest.skip(f"{ADULT} not found")
    df = pd.read_csv(ADULT, keep_default_na=False, na_values=[""], low_memory=False)
    idx = np.random.default_rng(1).permutation(len(df))
    part = lambda a, b: df.iloc[np.sort(idx[a:b])].reset_index(drop=True)  # noqa: E731
    return evaluate(part(0, 3000), part(3000, 5000), holdout=part(5000, 6500), target="income")


@pytest.fixture(scope="module")
def adult_html(adult_result) -> str:
    return adult_result.to_html()


def test_html_is_self_contained(adult_html):
    html = adult_html
    low = html.lower()
    for bad in ('src="http', "src='http", 'href="http', "href='http", "<link", "@import", "<script", "url(",
                "<iframe", "<object", "<embed"):
        assert bad not in low, bad
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert len(html) < 3_000_000
    # a non-expert reads the verdicts first, then the plots, then the tables
    assert low.index("overall:") < low.index("do the columns look alike") < low.index("7. tables")
    for title in ("Can a classifier tell them apart?", "Train on synthetic, test on real",
                  "Membership-inference attack", "Exact copies of real rows", "Same analysis, same answer"):
        assert title in html


def test_html_escapes_column_names_and_values(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"<script>alert(1)</script>": rng.normal(size=n),
                       "plan": rng.choice(["<b>gold</b>", "basic & co"], n)})
    res = evaluate(df.iloc[:150], df.iloc[150:])
    html = res.to_html()
    assert "<script>" not in html and "<b>gold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "basic &amp; co" in html


def test_report_without_holdout_or_target_says_what_is_missing(mixed_df, tmp_path):
    res = evaluate(mixed_df.iloc[:200], mixed_df.iloc[200:])
    path = res.save_html(tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    assert "Not measured: no target column was given" in html
    assert "no holdout was given" in html
    assert "Overall:" in html


def test_save_html_to_a_missing_folder_is_an_output_error(adult_result, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        adult_result.save_html(tmp_path / "nope" / "report.html")


def test_report_renders_from_saved_json(mixed_df, tmp_path):
    res = evaluate(mixed_df.iloc[:200], mixed_df.iloc[200:300], holdout=mixed_df.iloc[300:], target="score")
    p = res.save_json(tmp_path / "m.json")
    again = EvaluationResult.load_json(p)
    assert again.to_html().count("data:image/png") == res.to_html().count("data:image/png") > 5


def _browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; the system chromium is used)")
    return exe, sync_playwright


def test_report_shows_in_headless_chromium_without_errors(adult_html, tmp_path):
    exe, sync_playwright = _browser()
    path = tmp_path / "report.html"
    path.write_text(adult_html, encoding="utf-8")
    errors: list[str] = []
    remote: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def route(r):
                url = r.request.url
                if url.startswith(("file:", "data:")):
                    r.continue_()
                else:
                    remote.append(url)
                    r.abort()

            page.route("**/*", route)
            page.goto(path.as_uri(), wait_until="load")
            assert page.locator("h1").inner_text() == "Synthetic data evaluation report"
            assert page.locator(".banner").is_visible()
            assert "Overall:" in page.locator(".banner").inner_text()
            broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                                   ".map(i => i.alt)")
            assert broken == []
            assert page.evaluate("document.images.length") >= 10
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert remote == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
