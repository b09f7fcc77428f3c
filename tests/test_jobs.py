"""The app's training manager with real tiny models saved to folders: ownership, cancel, uploads, errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kdemo.config import DistillConfig
from kdemo.errors import KdemoError
from kdemo.jobs import TrainingManager
from kdemo.runs import list_runs, runs_dir

DATA = Path(__file__).resolve().parent / "data"
ALICE, BOB = "a" * 40, "b" * 40


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, tiny_teacher, tiny_student_dir) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("teacher_st")
    tiny_teacher.save(str(folder))
    return {"teacher": str(folder), "student": str(tiny_student_dir)}


def _config(model_dirs: dict[str, str], **changes) -> DistillConfig:
    base = dict(teacher=model_dirs["teacher"], student=model_dirs["student"], corpus=str(DATA / "tiny.tsv"), max_minutes=None,
                max_steps=4, batch_size=8, eval_every=2, eval_sentences=4, english="", precision="fp32", warm_start=False)
    return DistillConfig(**(base | changes))


def _wait(manager: TrainingManager, timeout: float = 60.0):  # -> JobSnapshot
    deadline = time.time() + timeout
    while manager.snapshot().busy and time.time() < deadline:
        time.sleep(0.05)
    return manager.snapshot()


def test_a_run_belongs_to_its_starter(model_dirs) -> None:
    manager = TrainingManager()
    manager.start(_config(model_dirs), ALICE)
    with pytest.raises(KdemoError, match="Someone else is already training"):
        manager.start(_config(model_dirs), BOB)
    snap = _wait(manager)
    assert snap.state == "done", snap.error
    assert snap.owned_by(ALICE) and not snap.owned_by(BOB) and ALICE not in repr(snap)
    run = list_runs()[0]
    assert run.run_id == snap.run_id and run.owned_by(ALICE)
    assert [h["step"] for h in snap.history if "loss" in h] == [1, 2, 3, 4]
    assert snap.probe is not None and snap.probe.steps == [0, 2, 4]
    assert set(snap.metrics) == {"teacher", "student_before", "student_after"}


def test_only_the_owner_cancels_and_nothing_is_saved(model_dirs) -> None:
    manager = TrainingManager()
    manager.start(_config(model_dirs, max_steps=100_000, eval_every=10_000), ALICE)
    deadline = time.time() + 60
    while manager.snapshot().step < 2 and time.time() < deadline:
        time.sleep(0.02)
    with pytest.raises(KdemoError, match="Only the person who started"):
        manager.cancel(BOB)
    assert manager.cancel(ALICE)
    snap = _wait(manager, 10)
    assert snap.state == "cancelled" and "nothing was saved" in snap.message
    assert list_runs() == []
    assert manager.cancel(ALICE) is False


def test_an_upload_is_kept_with_the_run_and_its_staging_copy_removed(model_dirs, tmp_path: Path) -> None:
    upload = tmp_path / "my pairs.tsv"
    upload.write_text((DATA / "tiny.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    manager = TrainingManager()
    manager.start(_config(model_dirs, corpus=str(upload)), ALICE, upload=upload)
    snap = _wait(manager)
    assert snap.state == "done", snap.error
    run = list_runs()[0]
    assert run.config.corpus == "corpus/my-pairs.tsv" and (run.layout.root / "corpus" / "my-pairs.tsv").exists()
    assert not Path(snap.config.corpus).exists()  # the staging copy is gone


def test_errors_name_the_upload_not_the_server_folder(model_dirs, tmp_path: Path) -> None:
    upload = tmp_path / "broken.tsv"
    upload.write_text("en\tde\nHello.\t\n", encoding="utf-8")
    manager = TrainingManager()
    manager.start(_config(model_dirs, corpus=str(upload)), ALICE, upload=upload)
    snap = _wait(manager)
    assert snap.state == "failed"
    assert "broken.tsv, line 2" in snap.error and "kdemo-upload-" not in snap.error and str(tmp_path) not in snap.error
    assert list(runs_dir().iterdir()) == [] if runs_dir().exists() else True


def test_a_browser_without_a_token_cannot_start(model_dirs) -> None:
    with pytest.raises(KdemoError, match="reload the page"):
        TrainingManager().start(_config(model_dirs), "")
