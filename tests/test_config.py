from __future__ import annotations

import pytest

from kdemo.config import DistillConfig
from kdemo.errors import KdemoError


def test_round_trip_keeps_every_field() -> None:
    cfg = DistillConfig(languages=("de", "fr"), loss="mse+kd", max_minutes=None, max_steps=10, seed=7)
    assert DistillConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["languages"] == ["de", "fr"]


def test_auto_settings_resolve_per_student() -> None:
    copy = DistillConfig(student="teacher-copy").resolved()
    assert (copy.loss, copy.lr, copy.teacher_weight, copy.warm_start_strength) == ("mse+kd", 2e-4, 1.0, None)
    me5 = DistillConfig(student="me5-small").resolved()
    assert (me5.loss, me5.lr, me5.teacher_weight, me5.warm_start_strength) == ("mse", 2e-5, 0.0, 1.0)
    given = DistillConfig(student="me5-small", loss="kd", lr=1e-4, teacher_weight=0.5, warm_start_strength=0.3).resolved()
    assert (given.loss, given.lr, given.teacher_weight, given.warm_start_strength) == ("kd", 1e-4, 0.5, 0.3)
    assert given.resolved() == given


def test_lists_become_tuples() -> None:
    assert DistillConfig(languages=["de"]).languages == ("de",)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"loss": "hinge"}, "loss must be one of"),
        ({"max_minutes": None}, "set a budget"),
        ({"max_steps": -1}, "max_steps must be positive"),
        ({"lr": 0}, "lr is out of range"),
        ({"batch_size": 1}, "batch_size is out of range"),
        ({"kd_alpha": 1.5}, "kd_alpha is out of range"),
        ({"teacher": " "}, "teacher is empty"),
        ({"precision": "fp16"}, "precision must be one of"),
    ],
)
def test_invalid_settings_are_named(changes: dict, fragment: str) -> None:
    with pytest.raises(KdemoError, match=fragment):
        DistillConfig(**changes)


def test_unknown_keys_are_refused() -> None:
    data = DistillConfig().to_dict() | {"learning_rate": 1e-3}
    with pytest.raises(KdemoError, match="Unknown config keys: learning_rate"):
        DistillConfig.from_dict(data)


def test_retired_keys_of_older_runs_are_ignored() -> None:
    data = DistillConfig().to_dict() | {"extra": {}}
    assert DistillConfig.from_dict(data) == DistillConfig()


def test_defaults_come_from_the_student_registry() -> None:
    from kdemo.students import student_kind

    for spec in ("me5-small", "teacher-copy", "compact:2", "scratch", "some/encoder"):
        resolved = DistillConfig(student=spec).resolved()
        assert (resolved.lr, resolved.loss) == (student_kind(spec).lr, student_kind(spec).loss)
