"""Where visitors wait: the Compare view at 50 / 300 / 1,000 sentences, and the app's cold start.

1. **Compare** (in process, the same ``compare_view`` the app calls, with the demo run): PCA and
   UMAP, first call (sentences never embedded; for UMAP the first call of the process also
   compiles numba) and second call (embeddings from the app's cache).
2. **Cold start** (``--cold-start``): ``python app.py`` with an empty cache folder and a fresh copy
   of the demo run, timed until a real browser shows the first map (me5-small conversion, demo
   student rebuild and teacher load included).

    python bench/ui_latency.py --cold-start --out bench/results/ui_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from app_server import launch_app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def compare_latency(sizes: list[int]) -> list[dict]:
    os.environ["KDEMO_COMPARE_SENTENCES"] = str(max(sizes))
    from kdemo.views.compare import CompareForm, compare_view, open_selected
    from kdemo.views.runs import default_run
    from kdemo.views.state import student_for

    run = open_selected(default_run())
    student_for(run)  # loading the student is the app's start-up, not a Compare request
    languages = ("de", "fr", "es", "it", "pt", "nl", "pl", "ru", "tr", "ar", "zh", "ja")
    rows = []
    for method in ("PCA", "UMAP"):
        for size in sizes:
            per_row = len(languages) + 1
            form = CompareForm(run_id=run.run_id, source="Test sentences", n=max(1, size // per_row), languages=languages,
                               method=method, seed=size)
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                view = compare_view(form, run)
                timings.append(time.perf_counter() - started)
            points = 2 * len(view.comparison.sentences)
            rows.append({"method": method, "sentences": len(view.comparison.sentences), "points": points,
                         "first_s": round(timings[0], 2), "second_s": round(timings[1], 2)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def cold_start() -> dict:
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    proc, url = launch_app(rebuilt=False, KDEMO_CACHE=tempfile.mkdtemp(prefix="kdemo-cold-cache-"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            while True:
                try:
                    page.goto(url, timeout=5000)
                    break
                except Exception:  # not listening yet
                    time.sleep(0.5)
            served = time.perf_counter() - started
            page.wait_for_function("() => { const el = document.querySelector('#compare-map .js-plotly-plot');"
                                   " return el && el._fullData && el._fullData.length > 0; }", timeout=600_000)
            painted = time.perf_counter() - started
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {"page_served_s": round(served, 1), "first_map_painted_s": round(painted, 1)}
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,300,1000")
    parser.add_argument("--cold-start", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ui_latency.json")
    args = parser.parse_args()
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    if args.cold_start:
        report["cold_start"] = cold_start()
    report["compare"] = compare_latency([int(s) for s in args.sizes.split(",")])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
