"""What feeds the optimiser: length-grouped batches, tokenization, the budget and the lr schedule."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kdemo.config import DistillConfig
from kdemo.distill.parallel import rank, world

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Budget:
    """Progress in [0, 1] as the largest fraction used of any budget that is set.

    Example:
        >>> Budget(DistillConfig(max_minutes=None, max_steps=10), 100).progress(5, 1.0, 0)
        0.5
    """

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


def lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` share of the budget, then linear decay to zero.

    Example:
        >>> [round(lr_factor(p, 0.1), 3) for p in (0.05, 0.55, 1.0)]
        [0.5, 0.5, 0.0]
    """
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 0.02)
    return max(0.0, (1.0 - progress) / max(1.0 - warmup, 1e-9))


def batches(texts: list[str], config: DistillConfig) -> Iterator[list[int]]:
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
        grouped = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
            grouped += [chunk[i : i + config.batch_size] for i in range(0, len(chunk), config.batch_size)]
        rng.shuffle(grouped)
        usable = len(grouped) - len(grouped) % ranks
        yield from grouped[me:usable:ranks]


def tokenize(model: SentenceTransformer, texts: list[str], multiple: int = 8) -> dict[str, Any]:
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
