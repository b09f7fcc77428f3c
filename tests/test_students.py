"""The student registry: one declaration per kind, asked by every other module."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdemo.config import DistillConfig
from kdemo.errors import KdemoError
from kdemo.students import StudentKind, choices, register, student_kind, unregister

DATA = Path(__file__).resolve().parent / "data"


def test_specs_find_their_kind() -> None:
    assert student_kind("me5-small").name == "me5-small"
    assert student_kind("compact:3").name == "compact" and student_kind("compact:3").in_teacher_space
    assert student_kind("xlm-roberta-base").name == "encoder"
    assert student_kind("/some/folder").name == "encoder"
    with pytest.raises(KdemoError, match="write compact:K"):
        student_kind("compact")
    assert "compact:3" in choices() and "encoder" not in choices()


def test_a_new_kind_is_one_declaration_and_trains_through_the_normal_path(tiny_teacher, tiny_student_dir, tmp_path: Path) -> None:
    """Register a throwaway kind; `distill(config)` builds, trains and evaluates it with nothing else changed."""
    from kdemo.distill import distill
    from kdemo.models import load_sentence_transformer

    teacher_dir = tmp_path / "teacher"
    tiny_teacher.save(str(teacher_dir))
    built = []

    def build(request):  # -> SentenceTransformer
        built.append(request.spec)
        return load_sentence_transformer(str(tiny_student_dir))

    register(StudentKind("throwaway", "a test student", build, lr=7e-4, loss="mse+kd"))
    try:
        config = DistillConfig(teacher=str(teacher_dir), student="throwaway", corpus=str(DATA / "tiny.tsv"), max_minutes=None,
                               max_steps=2, batch_size=8, eval_every=1, eval_sentences=4, english="", precision="fp32")
        result = distill(config)
        assert built == ["throwaway"] and result.steps == 2
        assert (result.config.lr, result.config.loss) == (7e-4, "mse+kd")
        assert "warm_start" in result.info  # not in the teacher's space, so the warm start ran
        assert "student_after" in result.metrics
    finally:
        unregister("throwaway")
    assert student_kind("throwaway").name == "encoder"
