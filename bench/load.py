"""Load and memory on a shared server: clients comparing while one trains; RSS over many runs and compares.

Starts ``python app.py`` (a copy of the demo run in a throwaway runs folder) and talks to it
through its public API with ``gradio_client``, as any visitor's browser or script could:

1. **load**: ``--clients`` threads send Compare requests (PCA, the curated example sets, a sample
   of test sentences) while one client trains (``--train-steps`` steps); reports errors and the
   Compare latency (median, 90th percentile) during training;
2. **memory**: ``--runs`` small runs and ``--compares`` Compare requests one after another, the
   server's resident memory (``/proc/<pid>/status``) sampled after each, to show whether memory
   comes back down (models released after runs, caches bounded).

    python bench/load.py --out bench/results/load.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

from app_server import start_app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ["one_meaning_13_languages", "paraphrases_vs_unrelated", "false_friends", "topics_in_four_languages"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def compare(client, i: int) -> float:
    started = time.perf_counter()
    source = "Example set" if i % 3 else "Test sentences"
    client.predict(run_id="demo-me5-small", source=source, example=EXAMPLES[i % len(EXAMPLES)], n=8, languages=["de", "zh", "ar"],
                   text="", method="PCA", dims="2D", layout="Side by side", api_name="/compare")
    return time.perf_counter() - started


def train(client, steps: int) -> None:
    client.predict(token=secrets.token_urlsafe(32), teacher="sentence-transformers/all-MiniLM-L6-v2", student="me5-small",
                   corpus_choice="Built-in", upload=None, hf_id="", languages=["de", "fr"], budget_kind="steps", budget=steps, lr=None,
                   batch_size=32, loss="auto", seed=42, warm_start=True, english=False, precision="auto", extend=0, name="load",
                   probe="a sample of the dev split", eval_every=20, api_name="/start_training")


def load_phase(url: str, clients: int, steps: int, trainer_status) -> dict:
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    train(Client(url, verbose=False), steps)
    stop = threading.Event()

    def worker(k: int) -> None:
        client = Client(url, verbose=False)
        i = k
        while not stop.is_set():
            try:
                latencies.append(compare(client, i))
            except Exception as exc:  # every failure counts, whatever its type
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
            i += clients

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    while trainer_status() == "busy":
        time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {"clients": clients, "requests": len(latencies), "errors": len(errors), "error_samples": errors[:5],
            "median_s": round(statistics.median(ordered), 2) if ordered else None,
            "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 2) if ordered else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--compares", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    args = parser.parse_args()
    from gradio_client import Client

    proc, url = start_app(rebuilt=False)
    try:
        time.sleep(60)  # the start-up warm-up (teacher, demo student, UMAP) finishes first
        client = Client(url, verbose=False)
        compare(client, 0)

        def status() -> str:
            return "busy" if client.predict(api_name="/training_state") in ("running", "cancelling") else "idle"

        report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load": load_phase(url, args.clients, args.train_steps, status)}
        print(json.dumps(report["load"]), flush=True)
        memory = [{"after": "start", "rss_mb": round(rss_mb(proc.pid))}]
        for r in range(args.runs):
            train(client, 5)
            while status() == "busy":
                time.sleep(1)
            for c in range(args.compares // args.runs):
                compare(client, r * 100 + c)
            memory.append({"after": f"{r + 1} runs, {(r + 1) * (args.compares // args.runs)} compares", "rss_mb": round(rss_mb(proc.pid))})
            print(json.dumps(memory[-1]), flush=True)
        report["memory"] = memory
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
