"""Embeddings computed once and kept on disk (``$KDEMO_CACHE/embeddings``).

The teacher's targets depend only on the teacher and the texts; the student's embeddings before
training (its "before" numbers, the warm start's inputs) depend only on the student as built and
the texts. Both are cached under a key made from the model's weights (``model_key``), its sequence
length, the precision and every text, so a changed model or corpus never reuses stale vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kdemo.distill.parallel import rank

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus

logger = logging.getLogger(__name__)


def model_key(model: SentenceTransformer) -> str:
    """A key that changes whenever the model's weights, modules or tokenizer change.

    Each tensor contributes its name, shape and two float64 moments: cheap (about 0.1 s for a
    118M-parameter model) and, unlike a path or a name, true to what will actually be computed.

    Example:
        >>> from kdemo.models import load_teacher
        >>> len(model_key(load_teacher()))
        24
    """
    import torch

    digest = hashlib.sha256()
    digest.update("|".join(type(m).__name__ for m in model).encode())
    tokenizer = getattr(model[0], "tokenizer", None)
    digest.update(f"|{len(tokenizer) if tokenizer is not None else 0}|{model.max_seq_length}|".encode())
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            values = tensor.detach().to(torch.float64)
            digest.update(f"{name}{tuple(tensor.shape)}{values.sum().item():.10e}{values.square().sum().item():.10e}".encode())
    return digest.hexdigest()[:24]


def cached_embeddings(model: SentenceTransformer, texts: list[str], key: str | None, tag: str = "texts",
                      should_stop: Callable[[], bool] | None = None, precision: str = "fp32") -> tuple[np.ndarray, bool]:
    """``model``'s embeddings of ``texts`` and whether they came from the cache.

    ``key`` is ``model_key(model)`` (computed by the caller once per model); None disables the cache.
    """
    from kdemo.models import encode
    from kdemo.storage import cache_dir

    if key is None:
        return encode(model, texts, should_stop=should_stop, precision=precision), False
    digest = hashlib.sha256(f"{key}|{precision}|".encode())
    for text in texts:
        digest.update(text.encode() + b"\x00")
    path = cache_dir() / "embeddings" / f"{digest.hexdigest()[:32]}.npy"
    if path.exists():
        try:
            cached = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            cached = None  # a damaged file is recomputed and replaced
        if cached is not None and cached.shape[0] == len(texts):
            logger.info("reusing cached embeddings of %d %s (%s)", len(texts), tag, path.name)
            return cached, True
    logger.info("embedding %d %s, cached as %s", len(texts), tag, path.name)
    emb = encode(model, texts, should_stop=should_stop, precision=precision)
    if rank() == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, emb)
        os.replace(tmp, path)
    return emb, False


def cached_corpus_embeddings(model: SentenceTransformer, corpus: ParallelCorpus, key: str | None,
                             should_stop: Callable[[], bool] | None = None, precision: str = "fp32",
                             known: dict[str, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], bool]:
    """Per-language embeddings of a corpus (``known`` languages are taken as given) and whether all were cached."""
    out = dict(known or {})
    all_cached = True
    for lang, texts in corpus.texts.items():
        if lang in out:
            continue
        out[lang], hit = cached_embeddings(model, texts, key, tag=lang, should_stop=should_stop, precision=precision)
        all_cached &= hit
    return {lang: out[lang] for lang in corpus.texts}, all_cached
