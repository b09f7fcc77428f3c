"""Distillation: the loop, the embedding cache, the warm start, and what DDP needs.

``distill(config)`` resolves names and loads; ``distill_from_models(...)`` takes objects.
"""

from __future__ import annotations

from kdemo.distill.cache import cached_embeddings, model_key
from kdemo.distill.loop import Callbacks, Distillation, DistillResult, StepInfo, distill, distill_from_models
from kdemo.distill.parallel import seed_everything, training_device
from kdemo.distill.warmstart import warm_start

__all__ = [
    "Callbacks", "DistillResult", "Distillation", "StepInfo", "cached_embeddings", "distill", "distill_from_models", "model_key",
    "seed_everything", "training_device", "warm_start",
]
