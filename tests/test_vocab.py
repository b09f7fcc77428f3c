"""Tokenization statistics (hand-computed on the tiny tokenizer) and vocabulary extension of a teacher copy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdemo.errors import KdemoError
from kdemo.vocab import _wordpiece, extend_vocabulary, tokenization_stats

# Not in the built-in corpus: English the extension must leave alone.
ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Could you send me the quarterly report before lunch?",
    "Unbelievably, the undergraduates' experiments worked on the first try!",
    "My grandmother's recipe calls for two cups of flour and a pinch of salt.",
]


def test_stats_match_hand_counts(tiny_teacher) -> None:
    # Tiny vocab: specials, a few English words, single letters and ##letters; no CJK, no "。".
    texts = {
        "en": ["the cat", "a dog xyz"],  # the|cat ; a|dog|x ##y ##z -> 7 tokens, 5 words
        "zh": ["我a", "猫猫。"],  # [UNK] a ; [UNK] [UNK] [UNK] -> 5 tokens, 4 unk, 5 characters
        "de": [],
    }
    stats = tokenization_stats(tiny_teacher, texts).set_index("language")
    en, zh, de = stats.loc["en"], stats.loc["zh"], stats.loc["de"]
    assert (en["tokens"], en["unk_tokens"], en["unit"], en["units"]) == (7, 0, "word", 5)
    assert en["unk_rate"] == 0.0
    assert en["pieces_per_word"] == pytest.approx(7 / 5)
    assert en["tokens_per_sentence"] == pytest.approx(3.5)
    assert (zh["tokens"], zh["unk_tokens"], zh["unit"], zh["units"]) == (5, 4, "char", 5)
    assert zh["unk_rate"] == pytest.approx(0.8)
    assert zh["pieces_per_word"] == pytest.approx(1.0)
    assert zh["tokens_per_sentence"] == pytest.approx(2.5)
    assert (de["sentences"], de["tokens"], de["unk_rate"]) == (0, 0, 0.0)


def test_stats_accept_a_tokenizer_object(tiny_teacher) -> None:
    from_model = tokenization_stats(tiny_teacher, {"en": ["the cat"]})
    from_tokenizer = tokenization_stats(tiny_teacher[0].tokenizer, {"en": ["the cat"]})
    assert from_model.equals(from_tokenizer)


def test_wordpiece_reads_continuations_and_unknowns() -> None:
    vocab = {"un", "##aff", "##able", "aff", "[UNK]"}
    assert _wordpiece("unaffable", vocab, "[UNK]") == ["un", "##aff", "##able"]
    assert _wordpiece("##affable", vocab, "[UNK]") == ["##aff", "##able"]
    assert _wordpiece("affable", vocab, "[UNK]") == ["aff", "##able"]
    assert _wordpiece("unaffablex", vocab, "[UNK]") == ["[UNK]"]
    assert _wordpiece("un" * 60, vocab | {"##un"}, "[UNK]") == ["[UNK]"]  # longer than 100 characters


@pytest.fixture(scope="module")
def corpus():  # -> tuple[ParallelCorpus, ParallelCorpus]
    from kdemo.data import builtin_split, load_corpus

    return builtin_split(load_corpus("builtin").select(["de", "ru", "ar", "zh", "ja"]))


@pytest.fixture(scope="module")
def extended(real_teacher, corpus):  # -> tuple[SentenceTransformer, dict]
    from kdemo.students import build_student

    train, _ = corpus
    student = build_student("teacher-copy", real_teacher)
    texts = [t for lang in train.languages for t in train.texts[lang]]
    stats = extend_vocabulary(student, texts, 1000, keep_unchanged=train.texts["en"])
    return student, stats


@pytest.mark.slow  # loads the real teacher
def test_extension_lowers_unk_rate_and_length(real_teacher, extended, corpus) -> None:
    student, stats = extended
    _, dev = corpus
    assert stats["added"] == 1000 and stats["vocab_after"] == stats["vocab_before"] + 1000
    assert stats["fixes_unk"] > 0
    assert len(real_teacher[0].tokenizer) == stats["vocab_before"]  # the teacher is not touched
    held_out = {lang: dev.texts[lang] for lang in ("ru", "zh", "ja")}
    before = tokenization_stats(real_teacher, held_out).set_index("language")
    after = tokenization_stats(student, held_out).set_index("language")
    assert after.loc["zh", "unk_rate"] < before.loc["zh", "unk_rate"]
    assert after.loc["ja", "unk_rate"] < before.loc["ja", "unk_rate"]
    assert after.loc["ru", "unk_rate"] <= before.loc["ru", "unk_rate"]
    assert after.loc["ru", "tokens_per_sentence"] < 0.8 * before.loc["ru", "tokens_per_sentence"]


@pytest.mark.slow  # loads the real teacher
def test_new_pieces_are_used_inside_words(extended, corpus) -> None:
    student, stats = extended
    _, dev = corpus
    tokenizer = student[0].tokenizer
    new_ids = set(range(stats["vocab_before"], stats["vocab_after"]))
    used = {
        tokenizer.convert_ids_to_tokens(i)
        for text in dev.texts["ru"]
        for i in tokenizer(text)["input_ids"]
        if i in new_ids
    }
    # add_tokens pieces could only match whole strings; WordPiece pieces also continue words.
    assert any(piece.startswith("##") for piece in used), "no new continuation piece was used"


@pytest.mark.slow  # loads the real teacher
def test_english_tokenization_unchanged(real_teacher, extended) -> None:
    student, _ = extended
    old, new = real_teacher[0].tokenizer, student[0].tokenizer
    for text in ENGLISH:
        assert new(text)["input_ids"] == old(text)["input_ids"], text


@pytest.mark.slow  # loads the real teacher
def test_new_rows_are_the_mean_of_old_pieces(real_teacher, extended) -> None:
    student, stats = extended
    old_tok, new_tok = real_teacher[0].tokenizer, student[0].tokenizer
    old_weight = real_teacher[0].auto_model.get_input_embeddings().weight.detach()
    new_weight = student[0].auto_model.get_input_embeddings().weight.detach()
    assert torch.equal(new_weight[: old_weight.shape[0]], old_weight)  # old rows untouched
    # A word-initial piece the old vocabulary split into several pieces: check it with the old tokenizer itself.
    piece = next(e["piece"] for e in stats["examples"] if not e["piece"].startswith("##") and len(e["old_pieces"]) > 1)
    old_ids = old_tok(piece, add_special_tokens=False)["input_ids"]
    assert len(old_ids) > 1
    expected = old_weight[old_ids].mean(dim=0)
    assert torch.allclose(new_weight[new_tok.convert_tokens_to_ids(piece)], expected, atol=1e-6)
    # A piece the old vocabulary could only read as [UNK] starts at the [UNK] row.
    unknown = next(e["piece"] for e in stats["examples"] if e["old_pieces"] == ["[UNK]"])
    assert torch.equal(new_weight[new_tok.convert_tokens_to_ids(unknown)], old_weight[old_tok.unk_token_id])


@pytest.mark.slow  # loads the real teacher
def test_save_load_round_trip(extended, corpus, tmp_path) -> None:
    from sentence_transformers import SentenceTransformer

    from kdemo.models import encode

    student, stats = extended
    _, dev = corpus
    student.save(str(tmp_path / "student"))
    loaded = SentenceTransformer(str(tmp_path / "student"), device="cpu")
    texts = dev.texts["zh"][:8] + dev.texts["ru"][:8] + ENGLISH
    assert len(loaded[0].tokenizer) == stats["vocab_after"]
    assert loaded[0].tokenizer(texts)["input_ids"] == student[0].tokenizer(texts)["input_ids"]
    np.testing.assert_allclose(encode(loaded, texts), encode(student, texts), atol=1e-6)


@pytest.mark.slow  # loads the real teacher
def test_keep_unchanged_protects_words(real_teacher) -> None:
    from kdemo.students import build_student

    # Each word once, so only the shared "##walking" is learned; it would split "sleepwalkingly" differently.
    texts = ["blorfwalking zorpwalking quxwalking", "frobwalking glimwalking dweewalking"]
    word = "sleepwalkingly"
    old = real_teacher[0].tokenizer.tokenize(word)
    free = build_student("teacher-copy", real_teacher)
    extend_vocabulary(free, texts, 30)
    guarded = build_student("teacher-copy", real_teacher)
    stats = extend_vocabulary(guarded, texts, 30, keep_unchanged=[f"He was {word} again."])
    assert free[0].tokenizer.tokenize(word) != old
    assert guarded[0].tokenizer.tokenize(word) == old
    assert stats["skipped_for_unchanged"] >= 1


@pytest.mark.slow  # loads the real teacher
def test_bad_arguments(real_teacher) -> None:
    from kdemo.students import build_student

    student = build_student("teacher-copy", real_teacher)
    with pytest.raises(KdemoError, match="n_new"):
        extend_vocabulary(student, ["текст"], -1)
    assert extend_vocabulary(student, [], 10)["added"] == 0
    assert len(student[0].tokenizer) == len(real_teacher[0].tokenizer)
