"""Packing a student as its difference to a base model, and rebuilding it."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from kdemo.compact import folder_size, pack_student, unpack_student
from kdemo.models import encode

TEXTS = ["the cat", "a good day for work", "my friend and i"]


def test_pack_unpack_round_trip(tiny_teacher, tmp_path: Path) -> None:
    base = tmp_path / "base"
    tiny_teacher.save(str(base))
    student = copy.deepcopy(tiny_teacher)
    with torch.no_grad():
        for name, p in student.named_parameters():
            if "encoder.layer.1" in name:  # only some weights change, as with frozen embeddings
                p.add_(0.01 * torch.randn_like(p))
    trained = tmp_path / "trained"
    student.save(str(trained))

    packed = pack_student(trained, str(base), tmp_path / "packed")
    assert folder_size(packed) < 0.5 * folder_size(trained)
    rebuilt = unpack_student(packed, tmp_path / "rebuilt")
    model = SentenceTransformer(str(rebuilt), device="cpu")
    np.testing.assert_allclose(encode(model, TEXTS), encode(student, TEXTS), atol=2e-4)
    assert not list(tmp_path.glob(".rebuilt.*"))  # no temp folder left behind


def test_unchanged_weights_are_not_stored(tiny_teacher, tmp_path: Path) -> None:
    base = tmp_path / "base"
    tiny_teacher.save(str(base))
    packed = pack_student(base, str(base), tmp_path / "packed")
    from safetensors.torch import load_file

    assert load_file(str(packed / "delta.safetensors")) == {}
