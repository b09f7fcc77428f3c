"""kdemo's English-only sentences: well-formed, unique, and disjoint from the parallel corpus."""

from __future__ import annotations

from pathlib import Path

from kdemo.data import load_corpus, load_english
from kdemo.data.english import ENGLISH


def test_files_are_clean_and_unique() -> None:
    files = sorted(ENGLISH.glob("*.txt"))
    assert len(files) >= 12
    seen: set[str] = set()
    for path in files:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        assert "\t" not in text and "\r" not in text and text.endswith("\n"), path.name
        lines = text[:-1].split("\n")
        assert all(line.strip() == line and line for line in lines), path.name
        assert all(2 <= len(line.split()) <= 40 for line in lines), path.name
        folded = {line.casefold() for line in lines}
        assert len(folded) == len(lines), f"{path.name} repeats a line"
        assert not folded & seen, f"{path.name} repeats a line of another file"
        seen |= folded
    assert len(seen) >= 12_000


def test_no_sentence_of_the_parallel_corpus() -> None:
    corpus = {t.casefold() for t in load_corpus("builtin").texts["en"]}
    assert not corpus & {t.casefold() for t in load_english()}


def test_a_custom_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("One sentence.\n\n  Two   spaced  \nOne sentence.\nA line\u2028with a separator\n", encoding="utf-8")
    assert load_english(str(path)) == ["One sentence.", "Two spaced", "A line with a separator"]
    assert load_english("") == []
