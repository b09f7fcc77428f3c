"""The same core, headless: ``python -m kdemo train|eval|runs|delete``.

Under ``torchrun`` (``WORLD_SIZE`` > 1) ``train`` joins the process group (NCCL on GPUs, Gloo on
CPUs); every rank trains its share and rank 0 evaluates, prints and saves.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kdemo import students
from kdemo.config import DEFAULT_TEACHER, LOSSES, DistillConfig
from kdemo.errors import KdemoError

if TYPE_CHECKING:
    from kdemo.data import ParallelCorpus
    from kdemo.distill import DistillResult
    from kdemo.runs import Run

logger = logging.getLogger("kdemo")


def build_parser() -> argparse.ArgumentParser:
    """Arguments of every sub-command."""
    defaults = DistillConfig()
    parser = argparse.ArgumentParser(prog="python -m kdemo", description="Distil an English sentence-embedding model into a multilingual one.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="distil a student and save it under trained/")
    train.add_argument("--config", type=Path, help="a config.json (e.g. from a saved run); flags given override it")
    train.add_argument("--teacher", help=f"sentence-transformers path or hub id (default {DEFAULT_TEACHER}, offline)")
    train.add_argument("--student", help=students.help_text())
    train.add_argument("--corpus", help="builtin, a TSV/CSV/JSONL file, a folder, or hf:<dataset id>[:<subset>]")
    train.add_argument("--languages", help="comma-separated ISO codes, e.g. de,fr,zh (default: all in the corpus)")
    train.add_argument("--loss", choices=("auto", *LOSSES), help="default auto: mse for me5-small, mse+kd for teacher copies")
    train.add_argument("--minutes", type=float, dest="max_minutes", help=f"wall-clock training budget (default {defaults.max_minutes})")
    train.add_argument("--steps", type=int, dest="max_steps", help="step budget")
    train.add_argument("--epochs", type=float, help="epoch budget")
    train.add_argument("--lr", type=float)
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--seed", type=int)
    train.add_argument("--eval-every", type=int, dest="eval_every")
    train.add_argument("--no-warm-start", action="store_false", dest="warm_start", default=None)
    train.add_argument("--teacher-weight", type=float, dest="teacher_weight", metavar="W",
                       help="share of the teacher's embedding in each English target, the rest the warm-started "
                            "student's own (default: the student's; 0 for me5-small, 1 otherwise)")
    train.add_argument("--warm-start-strength", type=float, dest="warm_start_strength", metavar="S",
                       help="the warm start's shrinkage toward a rotation (default: the student's; 1 for me5-small)")
    train.add_argument("--english", help="English-only sentences to train on too: builtin (default), a text file, or '' for none")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="default auto: bf16 where it measures faster here")
    train.add_argument("--probe", help="sentences followed on the alignment map: dev (default) or an example set name")
    train.add_argument("--extend-vocab", type=int, dest="extend_vocab", metavar="N",
                       help="add N subword tokens learned from the corpus to a WordPiece student (e.g. teacher-copy)")
    train.add_argument("--temperature", type=float, help="similarity temperature of the kd losses (default 0.05)")
    train.add_argument("--name", dest="run_name", help="a name for the run id")
    train.add_argument("--no-save", action="store_true", help="train and report without saving")

    evaluate = sub.add_parser("eval", help="evaluate a saved run (or the teacher) on the dev split its config defines")
    evaluate.add_argument("run", help="a run id from `python -m kdemo runs`, or 'teacher'")
    evaluate.add_argument("--corpus", help="default: the corpus the run trained on (split with the run's seed and dev fraction)")
    evaluate.add_argument("--languages", help="comma-separated ISO codes")

    tokens = sub.add_parser("tokens", help="tokenizer coverage per language ([UNK] rate, pieces per word), before/after --extend")
    tokens.add_argument("--student", default="teacher-copy", help="a student spec or a run id")
    tokens.add_argument("--extend", type=int, default=0, help="also show the coverage after adding this many learned tokens")
    tokens.add_argument("--languages", help="comma-separated ISO codes")

    sub.add_parser("runs", help="list saved runs")
    pack = sub.add_parser("pack", help="store a run's student as its difference to the base package model (for git)")
    pack.add_argument("run")
    pack.add_argument("--demo", metavar="DEMO_ID", help="also rename to DEMO_ID (demo-...) and mark it as the shipped demo run")
    delete = sub.add_parser("delete", help="delete a saved run")
    delete.add_argument("run")
    return parser


def config_from_args(args: argparse.Namespace) -> DistillConfig:
    """Defaults, then ``--config``, then the flags given.

    A corpus path inside a config file is relative to that file's folder when it exists there
    (a saved run keeps its uploaded corpus as ``corpus/<name>`` beside its config.json).
    """
    data = DistillConfig().to_dict()
    if args.config:
        try:
            saved = json.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise KdemoError(f"Could not read {args.config}: {exc}") from None
        if not isinstance(saved, dict):
            raise KdemoError(f"{args.config} does not hold a config object.")
        beside = args.config.parent / str(saved.get("corpus", ""))
        if saved.get("corpus") not in (None, "", "builtin") and not Path(saved["corpus"]).is_absolute() and beside.exists():
            saved["corpus"] = str(beside)
        data.update(saved)
    flags = ("teacher", "student", "corpus", "loss", "max_minutes", "max_steps", "epochs", "lr", "batch_size", "seed", "eval_every",
             "warm_start", "run_name", "extend_vocab", "temperature", "english", "precision", "probe",
             "teacher_weight", "warm_start_strength")
    data.update({k: getattr(args, k) for k in flags if getattr(args, k) is not None})
    if args.languages:
        data["languages"] = [code.strip() for code in args.languages.split(",") if code.strip()]
    if any(getattr(args, k) is not None for k in ("max_steps", "epochs")) and args.max_minutes is None:
        data["max_minutes"] = None
    return DistillConfig.from_dict(data)


class _Progress:
    """The terminal's progress bar, opened at the first step (so errors before it print cleanly)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def write(self, message: str) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            print(message, flush=True)
        else:
            self.bar.write(message)

    def step(self, info) -> None:  # StepInfo
        from tqdm import tqdm

        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
        self.bar.n = int(1000 * info.progress)
        self.bar.set_postfix_str(f"step {info.step} loss {info.loss:.4g} lr {info.lr:.2g}", refresh=False)
        self.bar.refresh()

    def eval(self, step: int, metrics: dict) -> None:
        if "live_mean_acc" not in metrics:
            return
        note = f" ({metrics['note']})" if metrics.get("note", "start") != "start" else ""
        compat = f", teacher-index search {100 * metrics['live_mean_compat']:.1f}%" if "live_mean_compat" in metrics else ""
        self.write(f"step {step:>5}: live agreement {metrics['live_mean_agreement']:.3f}, English fidelity "
                   f"{metrics['live_en_fidelity']:.3f}{compat}, retrieval {100 * metrics['live_mean_acc']:.1f}%{note}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    from kdemo.distill import Callbacks, distill
    from kdemo.runs import save_run

    config = config_from_args(args)
    rank = _init_distributed()
    progress = _Progress(enabled=rank == 0)
    if config.extend_vocab and rank == 0 and config.corpus in ("", "builtin"):
        from kdemo.vocab import tokenizer_coverage

        progress.write("Tokenizer coverage on the test split, before and after extending the vocabulary:")
        progress.write(tokenizer_coverage(config.student, config.extend_vocab, list(config.languages)).to_string(index=False))
    try:
        result = distill(config, Callbacks(on_step=progress.step, on_eval=progress.eval, on_status=progress.write))
    finally:
        progress.close()
    if rank != 0:
        return 0
    if result.info.get("teacher_targets_cached"):
        print("Teacher targets: reused from the cache (computed once per teacher and corpus).")
    if result.cancelled:
        print("Cancelled; nothing was saved.", file=sys.stderr)
        return 130
    print_report(result)
    if not args.no_save:
        layout = save_run(result)
        print(f"\nSaved {layout.root}\nLoad it with SentenceTransformer({str(layout.student)!r})")
    return 0


def print_report(result: DistillResult) -> None:
    """The headline metrics of teacher, student before and after, then each metric per language."""
    print(f"\n{result.steps} steps, {result.train_seconds:.0f} s of training ({result.info.get('precision', 'fp32')}).")
    print_metrics(result.metrics)


def print_metrics(metrics: dict[str, dict[str, float]]) -> None:
    """Headline table, then per-language tables of teacher-index search, agreement and retrieval."""
    import pandas as pd

    from kdemo.evaluate import METRIC_LABELS, headline, per_language_table

    print("\nOn the dev split (higher is better):")
    print(pd.DataFrame({name: headline(m) for name, m in metrics.items() if m}).to_string())
    for metric in ("compat", "agreement", "acc"):
        table = per_language_table({k: v for k, v in metrics.items() if v}, metric=metric, percent=metric != "agreement")
        if not table.empty and table.notna().any().any():
            print(f"\n{METRIC_LABELS[metric]}, per language:")
            print(table.to_string())


def eval_dev(run: Run | None, corpus: str | None, languages: list[str]) -> ParallelCorpus:
    """The dev split ``kdemo eval`` scores: the corpus split exactly as the run's own config split it.

    ``corpus`` defaults to the one the run trained on (an uploaded corpus kept beside the run included).
    """
    from kdemo.data import load_corpus, train_dev_split

    config = run.config if run is not None else DistillConfig()
    if corpus is None:
        corpus = str(run.layout.root / config.corpus) if run is not None and config.corpus.startswith("corpus/") else config.corpus
    return train_dev_split(load_corpus(corpus).select(languages), config)[1]


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a saved run (and the teacher) on the dev split its own config defines, so no training row leaks in."""
    from kdemo.evaluate import embed_corpus, retrieval_matrix, translation_metrics
    from kdemo.models import load_teacher
    from kdemo.runs import open_run

    run = None if args.run == "teacher" else open_run(args.run)
    config = run.config if run is not None else DistillConfig()
    dev = eval_dev(run, args.corpus, [c.strip() for c in (args.languages or "").split(",") if c.strip()])
    teacher_dev = embed_corpus(load_teacher(config.teacher), dev)
    results = {"teacher": translation_metrics(teacher_dev, teacher_dev["en"])}
    embeddings = teacher_dev
    if run is not None:
        embeddings = embed_corpus(run.load_student(), dev)
        results[args.run] = translation_metrics(embeddings, teacher_dev["en"])
    print(f"Dev split of {dev.name}: {len(dev)} rows (seed {config.seed}, dev fraction {config.dev_fraction}).")
    print_metrics(results)
    print("\nLanguage x language retrieval (%) of", list(results)[-1])
    print((100 * retrieval_matrix(embeddings)).round(1).to_string())
    return 0


def cmd_runs(_: argparse.Namespace) -> int:
    from kdemo.evaluate import headline
    from kdemo.runs import list_runs, runs_dir

    runs = list_runs()
    if not runs:
        print(f"No runs in {runs_dir()} yet. Start one with `python -m kdemo train`.")
        return 0
    for run in runs:
        summary = run.summary()
        after = ", ".join(f"{k} {v}" for k, v in headline(run.metrics.get("student_after", {})).items())
        print(f"{run.run_id}{' (demo)' if run.is_demo else ''}  {summary['created']}  student={summary['student']}  "
              f"langs={summary['languages']}  budget={summary['budget']}  after: {after or '-'}")
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from kdemo.vocab import tokenizer_coverage

    languages = [c.strip() for c in (args.languages or "").split(",") if c.strip()]
    print(tokenizer_coverage(args.student, args.extend, languages).to_string(index=False))
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from kdemo.compact import folder_size
    from kdemo.runs import pack_run

    packed = pack_run(args.run, args.demo)
    print(f"Packed {packed.parent.name}: student-delta/ is {folder_size(packed) / 1e6:.1f} MB; student/ is rebuilt on first use.")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from kdemo.runs import delete_run

    delete_run(args.run)
    print(f"Deleted {args.run}")
    return 0


def _init_distributed() -> int:
    """Join torchrun's process group when there is one; return this process's rank."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank()


def main(argv: list[str] | None = None) -> int:
    """Entry point; a ``KdemoError`` becomes a one-line message and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kdemo").setLevel(logging.INFO if os.environ.get("KDEMO_VERBOSE") else logging.WARNING)
    logging.getLogger("transformers").setLevel(logging.ERROR)  # "sequence longer than max length" when only counting tokens
    args = build_parser().parse_args(argv)
    commands = {"train": cmd_train, "eval": cmd_eval, "runs": cmd_runs, "tokens": cmd_tokens, "pack": cmd_pack, "delete": cmd_delete}
    try:
        return commands[args.command](args)
    except KdemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was saved", file=sys.stderr)
        return 130
