"""What the app shows, computed without a browser: forms, comparisons, search, failures, status lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdemo.compare import example_sets, load_example_set, parse_user_text
from kdemo.config import DistillConfig
from kdemo.distill import distill_from_models
from kdemo.errors import KdemoError
from kdemo.jobs import JobSnapshot
from kdemo.runs import open_run, owner_key, save_run
from kdemo.students import build_student
from kdemo.views import compare, inspect, runs, search, train

FORM = train.TrainForm(teacher="", student="teacher-copy", languages=("de",), budget=2, loss="mse", seed=1, name="x")


def test_form_makes_a_config() -> None:
    cfg, upload = train.config_from_form(FORM)
    assert cfg.max_minutes == 2 and cfg.max_steps is None and cfg.languages == ("de",) and cfg.lr is None and upload is None
    assert cfg.english == "builtin" and cfg.probe == "dev"
    steps, _ = train.config_from_form(FORM.__class__(**{**FORM.__dict__, "budget_kind": "steps", "budget": 50, "lr": 1e-4,
                                                        "english": False, "probe": "one_meaning_13_languages"}))
    assert steps.max_steps == 50 and steps.max_minutes is None and steps.lr == 1e-4 and steps.english == ""
    assert steps.probe == "one_meaning_13_languages"


@pytest.mark.parametrize(("change", "message"), [
    ({"languages": ()}, "Tick at least one language"),
    ({"corpus_choice": "Upload"}, "Upload a corpus file"),
    ({"corpus_choice": "datasets id", "hf_id": "csv"}, "not a datasets id"),
    ({"corpus_choice": "datasets id", "hf_id": "json:train"}, "not a datasets id"),
    ({"corpus_choice": "datasets id", "hf_id": "../../etc/passwd"}, "not a datasets id"),
    ({"corpus_choice": "datasets id", "hf_id": "kdemo/views"}, "not a datasets id"),  # a local folder
    ({"corpus_choice": "somewhere"}, "Choose a corpus"),
    ({"budget": 0}, "positive number"),
    ({"budget": "lots"}, "must be a number"),
    ({"budget": 500}, "to 30 minutes"),
    ({"budget_kind": "hours"}, "minutes or steps"),
    ({"loss": "hinge"}, "loss must be one of"),
    ({"precision": "fp8"}, "precision must be one of"),
    ({"probe": "../secrets"}, "No example set"),
])
def test_form_errors_say_what_to_fix(change: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    with pytest.raises(KdemoError, match=message):
        train.config_from_form(FORM.__class__(**{**FORM.__dict__, **change}))


def test_over_limit_upload_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDEMO_UPLOAD_MB", "0.001")
    big = tmp_path / "big.tsv"
    big.write_text("en\tde\n" + "Hello there.\tHallo.\n" * 200, encoding="utf-8")
    with pytest.raises(KdemoError, match="the limit here is 0.001 MB"):
        train.config_from_form(FORM.__class__(**{**FORM.__dict__, "corpus_choice": "Upload", "upload": str(big)}))


def test_user_text_groups_and_errors() -> None:
    s = parse_user_text("en: Good morning.\nde: Guten Morgen.\n\n\nen: Good night.\nfr: Bonne nuit.")
    assert s.groups == ["g1", "g1", "g2", "g2"] and s.langs == ["en", "de", "en", "fr"]
    with pytest.raises(KdemoError, match="Line 2"):
        parse_user_text("en: fine\nno tag here")
    with pytest.raises(KdemoError, match="Unknown language code 'xx' in line 1"):
        parse_user_text("xx: hi\nen: hi")
    with pytest.raises(KdemoError, match="at least two"):
        parse_user_text("en: alone")


def test_text_box_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDEMO_TEXT_CHARS", "100")
    form = compare.CompareForm(source="Your text", text="en: hello there\nde: hallo\n" * 20)
    with pytest.raises(KdemoError, match="Your text has 520 characters; the limit here is 100"):
        compare.sentence_set(form)


def test_example_sets_load() -> None:
    names = example_sets()
    assert "one_meaning_13_languages" in names and len(names) >= 3
    for name in names:
        s = load_example_set(name)
        assert len(s) >= 10 and len(set(s.groups)) >= 3


def test_progress_line_names_the_owner_and_hides_errors_from_others() -> None:
    snap = JobSnapshot(state="failed", owner=owner_key("alice"), message="Training stopped.", progress=0.5, step=10, loss=0.01,
                       eta=30, error="upload.tsv, line 3: the 'de' text is empty")
    assert "Your run" in train.progress_html(snap, "alice") and "line 3" in train.progress_html(snap, "alice")
    other = train.progress_html(snap, "bob")
    assert "Someone else" in other and "width:50%" in other and "line 3" not in other
    running = JobSnapshot(state="running", owner=owner_key("alice"), step=3, eta=75, progress=0.2)
    assert "1 min 15 s left" in train.progress_html(running, "alice")
    assert "No training running" in train.progress_html(JobSnapshot(), "bob")


def test_result_card_shows_teacher_alone_student_and_change() -> None:
    metrics = {"teacher": {"dev_mean_acc": 0.2, "dev_mean_agreement": 0.1, "dev_en_fidelity": 1.0, "dev_mean_compat": 0.2},
               "student_before": {"dev_mean_acc": 0.99, "dev_mean_agreement": 0.5, "dev_en_fidelity": 0.6},
               "student_after": {"dev_mean_acc": 0.99, "dev_mean_agreement": 0.8, "dev_en_fidelity": 0.9, "dev_mean_compat": 0.97}}
    card = train.result_card(metrics).set_index("metric (dev split)")
    assert list(card.columns) == ["teacher", "student before (alone)", "student after", "change"]
    assert card.loc["agreement", "change"] == pytest.approx(0.3)
    assert card.loc["teacher-index search %", "student after"] == 97.0
    assert np.isnan(card.loc["teacher-index search %", "student before (alone)"])


@pytest.fixture()
def tiny_run(tiny_teacher, tiny_student_dir, tiny_corpus, monkeypatch: pytest.MonkeyPatch):
    """A saved run of the tiny student; the app's teacher is the tiny teacher too."""
    student = build_student(str(tiny_student_dir), tiny_teacher, 32)
    train_split, dev = tiny_corpus.split(0.25, seed=0)
    cfg = DistillConfig(student=str(tiny_student_dir), max_minutes=None, max_steps=3, batch_size=8, eval_every=1, eval_sentences=6,
                        warm_start=False, english="", precision="fp32")
    save_run(distill_from_models(tiny_teacher, student, train_split, dev, cfg), "tiny-run", owner="alice")
    monkeypatch.setattr("kdemo.models.load_teacher", lambda name="": tiny_teacher)
    return open_run("tiny-run")


def test_compare_view_with_a_student(tiny_run) -> None:
    form = compare.CompareForm(run_id="tiny-run", source="Your text", text="en: the cat\nde: die katze\n\nen: a dog\nfr: un chien",
                               method="PCA")
    view = compare.compare_view(form, tiny_run)
    assert list(view.pairs["pair"]) == ["en–de", "en–fr"]
    assert {"teacher cos", "student cos", "Δ"} <= set(view.pairs.columns)
    assert np.allclose(view.pairs["Δ"], view.pairs["student cos"] - view.pairs["teacher cos"], atol=1e-3)
    assert "run `tiny-run`" in view.summary
    points = sum(len(trace.x) for trace in view.map_figure.data if trace.mode == "markers")
    assert points == 2 * 4  # four sentences, teacher and student
    table = compare.neighbours_view(view.comparison, view.sentence_labels[0], 2)
    assert list(table.columns) == ["rank", "teacher", "student"] and len(table) == 2


def test_search_shows_both_lists(tiny_run) -> None:
    form = search.SearchForm(run_id="tiny-run", query="die katze", collection=search.OWN_COLLECTION,
                             lines="the cat\na dog\nthe house\nwater and food", k=3)
    view = search.search_view(form, tiny_run)
    assert list(view.results.columns)[1::2] == ["teacher's query → English index", "student's query → the same index"]
    assert len(view.results) == 3 and set(view.results.iloc[:, 1]) <= {"the cat", "a dog", "the house", "water and food"}
    assert (np.diff(view.results["student score"]) <= 0).all()
    with pytest.raises(KdemoError, match="Type a query"):
        search.search_view(search.SearchForm(run_id="tiny-run", query="  "), tiny_run)


def test_failures_and_replay_of_a_saved_run(tiny_run) -> None:
    table = inspect.failures_view(tiny_run)
    assert len(table) > 0 and list(table.columns)[:4] == ["language", "English", "translation", "found instead"]
    german = inspect.failures_view(tiny_run, "de")
    assert set(german["language"]) == {"German (de)"}
    text = inspect.pair_as_text(german, 0)
    assert text.startswith("en: ") and "\nde: " in text
    replay = tiny_run.probe()
    first, last = inspect.replay_figure(replay, 0), inspect.replay_figure(replay, len(replay.steps) - 1)
    assert first.layout.title.text.startswith("Step 0") and last.layout.title.text.startswith("Step 3")
    assert not np.allclose(first.data[2].x, last.data[2].x)  # the student moved; the axes stayed fixed
    assert first.layout.xaxis.range == last.layout.xaxis.range


def test_runs_table_marks_the_viewers_runs(tiny_run) -> None:
    table = runs.runs_table("alice")
    assert table.loc[0, "run"] == "tiny-run" and table.loc[0, "yours"] == "✓"
    assert runs.runs_table("bob").loc[0, "yours"] == ""
    with pytest.raises(KdemoError, match="Only the person who trained"):
        runs.delete(tiny_run, "bob", admin=False)
    runs.delete(tiny_run, "alice", admin=False)
    assert runs.runs_table("alice").empty
