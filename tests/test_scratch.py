"""The from-scratch student: its own multilingual tokenizer and a random BERT, offline and small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdemo.errors import KdemoError
from kdemo.scratch import ENCODER_FOLDER, build_scratch_student, train_tokenizer, unk_rate

SENTENCES = {
    "en": [
        "I wake up at six every morning.", "The train to the city leaves at nine.",
        "My friend is reading a book in the garden.", "It is raining, so we stay at home.",
        "Could you pass me the salt, please?", "The children are playing football after school.",
        "We bought fresh bread and cheese at the market.", "She works at a hospital near the river.",
    ],
    "de": [
        "Ich wache jeden Morgen um sechs Uhr auf.", "Der Zug in die Stadt fährt um neun ab.",
        "Mein Freund liest ein Buch im Garten.", "Es regnet, also bleiben wir zu Hause.",
        "Könntest du mir bitte das Salz geben?", "Die Kinder spielen nach der Schule Fußball.",
        "Wir haben auf dem Markt frisches Brot und Käse gekauft.", "Sie arbeitet in einem Krankenhaus am Fluss.",
    ],
    "ru": [
        "Я просыпаюсь каждое утро в шесть часов.", "Поезд в город отправляется в девять.",
        "Мой друг читает книгу в саду.", "Идёт дождь, поэтому мы остаёмся дома.",
        "Не могли бы вы передать мне соль?", "Дети играют в футбол после школы.",
        "Мы купили на рынке свежий хлеб и сыр.", "Она работает в больнице у реки.",
    ],
    "zh": [
        "我每天早上六点起床。", "去城里的火车九点出发。", "我的朋友在花园里看书。", "下雨了，所以我们待在家里。",
        "请把盐递给我好吗？", "孩子们放学后踢足球。", "我们在市场上买了新鲜的面包和奶酪。", "她在河边的一家医院工作。",
    ],
    "ar": [
        "أستيقظ في السادسة كل صباح.", "القطار إلى المدينة يغادر في التاسعة.", "صديقي يقرأ كتابًا في الحديقة.",
        "إنها تمطر، لذلك نبقى في المنزل.", "هل يمكنك أن تناولني الملح من فضلك؟",
        "الأطفال يلعبون كرة القدم بعد المدرسة.", "اشترينا خبزًا طازجًا وجبنًا من السوق.", "تعمل في مستشفى قرب النهر.",
    ],
    "ja": [
        "私は毎朝六時に起きます。", "町へ行く電車は九時に出発します。", "友達は庭で本を読んでいます。",
        "雨が降っているので、家にいます。", "塩を取っていただけますか？", "子供たちは放課後にサッカーをしています。",
        "市場で新しいパンとチーズを買いました。", "彼女は川の近くの病院で働いています。",
    ],
}  # fmt: skip
TEXTS = [t for column in SENTENCES.values() for t in column]
SMALL = dict(vocab_size=400, layers=2, hidden=32, heads=2, max_seq_length=64)
DIM = 24


@pytest.fixture(scope="module")
def tokenizer():  # -> PreTrainedTokenizerFast
    return train_tokenizer(TEXTS, vocab_size=400, max_seq_length=64)


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory):  # -> SentenceTransformer
    model = build_scratch_student(TEXTS, DIM, True, tmp_path_factory.mktemp("scratch"), seed=3, **SMALL)
    model.eval()
    return model


def test_tokenizer_covers_every_script(tokenizer) -> None:
    assert len(TEXTS) == 48
    assert unk_rate(tokenizer, TEXTS) < 0.01
    for lang, column in SENTENCES.items():
        assert unk_rate(tokenizer, column) < 0.01, lang
    ids = tokenizer("我每天早上六点起床。")["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and len(tokens) > 3
    assert tokenizer.pad_token_id == 0 and "token_type_ids" not in tokenizer("hi")


def test_tokenizer_is_deterministic(tokenizer) -> None:
    again = train_tokenizer(TEXTS, vocab_size=400, max_seq_length=64)
    assert again.get_vocab() == tokenizer.get_vocab()


def test_encodes_unit_vectors_of_teacher_width(student) -> None:
    names = [type(m).__name__ for m in student]
    assert names == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert type(student[0].auto_model).__name__ == "BertModel"
    out = student.encode(TEXTS[:10], convert_to_numpy=True)
    assert out.shape == (10, DIM)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_unnormalised_student_has_no_normalize(tmp_path: Path) -> None:
    model = build_scratch_student(TEXTS[:12], DIM, False, tmp_path, **SMALL)
    assert [type(m).__name__ for m in model][-1] == "Dense"


def test_padding_does_not_change_an_embedding(student) -> None:
    short = "Es regnet."
    long = " ".join(SENTENCES["de"])
    alone = student.encode([short], convert_to_numpy=True)[0]
    batched = student.encode([short, long], batch_size=2, convert_to_numpy=True)[0]
    assert len(student.tokenize([long])["input_ids"][0]) > 3 * len(student.tokenize([short])["input_ids"][0])
    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_save_load_round_trip(student, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    student.save(str(tmp_path / "saved"))
    loaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert [type(m).__name__ for m in loaded] == [type(m).__name__ for m in student]
    assert loaded.max_seq_length == student.max_seq_length
    assert loaded.tokenize(TEXTS)["input_ids"].tolist() == student.tokenize(TEXTS)["input_ids"].tolist()
    np.testing.assert_allclose(loaded.encode(TEXTS), student.encode(TEXTS), atol=1e-6)


def test_same_seed_same_weights(tmp_path: Path) -> None:
    import torch

    first = build_scratch_student(TEXTS, DIM, True, tmp_path / "a", seed=7, **SMALL).state_dict()
    second = build_scratch_student(TEXTS, DIM, True, tmp_path / "b", seed=7, **SMALL).state_dict()
    other = build_scratch_student(TEXTS, DIM, True, tmp_path / "c", seed=8, **SMALL).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
    assert (tmp_path / "a" / ENCODER_FOLDER / "tokenizer.json").exists()


def test_leaves_global_random_state_alone(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    build_scratch_student(TEXTS[:12], DIM, True, tmp_path, **SMALL)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("texts", "settings", "message"),
    [
        ([], {}, "needs training sentences"),
        (TEXTS, {"hidden": 30, "heads": 4}, "multiple of heads"),
        (TEXTS, {"vocab_size": 3}, "too small"),
    ],
)
def test_bad_settings_raise_kdemo_error(tmp_path: Path, texts: list[str], settings: dict, message: str) -> None:
    with pytest.raises(KdemoError, match=message):
        build_scratch_student(texts, DIM, True, tmp_path, **{**SMALL, **settings})


def test_trains_in_the_distillation_loop(tiny_teacher, tiny_corpus, tmp_path: Path) -> None:
    from kdemo.config import DistillConfig
    from kdemo.distill import distill_from_models

    train, dev = tiny_corpus.split(0.25, seed=0)
    texts = [t for column in train.texts.values() for t in column]
    student = build_scratch_student(texts, tiny_teacher.get_embedding_dimension(), True, tmp_path, **SMALL)
    config = DistillConfig(max_minutes=None, max_steps=40, batch_size=8, eval_every=100, eval_sentences=6, lr=3e-3, warm_start=False,
                           english="", precision="fp32")
    result = distill_from_models(tiny_teacher, student, train, dev, config)
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert result.steps == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:8])  # it learned
