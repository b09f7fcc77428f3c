"""The app in a real browser: Playwright + Debian's Chromium against `python app.py` on localhost."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    runs = tmp_path_factory.mktemp("browser_runs")
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", KDEMO_RUNS=str(runs),
               HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    log = open(tmp_path_factory.mktemp("logs") / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited early, see {log.name}") from None
            time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError("app.py did not answer within 180 s")
    yield {"url": url, "runs": runs}
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.goto(server["url"])
    yield pg
    context.close()


def _points_js(elem_id: str) -> str:
    return f"""() => {{ const el = document.querySelector('#{elem_id} .js-plotly-plot');
            if (!el || !el._fullData) return 0;
            return el._fullData.reduce((n, t) => n + (t.x && t.x.length ? t.x.length : 0), 0); }}"""


def _plot_points(page, elem_id: str) -> int:
    return page.evaluate(_points_js(elem_id))


def _wait_points(page, elem_id: str, at_least: int, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(f"() => ({_points_js(elem_id)})() >= {at_least}", timeout=timeout_ms)


def _wait_text(page, selector: str, text: str, timeout_ms: int) -> None:
    """Wait until the element's visible text contains ``text`` (Gradio tables render cells lazily)."""
    page.wait_for_function("([sel, text]) => { const el = document.querySelector(sel); return el && el.innerText.includes(text); }",
                           arg=[selector, text], timeout=timeout_ms)


def test_compare_renders_map_and_tables(page) -> None:
    summary = page.locator("#compare-summary")
    summary.get_by_text("sentences").wait_for(timeout=120_000)
    assert "39 sentences" in summary.inner_text()
    _wait_points(page, "compare-map", 39)
    pairs = page.locator("#compare-pairs")
    for pair in ("en–de", "en–zh", "en–ar"):
        assert pairs.get_by_text(pair).count() >= 1
    assert page.locator("#compare-heatmaps .js-plotly-plot").count() == 1
    # Own text with a bad line shows a readable message, not a traceback.
    page.get_by_label("Your text").check()
    page.get_by_label(re.compile("Your sentences")).fill("en: Hello there.\nthis line has no tag")
    page.locator("#compare-btn").click()
    error = page.get_by_text("Line 2: write 'lang: sentence'")
    error.first.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()


def _start_run(page, budget_kind: str, budget: str) -> None:
    page.get_by_role("tab", name="Train").click()
    for lang in ["fr", "es", "it", "pt", "nl", "pl", "ru", "tr", "ar", "zh", "ja"]:
        page.get_by_label(lang, exact=True).uncheck()
    page.get_by_label(budget_kind, exact=True).check()
    page.get_by_label("Budget", exact=True).fill(budget)
    page.locator("#start-btn").click()


def test_short_run_shows_live_curves_and_before_after(page, server) -> None:
    _start_run(page, "steps", "16")
    status = page.locator("#train-status")
    status.get_by_text(re.compile(r"step [1-9]")).wait_for(timeout=180_000)
    first = _plot_points(page, "loss-plot")
    page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('step 10')", timeout=120_000)
    assert _plot_points(page, "loss-plot") > first  # the curve moved
    _wait_points(page, "live-plot", 2)
    _wait_text(page, "#result-table", "German", 180_000)
    assert "Saved as" in status.inner_text()
    runs = [p for p in server["runs"].iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1 and (runs[0] / "student" / "modules.json").exists()


def test_cancel_stops_and_saves_nothing(page, server) -> None:
    before = {p.name for p in server["runs"].iterdir()}
    _start_run(page, "minutes", "5")
    status = page.locator("#train-status")
    status.get_by_text(re.compile(r"step [1-9]")).wait_for(timeout=180_000)
    page.locator("#cancel-btn").click()
    status.get_by_text("nothing was saved").wait_for(timeout=60_000)
    assert {p.name for p in server["runs"].iterdir()} == before


def test_runs_lists_and_downloads_the_student(page, server, tmp_path: Path) -> None:
    page.get_by_role("tab", name="Runs").click()
    run_id = next(p.name for p in server["runs"].iterdir() if not p.name.startswith("."))
    _wait_text(page, "#runs-table", run_id, 30_000)
    page.locator("#download-btn").click()
    link = page.locator("#download-file a").first
    link.wait_for(timeout=60_000)
    with page.expect_download() as info:
        link.click()
    target = tmp_path / "student.zip"
    info.value.save_as(target)
    with zipfile.ZipFile(target) as z:
        assert "student/modules.json" in z.namelist()
