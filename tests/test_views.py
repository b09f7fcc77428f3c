"""What the app shows, computed without a browser: forms, comparisons, status lines."""

from __future__ import annotations

import pytest

from kdemo import views
from kdemo.compare import example_sets, load_example_set, parse_user_text
from kdemo.errors import KdemoError
from kdemo.jobs import JobSnapshot

FORM = dict(teacher="", student="teacher-copy", corpus_choice="Built-in", upload=None, hf_id="", languages=["de"],
            budget_kind="minutes", budget=2, lr=None, batch_size=32, loss="mse", seed=1, warm_start=True, name="x")


def test_form_makes_a_config() -> None:
    cfg = views.config_from_form(**FORM)
    assert cfg.max_minutes == 2 and cfg.max_steps is None and cfg.languages == ("de",) and cfg.lr is None
    steps = views.config_from_form(**(FORM | {"budget_kind": "steps", "budget": 50, "lr": 1e-4}))
    assert steps.max_steps == 50 and steps.max_minutes is None and steps.lr == 1e-4


@pytest.mark.parametrize(("change", "message"), [
    ({"languages": []}, "Tick at least one language"),
    ({"corpus_choice": "Upload"}, "Upload a corpus file"),
    ({"corpus_choice": "datasets id"}, "Enter a datasets id"),
    ({"budget": 0}, "positive number"),
    ({"budget": 500}, "under 60 minutes"),
    ({"loss": "hinge"}, "loss must be one of"),
])
def test_form_errors_say_what_to_fix(change: dict, message: str) -> None:
    with pytest.raises(KdemoError, match=message):
        views.config_from_form(**(FORM | change))


def test_user_text_groups_and_errors() -> None:
    s = parse_user_text("en: Good morning.\nde: Guten Morgen.\n\n\nen: Good night.\nfr: Bonne nuit.")
    assert s.groups == ["g1", "g1", "g2", "g2"] and s.langs == ["en", "de", "en", "fr"]
    with pytest.raises(KdemoError, match="Line 2"):
        parse_user_text("en: fine\nno tag here")
    with pytest.raises(KdemoError, match="Unknown language code 'xx' in line 1"):
        parse_user_text("xx: hi\nen: hi")
    with pytest.raises(KdemoError, match="at least two"):
        parse_user_text("en: alone")


def test_example_sets_load() -> None:
    names = example_sets()
    assert "one_meaning_13_languages" in names and len(names) >= 3
    for name in names:
        s = load_example_set(name)
        assert len(s) >= 10 and len(set(s.groups)) >= 3


def test_compare_view_teacher_only(real_teacher) -> None:
    view = views.compare_view(views.TEACHER_ONLY, "Example set", "paraphrases_vs_unrelated", 5, [], "", method="PCA")
    assert len(view.sentence_labels) == len(view.comparison.sentences)
    assert {"teacher cos"} <= set(view.pairs.columns) and "student cos" not in view.pairs
    assert view.map_figure.data and view.heatmaps.data
    table = views.neighbours_view(view.comparison, view.sentence_labels[0], 3)
    assert list(table.columns) == ["rank", "teacher"] and len(table) == 3


def test_progress_line_names_the_owner() -> None:
    snap = JobSnapshot(state="running", owner="alice", message="Training", progress=0.5, step=10, loss=0.01, eta=30)
    assert "Your run" in views.progress_html(snap, "alice")
    other = views.progress_html(snap, "bob")
    assert "Someone else" in other and "width:50%" in other and "30 s left" in other
    assert "No training running" in views.progress_html(JobSnapshot(), "bob")
