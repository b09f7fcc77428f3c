"""Distillation: the loop, the teacher-target cache, the warm start, and what DDP needs.

``distill(config)`` resolves names and loads; ``distill_from_models(...)`` takes objects.
"""

from __future__ import annotations

from kdemo.distill.loop import Callbacks, DistillResult, StepInfo, distill, distill_from_models, make_loss_for
from kdemo.distill.parallel import seed_everything, training_device
from kdemo.distill.targets import teacher_embeddings
from kdemo.distill.warmstart import warm_start

__all__ = [
    "Callbacks", "DistillResult", "StepInfo", "distill", "distill_from_models", "make_loss_for", "seed_everything",
    "teacher_embeddings", "training_device", "warm_start",
]
