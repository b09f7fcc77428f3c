"""Screenshots of the app's three tabs for the README: docs/compare.png, docs/train.png, docs/runs.png.

Starts ``python app.py`` on a free port with a throwaway runs folder that holds a copy of the demo
run, drives it with Playwright in Debian's Chromium (install ``fonts-noto-cjk`` for CJK glyphs),
runs a short training from the Train tab, and saves the pictures.

    python bench/screenshots.py [--steps 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="30")
    args = parser.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="kdemo-shots-"))
    for demo in (ROOT / "trained").glob("demo-*"):
        shutil.copytree(demo, runs / demo.name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), KDEMO_RUNS=str(runs))
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(1)
        time.sleep(25)  # let UMAP compile in the background, so Compare shows UMAP
        DOCS.mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.goto(url)
            page.locator("#compare-summary").get_by_text("sentences").wait_for(timeout=180_000)
            page.locator("#compare-btn").click()  # UMAP now that it is compiled
            time.sleep(12)
            page.screenshot(path=str(DOCS / "compare.png"), full_page=False)
            page.get_by_role("tab", name="Train").click()
            page.get_by_label("steps", exact=True).check()
            page.get_by_label("Budget", exact=True).fill(args.steps)
            page.locator("#start-btn").click()
            page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('Saved as')", timeout=900_000)
            time.sleep(3)
            page.screenshot(path=str(DOCS / "train.png"), full_page=False)
            page.get_by_role("tab", name="Runs").click()
            time.sleep(4)
            page.screenshot(path=str(DOCS / "runs.png"), full_page=False)
            browser.close()
    finally:
        proc.terminate()
        shutil.rmtree(runs, ignore_errors=True)
    print("wrote", *(str(DOCS / f"{n}.png") for n in ("compare", "train", "runs")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
