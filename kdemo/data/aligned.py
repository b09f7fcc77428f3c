"""Line-aligned corpora: ``name.en`` with ``name.de``, ``name.fr``..., one sentence per line.

Siblings are found by comparing names, never by a glob pattern built from a file name (``x[1].en``
would be a character class).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kdemo.data.corpus import ParallelCorpus
from kdemo.data.textfile import RowChecker, decoded_lines, same_meaning
from kdemo.errors import KdemoError
from kdemo.languages import normalize_code


def siblings(path: Path) -> list[Path]:
    """``path`` and the files beside it with the same name up to the last dot, sorted.

    Example:
        >>> [p.name for p in siblings(Path("tests/data/tiny.tsv"))]
        ['tiny.tsv']
    """
    return sorted(p for p in path.parent.iterdir() if p.stem == path.stem and p.suffix and p.is_file())


def read_line_aligned(files: Sequence[Path], name: str) -> ParallelCorpus:
    """One corpus from line-aligned files whose extensions are language codes; ids are ``name-00001``...

    Example:
        >>> _ = Path("/tmp/kdemo-news.en").write_text("Hi.\\n"), Path("/tmp/kdemo-news.de").write_text("Hallo.\\n")
        >>> read_line_aligned([Path("/tmp/kdemo-news.en"), Path("/tmp/kdemo-news.de")], "news").texts
        {'en': ['Hi.'], 'de': ['Hallo.']}
    """
    by_lang = _by_language(files, name)
    lines = {lang: decoded_lines(path) for lang, path in by_lang.items()}
    n_en = len(lines["en"])
    for lang, col in lines.items():
        if len(col) != n_en:
            raise KdemoError(
                f"{by_lang[lang]} has {len(col)} lines but {by_lang['en']} has {n_en}; "
                "line-aligned files must have one translation per English line."
            )
        if col and all("\t" in line for line in col):
            raise KdemoError(
                f"{by_lang[lang]}: every line holds a tab, so this looks like a table, not one sentence per line. "
                "Name it .tsv and give it a header of language codes."
            )
    texts: dict[str, list[str]] = {}
    notes: list[str] = []
    for lang in ["en"] + sorted(set(by_lang) - {"en"}):
        check = RowChecker(by_lang[lang])
        texts[lang] = [check.cell(t, lang, n) for n, t in enumerate(lines[lang], start=1)]
        notes += check.notes()
    ids = [f"{name}-{n:05d}" for n in range(1, n_en + 1)]
    return ParallelCorpus(ids, texts, name=name, groups=[name] * n_en, notes=notes)


def _by_language(files: Sequence[Path], name: str) -> dict[str, Path]:
    """{language code: file}; every file's extension must be a distinct known code, English among them."""
    by_lang: dict[str, Path] = {}
    for path in files:
        code = path.suffix[1:]
        try:
            lang = normalize_code(code)
        except KdemoError:
            raise KdemoError(
                f"{path} shares its name with the line-aligned files {name}.*, so kdemo reads it as a translation, "
                f"but '{code}' is not a language code it knows. Rename it with a code such as .de, or move it away."
            ) from None
        if lang in by_lang:
            raise KdemoError(f"{path}: files {same_meaning(by_lang[lang].name, path.name, lang)}")
        by_lang[lang] = path
    if "en" not in by_lang or len(by_lang) < 2:
        where = files[0].parent / name if files else name
        raise KdemoError(
            f"{where}: line-aligned corpora need an English file and at least one translation, "
            f"named like '{name}.en' and '{name}.de'. Found: {', '.join(p.name for p in files) or 'nothing'}."
        )
    return by_lang
