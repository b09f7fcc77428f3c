"""The loop, phase by phase, on tiny random models; one real distillation with the offline teacher."""

from __future__ import annotations

import numpy as np
import pytest

from kdemo.config import DistillConfig
from kdemo.distill import Callbacks, Distillation, cached_embeddings, distill_from_models, model_key, seed_everything
from kdemo.distill.batches import Budget, lr_factor
from kdemo.distill.loop import LIVE_EVAL_FREE, LIVE_EVAL_SHARE, training_examples
from kdemo.distill.warmstart import fit_map, shrink_to_rotation
from kdemo.errors import RunCancelled
from kdemo.models import encode
from kdemo.students import build_student

CFG = DistillConfig(max_minutes=None, max_steps=6, batch_size=8, eval_every=3, eval_sentences=6, lr=1e-3, warm_start=False,
                    english="", precision="fp32")


@pytest.fixture()
def tiny_student(tiny_teacher, tiny_student_dir):
    return build_student(str(tiny_student_dir), tiny_teacher, max_seq_length=32)


@pytest.fixture()
def split(tiny_corpus):
    return tiny_corpus.split(0.25, seed=0)


def test_student_gets_dense_head_and_normalize(tiny_student) -> None:
    assert [type(m).__name__ for m in tiny_student] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert encode(tiny_student, ["a cat"]).shape == (1, 16)


def test_phases_run_in_order_and_report(tiny_teacher, tiny_student, split) -> None:
    steps, evals, statuses = [], [], []
    callbacks = Callbacks(on_step=steps.append, on_eval=lambda s, m: evals.append(s), on_status=statuses.append)
    result = distill_from_models(tiny_teacher, tiny_student, *split, CFG, callbacks)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5, 6]
    assert steps[-1].progress == pytest.approx(1.0)
    assert evals == [0, 3, 6]
    assert statuses.index("Evaluating the teacher on the dev split") < statuses.index("Training") \
        < statuses.index("Evaluating the trained student on the dev split")
    assert set(result.metrics) == {"teacher", "student_before", "student_after"}
    assert list(result.info["phase_seconds"]) == ["prepare", "evaluate_start", "warm_start", "train", "finish"]
    # The teacher against its own English embeddings: fidelity 1, compatibility = its own retrieval.
    teacher = result.metrics["teacher"]
    assert teacher["dev_en_fidelity"] == pytest.approx(1.0)
    assert teacher["dev_de_compat"] == pytest.approx(teacher["dev_de_acc_xx2en"])
    assert teacher["dev_en_neg_mse"] == pytest.approx(0.0, abs=1e-6)


def test_live_evaluations_keep_to_their_share_of_the_training_time(tiny_teacher, tiny_student, split) -> None:
    """eval_every=1 asks for one after every step; after the first three, they stay near a tenth of the training time."""
    result = distill_from_models(tiny_teacher, tiny_student, *split, CFG.replace(max_steps=60, eval_every=1))
    evals = [h["step"] for h in result.history if "loss" not in h]
    assert evals[:3] == [0, 1, 2] and evals[-1] == 60
    assert len(evals) < 61
    per_eval = result.info["live_eval_seconds"] / len(evals)
    assert result.info["live_eval_seconds"] <= LIVE_EVAL_SHARE * result.train_seconds + (LIVE_EVAL_FREE + 2) * per_eval


def test_training_lowers_the_loss_on_a_fixed_batch(tiny_teacher, tiny_student, split) -> None:
    result = distill_from_models(tiny_teacher, tiny_student, *split, CFG.replace(max_steps=40, eval_every=100, lr=3e-3))
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    before = -result.metrics["student_before"].get("dev_en_neg_mse", -np.inf)
    assert -result.metrics["student_after"]["dev_en_neg_mse"] < before


def test_cancel_stops_within_one_step(tiny_teacher, tiny_student, split) -> None:
    seen = []
    callbacks = Callbacks(on_step=seen.append, should_stop=lambda: len(seen) >= 2)
    result = distill_from_models(tiny_teacher, tiny_student, *split, CFG.replace(max_steps=50), callbacks)
    assert result.cancelled and result.steps == 2
    assert "student_after" not in result.metrics


@pytest.mark.parametrize("phase", ["prepare", "evaluate_start", "warm_start"])
def test_cancel_is_honoured_before_training(tiny_teacher, tiny_student, split, phase) -> None:
    """A stop flag raised during any phase ends the run without a single step."""
    statuses: list[str] = []
    marker = {"prepare": "Embedding English", "evaluate_start": "Evaluating the teacher", "warm_start": "Warm start"}[phase]
    callbacks = Callbacks(on_status=statuses.append, should_stop=lambda: any(s.startswith(marker) for s in statuses))
    result = distill_from_models(tiny_teacher, tiny_student, *split, CFG.replace(warm_start=True, max_steps=50), callbacks)
    assert result.cancelled and result.steps == 0


def test_same_seed_same_run(tiny_teacher, tiny_student_dir, split) -> None:
    losses = []
    for _ in range(2):
        seed_everything(5)
        student = build_student(str(tiny_student_dir), tiny_teacher, 32)
        result = distill_from_models(tiny_teacher, student, *split, CFG.replace(max_steps=3))
        losses.append([h["loss"] for h in result.history if "loss" in h])
    assert losses[0] == losses[1]


def test_epoch_budget_counts_english_only_sentences(tiny_teacher, tiny_student, split) -> None:
    train, dev = split
    english = ["a good day", "the night train", "my friend and my book"]
    result = distill_from_models(tiny_teacher, tiny_student, train, dev, CFG.replace(max_steps=None, epochs=1.0), english=english)
    n_examples = len(train) * 3 + len(english)  # English, two translations, then the English-only sentences
    assert n_examples <= result.info["examples"] < n_examples + 2 * CFG.batch_size
    assert result.info["english_only"] == 3


def test_training_examples_point_at_their_targets() -> None:
    from kdemo.data import ParallelCorpus

    corpus = ParallelCorpus(["a", "b"], {"en": ["Hi.", "Bye."], "de": ["Hallo.", "Tschüss."]})
    texts, rows = training_examples(corpus, ["Yes."])
    assert list(zip(texts, rows)) == [("Hi.", 0), ("Bye.", 1), ("Hallo.", 0), ("Tschüss.", 1), ("Yes.", 2)]


def test_budget_and_schedule() -> None:
    budget = Budget(DistillConfig(max_minutes=1, max_steps=100), 1000)
    assert budget.progress(50, 6.0, 0) == 0.5 and budget.progress(10, 45.0, 0) == 0.75
    assert [lr_factor(p, 0.1) for p in (0.0, 0.05, 0.1, 0.55, 1.0)] == pytest.approx([0.02, 0.5, 1.0, 0.5, 0.0])


def test_embeddings_are_cached_by_model_and_texts(tiny_teacher, tiny_student) -> None:
    texts = ["the cat", "a dog"]
    key = model_key(tiny_teacher)
    first, hit1 = cached_embeddings(tiny_teacher, texts, key)
    second, hit2 = cached_embeddings(tiny_teacher, texts, key)
    assert (hit1, hit2) == (False, True)
    np.testing.assert_array_equal(first, second)
    assert cached_embeddings(tiny_teacher, [*texts, "the house"], key)[1] is False
    assert model_key(tiny_student) != key


def test_model_key_changes_when_weights_change(tiny_student) -> None:
    import torch

    before = model_key(tiny_student)
    with torch.no_grad():
        next(tiny_student.parameters()).add_(0.01)
    assert model_key(tiny_student) != before


def test_shrink_to_rotation_ends_between_least_squares_and_the_rotation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    rotation = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    y = 3 * x @ rotation + 0.3 * rng.normal(size=(300, 6)) + 2.0
    exact, _ = shrink_to_rotation(x, y, 0.0)
    lstsq = np.linalg.lstsq(np.c_[x, np.ones(300)], y, rcond=None)[0][:6]
    np.testing.assert_allclose(exact, lstsq, atol=1e-8)
    strong, bias = shrink_to_rotation(x, y, 1e6)
    np.testing.assert_allclose(strong, 3 * rotation, atol=0.05)
    assert np.allclose(bias, 2.0 - x.mean(axis=0) @ strong + (y.mean(axis=0) - 2.0), atol=1e-6)


def test_fit_map_chooses_a_strength_by_held_out_agreement() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8))
    y = x @ rng.normal(size=(8, 8))
    weight, bias, info = fit_map(x, y)
    assert info["strength"] in (0.1, 0.3, 1.0, 3.0, 10.0)
    assert info["heldout_agreement"] > 0.9
    assert set(info["agreement_by_strength"]) == {"0.1", "0.3", "1.0", "3.0", "10.0"}


def test_warm_start_fits_the_teacher_space(tiny_teacher, tiny_student, split) -> None:
    from kdemo.distill import warm_start

    train, _ = split
    english = ["a good day", "the night train", "my friend and my book", "this water is bad", "we work at school"]
    texts = train.texts["en"] + english
    targets = encode(tiny_teacher, texts)
    before = np.mean((encode(tiny_student, texts) - targets) ** 2)
    fitted, info, own = warm_start(tiny_student, train, targets[: len(train)], english, targets[len(train):], CFG)
    np.testing.assert_allclose(own, encode(fitted, texts), atol=1e-4)  # the fitted student's own English embeddings
    after = np.mean((encode(fitted, texts) - targets) ** 2)
    assert after < 0.5 * before
    assert info["sentences"] == len(texts) and info["strength"] > 0
    assert [type(m).__name__ for m in fitted] == ["Transformer", "Pooling", "Dense", "Normalize"]


def test_run_raises_nothing_but_reports_cancel(tiny_teacher, tiny_student, split) -> None:
    run = Distillation(tiny_teacher, tiny_student, *split, CFG, Callbacks(should_stop=lambda: True), [], None)
    with pytest.raises(RunCancelled):
        run.prepare()
    assert run.run().cancelled


@pytest.mark.slow
def test_real_distillation_moves_translations_towards_the_teacher(real_teacher) -> None:
    """A short real run on ~200 German pairs raises cos(student(de), teacher(en)) on held-out pairs."""
    from kdemo.data import load_corpus

    corpus = load_corpus("builtin").select(["de"])
    train, dev = corpus.split(0.2, seed=1)
    train = train.take(range(min(240, len(train))))
    dev = dev.take(range(min(60, len(dev))))
    student = build_student("teacher-copy", real_teacher, 48)
    cfg = DistillConfig(max_minutes=None, max_steps=30, batch_size=32, lr=3e-4, eval_every=100, english="", precision="fp32")

    def cos_to_teacher(model) -> float:
        return float(np.mean(np.sum(encode(model, dev.texts["de"]) * encode(real_teacher, dev.texts["en"]), axis=1)))

    before = cos_to_teacher(student)
    result = distill_from_models(real_teacher, student, train, dev, cfg)
    after = cos_to_teacher(result.student)
    assert after > before + 0.05, (before, after)
    assert result.metrics["student_after"]["dev_de_compat"] > result.metrics["teacher"]["dev_de_compat"]


def test_teacher_weight_blends_the_targets(tiny_teacher, tiny_student, split) -> None:
    """teacher_weight 0: translations are pulled onto the warm-started student's own English embeddings."""
    from kdemo.distill import Distillation

    run = Distillation(tiny_teacher, tiny_student, *split, CFG.replace(warm_start=True, teacher_weight=0.0), Callbacks(), [], None)
    run.prepare()
    run.warm_start()
    targets = run.train_targets_all()
    np.testing.assert_allclose(targets, run.own_targets, atol=1e-6)
    half = run.config.replace(teacher_weight=0.5)
    run.config = half
    mixed = run.train_targets_all()
    expected = run.train_targets + run.own_targets
    np.testing.assert_allclose(mixed, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
