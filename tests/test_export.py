"""The int8 ONNX export: same folder layout, same embeddings up to int8 rounding, encoded without torch."""

from __future__ import annotations

import numpy as np
import pytest

from kdemo.config import DistillConfig
from kdemo.distill import distill_from_models
from kdemo.export import ONNX_FILE, OnnxStudent, export_int8
from kdemo.models import encode
from kdemo.runs import open_run, save_run, zip_student
from kdemo.students import build_student

TEXTS = ["the cat is good", "a dog and a house", "my friend at school", "night train to the city"]


@pytest.fixture()
def run(tiny_teacher, tiny_student_dir, tiny_corpus):
    student = build_student(str(tiny_student_dir), tiny_teacher, 32)
    train, dev = tiny_corpus.split(0.25, seed=0)
    cfg = DistillConfig(student=str(tiny_student_dir), max_minutes=None, max_steps=2, batch_size=8, eval_every=2, eval_sentences=4,
                        warm_start=True, english="", precision="fp32")
    save_run(distill_from_models(tiny_teacher, student, train, dev, cfg), "exported")
    return open_run("exported")


def test_export_matches_the_student(run) -> None:
    folder = export_int8(run)
    assert (folder / ONNX_FILE).exists() and (folder / "modules.json").exists() and not (folder / "model.safetensors").exists()
    onnx = OnnxStudent(folder).encode(TEXTS)
    reference = encode(run.load_student(), TEXTS)
    assert onnx.shape == reference.shape
    cosines = np.sum(onnx * reference, axis=1) / (np.linalg.norm(onnx, axis=1) * np.linalg.norm(reference, axis=1))
    assert cosines.min() > 0.98, cosines
    alone = OnnxStudent(folder).encode(TEXTS[:1])  # a batch without padding takes the same graph
    assert float(np.sum(alone[0] * onnx[0]) / (np.linalg.norm(alone[0]) * np.linalg.norm(onnx[0]))) > 0.999
    assert export_int8(run) == folder  # made once


def test_int8_zip_holds_the_onnx_folder(run) -> None:
    import zipfile

    with zipfile.ZipFile(zip_student(run, int8=True)) as archive:
        names = archive.namelist()
    assert f"student-int8/{ONNX_FILE}" in names and "student-int8/README.md" in names
