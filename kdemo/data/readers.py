"""Reading parallel corpora from many formats, loudly: every problem names the file and line.

Recoverable oddities (duplicates, over-long lines) are fixed and described in ``corpus.notes``;
anything else is an error that says what to do, never a guess. The formats live beside this module:
``tables`` (TSV/CSV), ``jsonl``, ``aligned`` (``name.en`` + ``name.de``), all on ``textfile``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from kdemo.data.aligned import read_line_aligned, siblings
from kdemo.data.corpus import ParallelCorpus
from kdemo.data.jsonl import read_jsonl
from kdemo.data.tables import read_table
from kdemo.data.textfile import MAX_CHARS, RowChecker, check_unique_ids, is_language
from kdemo.errors import KdemoError, RunCancelled
from kdemo.languages import normalize_code

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"
BUILTIN_CORPUS = ASSETS / "corpus"
TABLE_SUFFIXES = (".tsv", ".csv", ".jsonl")
__all__ = ["ASSETS", "BUILTIN_CORPUS", "MAX_CHARS", "load_corpus"]


def load_corpus(source: str | Path, max_rows: int | None = None, should_stop: Callable[[], bool] | None = None) -> ParallelCorpus:
    """Read a corpus from ``builtin``, a file, a folder, or ``hf:<dataset id>[:<subset>]``.

    Formats: TSV/CSV with a header of language codes (an ``id`` column is optional), headerless
    two-column TSV named like ``talks.en-de.tsv``, JSONL of ``{"en": ..., "de": ...}``, line-aligned
    pairs ``name.en`` + ``name.de`` (pass either file), a folder of such files, or a ``datasets``
    dataset (local folder from ``save_to_disk`` or a hub id when online). ``should_stop`` is asked
    between files; when it says yes, ``RunCancelled`` is raised.

    Example:
        >>> corpus = load_corpus("builtin")
        >>> "de" in corpus.languages
        True
    """
    corpus = _load(str(source).strip(), max_rows)
    if should_stop is not None and should_stop():
        raise RunCancelled()
    return corpus


def _load(text: str, max_rows: int | None) -> ParallelCorpus:
    if text in ("", "builtin"):
        corpus = _dedupe(_read_folder(BUILTIN_CORPUS, name="builtin"), max_rows)
        corpus.builtin = True
        return corpus
    if text.startswith("hf:"):
        return _dedupe(_read_hf(text[3:], max_rows), max_rows)
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return _dedupe(_read_hf(str(path), max_rows), max_rows)
        return _dedupe(_read_folder(path, name=path.name), max_rows)
    if not path.exists():
        raise KdemoError(f"Corpus not found: {path}. Give a file, a folder, 'builtin' or 'hf:<dataset id>'.")
    return _dedupe(_read_file(path), max_rows)


def _read_folder(folder: Path, name: str) -> ParallelCorpus:
    """Every table file and every line-aligned group in ``folder``; all must have the same languages."""
    entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    tables = [p for p in entries if p.suffix.lower() in TABLE_SUFFIXES]
    groups: dict[str, list[Path]] = {}
    for path in entries:
        if path.suffix.lower() not in TABLE_SUFFIXES and is_language(path.suffix[1:]):
            groups.setdefault(path.stem, []).append(path)
    if not tables and not groups:
        raise KdemoError(
            f"{folder}: no corpus files. kdemo reads .tsv, .csv and .jsonl files, and line-aligned files named like "
            f"'name.en' + 'name.de'. Found: {', '.join(p.name for p in entries) or 'nothing'}."
        )
    grouped = {p for files in groups.values() for p in files}
    skipped = [p.name for p in entries if p not in tables and p not in grouped]
    if skipped:
        logger.info("%s: not corpus files, skipped: %s", folder, ", ".join(skipped))
    parts = [_read_file(p) for p in tables]
    if len(groups) == 1 and not tables:  # one pair: ids named after the folder, as they always were
        parts.append(read_line_aligned(next(iter(groups.values())), name))
    else:
        parts += [read_line_aligned(files, stem) for stem, files in groups.items()]
    langs = list(parts[0].texts)
    for part in parts[1:]:
        if set(part.texts) != set(langs):
            raise KdemoError(
                f"{folder}: {part.name} has languages {sorted(part.texts)} but {parts[0].name} has {sorted(langs)}; "
                "every file in a corpus folder needs the same columns."
            )
    owner: dict[str, str] = {}
    for part in parts:
        for row_id in part.ids:
            if row_id in owner:
                raise KdemoError(
                    f"{folder}: the id {row_id!r} is used in both {owner[row_id]} and {part.name}; ids must be "
                    "unique across the files of a folder. Change the ids in one of them."
                )
            owner[row_id] = part.name
    return ParallelCorpus(
        ids=[row_id for part in parts for row_id in part.ids],
        texts={lang: [t for part in parts for t in part.texts[lang]] for lang in langs},
        name=name,
        groups=[g for part in parts for g in part.groups],
        notes=[n for part in parts for n in part.notes],
    )


def _read_file(path: Path) -> ParallelCorpus:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix in (".tsv", ".csv", ".txt"):
        return read_table(path)
    if not is_language(suffix[1:]):
        raise KdemoError(
            f"{path}: kdemo cannot tell the format from the extension '{suffix or '(none)'}'. It reads .tsv, .csv "
            "and .jsonl files, and line-aligned files named like 'name.en' + 'name.de'."
            + (" For JSON, write one object per line and name the file .jsonl." if suffix == ".json" else "")
        )
    return read_line_aligned(siblings(path), path.stem)


def _read_hf(spec: str, max_rows: int | None) -> ParallelCorpus:
    """A ``datasets`` dataset: columns named by language code, or ``english``/``non_english``."""
    import datasets

    dataset_id, _, subset = spec.partition(":")
    try:
        if Path(dataset_id).is_dir():
            ds = datasets.load_from_disk(dataset_id)
        else:
            ds = datasets.load_dataset(dataset_id, subset or None)
    except Exception as exc:  # datasets raises many types; the user needs the reason, not the type
        raise KdemoError(
            f"Could not load the dataset {spec!r}: {exc}. Offline, use a local file or 'builtin'."
        ) from None
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["train"] if "train" in ds else ds[next(iter(ds))]
    if max_rows:
        ds = ds.select(range(min(max_rows, len(ds))))
    columns = ds.column_names
    if {"english", "non_english"} <= set(columns):
        pair = (subset or "").split("-")
        if len(pair) != 2:
            raise KdemoError(f"{spec}: name the language pair as a subset, e.g. 'hf:{dataset_id}:en-de'.")
        other = normalize_code(pair[1] if normalize_code(pair[0]) == "en" else pair[0], spec)
        texts = {"en": ds["english"], other: ds["non_english"]}
    else:
        texts = {}
        for col in (c for c in columns if c != "id"):
            code = normalize_code(col, f"the columns of {spec}")
            if code in texts:
                raise KdemoError(f"{spec}: two columns mean {code}; keep one.")
            texts[code] = ds[col]
    if len(texts) < 2 or "en" not in texts:
        raise KdemoError(f"{spec}: columns {columns}; kdemo needs 'en' and at least one translation column.")
    check = RowChecker(Path(spec), unit="row")
    texts = {lang: [check.cell(t, lang, n) for n, t in enumerate(col, start=1)] for lang, col in texts.items()}
    ids = [str(i) for i in ds["id"]] if "id" in columns else [f"row-{n:06d}" for n in range(len(ds))]
    check_unique_ids(ids, range(1, len(ids) + 1), spec, "Give every row its own id.", unit="rows")
    name = dataset_id.rstrip("/").split("/")[-1]
    return ParallelCorpus(ids, texts, name=name, groups=[name] * len(ids), notes=check.notes())


def _dedupe(corpus: ParallelCorpus, max_rows: int | None) -> ParallelCorpus:
    """Drop rows whose English repeats an earlier row (keeping the first) and cap the size."""
    seen: set[str] = set()
    keep: list[int] = []
    for i, text in enumerate(corpus.texts["en"]):
        key = text.casefold()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    dropped = len(corpus) - len(keep)
    if max_rows:
        keep = keep[:max_rows]
    result = corpus.take(keep) if len(keep) != len(corpus) else corpus
    if dropped:
        note = f"{corpus.name}: dropped {dropped} rows whose English sentence repeats an earlier row."
        logger.warning(note)
        result.notes.append(note)
    return result
