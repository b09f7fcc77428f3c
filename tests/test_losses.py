"""Losses against values computed by hand (see the comments for the arithmetic)."""

from __future__ import annotations

import math

import pytest
import torch

from kdemo.errors import KdemoError
from kdemo.losses import InBatchKDLoss, MSEDistillLoss, MSEPlusKDLoss, TemperatureKDLoss, make_loss


def softmax(xs: list[float]) -> list[float]:
    exps = [math.exp(x) for x in xs]
    return [e / sum(exps) for e in exps]


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q))


S = torch.tensor([[1.0, 0.0, -1.0]])
T = torch.tensor([[2.0, 0.5, 0.0]])
Y = torch.tensor([0])


def test_hinton_loss_matches_hand_computation() -> None:
    temp, alpha = 2.0, 0.3
    soft = kl(softmax([2.0 / temp, 0.5 / temp, 0.0]), softmax([1.0 / temp, 0.0, -1.0 / temp]))
    hard = -math.log(softmax([1.0, 0.0, -1.0])[0])
    expected = alpha * temp**2 * soft + (1 - alpha) * hard
    assert TemperatureKDLoss(temp, alpha)(S, T, Y).item() == pytest.approx(expected, rel=1e-5)


def test_temperature_one_alpha_one_is_plain_kl() -> None:
    expected = kl(softmax([2.0, 0.5, 0.0]), softmax([1.0, 0.0, -1.0]))
    assert TemperatureKDLoss(1.0, 1.0)(S, T, Y).item() == pytest.approx(expected, rel=1e-5)


def test_alpha_zero_is_cross_entropy_only() -> None:
    expected = -math.log(softmax([1.0, 0.0, -1.0])[0])
    assert TemperatureKDLoss(5.0, 0.0)(S, T, Y).item() == pytest.approx(expected, rel=1e-5)


def test_identical_logits_give_zero_soft_loss() -> None:
    assert TemperatureKDLoss(3.0, 1.0)(T, T, Y).item() == pytest.approx(0.0, abs=1e-7)


def test_large_logits_stay_finite() -> None:
    big = torch.tensor([[1e4, -1e4, 0.0]])
    assert torch.isfinite(TemperatureKDLoss(1.0, 0.5)(big, -big, Y))


def test_t_squared_keeps_soft_gradient_scale() -> None:
    """For high T the soft gradient w.r.t. the logits is ≈ (s − t)/(N·T²) (Hinton §2.1); T² undoes that."""
    s = torch.tensor([[0.3, -0.2, 0.1, 0.0]])
    t = torch.tensor([[0.1, 0.2, -0.3, 0.0]])
    norms = []
    for temp in (10.0, 40.0):
        x = s.clone().requires_grad_(True)
        TemperatureKDLoss(temp, 1.0)(x, t, Y).backward()
        norms.append(x.grad.norm().item())
    assert norms[0] == pytest.approx(norms[1], rel=0.05)
    unscaled_ratio = (norms[0] / 10.0**2) / (norms[1] / 40.0**2)
    assert unscaled_ratio == pytest.approx(16.0, rel=0.05)


def test_invalid_settings() -> None:
    with pytest.raises(KdemoError):
        TemperatureKDLoss(0.0, 0.5)
    with pytest.raises(KdemoError):
        TemperatureKDLoss(1.0, 1.5)
    with pytest.raises(KdemoError, match="Unknown loss"):
        make_loss("hinge")


def test_mse_value() -> None:
    assert MSEDistillLoss()(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])).item() == pytest.approx(2.5)


def test_in_batch_kd_matches_hand_computation() -> None:
    teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    student = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    tau = 0.5
    c = 1 / math.sqrt(2)
    # rows of student·teacherᵀ/τ after normalising: [2, 0] and [2c, 2c]; teacher's: [2, 0], [0, 2]
    soft = (kl(softmax([2, 0]), softmax([2, 0])) + kl(softmax([0, 2]), softmax([2 * c, 2 * c]))) / 2
    hard = (-math.log(softmax([2, 0])[0]) - math.log(softmax([2 * c, 2 * c])[1])) / 2
    got = InBatchKDLoss(tau, 1.0, 0.5)(student, teacher).item()
    assert got == pytest.approx(0.5 * soft + 0.5 * hard, rel=1e-5)


def test_in_batch_kd_shares_columns_for_shared_targets() -> None:
    """An English sentence and its translation share a teacher target: one class, not two."""
    teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    perfect = teacher.clone()
    loss = InBatchKDLoss(0.05, 1.0, 0.0)(perfect, teacher).item()
    assert loss < 1e-6


def test_mse_plus_kd_is_the_sum() -> None:
    torch.manual_seed(0)
    s, t = torch.randn(4, 8), torch.randn(4, 8)
    kd = InBatchKDLoss(0.1, 1.0, 0.5)
    assert MSEPlusKDLoss(kd)(s, t).item() == pytest.approx(((s - t) ** 2).mean().item() * 8 + kd(s, t).item(), rel=1e-5)


@pytest.mark.parametrize("name", ["mse", "kd", "mse+kd"])
def test_every_loss_trains_towards_the_teacher(name: str) -> None:
    torch.manual_seed(0)
    teacher = torch.nn.functional.normalize(torch.randn(8, 6), dim=-1)
    student = torch.nn.Parameter(torch.randn(8, 6))
    loss_fn = make_loss(name, temperature=0.1)
    opt = torch.optim.Adam([student], lr=0.05)
    first = None
    for _ in range(100):
        loss = loss_fn(student, teacher)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    nearest = (torch.nn.functional.normalize(student.detach(), dim=-1) @ teacher.T).argmax(dim=1)
    assert nearest.tolist() == list(range(8))
