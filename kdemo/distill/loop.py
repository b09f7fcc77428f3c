"""The distillation loop (Reimers & Gurevych 2020): student(en) ≈ teacher(en), student(xx) ≈ teacher(en).

``distill(config)`` resolves names and loads; ``distill_from_models(...)`` takes objects, so tests
pass tiny models. The loop is free of single-process assumptions: under ``torchrun`` each rank
takes its share of every epoch's batches, the student is wrapped in PyTorch DDP, ranks agree on
when to stop, and only rank 0 evaluates and reports.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdemo.config import DistillConfig
from kdemo.distill.parallel import agree, maybe_ddp, rank, seed_everything, training_device, world
from kdemo.distill.targets import teacher_dev_embeddings, teacher_embeddings
from kdemo.distill.warmstart import warm_start
from kdemo.errors import KdemoError
from kdemo.evaluate import embed_corpus, retrieval_matrix, translation_metrics

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus

logger = logging.getLogger(__name__)

# Above this many vocabulary rows the word embeddings stay frozen: AdamW state for a 250k x 384
# table costs more time and memory than the rest of a small encoder, and translations mostly move
# the upper layers (Reimers & Gurevych keep all weights trainable, but train for hours).
FREEZE_VOCAB_ABOVE = 100_000


@dataclass
class StepInfo:
    """What the loop reports after each optimiser step."""

    step: int
    loss: float
    lr: float
    progress: float
    elapsed: float
    eta: float
    examples: int


@dataclass
class Callbacks:
    """Hooks for a UI or CLI; all optional. ``should_stop`` is polled before every step."""

    on_step: Callable[[StepInfo], None] | None = None
    on_eval: Callable[[int, dict[str, Any]], None] | None = None
    on_status: Callable[[str], None] | None = None
    should_stop: Callable[[], bool] | None = None

    def status(self, message: str) -> None:
        logger.info(message)
        if self.on_status:
            self.on_status(message)


@dataclass
class DistillResult:
    """A finished (or cancelled) run: the trained student plus everything needed to save it."""

    student: SentenceTransformer
    config: DistillConfig
    metrics: dict[str, dict[str, float]]
    history: list[dict[str, Any]]
    matrices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    cancelled: bool = False
    steps: int = 0
    train_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def distill(config: DistillConfig, callbacks: Callbacks | None = None) -> DistillResult:
    """Load the corpus, teacher and student that ``config`` names, then distil.

    Example:
        >>> result = distill(DistillConfig(languages=("de",), max_steps=20))
        >>> result.metrics["student_after"]["dev_de_acc"] >= 0
        True
    """
    from kdemo.data import builtin_split, load_corpus
    from kdemo.models import build_student, load_teacher

    callbacks = callbacks or Callbacks()
    callbacks.status(f"Reading corpus {config.corpus!r}")
    corpus = load_corpus(config.corpus).select(config.languages)
    if config.corpus in ("", "builtin"):
        train, dev = builtin_split(corpus)
    else:
        train, dev = corpus.split(config.dev_fraction, config.seed)
    callbacks.status(f"Loading teacher {config.teacher}")
    teacher = load_teacher(config.teacher)
    callbacks.status(f"Building student {config.student}")
    seed_everything(config.seed)  # a new projection head is randomly initialised
    student = build_student(config.student, teacher, config.max_seq_length, corpus=train,
                            extend_vocab=config.extend_vocab, seed=config.seed)
    return distill_from_models(teacher, student, train, dev, config, callbacks, teacher_key=config.teacher)


def distill_from_models(
    teacher: SentenceTransformer,
    student: SentenceTransformer,
    train: ParallelCorpus,
    dev: ParallelCorpus,
    config: DistillConfig,
    callbacks: Callbacks | None = None,
    teacher_key: str | None = None,
) -> DistillResult:
    """Distil ``teacher`` into ``student`` on ``train``; evaluate on ``dev`` before, during, after.

    ``teacher_key`` names the teacher for the on-disk target cache; without it nothing is cached
    (tests with throwaway models).
    """
    import torch

    callbacks = callbacks or Callbacks()
    config = config.resolved()  # auto loss and lr made explicit: saved with the run, so it reproduces
    seed_everything(config.seed)
    languages = train.languages
    if not languages:
        raise KdemoError("The corpus has no translations to learn from; pick at least one language.")

    callbacks.status("Embedding English with the teacher (once per corpus, then cached)")
    all_en = train.texts["en"] + dev.texts["en"]
    targets_all, cache_hit = teacher_embeddings(teacher, teacher_key, all_en)
    train_targets = targets_all[: len(train)]
    dev_targets = targets_all[len(train) :]

    live = dev.take(range(min(config.eval_sentences, len(dev))), "live")
    live_targets = dev_targets[: len(live)]

    metrics: dict[str, dict[str, float]] = {}
    matrices: dict[str, dict[str, dict[str, float]]] = {}
    history: list[dict[str, Any]] = []
    if rank() == 0:
        callbacks.status("Evaluating the teacher on the dev split")
        teacher_dev = teacher_dev_embeddings(teacher, teacher_key, dev, dev_targets)
        metrics["teacher"] = translation_metrics(teacher_dev, dev_targets)
        matrices["teacher"] = retrieval_matrix(teacher_dev).to_dict()
        if _same_weights(teacher, student) and _fits(dev, min(teacher.max_seq_length, student.max_seq_length), student):
            # An exact copy of the teacher scores exactly what the teacher scores; skip re-encoding.
            metrics["student_before"] = dict(metrics["teacher"])
        else:
            callbacks.status("Evaluating the student before training")
            metrics["student_before"] = translation_metrics(embed_corpus(student, dev), dev_targets)

    info: dict[str, Any] = {"teacher_targets_cached": cache_hit, "train_rows": len(train), "dev_rows": len(dev)}
    if config.warm_start and not _is_teacher_derived(config.student):
        callbacks.status("Warm start: fitting a linear map from the student's space to the teacher's")
        student, info["warm_start"] = warm_start(student, train.texts["en"], train_targets)

    texts, target_rows = _training_examples(train)
    loss_fn = make_loss_for(config)
    frozen = _freeze_large_vocab(student)
    if frozen:
        info["frozen_vocab_rows"] = frozen
    device = training_device()
    student.to(device)
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    model = maybe_ddp(student)
    targets_t = torch.from_numpy(train_targets).to(device)

    def live_eval(step: int, elapsed: float, note: str = "") -> None:
        if rank() != 0:
            return
        result: dict[str, Any] = translation_metrics(embed_corpus(student, live), live_targets, dataset="live")
        if note:
            result["note"] = note
        history.append({"step": step, "elapsed": round(elapsed, 2), **result})
        if callbacks.on_eval:
            callbacks.on_eval(step, result)

    callbacks.status("Training")
    live_eval(0, 0.0, "after warm start" if "warm_start" in info else "start")
    budget = _Budget(config, len(texts))
    step = examples = 0
    train_time = 0.0
    cancelled = False
    student.train()
    for batch in _batches(texts, config):
        if agree(bool(callbacks.should_stop and callbacks.should_stop())):
            cancelled = True
            break
        started = time.perf_counter()
        lr = config.lr * _lr_factor(budget.progress(step, train_time, examples), config.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch_texts = [texts[i] for i in batch]
        features = {k: v.to(device) for k, v in _tokenize(student, batch_texts).items()}
        embeddings = model(features)["sentence_embedding"]
        loss = loss_fn(embeddings, targets_t[[target_rows[i] for i in batch]])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        examples += len(batch) * world()
        train_time += time.perf_counter() - started
        progress = budget.progress(step, train_time, examples)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise KdemoError(f"The loss became {loss_value} at step {step}; lower the learning rate (now {config.lr}).")
        history.append({"step": step, "loss": round(loss_value, 6), "lr": lr, "elapsed": round(train_time, 2), "examples": examples})
        if callbacks.on_step and rank() == 0:
            eta = train_time / progress - train_time if progress > 0 else float("nan")
            callbacks.on_step(StepInfo(step, loss_value, lr, min(progress, 1.0), train_time, eta, examples))
        done = agree(progress >= 1.0)
        if step % config.eval_every == 0 or done:
            live_eval(step, train_time)
        if done:
            break

    student.eval()
    if rank() == 0 and not cancelled:
        callbacks.status("Evaluating the trained student on the dev split")
        student_dev = embed_corpus(student, dev)
        metrics["student_after"] = translation_metrics(student_dev, dev_targets)
        matrices["student_after"] = retrieval_matrix(student_dev).to_dict()
    student.to("cpu")
    info.update(epochs=round(examples / max(len(texts), 1), 3), examples=examples)
    return DistillResult(student, config, metrics, history, matrices, cancelled, step, round(train_time, 2), info)


def make_loss_for(config: DistillConfig) -> torch.nn.Module:
    """The loss module a config asks for."""
    from kdemo.losses import make_loss

    return make_loss(config.resolved().loss, config.temperature, config.kd_temperature, config.kd_alpha)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """True when two models have identical architectures and parameters (a teacher-copy student)."""
    import torch

    pa, pb = list(a.state_dict().items()), list(b.state_dict().items())
    return len(pa) == len(pb) and all(ka == kb and va.shape == vb.shape and torch.equal(va, vb) for (ka, va), (kb, vb) in zip(pa, pb))


def _fits(corpus: ParallelCorpus, max_tokens: int, model: SentenceTransformer) -> bool:
    """True when no text of the corpus is truncated at ``max_tokens``."""
    tokenizer = getattr(model[0], "tokenizer", None)
    if tokenizer is None:
        return False
    return max(len(ids) for ids in tokenizer(corpus.sentences(), verbose=False)["input_ids"]) <= max_tokens


def _is_teacher_derived(student_spec: str) -> bool:
    return student_spec == "teacher-copy" or student_spec.startswith("compact:")


def _training_examples(train: ParallelCorpus) -> tuple[list[str], list[int]]:
    """Every English sentence and every translation, each paired with its row's teacher target."""
    texts: list[str] = []
    rows: list[int] = []
    for column in train.texts.values():
        texts.extend(column)
        rows.extend(range(len(column)))
    return texts, rows


class _Budget:
    """Progress in [0, 1] as the largest fraction used of any budget that is set."""

    def __init__(self, config: DistillConfig, n_examples: int) -> None:
        self.seconds = config.max_minutes * 60 if config.max_minutes else None
        self.steps = config.max_steps
        self.examples = config.epochs * n_examples if config.epochs else None

    def progress(self, step: int, seconds: float, examples: int) -> float:
        parts = [0.0]
        if self.seconds:
            parts.append(seconds / self.seconds)
        if self.steps:
            parts.append(step / self.steps)
        if self.examples:
            parts.append(examples / self.examples)
        return max(parts)


def _lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` share of the budget, then linear decay to zero."""
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 0.02)
    return max(0.0, (1.0 - progress) / max(1.0 - warmup, 1e-9))


def _batches(texts: list[str], config: DistillConfig) -> Iterator[list[int]]:
    """Endless length-grouped batches: shuffle, sort within pools of 50 batches, shuffle batches.

    Grouping similar lengths cuts padding (and so time) without making batches predictable.
    Every rank draws the same order and keeps its own share, so DDP ranks stay in step.
    """
    rng = random.Random(config.seed)
    lengths = [len(t) for t in texts]
    pool = config.batch_size * 50
    me, ranks = rank(), world()
    while True:
        order = list(range(len(texts)))
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
            batches += [chunk[i : i + config.batch_size] for i in range(0, len(chunk), config.batch_size)]
        rng.shuffle(batches)
        usable = len(batches) - len(batches) % ranks
        yield from batches[me:usable:ranks]


def _tokenize(model: SentenceTransformer, texts: list[str], multiple: int = 8) -> dict[str, Any]:
    """Tokenised batch, padded to a multiple of 8 tokens so few distinct shapes need kernel warm-up."""
    import torch.nn.functional as F

    features = model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)
    tensors = {k: v for k, v in features.items() if hasattr(v, "to")}
    length = tensors["input_ids"].shape[1]
    extra = -length % multiple
    if extra:
        pad_id = getattr(getattr(model[0], "tokenizer", None), "pad_token_id", 0) or 0
        tensors = {k: F.pad(v, (0, extra), value=pad_id if k == "input_ids" else 0) if v.dim() == 2 else v for k, v in tensors.items()}
    return tensors


def _freeze_large_vocab(student: SentenceTransformer) -> int:
    for module in student.modules():
        embeddings = getattr(module, "word_embeddings", None)
        if embeddings is not None and getattr(embeddings, "num_embeddings", 0) > FREEZE_VOCAB_ABOVE:
            embeddings.weight.requires_grad_(False)
            return int(embeddings.num_embeddings)
    return 0


