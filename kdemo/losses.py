"""Distillation losses: embedding MSE, Hinton's temperature KD, and KD over in-batch similarities.

Every loss used for training takes ``(student, teacher)`` embeddings of the same texts' targets,
row-aligned: row i of ``student`` should land on row i of ``teacher``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdemo.errors import KdemoError


class TemperatureKDLoss(nn.Module):
    """Hinton et al. (2015): ``α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, labels)``.

    Both distributions are computed with log-softmax (stable for large logits); the T² factor keeps
    the soft term's gradient on the same scale as the hard term's when T changes. The hard term uses
    the student's logits at T=1, as in the paper.

    Example:
        >>> loss = TemperatureKDLoss(temperature=2.0, alpha=0.5)
        >>> s, t = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]])
        >>> round(loss(s, t, torch.tensor([0])).item(), 4)
        0.2093
    """

    def __init__(self, temperature: float = 1.0, alpha: float = 0.5) -> None:
        super().__init__()
        if temperature <= 0 or not 0 <= alpha <= 1:
            raise KdemoError(f"KD needs temperature > 0 and 0 <= alpha <= 1, got T={temperature}, alpha={alpha}.")
        self.temperature = temperature
        self.alpha = alpha

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        t = self.temperature
        soft = F.kl_div(
            F.log_softmax(student_logits / t, dim=-1),
            F.log_softmax(teacher_logits / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        hard = F.cross_entropy(student_logits, labels)
        return self.alpha * t * t * soft + (1 - self.alpha) * hard


class MSEDistillLoss(nn.Module):
    """Reimers & Gurevych (2020): mean squared error between student and teacher embeddings."""

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        return F.mse_loss(student, teacher)


class InBatchKDLoss(nn.Module):
    """Temperature KD where the classes are the batch's distinct teacher embeddings.

    Student logits are ``cos(student_i, teacher_j)/τ``, teacher logits ``cos(teacher_i, teacher_j)/τ``,
    and the hard label of row i is its own teacher embedding. Rows that share a teacher target (an
    English sentence and its translations) share one column, so no true match is counted as wrong.
    """

    def __init__(self, scale_temperature: float = 0.05, kd_temperature: float = 1.0, alpha: float = 0.5) -> None:
        super().__init__()
        self.tau = scale_temperature
        self.kd = TemperatureKDLoss(kd_temperature, alpha)

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        classes, labels = torch.unique(teacher, dim=0, return_inverse=True)
        s = F.normalize(student, dim=-1)
        t = F.normalize(teacher, dim=-1)
        c = F.normalize(classes, dim=-1)
        return self.kd(s @ c.T / self.tau, t @ c.T / self.tau, labels)


class MSEPlusKDLoss(nn.Module):
    """Squared distance per row (MSE times width, so it is on the KD term's scale) plus in-batch KD."""

    def __init__(self, kd: InBatchKDLoss) -> None:
        super().__init__()
        self.kd = kd

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        return F.mse_loss(student, teacher) * student.shape[-1] + self.kd(student, teacher)


def make_loss(name: str, temperature: float = 0.05, kd_temperature: float = 1.0, alpha: float = 0.5) -> nn.Module:
    """The training loss for a run's ``loss`` setting: ``mse``, ``kd`` or ``mse+kd``.

    Example:
        >>> make_loss("kd")(torch.eye(3), torch.eye(3)).item() < 0.1
        True
    """
    if name == "mse":
        return MSEDistillLoss()
    kd = InBatchKDLoss(temperature, kd_temperature, alpha)
    if name == "kd":
        return kd
    if name == "mse+kd":
        return MSEPlusKDLoss(kd)
    raise KdemoError(f"Unknown loss {name!r}; choose mse, kd or mse+kd.")
