"""Saved runs: the declared layout, atomic writes, a Run opened once, ownership, packing, ids that cannot escape."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from kdemo.config import DistillConfig
from kdemo.distill import distill_from_models
from kdemo.errors import KdemoError
from kdemo.models import encode
from kdemo.runs import (
    RunLayout,
    clean_runs_folder,
    delete_run,
    list_runs,
    open_run,
    owner_key,
    pack_run,
    run_path,
    runs_dir,
    sanitize_run_id,
    save_run,
    zip_student,
)
from kdemo.students import build_student

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def result(tiny_teacher, tiny_student_dir, tiny_corpus):
    student = build_student(str(tiny_student_dir), tiny_teacher, 32)
    train, dev = tiny_corpus.split(0.25, seed=0)
    cfg = DistillConfig(student=str(tiny_student_dir), max_minutes=None, max_steps=2, batch_size=8, eval_every=1, eval_sentences=4, warm_start=False, run_name="tiny",
                        english="", precision="fp32")
    return distill_from_models(tiny_teacher, student, train, dev, cfg)


def test_save_writes_the_declared_layout(result) -> None:
    layout = save_run(result, "my-run", owner="token-of-alice")
    assert layout.missing() == []
    run = open_run("my-run")
    assert run.config == result.config
    assert set(run.metrics) == {"teacher", "student_before", "student_after"}
    assert [h["step"] for h in run.history if "loss" in h] == [1, 2]
    assert run.failures and {"lang", "en", "translation", "neighbour", "correct", "cos_to_teacher"} <= set(run.failures[0])
    replay = run.probe()
    assert replay is not None and replay.steps == [0, 1, 2] and replay.coords.shape[0] == 3
    assert (layout.root / "probe.npz").stat().st_size < 1_000_000
    card = (layout.root / "README.md").read_text()
    assert "SentenceTransformer" in card and "| **mean** |" in card
    meta = json.loads((layout.root / "run.json").read_text())
    assert meta["owner"] == owner_key("token-of-alice") and "token-of-alice" not in json.dumps(meta)


def test_saved_student_loads_with_plain_sentence_transformers(result) -> None:
    layout = save_run(result, "loadable")
    plain = SentenceTransformer(str(layout.student), device="cpu")
    texts = ["the cat", "a dog"]
    assert (abs(plain.encode(texts) - encode(result.student, texts)) < 1e-5).all()
    assert (abs(encode(open_run("loadable").load_student(), texts) - encode(result.student, texts)) < 1e-5).all()


def test_list_skips_temporary_and_broken_folders(result) -> None:
    save_run(result, "run-a")
    (runs_dir() / ".run-b.tmp-x").mkdir()  # an interrupted save
    (runs_dir() / "broken").mkdir()  # a folder without the files
    assert [r.run_id for r in list_runs()] == ["run-a"]
    delete_run("run-a")
    assert list_runs() == []


def test_uploaded_corpus_is_kept_with_the_run(result, tmp_path: Path) -> None:
    upload = tmp_path / "pairs.tsv"
    upload.write_text("en\tde\nHello.\tHallo.\n", encoding="utf-8")
    layout = save_run(result, "with-corpus", corpus_file=upload)
    assert (layout.root / "corpus" / "pairs.tsv").read_text(encoding="utf-8") == upload.read_text(encoding="utf-8")
    assert open_run("with-corpus").config.corpus == "corpus/pairs.tsv"


def test_interrupted_save_leaves_no_run(result, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("kdemo.runs.store.model_card", fail)
    with pytest.raises(OSError):
        save_run(result, "doomed")
    assert list(runs_dir().iterdir()) == []


def test_only_the_owner_deletes(result) -> None:
    save_run(result, "alices", owner="alice-token")
    with pytest.raises(KdemoError, match="Only the person who trained"):
        delete_run("alices", requester="bob-token")
    with pytest.raises(KdemoError, match="Only the person who trained"):
        delete_run("alices", requester="")
    assert open_run("alices").owned_by("alice-token") and not open_run("alices").owned_by("bob-token")
    delete_run("alices", requester="alice-token")
    assert list_runs() == []
    save_run(result, "cli-run")
    with pytest.raises(KdemoError, match="Only the person"):
        delete_run("cli-run", requester="someone")
    delete_run("cli-run", requester="someone", admin=True)


def test_demo_runs_cannot_be_deleted(result) -> None:
    layout = save_run(result, "demo-x")
    meta = json.loads((layout.root / "run.json").read_text())
    (layout.root / "run.json").write_text(json.dumps(meta | {"demo": True}))
    with pytest.raises(KdemoError, match="demo run"):
        delete_run("demo-x", admin=True)
    assert list_runs()[0].is_demo


def test_zip_holds_a_student_folder_and_is_made_once(result) -> None:
    save_run(result, "zipped")
    run = open_run("zipped")
    archive = zip_student(run)
    with zipfile.ZipFile(archive) as z:
        assert "student/modules.json" in z.namelist()
    stamp = archive.stat().st_mtime_ns
    assert zip_student(run).stat().st_mtime_ns == stamp
    delete_run("zipped")
    assert not archive.exists()


def test_pack_refuses_before_writing_anything(result) -> None:
    save_run(result, "other-student")  # an encoder folder: no base package to pack against
    with pytest.raises(KdemoError, match="base package"):
        pack_run("other-student", "demo-y")
    run = open_run("other-student")
    assert not run.is_demo and not run.layout.packed.exists()


@pytest.mark.parametrize("bad", ["../etc", "a/b", "..", "", ".hidden", "x" * 100, "run\x00", "RUN"])
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


def test_kill_during_save_leaves_nothing_listed_and_start_cleans_up(result, tmp_path: Path) -> None:
    """kill -9 in the middle of writing the student: no run is listed; the next start removes the temp folder."""
    script = tmp_path / "slow_save.py"
    script.write_text(
        "import sys, time, pickle\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from kdemo.runs import save_run\n"
        "result = pickle.load(open(sys.argv[1], 'rb'))\n"
        "save = result.student.save\n"
        "def slow(path, *a, **k):\n"
        "    save(path, *a, **k); print('saved-student', flush=True); time.sleep(60)\n"
        "result.student.save = slow\n"
        "save_run(result, 'killed')\n")
    import pickle

    state = tmp_path / "result.pkl"
    state.write_bytes(pickle.dumps(result))
    proc = subprocess.Popen([sys.executable, str(script), str(state)], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout.readline().strip() == "saved-student"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    leftovers = [p.name for p in runs_dir().iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".killed.tmp-")
    assert list_runs() == []
    time.sleep(0.01)
    assert clean_runs_folder() == leftovers
    assert list(runs_dir().iterdir()) == []
