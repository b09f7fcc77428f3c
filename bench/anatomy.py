"""Where a run's wall-clock goes: before the first step, steps, live evaluations, after the last step.

Runs the CLI default and the app default (the app's 3-minute budget) through the same path they
take (``distill`` then ``save_run``), each twice: first with an empty cache folder (me5-small
converted, teacher targets and the student's features computed), then again with the cache warm.
Phases come from the loop's own timings (``result.info["phase_seconds"]``).

    python bench/anatomy.py --out bench/results/anatomy.json
    python bench/anatomy.py --cli-minutes 1 --app-minutes 1   # a quicker look
    python bench/anatomy.py --which app-default               # the app's default only
    python bench/anatomy.py --which app-default --warm-only   # once, with this machine's cache as it is
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kdemo.config import DistillConfig  # noqa: E402
from kdemo.distill import distill  # noqa: E402
from kdemo.runs import save_run  # noqa: E402


def one_run(config: DistillConfig) -> dict:
    started = time.perf_counter()
    result = distill(config)
    saving = time.perf_counter()
    save_run(result)
    end = time.perf_counter()
    phases = result.info["phase_seconds"]
    live = result.info.get("live_eval_seconds", 0.0)
    before_first = sum(phases.get(k, 0.0) for k in ("prepare", "evaluate_start", "warm_start"))
    total = end - started
    steps_seconds = result.train_seconds
    outside = total - steps_seconds
    return {
        "steps": result.steps, "precision": result.info.get("precision"), "total_s": round(total, 1),
        "loading_s": round(total - sum(phases.values()) - (end - saving), 1),
        "before_first_step_s": round(before_first, 1), **{f"{k}_s": v for k, v in phases.items()},
        "optimiser_steps_s": round(steps_seconds, 1), "per_step_s": round(steps_seconds / max(result.steps, 1), 3),
        "live_evals_s": round(live, 1), "finish_s": round(phases.get("finish", 0.0), 1), "save_s": round(end - saving, 1),
        "outside_steps_s": round(outside, 1), "outside_share_of_budget": round(outside / max(steps_seconds, 1e-9), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cli-minutes", type=float, default=DistillConfig().max_minutes)
    parser.add_argument("--app-minutes", type=float, default=3.0)
    parser.add_argument("--which", default="cli-default,app-default", help="which of the two to run")
    parser.add_argument("--warm-only", action="store_true", help="one run each with the cache folder as it is (already warm)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "anatomy.json")
    args = parser.parse_args()
    os.environ["KDEMO_RUNS"] = tempfile.mkdtemp(prefix="kdemo-anatomy-runs-")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores", flush=True)
    results = {}
    budgets = {"cli-default": args.cli_minutes, "app-default": args.app_minutes}
    for name in args.which.split(","):
        minutes = budgets[name]
        attempts = ("warm cache",)
        if not args.warm_only:
            os.environ["KDEMO_CACHE"] = tempfile.mkdtemp(prefix="kdemo-anatomy-cache-")  # each starts cold
            attempts = ("first (cold cache)", "second (warm cache)")
        for attempt in attempts:
            row = one_run(DistillConfig(max_minutes=minutes))
            results[f"{name}, {attempt}"] = row
            print(f"{name}, {attempt}: {json.dumps(row)}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores", "runs": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
