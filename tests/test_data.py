from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdemo.data import MAX_CHARS, ParallelCorpus, load_corpus
from kdemo.errors import KdemoError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_tsv_with_header_and_ids(tiny_corpus: ParallelCorpus) -> None:
    assert len(tiny_corpus) == 24
    assert tiny_corpus.languages == ("de", "fr")
    assert tiny_corpus.ids[0] == "tiny-001"
    assert tiny_corpus.texts["de"][3] == "Wo ist die nächste Apotheke?"


def test_csv_with_quotes_and_region_codes(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", 'EN,zh-CN\n"Hello, world.",你好，世界。\n"Good night.",晚安。\n')
    corpus = load_corpus(path)
    assert corpus.languages == ("zh",)
    assert corpus.texts["en"] == ["Hello, world.", "Good night."]


def test_headerless_pair_named_by_file(tmp_path: Path) -> None:
    corpus = load_corpus(write(tmp_path / "talks.en-de.tsv", "Hello there.\tHallo.\nThank you.\tDanke.\n"))
    assert corpus.languages == ("de",) and len(corpus) == 2


def test_headerless_without_language_names_explains(tmp_path: Path) -> None:
    with pytest.raises(KdemoError, match="has no header"):
        load_corpus(write(tmp_path / "pairs.tsv", "Hello there.\tHallo.\n"))


def test_jsonl(tmp_path: Path) -> None:
    rows = [{"id": "x1", "en": "One.", "es": "Uno."}, {"id": "x2", "en": "Two.", "es": "Dos."}]
    corpus = load_corpus(write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in rows)))
    assert corpus.ids == ["x1", "x2"] and corpus.texts["es"] == ["Uno.", "Dos."]


def test_jsonl_bad_line_is_located(tmp_path: Path) -> None:
    with pytest.raises(KdemoError, match=r"c.jsonl, line 2: not valid JSON"):
        load_corpus(write(tmp_path / "c.jsonl", '{"en": "One.", "es": "Uno."}\n{"en": "Two."\n'))


def test_line_aligned_pair(tmp_path: Path) -> None:
    write(tmp_path / "news.en", "First line.\nSecond line.\n")
    write(tmp_path / "news.fr", "Première ligne.\nDeuxième ligne.\n")
    corpus = load_corpus(tmp_path / "news.en")
    assert corpus.languages == ("fr",) and corpus.texts["fr"][1] == "Deuxième ligne."


def test_line_aligned_misaligned_names_both_files(tmp_path: Path) -> None:
    write(tmp_path / "news.en", "First line.\nSecond line.\n")
    write(tmp_path / "news.fr", "Première ligne.\n")
    with pytest.raises(KdemoError, match=r"news.fr has 1 lines but .*news.en has 2"):
        load_corpus(tmp_path / "news.en")


def test_empty_cell_names_file_line_and_language(tmp_path: Path) -> None:
    with pytest.raises(KdemoError, match=r"c.tsv, line 3: the 'de' text is empty"):
        load_corpus(write(tmp_path / "c.tsv", "en\tde\nHello.\tHallo.\nBye.\t \n"))


def test_wrong_column_count_is_located(tmp_path: Path) -> None:
    with pytest.raises(KdemoError, match=r"line 2: 3 columns but the header has 2"):
        load_corpus(write(tmp_path / "c.tsv", "en\tde\nHello.\tHallo.\textra\n"))


def test_undecodable_bytes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_bytes(b"en\tde\nHello.\tHallo.\n" + b"Caf\xe9.\tCaf\xe9.\n")
    with pytest.raises(KdemoError, match=r"c.tsv, line 3: bytes that are not UTF-8"):
        load_corpus(path)


def test_unknown_language_code(tmp_path: Path) -> None:
    with pytest.raises(KdemoError, match=r"c.tsv, line 1: unknown language code 'xq' in the header \(column 2\)"):
        load_corpus(write(tmp_path / "c.tsv", "en\txq\nHello.\tHallo.\n"))


def test_missing_english_column(tmp_path: Path) -> None:
    with pytest.raises(KdemoError, match="no 'en' column"):
        load_corpus(write(tmp_path / "c.tsv", "de\tfr\nHallo.\tSalut.\n"))


def test_duplicates_dropped_with_a_count(tmp_path: Path) -> None:
    corpus = load_corpus(write(tmp_path / "c.tsv", "en\tde\nHello.\tHallo.\nhello.\tHallo!\nBye.\tTschüss.\n"))
    assert corpus.texts["en"] == ["Hello.", "Bye."]
    assert any("dropped 1 rows" in note for note in corpus.notes)


def test_overlong_lines_truncated_with_a_note(tmp_path: Path) -> None:
    long = "word " * 200
    corpus = load_corpus(write(tmp_path / "c.tsv", f"en\tde\n{long}\tWort.\n"))
    assert len(corpus.texts["en"][0]) == MAX_CHARS
    assert any("truncated" in note for note in corpus.notes)


def test_missing_file_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(KdemoError, match="Corpus not found"):
        load_corpus(tmp_path / "nope.tsv")


def test_split_is_deterministic_and_disjoint(tiny_corpus: ParallelCorpus) -> None:
    train, dev = tiny_corpus.split(0.25, seed=3)
    train2, dev2 = tiny_corpus.split(0.25, seed=3)
    assert dev.ids == dev2.ids and train.ids == train2.ids
    assert not set(train.ids) & set(dev.ids)
    assert len(train) + len(dev) == len(tiny_corpus)


def test_select_languages(tiny_corpus: ParallelCorpus) -> None:
    assert tiny_corpus.select(["fr"]).languages == ("fr",)
    with pytest.raises(KdemoError, match="has no ja column"):
        tiny_corpus.select(["ja"])


def test_hf_dataset_saved_to_disk(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"english": ["Hello.", "Thanks."], "non_english": ["Hallo.", "Danke."]})
    ds.save_to_disk(str(tmp_path / "talks"))
    with pytest.raises(KdemoError, match="name the language pair"):
        load_corpus(tmp_path / "talks")
    columns = datasets.Dataset.from_dict({"en": ["Hello.", "Thanks."], "it": ["Ciao.", "Grazie."]})
    columns.save_to_disk(str(tmp_path / "cols"))
    assert load_corpus(tmp_path / "cols").texts["it"] == ["Ciao.", "Grazie."]
