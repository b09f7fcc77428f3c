"""The distillation loop (Reimers & Gurevych 2020): student(en) ≈ teacher(en), student(xx) ≈ teacher(en).

``distill(config)`` resolves names and loads; ``distill_from_models(...)`` takes objects, so tests
pass tiny models. The loop is free of single-process assumptions: under ``torchrun`` each rank
takes its share of every epoch's batches, the student is wrapped in PyTorch DDP, ranks agree on
when to stop, and only rank 0 evaluates and reports.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kdemo.config import DistillConfig
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
    on_eval: Callable[[int, dict[str, float]], None] | None = None
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


def teacher_embeddings(teacher: SentenceTransformer, teacher_key: str, texts: list[str], tag: str = "targets") -> tuple[np.ndarray, bool]:
    """Teacher embeddings of ``texts`` and whether they came from the cache under ``$KDEMO_CACHE``.

    Computed once per (teacher, texts). The key covers the teacher's weights (path, sizes, times), its sequence length and every text,
    so a changed corpus or teacher never reuses stale targets.
    """
    from kdemo.models import cache_dir, encode, model_fingerprint

    digest = hashlib.sha256()
    digest.update(f"{model_fingerprint(teacher_key)}|{teacher.max_seq_length}|".encode())
    for text in texts:
        digest.update(text.encode() + b"\x00")
    path = cache_dir() / "teacher" / f"{digest.hexdigest()[:24]}.npy"
    if path.exists():
        cached = np.load(path)
        if cached.shape[0] == len(texts):
            logger.info("Reusing cached teacher %s for %d sentences (%s)", tag, len(texts), path.name)
            return cached, True
    logger.info("Embedding %d sentences with the teacher (%s), cached as %s", len(texts), tag, path.name)
    emb = encode(teacher, texts)
    if _rank() == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, emb)
        os.replace(tmp, path)
    return emb, False


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
    if config.lr is None:
        config = config.replace(lr=config.learning_rate)  # saved with the run, so it reproduces
    seed_everything(config.seed)
    languages = train.languages
    if not languages:
        raise KdemoError("The corpus has no translations to learn from; pick at least one language.")

    callbacks.status("Embedding English with the teacher (once per corpus, then cached)")
    all_en = train.texts["en"] + dev.texts["en"]
    if teacher_key:
        targets_all, cache_hit = teacher_embeddings(teacher, teacher_key, all_en)
    else:
        from kdemo.models import encode

        targets_all, cache_hit = encode(teacher, all_en), False
    train_targets = targets_all[: len(train)]
    dev_targets = targets_all[len(train) :]

    live = dev.take(range(min(config.eval_sentences, len(dev))), "live")
    live_targets = dev_targets[: len(live)]

    metrics: dict[str, dict[str, float]] = {}
    matrices: dict[str, dict[str, dict[str, float]]] = {}
    history: list[dict[str, Any]] = []
    if _rank() == 0:
        callbacks.status("Evaluating the teacher on the dev split")
        teacher_dev = _teacher_dev_embeddings(teacher, teacher_key, dev, dev_targets)
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
    model = _maybe_ddp(student)
    targets_t = torch.from_numpy(train_targets).to(device)

    def live_eval(step: int, elapsed: float) -> None:
        if _rank() != 0:
            return
        result = translation_metrics(embed_corpus(student, live), live_targets, dataset="live")
        history.append({"step": step, "elapsed": round(elapsed, 2), **result})
        if callbacks.on_eval:
            callbacks.on_eval(step, result)

    callbacks.status("Training")
    live_eval(0, 0.0)
    budget = _Budget(config, len(texts))
    step = examples = 0
    train_time = 0.0
    cancelled = False
    student.train()
    for batch in _batches(texts, config, budget):
        if _agree(bool(callbacks.should_stop and callbacks.should_stop())):
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
        examples += len(batch) * _world()
        train_time += time.perf_counter() - started
        progress = budget.progress(step, train_time, examples)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise KdemoError(f"The loss became {loss_value} at step {step}; lower the learning rate (now {config.lr}).")
        history.append({"step": step, "loss": round(loss_value, 6), "lr": lr, "elapsed": round(train_time, 2), "examples": examples})
        if callbacks.on_step and _rank() == 0:
            eta = train_time / progress - train_time if progress > 0 else float("nan")
            callbacks.on_step(StepInfo(step, loss_value, lr, min(progress, 1.0), train_time, eta, examples))
        done = _agree(progress >= 1.0)
        if step % config.eval_every == 0 or done:
            live_eval(step, train_time)
        if done:
            break

    student.eval()
    if _rank() == 0 and not cancelled:
        callbacks.status("Evaluating the trained student on the dev split")
        student_dev = embed_corpus(student, dev)
        metrics["student_after"] = translation_metrics(student_dev, dev_targets)
        matrices["student_after"] = retrieval_matrix(student_dev).to_dict()
    student.to("cpu")
    info.update(epochs=round(examples / max(len(texts), 1), 3), examples=examples)
    return DistillResult(student, config, metrics, history, matrices, cancelled, step, round(train_time, 2), info)


def _teacher_dev_embeddings(teacher: SentenceTransformer, teacher_key: str | None, dev: ParallelCorpus, dev_targets: np.ndarray) -> dict[str, np.ndarray]:
    """The teacher's dev embeddings per language; its translations are cached like its targets."""
    from kdemo.models import encode

    embeddings = {"en": dev_targets}
    for lang in dev.languages:
        texts = dev.texts[lang]
        if teacher_key:
            embeddings[lang] = teacher_embeddings(teacher, teacher_key, texts, tag=lang)[0]
        else:
            embeddings[lang] = encode(teacher, texts)
    return embeddings


def warm_start(student: SentenceTransformer, english: list[str], targets: np.ndarray) -> tuple[SentenceTransformer, dict[str, float]]:
    """Closed-form start: ridge-regress the teacher's embeddings on the student's pooled ones.

    The map is fitted on the run's English sentences (a tenth held out to choose the ridge
    strength) and installed as a Dense layer after pooling, so training starts in the teacher's
    space instead of spending its first minutes getting there.
    """
    from kdemo.models import encode, install_linear_map, pooled_model

    started = time.perf_counter()
    x = encode(pooled_model(student), english).astype(np.float64)
    y = targets.astype(np.float64)
    order = np.random.default_rng(0).permutation(len(x))
    hold = order[: max(len(x) // 10, 1)]
    fit = order[len(hold) :]
    best: tuple[float, float] | None = None
    for alpha in (1e-3, 1e-2, 1e-1, 1.0, 10.0):
        w, b = _ridge(x[fit], y[fit], alpha)
        err = float(np.mean((x[hold] @ w + b - y[hold]) ** 2))
        if best is None or err < best[0]:
            best = (err, alpha)
    assert best is not None
    weight, bias = _ridge(x, y, best[1])
    fitted = install_linear_map(student, weight.astype(np.float32), bias.astype(np.float32))
    fitted.train()
    seconds = time.perf_counter() - started
    logger.info("warm start: ridge alpha %.0e, held-out MSE %.3g, %.1f s", best[1], best[0], seconds)
    return fitted, {"ridge_alpha": best[1], "heldout_mse": best[0], "seconds": round(seconds, 2)}


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an unpenalised bias; alpha is relative to the mean feature variance."""
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc = x - x_mean
    gram = xc.T @ xc
    scale = np.trace(gram) / gram.shape[0]
    w = np.linalg.solve(gram + alpha * scale * np.eye(gram.shape[0]), xc.T @ (y - y_mean))
    return w, y_mean - x_mean @ w


def make_loss_for(config: DistillConfig) -> torch.nn.Module:
    """The loss module a config asks for."""
    from kdemo.losses import make_loss

    return make_loss(config.loss, config.temperature, config.kd_temperature, config.kd_alpha)


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
    texts = [t for column in corpus.texts.values() for t in column]
    return max(len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]) <= max_tokens


def _is_teacher_derived(student_spec: str) -> bool:
    return student_spec == "teacher-copy" or student_spec.startswith("compact:")


def _training_examples(train: ParallelCorpus) -> tuple[list[str], list[int]]:
    """Every English sentence and every translation, each paired with its row's teacher target."""
    texts: list[str] = []
    rows: list[int] = []
    for lang, column in train.texts.items():
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


def _batches(texts: list[str], config: DistillConfig, budget: _Budget):  # -> Iterator[list[int]]
    """Endless length-grouped batches: shuffle, sort within pools of 50 batches, shuffle batches.

    Grouping similar lengths cuts padding (and so time) without making batches predictable.
    Every rank draws the same order and keeps its own share, so DDP ranks stay in step.
    """
    rng = random.Random(config.seed)
    lengths = [len(t) for t in texts]
    pool = config.batch_size * 50
    rank, world = _rank(), _world()
    while True:
        order = list(range(len(texts)))
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
            batches += [chunk[i : i + config.batch_size] for i in range(0, len(chunk), config.batch_size)]
        rng.shuffle(batches)
        usable = len(batches) - len(batches) % world
        yield from batches[rank:usable:world]


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


def training_device() -> torch.device:
    """This process's GPU under torchrun (``LOCAL_RANK``), the only GPU, or the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run (head initialisation, dropout, batches) repeats exactly."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _dist():  # -> module | None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def _rank() -> int:
    dist = _dist()
    return dist.get_rank() if dist else 0


def _world() -> int:
    dist = _dist()
    return dist.get_world_size() if dist else 1


def _agree(flag: bool) -> bool:
    """True on every rank when it is true on any (stop, cancel), so no rank waits forever."""
    dist = _dist()
    if not dist:
        return flag
    import torch

    tensor = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def _maybe_ddp(student: SentenceTransformer) -> torch.nn.Module:
    if not _dist():
        return student
    from torch.nn.parallel import DistributedDataParallel

    device = training_device()
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(student, device_ids=ids, find_unused_parameters=True)
