"""Metrics against hand-computed values: what a perfect, a random and a known-wrong student score."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from kdemo.evaluate import (
    MetricKey,
    crosslingual_agreement,
    english_fidelity,
    headline,
    metric_values,
    per_language_table,
    retrieval_accuracy,
    retrieval_matrix,
    spearman,
    translation_metrics,
)

RNG = np.random.default_rng(0)
TEACHER = RNG.normal(size=(60, 16))


def test_spearman_matches_scipy_with_ties() -> None:
    a = np.array([1.0, 2, 2, 3, 5, 5, 5, 0])
    b = np.array([0.3, 0.1, 0.9, 0.9, 0.2, 0.5, 0.7, 0.0])
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert spearman(np.ones(4), np.arange(4.0)) == 0.0


def test_a_student_equal_to_the_teacher() -> None:
    metrics = translation_metrics({"en": TEACHER, "de": TEACHER.copy()}, TEACHER)
    assert metrics["dev_en_fidelity"] == pytest.approx(1.0)
    assert metrics["dev_de_agreement"] == pytest.approx(1.0)
    assert metrics["dev_de_compat"] == metrics["dev_de_acc_xx2en"] == 1.0
    assert metrics["dev_en_neg_mse"] == metrics["dev_de_neg_mse"] == 0.0


def test_a_random_student_scores_near_zero() -> None:
    student = {"en": RNG.normal(size=TEACHER.shape), "de": RNG.normal(size=TEACHER.shape)}
    metrics = translation_metrics(student, TEACHER)
    assert abs(metrics["dev_en_fidelity"]) < 0.1 and abs(metrics["dev_de_agreement"]) < 0.1
    assert metrics["dev_de_compat"] < 0.1 and metrics["dev_de_acc"] < 0.1


def test_compatibility_is_retrieval_of_the_teachers_english() -> None:
    """A student whose space is rotated away from the teacher's: perfect in its own space, lost in the teacher's index."""
    rotation = np.linalg.qr(RNG.normal(size=(16, 16)))[0]
    own = TEACHER @ rotation
    metrics = translation_metrics({"en": own, "de": own + 0.01 * RNG.normal(size=own.shape)}, TEACHER)
    assert metrics["dev_de_acc"] == 1.0
    assert metrics["dev_de_compat"] < 0.2
    assert metrics["dev_en_fidelity"] == pytest.approx(1.0)  # a rotation keeps every cosine
    assert "dev_de_compat" not in translation_metrics({"en": own, "de": own}, TEACHER, teacher_space=False)


def test_fidelity_and_agreement_by_hand() -> None:
    teacher = np.array([[1.0, 0, 0], [0.8, 0.6, 0], [0, 1, 0], [0, 0, 1]])
    # Cosines of the teacher's pairs: (0,1)=.8 (0,2)=0 (0,3)=0 (1,2)=.6 (1,3)=0 (2,3)=0
    student = np.array([[1.0, 0, 0], [0.6, 0.8, 0], [0, 1, 0], [0, 0, 1]])  # (0,1)=.6 (1,2)=.8, the rest 0
    expected = spearmanr([0.6, 0, 0, 0.8, 0, 0], [0.8, 0, 0, 0.6, 0, 0]).statistic
    assert english_fidelity(student, teacher) == pytest.approx(expected)
    # Agreement pairs are ordered (i, j), i != j: twelve of them.
    assert crosslingual_agreement(teacher, teacher, teacher) == pytest.approx(1.0)


def test_retrieval_and_matrix() -> None:
    shuffled = TEACHER[::-1]
    assert retrieval_accuracy(TEACHER, TEACHER) == 1.0
    assert retrieval_accuracy(TEACHER, shuffled) < 0.1
    matrix = retrieval_matrix({"en": TEACHER, "de": TEACHER, "fr": shuffled})
    assert matrix.loc["en", "de"] == 1.0 and matrix.loc["en", "fr"] < 0.1


def test_metric_keys_parse_one_way() -> None:
    assert MetricKey.parse("live_mean_compat") == MetricKey("live", "mean", "compat")
    assert MetricKey.parse("dev_zh_acc_xx2en") == MetricKey("dev", "zh", "acc_xx2en")
    assert MetricKey.parse("step") is None and MetricKey.parse("note") is None
    values = metric_values({"dev_de_acc": 0.5, "dev_fr_acc": 0.7, "dev_mean_acc": 0.6, "live_de_acc": 0.1, "dev_de_cos": 1.0}, "dev", "acc")
    assert values == {"de": 0.5, "fr": 0.7, "mean": 0.6}


def test_tables_and_headline() -> None:
    metrics = {"teacher": {"dev_de_acc": 0.25, "dev_mean_acc": 0.25}, "student_after": {"dev_de_acc": 1.0, "dev_mean_acc": 1.0}}
    table = per_language_table(metrics)
    assert table.loc["de", "student_after"] == 100.0 and list(table.index) == ["de", "mean"]
    assert headline({"dev_mean_acc": 0.5, "dev_mean_compat": 0.25, "dev_en_fidelity": 0.91234}) == {
        "retrieval %": 50.0, "English fidelity": 0.912, "teacher-index search %": 25.0}


def test_quadratic_work_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kdemo.evaluate.MAX_ROWS", 10)
    big = RNG.normal(size=(50, 8))
    metrics = translation_metrics({"en": big, "de": big}, big)
    assert metrics["dev_de_acc"] == 1.0  # computed on the first 10 rows without error
