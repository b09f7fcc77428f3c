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

from kdemo.config import DEFAULT_TEACHER, LOSSES, DistillConfig
from kdemo.errors import KdemoError

if TYPE_CHECKING:
    from kdemo.distill import DistillResult

logger = logging.getLogger("kdemo")


def build_parser() -> argparse.ArgumentParser:
    """Arguments of every sub-command."""
    defaults = DistillConfig()
    parser = argparse.ArgumentParser(prog="python -m kdemo", description="Distil an English sentence-embedding model into a multilingual one.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="distil a student and save it under trained/")
    train.add_argument("--config", type=Path, help="a config.json (e.g. from a saved run); flags given override it")
    train.add_argument("--teacher", help=f"sentence-transformers path or hub id (default {DEFAULT_TEACHER}, offline)")
    train.add_argument("--student", help="teacher-copy, compact:K, me5-small, or an encoder path / hub id")
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
    train.add_argument("--extend-vocab", type=int, dest="extend_vocab", metavar="N",
                       help="add N subword tokens learned from the corpus to a WordPiece student (e.g. teacher-copy)")
    train.add_argument("--temperature", type=float, help="similarity temperature of the kd losses (default 0.05)")
    train.add_argument("--name", dest="run_name", help="a name for the run id")
    train.add_argument("--no-save", action="store_true", help="train and report without saving")

    evaluate = sub.add_parser("eval", help="evaluate a saved run (or the teacher) on a corpus's dev split")
    evaluate.add_argument("run", help="a run id from `python -m kdemo runs`, or 'teacher'")
    evaluate.add_argument("--corpus", default="builtin")
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
    """Defaults, then ``--config``, then the flags given."""
    data = DistillConfig().to_dict()
    if args.config:
        try:
            data.update(json.loads(args.config.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise KdemoError(f"Could not read {args.config}: {exc}") from None
    flags = ("teacher", "student", "corpus", "loss", "max_minutes", "max_steps", "epochs", "lr", "batch_size", "seed", "eval_every", "warm_start", "run_name", "extend_vocab", "temperature")
    data.update({k: getattr(args, k) for k in flags if getattr(args, k) is not None})
    if args.languages:
        data["languages"] = [code.strip() for code in args.languages.split(",") if code.strip()]
    if any(getattr(args, k) is not None for k in ("max_steps", "epochs")) and args.max_minutes is None:
        data["max_minutes"] = None
    return DistillConfig.from_dict(data)


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kdemo.distill import Callbacks, distill
    from kdemo.runs import save_run

    config = config_from_args(args)
    rank = _init_distributed()
    bar = tqdm(total=1000, unit="‰", disable=rank != 0, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    def on_step(info) -> None:  # StepInfo
        bar.n = int(1000 * info.progress)
        bar.set_postfix_str(f"step {info.step} loss {info.loss:.4g} lr {info.lr:.2g}", refresh=False)
        bar.refresh()

    def on_eval(step: int, metrics: dict) -> None:
        if "live_mean_acc" in metrics:
            note = f" ({metrics['note']})" if metrics.get("note", "start") != "start" else ""
            bar.write(f"step {step:>5}: live dev retrieval {100 * metrics['live_mean_acc']:.1f}%{note}")

    if config.extend_vocab and rank == 0 and config.corpus in ("", "builtin"):
        from kdemo.views import tokenizer_coverage

        bar.write("Tokenizer coverage on the test split, before and after extending the vocabulary:")
        bar.write(tokenizer_coverage(config.student, config.extend_vocab, list(config.languages)).to_string(index=False))
    callbacks = Callbacks(on_step=on_step, on_eval=on_eval, on_status=lambda m: bar.write(m) if rank == 0 else None)
    result = distill(config, callbacks)
    bar.close()
    if rank != 0:
        return 0
    if result.info.get("teacher_targets_cached"):
        print("Teacher targets: reused from the cache (computed once per teacher and corpus).")
    print_report(result)
    if not args.no_save:
        layout = save_run(result)
        print(f"\nSaved {layout.root}\nLoad it with SentenceTransformer({str(layout.student)!r})")
    return 0


def print_report(result: DistillResult) -> None:
    """Before → after retrieval per language, in percent."""
    from kdemo.evaluate import per_language_table

    table = per_language_table(result.metrics)
    if "student_after" in table and "teacher" in table:
        table["gain vs teacher"] = (table["student_after"] - table["teacher"]).round(1)
    print(f"\nTranslation retrieval on the dev split (%), {result.steps} steps, {result.train_seconds:.0f} s training:")
    print(table.to_string())


def cmd_eval(args: argparse.Namespace) -> int:
    from kdemo.data import builtin_split, load_corpus
    from kdemo.distill import teacher_embeddings
    from kdemo.evaluate import embed_corpus, per_language_table, retrieval_matrix, translation_metrics
    from kdemo.models import load_teacher
    from kdemo.runs import load_run_config, load_student

    languages = [c.strip() for c in (args.languages or "").split(",") if c.strip()]
    corpus = load_corpus(args.corpus).select(languages)
    dev = builtin_split(corpus)[1] if args.corpus == "builtin" else corpus.split(0.15, 42)[1]
    teacher_name = DEFAULT_TEACHER if args.run == "teacher" else load_run_config(args.run).teacher
    teacher = load_teacher(teacher_name)
    targets, _ = teacher_embeddings(teacher, teacher_name, dev.texts["en"])
    models = {"teacher": teacher} if args.run == "teacher" else {"teacher": teacher, args.run: load_student(args.run)}
    results = {}
    for name, model in models.items():
        embeddings = embed_corpus(model, dev)
        results[name] = translation_metrics(embeddings, targets)
    print(f"Translation retrieval (%) on {dev.name}, {len(dev)} rows:")
    print(per_language_table(results).to_string())
    print("\nLanguage x language retrieval (%) of", list(models)[-1])
    print((100 * retrieval_matrix(embeddings)).round(1).to_string())
    return 0


def cmd_runs(_: argparse.Namespace) -> int:
    from kdemo.runs import list_runs, runs_dir

    rows = list_runs()
    if not rows:
        print(f"No runs in {runs_dir()} yet. Start one with `python -m kdemo train`.")
        return 0
    for r in rows:
        after = "-" if r["after_acc"] is None else f"{100 * r['after_acc']:.1f}%"
        teacher = "-" if r["teacher_acc"] is None else f"{100 * r['teacher_acc']:.1f}%"
        demo = " (demo)" if r["demo"] else ""
        print(f"{r['run_id']}{demo}  {r['created']}  student={r['student']}  langs={r['languages']}  "
              f"budget={r['budget']}  retrieval teacher {teacher} -> student {after}")
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from kdemo.views import tokenizer_coverage

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
