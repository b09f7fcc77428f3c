from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from kdemo.config import DistillConfig
from kdemo.distill import distill_from_models
from kdemo.errors import KdemoError
from kdemo.models import build_student, encode
from kdemo.runs import (
    RunLayout,
    delete_run,
    list_runs,
    load_history,
    load_run_config,
    load_run_metrics,
    load_student,
    run_path,
    runs_dir,
    sanitize_run_id,
    save_run,
    zip_student,
)


@pytest.fixture()
def result(tiny_teacher, tiny_student_dir, tiny_corpus):
    student = build_student(str(tiny_student_dir), tiny_teacher, 32)
    train, dev = tiny_corpus.split(0.25, seed=0)
    cfg = DistillConfig(max_minutes=None, max_steps=2, batch_size=8, eval_every=1, eval_sentences=4, warm_start=False, run_name="tiny")
    return distill_from_models(tiny_teacher, student, train, dev, cfg)


def test_save_writes_the_declared_layout(result) -> None:
    layout = save_run(result, "my-run")
    assert layout.is_valid() and layout.missing() == []
    assert load_run_config("my-run") == result.config
    assert set(load_run_metrics("my-run")) == {"teacher", "student_before", "student_after"}
    assert [h["step"] for h in load_history("my-run") if "loss" in h] == [1, 2]
    card = (layout.root / "README.md").read_text()
    assert "SentenceTransformer" in card and "| **mean** |" in card


def test_saved_student_loads_with_plain_sentence_transformers(result) -> None:
    layout = save_run(result, "loadable")
    plain = SentenceTransformer(str(layout.student), device="cpu")
    texts = ["the cat", "a dog"]
    assert (abs(plain.encode(texts) - encode(result.student, texts)) < 1e-5).all()
    assert (abs(encode(load_student("loadable"), texts) - encode(result.student, texts)) < 1e-5).all()


def test_list_and_delete(result) -> None:
    save_run(result, "run-a")
    (runs_dir() / ".run-b.tmp").mkdir()  # an interrupted save
    (runs_dir() / "broken").mkdir()  # a folder without the files
    assert [r["run_id"] for r in list_runs()] == ["run-a"]
    delete_run("run-a")
    assert list_runs() == []


def test_interrupted_save_leaves_no_run(result, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("kdemo.runs.model_card", fail)
    with pytest.raises(OSError):
        save_run(result, "doomed")
    assert list(runs_dir().iterdir()) == []


def test_demo_runs_cannot_be_deleted(result) -> None:
    layout = save_run(result, "demo-x")
    meta = json.loads((layout.root / "run.json").read_text())
    (layout.root / "run.json").write_text(json.dumps(meta | {"demo": True}))
    with pytest.raises(KdemoError, match="demo run"):
        delete_run("demo-x")
    assert list_runs()[0]["demo"] is True


def test_zip_holds_a_student_folder(result, tmp_path: Path) -> None:
    save_run(result, "zipped")
    archive = zip_student("zipped", tmp_path)
    with zipfile.ZipFile(archive) as z:
        assert "student/modules.json" in z.namelist()


@pytest.mark.parametrize("bad", ["../etc", "a/b", "..", "", ".hidden", "x" * 100])
def test_ids_cannot_escape(bad: str) -> None:
    with pytest.raises(KdemoError):
        run_path(bad)


def test_sanitize() -> None:
    assert sanitize_run_id("../My Run: de+fr") == "my-run-de-fr"
    assert sanitize_run_id("///") == "run"
    assert isinstance(run_path(sanitize_run_id("A b")), RunLayout)


def test_cancelled_runs_are_not_saved(result) -> None:
    result.cancelled = True
    with pytest.raises(KdemoError, match="cancelled"):
        save_run(result)
