"""Does distillation pay for itself? Recipes against both parents, on dev sets no run trains on.

Every recipe is a ``DistillConfig`` (the CLI's defaults plus a few changes) trained on the built-in
corpus, then scored beside two reference rows: the English **teacher** alone, and **me5-small
alone** in its own space (the multilingual model the default student starts from). Scores:

- **en-STS / x-STS**: Spearman x100 between cosine and the human score on STS Benchmark pairs
  (``../shared/data/stsb_multi_mt_train``, dev rows 0-1499): English-English, and English-X for
  de/es/fr/it/nl (mean);
- **NTREX**: translation retrieval (%) in the model's own space, both directions, mean of 12
  languages, on NTREX-128 news (``../shared/data/ntrex128``, dev rows 0-999);
- **compat**: NTREX retrieval of the *teacher's* English embedding by the model's translation:
  can it search an index the teacher built? (teacher-space models only);
- **fidelity / agreement**: ``kdemo.evaluate`` on the built-in test split: Spearman between the
  model's and the teacher's cosines over English pairs / cross-lingual pairs;
- **test retrieval**: the built-in test split (saturated for multilingual students).

``run:<run_id>`` scores a saved run as it is (the demo: ``run:demo-me5-small``, made by
``python -m kdemo train``). ``--heldback`` scores the rows kept aside (STS 1500-2999, NTREX 1000-1996), which no setting
was chosen on. Results go to ``bench/results/<recipe>.json`` and a table to stdout (and ``--md``).

Usage (2 CPU cores: about budget + 4 minutes per trained recipe)::

    python bench/recipes.py --recipes teacher,me5-alone,default --heldback
"""

from __future__ import annotations

import argparse
import csv
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
from kdemo.data import ParallelCorpus, load_corpus, load_english, train_dev_split  # noqa: E402
from kdemo.distill import Callbacks, distill  # noqa: E402
from kdemo.distill.cache import cached_embeddings, model_key  # noqa: E402
from kdemo.evaluate import normalize_rows, retrieval_accuracy, spearman, translation_metrics  # noqa: E402
from kdemo.models import load_teacher  # noqa: E402
from kdemo.runs import open_run  # noqa: E402
from kdemo.students import build_student  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
NTREX_CODES = {"de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "pl": "pol", "ru": "rus",
               "tr": "tur", "ar": "arb", "zh": "zho-CN", "ja": "jpn"}
STS_LANGS = ("de", "es", "fr", "it", "nl")
DEV = {"sts": (0, 1500), "ntrex": (0, 1000)}
HELDBACK = {"sts": (1500, 3000), "ntrex": (1000, 1997)}

# name -> changes to the CLI's default DistillConfig; None = a reference row (no training).
RECIPES: dict[str, dict | None] = {
    "teacher": None,
    "me5-alone": None,
    "default": {},
    "app-default": {"max_minutes": 3.0},
    "no-english": {"english": ""},
    "no-warm-start": {"warm_start": False},
    "fp32": {"precision": "fp32"},
    "mse+kd": {"loss": "mse+kd"},
    "lr1e-4": {"lr": 1e-4},
    "lr2e-5": {"lr": 2e-5},
    "teacher-copy": {"student": "teacher-copy"},
}


def ntrex(rows: tuple[int, int]) -> ParallelCorpus | None:
    folder = SHARED / "ntrex128"
    if not folder.exists():
        return None
    read = lambda name: (folder / name).read_text(encoding="utf-8").split("\n")[rows[0]:rows[1]]  # noqa: E731
    texts = {"en": read("newstest2019-src.eng.txt")} | {code: read(f"newstest2019-ref.{name}.txt") for code, name in NTREX_CODES.items()}
    return ParallelCorpus([f"ntrex-{i}" for i in range(*rows)], texts, name="ntrex128")


def sts(rows: tuple[int, int]) -> dict[str, tuple[list[str], list[str], np.ndarray]] | None:
    folder = SHARED / "stsb_multi_mt_train"
    if not folder.exists():
        return None

    def read(lang: str) -> list[list[str]]:
        with open(folder / f"stsb-{lang}-train.csv", encoding="utf-8", newline="") as f:
            return list(csv.reader(f))[1 + rows[0] : 1 + rows[1]]

    en = read("en")
    gold = np.array([float(r[2]) for r in en])
    pairs = {"en": ([r[0] for r in en], [r[1] for r in en], gold)}
    for lang in STS_LANGS:
        pairs[lang] = ([r[0] for r in en], [r[1] for r in read(lang)], gold)
    return pairs


class Scorer:
    """Scores any model on the dev sets; embeddings are cached per (model, texts) on disk."""

    def __init__(self, teacher, rows: dict[str, tuple[int, int]], precision: str) -> None:
        self.teacher = teacher
        self.precision = precision
        self.test = train_dev_split(load_corpus("builtin"), DistillConfig(max_steps=1))[1]
        self.news, self.sts = ntrex(rows["ntrex"]), sts(rows["sts"])
        self.teacher_key = model_key(teacher)

    def embed(self, model, key: str, texts: list[str]) -> np.ndarray:
        return cached_embeddings(model, texts, key, precision=self.precision)[0]

    def score(self, model, teacher_space: bool) -> dict[str, float]:
        key = model_key(model)
        t_test = self.embed(self.teacher, self.teacher_key, self.test.texts["en"])
        test = {lang: self.embed(model, key, texts) for lang, texts in self.test.texts.items()}
        out = translation_metrics(test, t_test, dataset="test", teacher_space=teacher_space)
        if self.news is not None:
            t_en = self.embed(self.teacher, self.teacher_key, self.news.texts["en"])
            news = {lang: self.embed(model, key, texts) for lang, texts in self.news.texts.items()}
            accs, compat = [], []
            for lang in self.news.languages:
                accs.append((retrieval_accuracy(news[lang], news["en"]) + retrieval_accuracy(news["en"], news[lang])) / 2)
                compat.append(retrieval_accuracy(news[lang], t_en))
                out[f"ntrex_{lang}_acc"] = accs[-1]
            out["ntrex_mean_acc"] = float(np.mean(accs))
            if teacher_space:
                out["ntrex_mean_compat"] = float(np.mean(compat))
        if self.sts is not None:
            for lang, (a, b, gold) in self.sts.items():
                cos = np.sum(normalize_rows(self.embed(model, key, a)) * normalize_rows(self.embed(model, key, b)), axis=1)
                out[f"sts_{lang}"] = spearman(cos, gold)
            out["sts_xling"] = float(np.mean([out[f"sts_{lang}"] for lang in STS_LANGS]))
        return out


def run_recipe(name: str, scorer: Scorer, minutes: float | None, steps: int | None = None) -> dict:
    teacher = scorer.teacher
    changes = RECIPES.get(name)
    started = time.perf_counter()
    if name == "teacher":
        return {"recipe": name, "info": {}, "metrics": scorer.score(teacher, teacher_space=True)}
    if name == "me5-alone":
        model = build_student("me5-small", teacher)  # own space: mean pooling + normalisation, no head
        return {"recipe": name, "info": {}, "metrics": scorer.score(model, teacher_space=False)}
    if name.startswith("run:"):  # a run saved by the CLI or the app, scored as it is
        run = open_run(name.removeprefix("run:"))
        info = {key: run.meta[key] for key in ("steps", "train_seconds", "phase_seconds", "precision") if key in run.meta}
        metrics = scorer.score(run.load_student(), teacher_space=True)
        return {"recipe": name, "config": run.config.to_dict(), "info": info, "metrics": metrics}
    config = DistillConfig(**(changes or {}))
    if minutes is not None:
        config = config.replace(max_minutes=minutes)
    if steps is not None:
        config = config.replace(max_minutes=None, max_steps=steps)
    result = distill(config, Callbacks(on_status=lambda m: print(f"   {m}", flush=True)))
    info = {"steps": result.steps, "train_seconds": result.train_seconds, "wall_seconds": round(time.perf_counter() - started, 1),
            **result.info}
    metrics = scorer.score(result.student, teacher_space=True)
    return {"recipe": name, "config": result.config.to_dict(), "info": info, "metrics": metrics}


COLUMNS = [("en-STS", "sts_en", 100), ("x-STS", "sts_xling", 100), ("NTREX", "ntrex_mean_acc", 100),
           ("compat", "ntrex_mean_compat", 100), ("fidelity", "test_en_fidelity", 1), ("agreement", "test_mean_agreement", 1),
           ("test retr.", "test_mean_acc", 100)]


def table(results: list[dict]) -> str:
    head = "| recipe | steps | " + " | ".join(c for c, _, _ in COLUMNS) + " |\n|---|---|" + "---|" * len(COLUMNS)
    rows = []
    for r in results:
        m = r["metrics"]
        cells = [f"{scale * m[key]:.{1 if scale == 100 else 3}f}" if key in m else "–" for _, key, scale in COLUMNS]
        rows.append(f"| {r['recipe']} | {r['info'].get('steps', '–')} | " + " | ".join(cells) + " |")
    return head + "\n" + "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", default="teacher,me5-alone,default")
    parser.add_argument("--minutes", type=float, help="override every trained recipe's budget")
    parser.add_argument("--steps", type=int, help="train every recipe for this many steps instead (comparable on a busy machine)")
    parser.add_argument("--quick", action="store_true", help="score on the first 1000 STS and 400 NTREX dev rows (exploration)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config changes for every trained recipe, e.g. --set lr=1e-4 (JSON values)")
    parser.add_argument("--heldback", action="store_true", help="score on the held-back rows instead of the dev rows")
    parser.add_argument("--score-precision", default="fp32", choices=("fp32", "bf16"), help="bf16: faster, for exploration")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--md", type=Path, help="also write the table here")
    parser.add_argument("--table", type=Path, metavar="DIR", help="only print the table of the results saved in DIR")
    args = parser.parse_args()
    if args.table:
        print(table([json.loads(p.read_text()) for p in sorted(args.table.glob("*.json"))]))
        return 0
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    english = load_english()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}; {len(english)} English-only sentences",
          flush=True)
    rows = HELDBACK if args.heldback else DEV
    if args.quick:
        rows = {"sts": (rows["sts"][0], rows["sts"][0] + 1000), "ntrex": (rows["ntrex"][0], rows["ntrex"][0] + 400)}
    scorer = Scorer(load_teacher(), rows, args.score_precision)
    extra = {key: json.loads(value) for key, _, value in (item.partition("=") for item in args.set)}
    suffix = "-heldback" if args.heldback else ""
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.recipes.split(","):
        print(f"== {name}", flush=True)
        if name not in RECIPES and not name.startswith("run:"):
            RECIPES[name] = {}
        if RECIPES.get(name) is not None:
            RECIPES[name] = RECIPES[name] | extra
        result = run_recipe(name, scorer, args.minutes, args.steps)
        result["rows"] = "heldback" if args.heldback else "dev"
        results.append(result)
        (args.out / f"{name.replace(':', '-')}{suffix}.json").write_text(json.dumps(result, indent=1))
        print(table([result]).split("\n")[-1], flush=True)
    text = table(results)
    print(text)
    if args.md:
        args.md.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
