"""The built-in corpus: complete, aligned, in the right scripts, with a stable test split."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import pytest

from kdemo.data import BUILTIN_CORPUS, ParallelCorpus, builtin_split, load_corpus

LANGS = ("de", "fr", "es", "it", "pt", "nl", "pl", "ru", "tr", "ar", "zh", "ja")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
ARABIC = re.compile(r"[\u0600-\u06FF]")
HAN = re.compile(r"[\u4E00-\u9FFF]")
KANA = re.compile(r"[\u3040-\u30FF]")
LATIN_LETTER = re.compile(r"[A-Za-zÀ-ɏ]")


@pytest.fixture(scope="module")
def corpus() -> ParallelCorpus:
    return load_corpus("builtin")


def test_size_topics_and_languages(corpus: ParallelCorpus) -> None:
    assert len(corpus) >= 1200
    assert corpus.languages == LANGS
    topics = Counter(corpus.groups)
    assert len(topics) >= 12 and min(topics.values()) >= 50
    assert not corpus.notes, corpus.notes  # no duplicates dropped, nothing truncated


def test_every_cell_present_and_ids_unique(corpus: ParallelCorpus) -> None:
    assert len(set(corpus.ids)) == len(corpus.ids)
    for lang, column in corpus.texts.items():
        assert len(column) == len(corpus) and all(t.strip() == t and t for t in column), lang


def test_files_share_one_header() -> None:
    headers = {p.read_text(encoding="utf-8").splitlines()[0] for p in BUILTIN_CORPUS.glob("*.tsv")}
    assert headers == {"id\ten\t" + "\t".join(LANGS)}


def test_no_duplicate_english(corpus: ParallelCorpus) -> None:
    english = [t.casefold() for t in corpus.texts["en"]]
    assert len(set(english)) == len(english)


def test_english_lengths_span_short_to_long(corpus: ParallelCorpus) -> None:
    words = [len(t.split()) for t in corpus.texts["en"]]
    assert min(words) >= 3 and max(words) <= 30
    assert sum(w <= 7 for w in words) > 0.15 * len(words)
    assert sum(w >= 17 for w in words) > 0.15 * len(words)
    assert sum(t.endswith("?") for t in corpus.texts["en"]) > 0.15 * len(words)


@pytest.mark.parametrize("lang", LANGS)
def test_scripts(corpus: ParallelCorpus, lang: str) -> None:
    for row_id, text in zip(corpus.ids, corpus.texts[lang]):
        if lang == "ru":
            assert CYRILLIC.search(text), (row_id, text)
        elif lang == "ar":
            assert ARABIC.search(text) and not CYRILLIC.search(text), (row_id, text)
        elif lang == "zh":
            assert HAN.search(text) and not KANA.search(text), (row_id, text)
        elif lang == "ja":
            assert KANA.search(text), (row_id, text)
        else:
            assert LATIN_LETTER.search(text) and not CYRILLIC.search(text) and not HAN.search(text), (row_id, text)


@pytest.mark.parametrize("lang", LANGS)
def test_no_translation_copies_the_english(corpus: ParallelCorpus, lang: str) -> None:
    same = [i for i, (en, xx) in zip(corpus.ids, zip(corpus.texts["en"], corpus.texts[lang])) if en == xx]
    assert not same


def test_zh_is_simplified(corpus: ParallelCorpus) -> None:
    """Every Chinese character encodes in GB2312, the Simplified set (a few common exceptions aside)."""
    bad = []
    for row_id, text in zip(corpus.ids, corpus.texts["zh"]):
        for ch in text:
            if HAN.match(ch):
                try:
                    ch.encode("gb2312")
                except UnicodeEncodeError:
                    bad.append((row_id, ch, unicodedata.name(ch, "?")))
    assert len(bad) <= 5, bad


def test_test_split_is_stable_and_about_15_percent(corpus: ParallelCorpus) -> None:
    train, test = builtin_split(corpus)
    listed = (BUILTIN_CORPUS / "test_ids.txt").read_text(encoding="utf-8").split()
    assert sorted(test.ids) == listed
    assert 0.12 < len(test) / len(corpus) < 0.18
    assert not set(train.ids) & set(test.ids)
    assert len(train) + len(test) == len(corpus)
