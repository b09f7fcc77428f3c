"""Compare distillation recipes for the same CPU budget; write docs/benchmarks.md.

Each recipe trains on the built-in corpus's train split for ``--minutes`` of training time, then
is scored on data it never saw:
- the built-in test split: translation retrieval per language (both directions, %);
- NTREX-128 (news, another domain): retrieval per language on ``--ntrex-rows`` sentences (%);
- STS Benchmark train pairs (``../shared/data/stsb_multi_mt_train``): Spearman x100 of cosine vs the
  human score, English-English (is English quality kept?) and English-X for de/es/fr/it/nl
  (cross-lingual similarity);
- encode speed (sentences/s, batch 64, NTREX English) on this machine.

Usage (about minutes + 2-3 minutes per recipe on 2 CPU cores)::

    python bench/recipes.py --minutes 5 --recipes teacher,mse,kd,mse+kd,compact3,me5,me5-cold,me5-ridge
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kdemo.config import DistillConfig  # noqa: E402
from kdemo.data import ParallelCorpus, builtin_split, load_corpus  # noqa: E402
from kdemo.distill import distill_from_models, seed_everything, warm_start  # noqa: E402
from kdemo.evaluate import embed_corpus, normalize_rows, translation_metrics  # noqa: E402
from kdemo.models import build_student, encode, load_teacher, parameter_count  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
NTREX_CODES = {"de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "pl": "pol", "ru": "rus",
               "tr": "tur", "ar": "arb", "zh": "zho-CN", "ja": "jpn"}
STS_LANGS = ("de", "es", "fr", "it", "nl")

# name -> (DistillConfig changes, train?)
RECIPES: dict[str, tuple[dict, bool]] = {
    "teacher": ({}, False),
    "mse": ({"student": "teacher-copy", "loss": "mse", "lr": 2e-4}, True),
    "kd": ({"student": "teacher-copy", "loss": "kd", "lr": 2e-4}, True),
    "mse+kd": ({"student": "teacher-copy", "loss": "mse+kd", "lr": 2e-4}, True),
    "compact3": ({"student": "compact:3", "loss": "mse", "lr": 2e-4}, True),
    "me5-ridge": ({"student": "me5-small", "warm_start": True}, False),
    "me5": ({"student": "me5-small", "loss": "mse", "lr": 5e-5, "warm_start": True}, True),
    "me5-kd": ({"student": "me5-small", "loss": "mse+kd", "lr": 5e-5, "warm_start": True}, True),
    "me5-cold": ({"student": "me5-small", "loss": "mse", "lr": 5e-5, "warm_start": False}, True),
    "me5-raw": ({"student": "me5-small", "warm_start": False}, False),
    "scratch": ({"student": "scratch", "loss": "mse", "lr": 5e-4, "warm_start": False}, True),
    "vocab": ({"student": "teacher-copy", "loss": "mse", "lr": 2e-4, "extend_vocab": 5000}, True),
}


def ntrex(rows: int) -> ParallelCorpus | None:
    folder = SHARED / "ntrex128"
    if not folder.exists():
        return None
    texts = {"en": (folder / "newstest2019-src.eng.txt").read_text(encoding="utf-8").splitlines()[:rows]}
    for code, name in NTREX_CODES.items():
        texts[code] = (folder / f"newstest2019-ref.{name}.txt").read_text(encoding="utf-8").splitlines()[:rows]
    return ParallelCorpus([f"ntrex-{i}" for i in range(rows)], texts, name="ntrex128")


def sts_pairs(rows: int) -> dict[str, tuple[list[str], list[str], np.ndarray]] | None:
    import csv

    folder = SHARED / "stsb_multi_mt_train"
    if not folder.exists():
        return None

    def read(lang: str) -> list[list[str]]:
        with open(folder / f"stsb-{lang}-train.csv", encoding="utf-8") as f:
            return list(csv.reader(f))[1 : rows + 1]

    en = read("en")
    scores = np.array([float(r[2]) for r in en])
    pairs = {"en-en": ([r[0] for r in en], [r[1] for r in en], scores)}
    for lang in STS_LANGS:
        other = read(lang)
        pairs[f"en-{lang}"] = ([r[0] for r in en], [r[1] for r in other], scores)
    return pairs


def score(model, teacher, test: ParallelCorpus, news: ParallelCorpus | None, sts, known: dict[str, float] | None = None) -> dict[str, float]:
    """All benchmark numbers for one model; ``known`` = the loop's own dev metrics on the test split, reused."""
    from scipy.stats import spearmanr

    if known:
        out = {"test" + k[3:]: v for k, v in known.items() if k.startswith("dev_")}
    else:
        out = translation_metrics(embed_corpus(model, test), encode(teacher, test.texts["en"]), dataset="test")
    if news is not None:
        out |= translation_metrics(embed_corpus(model, news), encode(teacher, news.texts["en"]), dataset="ntrex")
    if sts is not None:
        xs = []
        for name, (a, b, gold) in sts.items():
            cos = np.sum(normalize_rows(encode(model, a)) * normalize_rows(encode(model, b)), axis=1)
            out[f"sts_{name}"] = float(spearmanr(cos, gold).statistic)
            if name != "en-en":
                xs.append(out[f"sts_{name}"])
        out["sts_xling_mean"] = float(np.mean(xs))
    sample = (news or test).texts["en"][:512]
    started = time.perf_counter()
    encode(model, sample, batch_size=64)
    out["encode_per_s"] = len(sample) / (time.perf_counter() - started)
    return out


def run_recipe(name: str, minutes: float, train: ParallelCorpus, test: ParallelCorpus, news, sts) -> dict:
    changes, do_train = RECIPES[name]
    config = DistillConfig(max_minutes=minutes, eval_every=10_000, **changes)
    teacher = load_teacher(config.teacher)
    seed_everything(config.seed)
    started = time.perf_counter()
    known = None
    if name == "teacher":
        model, info = teacher, {}
    elif do_train:
        student = build_student(config.student, teacher, config.max_seq_length, corpus=train, extend_vocab=config.extend_vocab,
                                seed=config.seed)
        result = distill_from_models(teacher, student, train, test, config, teacher_key=config.teacher)
        model, info = result.student, {"steps": result.steps, "train_seconds": result.train_seconds, **result.info}
        known = result.metrics["student_after"]
    else:
        model = build_student(config.student, teacher, config.max_seq_length)
        info = {}
        if config.warm_start:
            model, info["warm_start"] = warm_start(model, train.texts["en"], encode(teacher, train.texts["en"]))
    info["wall_seconds"] = round(time.perf_counter() - started, 1)
    info["parameters"] = parameter_count(model)
    return {"recipe": name, "config": config.to_dict(), "info": info, "metrics": score(model, teacher, test, news, sts, known)}


def markdown(results: list[dict], minutes: float, ntrex_rows: int) -> str:
    langs = list(NTREX_CODES)
    head = ("| recipe | steps | test retrieval | NTREX retrieval | x-lingual STS | English STS | encode/s | params |\n"
            "|---|---|---|---|---|---|---|---|")
    rows = []
    for r in results:
        m = r["metrics"]
        rows.append(f"| {r['recipe']} | {r['info'].get('steps', '–')} | {100 * m['test_mean_acc']:.1f} | "
                    f"{100 * m.get('ntrex_mean_acc', float('nan')):.1f} | {100 * m.get('sts_xling_mean', float('nan')):.1f} | "
                    f"{100 * m.get('sts_en-en', float('nan')):.1f} | {m['encode_per_s']:.0f} | {r['info']['parameters'] / 1e6:.1f}M |")
    per_lang = ["| recipe | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
    for r in results:
        m = r["metrics"]
        per_lang.append(f"| {r['recipe']} | " + " | ".join(f"{100 * m.get(f'ntrex_{lang}_acc', float('nan')):.0f}" for lang in langs) + " |")
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    return (f"Budget: {minutes:g} min of training per recipe on the built-in train split ({machine}). "
            f"Retrieval = translation retrieval accuracy (%), both directions, averaged over 12 languages; NTREX on its first "
            f"{ntrex_rows} sentences. STS = Spearman x100 on STS-B train pairs (English-English; English-X for "
            f"{', '.join(STS_LANGS)}).\n\n{head}\n" + "\n".join(rows) +
            "\n\nNTREX retrieval per language (%):\n\n" + "\n".join(per_lang) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--recipes", default="teacher,mse,kd,mse+kd,compact3,me5-ridge,me5,me5-cold")
    parser.add_argument("--ntrex-rows", type=int, default=500)
    parser.add_argument("--sts-rows", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    train, test = builtin_split(load_corpus("builtin"))
    news, sts = ntrex(args.ntrex_rows), sts_pairs(args.sts_rows)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.recipes.split(","):
        print(f"== {name}", flush=True)
        result = run_recipe(name, args.minutes, train, test, news, sts)
        results.append(result)
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=2))
        m = result["metrics"]
        print(f"   test {100 * m['test_mean_acc']:.1f}  ntrex {100 * m.get('ntrex_mean_acc', 0):.1f}  "
              f"xsts {100 * m.get('sts_xling_mean', 0):.1f}  en-sts {100 * m.get('sts_en-en', 0):.1f}  {result['info']}", flush=True)
    order = [name for name in RECIPES if (args.out / f"{name}.json").exists()]
    results = [json.loads((args.out / f"{name}.json").read_text()) for name in order]  # earlier recipes too
    table = markdown(results, args.minutes, args.ntrex_rows)
    (args.out / "table.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
