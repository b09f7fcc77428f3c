"""The loop's mechanics on tiny random models, and one real distillation with the offline teacher."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from kdemo.config import DistillConfig
from kdemo.distill import Callbacks, distill_from_models, seed_everything, teacher_embeddings, warm_start
from kdemo.models import build_student, encode

CFG = DistillConfig(max_minutes=None, max_steps=6, batch_size=8, eval_every=3, eval_sentences=6, lr=1e-3, warm_start=False)


@pytest.fixture()
def tiny_student(tiny_teacher, tiny_student_dir):
    return build_student(str(tiny_student_dir), tiny_teacher, max_seq_length=32)


def test_student_gets_dense_head_and_normalize(tiny_student, tiny_teacher) -> None:
    names = [type(m).__name__ for m in tiny_student]
    assert names == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert encode(tiny_student, ["a cat"]).shape == (1, 16)


def test_loop_reports_steps_evals_and_metrics(tiny_teacher, tiny_student, tiny_corpus) -> None:
    steps, evals, statuses = [], [], []
    train, dev = tiny_corpus.split(0.25, seed=0)
    callbacks = Callbacks(on_step=steps.append, on_eval=lambda s, m: evals.append(s), on_status=statuses.append)
    result = distill_from_models(tiny_teacher, tiny_student, train, dev, CFG, callbacks)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5, 6]
    assert steps[-1].progress == pytest.approx(1.0)
    assert evals == [0, 3, 6]
    assert set(result.metrics) == {"teacher", "student_before", "student_after"}
    assert {"dev_de_acc", "dev_fr_acc", "dev_mean_acc", "dev_en_neg_mse"} <= set(result.metrics["student_after"])
    assert all(0 <= v <= 1 for k, v in result.metrics["student_after"].items() if k.endswith("_acc"))
    assert "Training" in statuses and not result.cancelled
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert len(losses) == 6 and all(np.isfinite(losses))


def test_cancel_stops_within_one_step(tiny_teacher, tiny_student, tiny_corpus) -> None:
    seen = []
    callbacks = Callbacks(on_step=seen.append, should_stop=lambda: len(seen) >= 2)
    train, dev = tiny_corpus.split(0.25, seed=0)
    result = distill_from_models(tiny_teacher, tiny_student, train, dev, CFG.replace(max_steps=50), callbacks)
    assert result.cancelled and result.steps == 2
    assert "student_after" not in result.metrics


def test_same_seed_same_run(tiny_teacher, tiny_student_dir, tiny_corpus) -> None:
    train, dev = tiny_corpus.split(0.25, seed=0)
    losses = []
    for _ in range(2):
        seed_everything(5)
        student = build_student(str(tiny_student_dir), tiny_teacher, 32)
        result = distill_from_models(tiny_teacher, student, train, dev, CFG.replace(max_steps=3))
        losses.append([h["loss"] for h in result.history if "loss" in h])
    assert losses[0] == losses[1]


def test_epoch_budget(tiny_teacher, tiny_student, tiny_corpus) -> None:
    train, dev = tiny_corpus.split(0.25, seed=0)
    result = distill_from_models(tiny_teacher, tiny_student, train, dev, CFG.replace(max_steps=None, epochs=1.0))
    n_examples = len(train) * 3  # English plus two translations
    assert result.info["examples"] >= n_examples
    assert result.info["examples"] < n_examples + 2 * CFG.batch_size


def test_teacher_targets_are_cached(real_teacher) -> None:
    texts = [f"A sentence to embed once ({uuid.uuid4().hex[:8]}).", "And another one."]
    first, hit1 = teacher_embeddings(real_teacher, "all-MiniLM-L6-v2", texts)
    second, hit2 = teacher_embeddings(real_teacher, "all-MiniLM-L6-v2", texts)
    assert (hit1, hit2) == (False, True)
    np.testing.assert_array_equal(first, second)
    _, hit3 = teacher_embeddings(real_teacher, "all-MiniLM-L6-v2", texts + ["A new text."])
    assert hit3 is False


def test_warm_start_fits_the_teacher_space(tiny_teacher, tiny_student, tiny_corpus) -> None:
    english = tiny_corpus.texts["en"]
    targets = encode(tiny_teacher, english)
    before = np.mean((encode(tiny_student, english) - targets) ** 2)
    fitted, info = warm_start(tiny_student, english, targets)
    after = np.mean((encode(fitted, english) - targets) ** 2)
    assert after < 0.5 * before
    assert info["ridge_alpha"] > 0
    assert [type(m).__name__ for m in fitted] == ["Transformer", "Pooling", "Dense", "Normalize"]


@pytest.mark.slow
def test_real_distillation_moves_translations_towards_the_teacher(real_teacher) -> None:
    """A short real run on ~200 German pairs raises cos(student(de), teacher(en)) on held-out pairs."""
    from kdemo.data import ParallelCorpus, load_corpus

    corpus = load_corpus("builtin").select(["de"])
    train, dev = corpus.split(0.2, seed=1)
    train = train.take(range(min(240, len(train))))
    dev = dev.take(range(min(60, len(dev))))
    student = build_student("teacher-copy", real_teacher, 48)
    cfg = DistillConfig(max_minutes=None, max_steps=30, batch_size=32, lr=3e-4, eval_every=100, warm_start=False)

    def cos_to_teacher(model) -> float:
        a = encode(model, dev.texts["de"])
        b = encode(real_teacher, dev.texts["en"])
        return float(np.mean(np.sum(a * b, axis=1)))

    before = cos_to_teacher(student)
    result = distill_from_models(real_teacher, student, train, dev, cfg)
    after = cos_to_teacher(result.student)
    assert after > before + 0.05, (before, after)
    assert isinstance(dev, ParallelCorpus)
