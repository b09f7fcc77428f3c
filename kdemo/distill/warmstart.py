"""A closed-form warm start: a linear map from the student's pooled embeddings to the teacher's.

Fitted on English sentences only (the corpus's English side plus English-only sentences, which
need no translation), before the first gradient step, and installed as a Dense layer after pooling.

The map is a ridge regression that shrinks toward a scaled rotation (the orthogonal Procrustes
solution), not toward zero. Shrinking toward zero flattens the similarity structure, which is
what made the old warm start lose ~6 English STS points; a rotation keeps the student's own
geometry, and the data pull it toward the teacher's. The strength is chosen on a held-out tenth
by *similarity agreement* with the teacher (Spearman of pairwise cosines), the thing the map must
preserve, rather than by MSE. Measured in docs/benchmarks.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from kdemo.config import DistillConfig
    from kdemo.data import ParallelCorpus

logger = logging.getLogger(__name__)

STRENGTHS = (0.1, 0.3, 1.0, 3.0, 10.0)


def warm_start(student: SentenceTransformer, train: ParallelCorpus, train_targets: np.ndarray, english: list[str],
               english_targets: np.ndarray, config: DistillConfig,
               should_stop: Callable[[], bool] | None = None) -> tuple[SentenceTransformer, dict[str, Any], np.ndarray]:
    """Fit the map on every English sentence the run has and install it after pooling.

    Returns the fitted student, what was fitted, and the fitted student's own embeddings of those
    English sentences (corpus first, then English-only; normalised like the teacher's), which
    ``teacher_weight`` < 1 blends into the training targets. The student's pooled embeddings are
    cached per (student, texts), so a second run with the same student and corpus fits in about a second.
    """
    from kdemo.distill.cache import cached_embeddings, model_key
    from kdemo.models import install_linear_map, pooled_model

    started = time.perf_counter()
    texts = list(train.texts["en"]) + list(english)
    targets = np.vstack([train_targets, english_targets]) if len(english) else train_targets
    pooled = pooled_model(student)
    x, cached = cached_embeddings(pooled, texts, "pooled:" + model_key(pooled), "student features", should_stop, config.precision)
    strengths = STRENGTHS if config.warm_start_strength is None else (config.warm_start_strength,)
    weight, bias, info = fit_map(x.astype(np.float64), targets.astype(np.float64), seed=config.seed, strengths=strengths)
    fitted = install_linear_map(student, weight.astype(np.float32), bias.astype(np.float32))
    fitted.train()
    own = (x @ weight + bias).astype(np.float32)
    if _normalised(targets):
        own /= np.maximum(np.linalg.norm(own, axis=1, keepdims=True), 1e-12)
    info.update(sentences=len(texts), features_cached=cached, seconds=round(time.perf_counter() - started, 2))
    logger.info("warm start: %s", info)
    return fitted, info, own


def _normalised(targets: np.ndarray) -> bool:
    """True when the rows are unit vectors (a teacher that ends with Normalize)."""
    return bool(np.allclose(np.linalg.norm(targets[:100], axis=1), 1.0, atol=1e-3))


def fit_map(x: np.ndarray, y: np.ndarray, seed: int = 0, strengths: tuple[float, ...] = STRENGTHS) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``y ≈ x @ weight + bias``, the shrinkage strength chosen by held-out similarity agreement.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(200, 8)); r = np.linalg.qr(rng.normal(size=(8, 8)))[0]
        >>> weight, bias, info = fit_map(x, 2 * x @ r + 1.0)
        >>> bool(np.allclose(x @ weight + bias, 2 * x @ r + 1.0, atol=1e-6)), info["heldout_agreement"]
        (True, 1.0)
    """
    from kdemo.evaluate import english_fidelity

    order = np.random.default_rng(seed).permutation(len(x))
    hold = order[: max(len(x) // 10, 2)]
    fit = order[len(hold) :]
    scores = {}
    for strength in strengths:
        w, b = shrink_to_rotation(x[fit], y[fit], strength)
        scores[strength] = english_fidelity(x[hold] @ w + b, y[hold])
    best = max(scores, key=lambda s: scores[s])
    weight, bias = shrink_to_rotation(x, y, best)
    return weight, bias, {"strength": best, "heldout_agreement": round(scores[best], 4),
                          "agreement_by_strength": {str(k): round(v, 4) for k, v in scores.items()}}


def shrink_to_rotation(x: np.ndarray, y: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression toward ``scale * R`` (R: orthogonal Procrustes map), unpenalised bias.

    ``strength`` is relative to the mean feature variance; 0 is plain least squares, a large value
    the scaled rotation itself. Widths may differ (R is then a partial isometry).

    Example:
        >>> x = np.random.default_rng(1).normal(size=(50, 4)); r = np.linalg.qr(np.random.default_rng(2).normal(size=(4, 4)))[0]
        >>> w, b = shrink_to_rotation(x, 2 * x @ r, 100.0)
        >>> bool(np.allclose(w, 2 * r, atol=0.05))
        True
    """
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    u, _, vt = np.linalg.svd(xc.T @ yc, full_matrices=False)
    scale = np.sqrt((yc * yc).sum() / max((xc * xc).sum(), 1e-12))
    prior = scale * (u @ vt)
    gram = xc.T @ xc
    penalty = strength * np.trace(gram) / gram.shape[0]
    w = np.linalg.solve(gram + penalty * np.eye(gram.shape[0]), xc.T @ yc + penalty * prior)
    return w, y_mean - x_mean @ w
