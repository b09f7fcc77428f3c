"""Screenshots of the app for the README and docs/: Compare, Search, Train (live), Inspect, Runs.

Starts ``python app.py`` on a free port with a throwaway runs folder holding a copy of the demo
run, drives it with Playwright in Debian's Chromium, runs a short training from the Train tab (so
the live charts and the alignment map are real), and saves docs/<tab>.png. Chinese, Japanese and
Arabic need fonts where the browser runs (Debian: fonts-noto-cjk fonts-noto-core; .ci/run installs them).

    python bench/screenshots.py [--steps 60]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

from app_server import start_app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def shoot(page, name: str) -> None:
    time.sleep(1.5)
    page.screenshot(path=str(DOCS / f"{name}.png"), full_page=False)
    print(f"docs/{name}.png", flush=True)


def compare_and_search(page) -> None:
    page.locator("#compare-summary").get_by_text("sentences").wait_for(timeout=300_000)
    time.sleep(20)  # UMAP compiles in the background at start
    page.locator("#compare-btn").click()
    page.wait_for_function("() => document.querySelector('#compare-map .js-plotly-plot')", timeout=120_000)
    time.sleep(8)
    shoot(page, "compare")
    page.get_by_role("tab", name="Search").click()
    page.locator("#search-query textarea, #search-query input").first.fill("我明天要去看医生，因为我的膝盖很疼。")
    page.locator("#search-btn").click()
    page.locator("#search-summary").get_by_text("English sentences").wait_for(timeout=120_000)
    shoot(page, "search")


def train_inspect_runs(page, steps: str) -> None:
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-budget-kind").get_by_label("steps").check()
    page.locator("#train-budget input").fill(steps)
    page.locator("#train-advanced").get_by_text("Advanced").first.click()
    page.locator("#train-eval-every input").fill("10")
    page.locator("#train-advanced").get_by_text("Advanced").first.click()
    page.locator("#start-btn").click()
    page.locator("#train-status").get_by_text(re.compile(r"step [2-9][0-9]")).wait_for(timeout=900_000)
    page.locator("#live-plot").scroll_into_view_if_needed()
    shoot(page, "train")
    page.locator("#train-replay-map").scroll_into_view_if_needed()
    shoot(page, "replay")
    page.locator("#result-table").get_by_text("student after").wait_for(timeout=900_000)
    page.locator("#result-table").scroll_into_view_if_needed()
    shoot(page, "result")
    page.get_by_role("tab", name="Inspect").click()
    page.wait_for_function("() => (document.querySelector('#failures-table')?.innerText || '').includes('found instead')",
                           timeout=120_000)
    shoot(page, "inspect")
    page.get_by_role("tab", name="Runs").click()
    page.locator("#runs-table").get_by_text("demo").first.wait_for(timeout=60_000)
    shoot(page, "runs")


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="60")
    args = parser.parse_args()
    DOCS.mkdir(exist_ok=True)
    proc, url = start_app(rebuilt=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.goto(url)
            compare_and_search(page)
            train_inspect_runs(page, args.steps)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
