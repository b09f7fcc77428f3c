"""Training throughput on the same batches: kdemo's loop vs the sentence-transformers trainer vs a bare loop.

For each student (me5-small after its warm start; a copy of the teacher) and precision (fp32, bf16
autocast), three runners take exactly the same batches of the built-in corpus (English sentences,
translations and English-only sentences, kdemo's length-grouped order) from the same starting
weights, for ``--steps`` optimiser steps:

- **kdemo**: ``Distillation.train`` (live evaluations off), the loop the CLI and the app run;
- **st-trainer**: ``SentenceTransformerTrainer`` with ``losses.MSELoss``, the recipe of
  sentence-transformers' make_multilingual example, fed the same batches through its batch sampler;
- **bare**: tokenize, forward, MSE, backward, fused AdamW step, nothing else: the practical limit.

Reported: sentences per second (optimiser time only, first 3 steps excluded as warm-up), the ratio
to the others, and what each reached on the live dev subset (agreement, teacher-index search,
English fidelity), so speed is never bought with worse learning. Runners alternate within one
process, which keeps a noisy machine's drift off the ratios.

    python bench/throughput.py --steps 40 --out bench/results/throughput.json
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

from kdemo.config import DistillConfig  # noqa: E402
from kdemo.data import load_corpus, load_english, train_dev_split  # noqa: E402
from kdemo.distill import Callbacks  # noqa: E402
from kdemo.distill.batches import batches, tokenize  # noqa: E402
from kdemo.distill.loop import adamw, freeze_large_vocab, training_examples  # noqa: E402
from kdemo.evaluate import embed_corpus, translation_metrics  # noqa: E402
from kdemo.models import encode, load_teacher  # noqa: E402
from kdemo.students import build_student  # noqa: E402

WARMUP_STEPS = 3


class Setup:
    """The corpus, targets, batches and starting student shared by every runner."""

    def __init__(self, student_spec: str, steps: int) -> None:
        self.teacher = load_teacher()
        self.config = DistillConfig(student=student_spec, max_minutes=None, max_steps=steps, eval_every=10**9, warmup=0.1,
                                    precision="fp32").resolved()
        train, dev = train_dev_split(load_corpus("builtin"), self.config)
        self.train, self.live = train, dev.take(range(100), "live")
        self.english = load_english()
        self.texts, self.rows = training_examples(train, self.english)
        self.targets = np.vstack([encode(self.teacher, train.texts["en"]), encode(self.teacher, self.english)])
        self.live_targets = encode(self.teacher, self.live.texts["en"])
        generator = batches(self.texts, self.config)
        self.batches = [next(generator) for _ in range(steps)]
        student = build_student(student_spec, self.teacher, self.config.max_seq_length)
        if not self.config.warm_start or student_spec == "teacher-copy":
            self.start = student
        else:
            from kdemo.distill.warmstart import warm_start

            self.start, _, _ = warm_start(student, train, self.targets[: len(train)], self.english, self.targets[len(train):],
                                       self.config.replace(precision="bf16"))

    def fresh(self):  # -> SentenceTransformer
        model = copy.deepcopy(self.start)
        freeze_large_vocab(model)
        model.train()
        return model

    def quality(self, model) -> dict[str, float]:
        metrics = translation_metrics(embed_corpus(model, self.live), self.live_targets, dataset="live")
        return {k: round(metrics[k], 4) for k in ("live_mean_agreement", "live_mean_compat", "live_en_fidelity", "live_mean_acc")}


def run_kdemo(setup: Setup, precision: str) -> tuple[float, object]:
    """The real path: ``distill_from_models`` (live evaluations off); step times from its step reports."""
    from kdemo.distill import distill_from_models

    elapsed: list[float] = []
    config = setup.config.replace(precision=precision, warm_start=False)
    result = distill_from_models(setup.teacher, setup.fresh(), setup.train, setup.live, config,
                                 Callbacks(on_step=lambda info: elapsed.append(info.elapsed)), english=setup.english)
    return _sentences_per_second(setup, np.diff([0.0, *elapsed])), result.student


def run_bare(setup: Setup, precision: str) -> tuple[float, object]:
    model = setup.fresh()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = adamw(params, setup.config.lr, setup.config.weight_decay)  # fused, like the trainer's default
    targets = torch.from_numpy(setup.targets)
    durations = []
    for batch in setup.batches:
        started = time.perf_counter()
        features = tokenize(model, [setup.texts[i] for i in batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(features)["sentence_embedding"]
        loss = torch.nn.functional.mse_loss(out.float(), targets[[setup.rows[i] for i in batch]])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        durations.append(time.perf_counter() - started)
    return _sentences_per_second(setup, durations), model


def run_st_trainer(setup: Setup, precision: str, workdir: Path) -> tuple[float, object]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses
    from transformers import TrainerCallback

    model = setup.fresh()
    order = [i for batch in setup.batches for i in batch]
    dataset = Dataset.from_dict({"sentence": [setup.texts[i] for i in order],
                                 "label": [setup.targets[setup.rows[i]].tolist() for i in order]})
    spans, start = [], 0
    for batch in setup.batches:
        spans.append(list(range(start, start + len(batch))))
        start += len(batch)

    class FixedBatches:  # the trainer's batch sampler: exactly kdemo's batches, in order
        def __init__(self, *args, **kwargs) -> None:
            pass

        def __iter__(self):
            return iter(spans)

        def __len__(self) -> int:
            return len(spans)

        def set_epoch(self, epoch: int) -> None:
            pass

    durations: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            durations.append(time.perf_counter() - self.started)

    args = SentenceTransformerTrainingArguments(
        output_dir=str(workdir), max_steps=len(spans), per_device_train_batch_size=setup.config.batch_size,
        learning_rate=setup.config.lr, warmup_ratio=setup.config.warmup, weight_decay=setup.config.weight_decay,
        bf16=precision == "bf16", use_cpu=True, report_to="none", save_strategy="no", logging_strategy="no",
        dataloader_num_workers=0, batch_sampler=FixedBatches, seed=setup.config.seed)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=losses.MSELoss(model),
                                         callbacks=[Timer()])
    trainer.train()
    return _sentences_per_second(setup, durations), model


def _sentences_per_second(setup: Setup, durations) -> float:
    sizes = [len(b) for b in setup.batches][WARMUP_STEPS : len(durations)]
    return float(sum(sizes) / max(sum(list(durations)[WARMUP_STEPS:]), 1e-9))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", default="me5-small,teacher-copy")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}", flush=True)
    results = []
    import tempfile

    for spec in args.students.split(","):
        setup = Setup(spec, args.steps)
        for precision in args.precisions.split(","):
            row = {"student": spec, "precision": precision}
            for name, runner in (("kdemo", run_kdemo), ("bare", run_bare), ("st-trainer", run_st_trainer)):
                extra = (Path(tempfile.mkdtemp()),) if name == "st-trainer" else ()
                speed, model = runner(setup, precision, *extra)
                row[name] = {"sentences_per_s": round(speed, 1), **setup.quality(model)}
                print(f"{spec:13s} {precision}  {name:10s} {speed:6.1f} sentences/s  {row[name]}", flush=True)
            row["kdemo/st-trainer"] = round(row["kdemo"]["sentences_per_s"] / row["st-trainer"]["sentences_per_s"], 2)
            row["kdemo/bare"] = round(row["kdemo"]["sentences_per_s"] / row["bare"]["sentences_per_s"], 2)
            results.append(row)
            print(f"   ratios: kdemo/st-trainer {row['kdemo/st-trainer']}, kdemo/bare {row['kdemo/bare']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores", "steps": args.steps,
                                    "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
