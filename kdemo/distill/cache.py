"""Teacher embeddings, computed once per (teacher, texts) and cached on disk (``$KDEMO_CACHE/teacher``)."""

from __future__ import annotations

import hashlib
import logging
import os
from typing import TYPE_CHECKING

import numpy as np

from kdemo.distill.parallel import rank

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus

logger = logging.getLogger(__name__)


def teacher_embeddings(teacher: SentenceTransformer, teacher_key: str | None, texts: list[str], tag: str = "targets") -> tuple[np.ndarray, bool]:
    """Teacher embeddings of ``texts`` and whether they came from the cache under ``$KDEMO_CACHE``.

    Computed once per (teacher, texts): the key covers the teacher's weights (path, sizes, times),
    its sequence length and every text, so a changed corpus or teacher never reuses stale targets.
    Without ``teacher_key`` (throwaway models in tests) nothing is cached.
    """
    from kdemo.models import cache_dir, encode, model_fingerprint

    if not teacher_key:
        return encode(teacher, texts), False
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
    if rank() == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, emb)
        os.replace(tmp, path)
    return emb, False


def teacher_dev_embeddings(teacher: SentenceTransformer, teacher_key: str | None, dev: ParallelCorpus, dev_targets: np.ndarray) -> dict[str, np.ndarray]:
    """The teacher's dev embeddings per language; its translations are cached like its targets."""
    embeddings = {"en": dev_targets}
    for lang in dev.languages:
        embeddings[lang] = teacher_embeddings(teacher, teacher_key, dev.texts[lang], tag=lang)[0]
    return embeddings
