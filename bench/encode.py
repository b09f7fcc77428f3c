"""Encode speed and fidelity: fp32, bf16 autocast, torch dynamic int8, and the exported int8 ONNX student.

For a run's student (default: the demo run) and for the teacher, each variant encodes the same
sentences (NTREX dev rows in 13 languages, batch 64); reported are sentences per second, the mean
cosine to the fp32 embedding of the same sentence, and what each variant scores on dev translation
retrieval (NTREX) and English / cross-lingual STS, so a speed-up is never bought blind.
Variants alternate in one process (two rounds, best kept), so machine drift hits all of them.

    python bench/encode.py --out bench/results/encode.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.recipes import DEV, STS_LANGS, ntrex, sts  # noqa: E402
from kdemo.evaluate import normalize_rows, retrieval_accuracy, spearman  # noqa: E402
from kdemo.models import encode, load_teacher  # noqa: E402


def variants(model, onnx_folder: Path | None) -> dict:
    """name -> encode(texts) for each way of running ``model``."""
    int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear}, dtype=torch.qint8)
    out = {"fp32": lambda texts: encode(model, texts), "bf16": lambda texts: encode(model, texts, precision="bf16"),
           "torch-int8": lambda texts: encode(int8, texts)}
    if onnx_folder is not None:
        from kdemo.export import OnnxStudent

        onnx = OnnxStudent(onnx_folder)
        out["onnx-int8"] = onnx.encode
    return out


def score(embed, news, sts_pairs) -> dict[str, float]:
    emb = {lang: embed(texts) for lang, texts in news.texts.items()}
    accs = [(retrieval_accuracy(emb[lang], emb["en"]) + retrieval_accuracy(emb["en"], emb[lang])) / 2 for lang in news.languages]
    result = {"ntrex_retrieval": 100 * float(np.mean(accs))}
    for lang, (a, b, gold) in sts_pairs.items():
        cos = np.sum(normalize_rows(embed(a)) * normalize_rows(embed(b)), axis=1)
        result[f"sts_{lang}"] = 100 * spearman(cos, gold)
    result["sts_xling"] = float(np.mean([result[f"sts_{lang}"] for lang in STS_LANGS]))
    return result


def measure(name: str, model, onnx_folder: Path | None, texts: list[str], news, sts_pairs) -> dict:
    runners = variants(model, onnx_folder)
    reference = runners["fp32"](texts)
    speed: dict[str, float] = {}
    for _ in range(2):
        for variant, embed in runners.items():
            started = time.perf_counter()
            embed(texts)
            speed[variant] = max(speed.get(variant, 0.0), len(texts) / (time.perf_counter() - started))
    rows = {}
    for variant, embed in runners.items():
        agreement = float(np.mean(np.sum(normalize_rows(embed(texts)) * normalize_rows(reference), axis=1)))
        rows[variant] = {"sentences_per_s": round(speed[variant], 1), "speedup": round(speed[variant] / speed["fp32"], 2),
                         "cosine_to_fp32": round(agreement, 5), **{k: round(v, 2) for k, v in score(embed, news, sts_pairs).items()}}
        print(f"{name:10s} {variant:10s} {json.dumps(rows[variant])}", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="run id (default: the demo run)")
    parser.add_argument("--rows", type=int, default=300, help="NTREX and STS dev rows")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "encode.json")
    args = parser.parse_args()
    from kdemo.export import export_int8
    from kdemo.runs import list_runs, open_run

    run = open_run(args.run) if args.run else next(r for r in list_runs() if r.is_demo)
    news = ntrex((DEV["ntrex"][0], DEV["ntrex"][0] + args.rows))
    sts_pairs = sts((DEV["sts"][0], DEV["sts"][0] + args.rows))
    if news is None or sts_pairs is None:
        raise SystemExit("needs ../shared/data (NTREX-128 and STS Benchmark)")
    texts = [t for column in news.texts.values() for t in column[:40]]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; {len(texts)} sentences", flush=True)
    results = {"student": measure("student", run.load_student(), export_int8(run), texts, news, sts_pairs),
               "teacher": measure("teacher", load_teacher(run.config.teacher), None, texts, news, sts_pairs)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores", "run": run.run_id,
                                    "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
