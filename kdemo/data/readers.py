"""Parallel corpora: read them from many formats, validate them loudly, split them reproducibly.

A ``ParallelCorpus`` holds English sentences and their aligned translations. Every reader
reports problems as ``KdemoError`` naming the file and line; recoverable oddities (duplicates,
over-long lines) are fixed and described in ``corpus.notes``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kdemo.errors import KdemoError
from kdemo.languages import normalize_code

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BUILTIN_CORPUS = ASSETS / "corpus"
MAX_CHARS = 600
TEST_PERCENT = 15


@dataclass
class ParallelCorpus:
    """English sentences (``texts["en"]``) with line-aligned translations in other languages.

    Example:
        >>> c = ParallelCorpus(ids=["a"], texts={"en": ["Hi."], "de": ["Hallo."]})
        >>> c.languages, len(c)
        (('de',), 1)
    """

    ids: list[str]
    texts: dict[str, list[str]]
    name: str = "corpus"
    groups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if "en" not in self.texts:
            raise KdemoError(f"{self.name}: no English column ('en'); kdemo distils from English.")
        sizes = {lang: len(col) for lang, col in self.texts.items()}
        if len(set(sizes.values()) | {len(self.ids)}) != 1:
            raise KdemoError(f"{self.name}: columns have different lengths {sizes} (ids: {len(self.ids)}).")
        if not self.groups:
            self.groups = [""] * len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def languages(self) -> tuple[str, ...]:
        """The non-English languages, in column order."""
        return tuple(lang for lang in self.texts if lang != "en")

    def sentences(self, english: bool = True) -> list[str]:
        """Every text of the corpus, language by language (without English when ``english`` is False)."""
        return [t for lang, column in self.texts.items() if english or lang != "en" for t in column]

    def take(self, indices: Iterable[int], name: str | None = None) -> ParallelCorpus:
        """The rows at ``indices``, in that order."""
        idx = list(indices)
        return ParallelCorpus(
            ids=[self.ids[i] for i in idx],
            texts={lang: [col[i] for i in idx] for lang, col in self.texts.items()},
            name=name or self.name,
            groups=[self.groups[i] for i in idx],
            notes=list(self.notes),
        )

    def select(self, languages: Sequence[str]) -> ParallelCorpus:
        """Keep English and ``languages`` (all when empty); unknown ones are an error."""
        if not languages:
            return self
        wanted = [normalize_code(lang) for lang in languages]
        missing = [lang for lang in wanted if lang not in self.texts]
        if missing:
            raise KdemoError(
                f"{self.name} has no {', '.join(missing)} column. It has: {', '.join(self.languages)}."
            )
        keep = ["en"] + [lang for lang in wanted if lang != "en"]
        return ParallelCorpus(list(self.ids), {lang: self.texts[lang] for lang in keep}, self.name, list(self.groups), list(self.notes))

    def split(self, dev_fraction: float = 0.15, seed: int = 0) -> tuple[ParallelCorpus, ParallelCorpus]:
        """Deterministic (train, dev) split by hashing each row's id with ``seed``.

        The same id always lands on the same side, so adding rows never moves old ones.
        """
        threshold = int(dev_fraction * 10_000)
        dev = [i for i, row_id in enumerate(self.ids) if _bucket(f"{seed}:{row_id}") < threshold]
        train = sorted(set(range(len(self))) - set(dev))
        if not dev or not train:
            raise KdemoError(f"{self.name}: {len(self)} rows are too few to split into train and dev.")
        return self.take(train, f"{self.name}/train"), self.take(dev, f"{self.name}/dev")


def _bucket(key: str) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 10_000


def is_builtin_test_id(row_id: str) -> bool:
    """The built-in corpus's fixed test split: about 15% of ids, chosen by a hash of the id."""
    return _bucket(f"kdemo-test:{row_id}") < TEST_PERCENT * 100


def builtin_split(corpus: ParallelCorpus) -> tuple[ParallelCorpus, ParallelCorpus]:
    """(train, test) of the built-in corpus; the test rows are never trained on."""
    test = [i for i, row_id in enumerate(corpus.ids) if is_builtin_test_id(row_id)]
    train = [i for i in range(len(corpus)) if not is_builtin_test_id(corpus.ids[i])]
    return corpus.take(train, f"{corpus.name}/train"), corpus.take(test, f"{corpus.name}/test")


def load_corpus(source: str | Path, max_rows: int | None = None) -> ParallelCorpus:
    """Read a corpus from ``builtin``, a file, a folder, or ``hf:<dataset id>[:<subset>]``.

    Formats: TSV/CSV with a header of language codes (an ``id`` column is optional), headerless
    two-column TSV named like ``talks.en-de.tsv``, JSONL of ``{"en": ..., "de": ...}``, line-aligned
    pairs ``name.en`` + ``name.de`` (pass either file), a folder of such files, or a ``datasets``
    dataset (local folder from ``save_to_disk`` or a hub id when online).

    Example:
        >>> corpus = load_corpus("builtin")
        >>> "de" in corpus.languages
        True
    """
    text = str(source).strip()
    if text in ("", "builtin"):
        return _dedupe(_read_folder(BUILTIN_CORPUS, name="builtin"), max_rows)
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
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".tsv", ".csv", ".jsonl"))
    if not files:
        return _read_line_aligned(sorted(folder.iterdir()), name)
    parts = [_read_file(p) for p in files]
    langs = [lang for lang in parts[0].texts]
    for part in parts[1:]:
        if set(part.texts) != set(langs):
            raise KdemoError(
                f"{part.name} has languages {sorted(part.texts)} but {parts[0].name} has {sorted(langs)}; "
                "every file in a corpus folder needs the same columns."
            )
    ids = [row_id for part in parts for row_id in part.ids]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise KdemoError(f"{folder}: id {dup!r} occurs more than once; ids must be unique.")
    return ParallelCorpus(
        ids=ids,
        texts={lang: [t for part in parts for t in part.texts[lang]] for lang in langs},
        name=name,
        groups=[g for part in parts for g in part.groups],
        notes=[n for part in parts for n in part.notes],
    )


def _read_file(path: Path) -> ParallelCorpus:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix in (".tsv", ".csv", ".txt"):
        return _read_table(path)
    siblings = sorted(path.parent.glob(path.stem + ".*"))
    return _read_line_aligned(siblings, path.stem)


def _decoded_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise KdemoError(
            f"{path}, line {line}: bytes that are not UTF-8 (at byte {exc.start}). Save the file as UTF-8."
        ) from None
    return text.splitlines()


class _RowChecker:
    """Shared cell validation: non-empty, truncated when over-long, with file and line in errors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.truncated = 0

    def cell(self, value: object, lang: str, line: int) -> str:
        text = "" if value is None else " ".join(str(value).split())
        if not text:
            raise KdemoError(f"{self.path}, line {line}: the '{lang}' text is empty. Fill it in or remove the row.")
        if len(text) > MAX_CHARS:
            self.truncated += 1
            text = text[:MAX_CHARS]
        return text

    def notes(self) -> list[str]:
        if not self.truncated:
            return []
        note = f"{self.path.name}: {self.truncated} over-long texts truncated to {MAX_CHARS} characters."
        logger.warning(note)
        return [note]


def _read_table(path: Path) -> ParallelCorpus:
    lines = _decoded_lines(path)
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, quoting=quoting))
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not numbered:
        raise KdemoError(f"{path} is empty.")
    header_line, header = numbered[0]
    columns = _header_columns(header, path)
    if columns is None:
        columns = _codes_from_name(path, len(header))
        body = numbered
    else:
        body = numbered[1:]
    check = _RowChecker(path)
    ids: list[str] = []
    texts: dict[str, list[str]] = {c: [] for c in columns if c != "id"}
    for line, row in body:
        if len(row) != len(columns):
            raise KdemoError(
                f"{path}, line {line}: {len(row)} columns but the header has {len(columns)} "
                f"({', '.join(columns)}). Check for a missing or extra {'tab' if delimiter == chr(9) else 'comma'}."
            )
        values = dict(zip(columns, row))
        ids.append(values["id"].strip() if "id" in values else f"{path.stem}-{line:05d}")
        for lang in texts:
            texts[lang].append(check.cell(values[lang], lang, line))
    if not ids:
        raise KdemoError(f"{path}: a header but no rows.")
    return ParallelCorpus(ids, texts, name=path.name, groups=[path.stem] * len(ids), notes=check.notes())


def _header_columns(header: list[str], path: Path) -> list[str] | None:
    """Language codes of a header row, or None when the row looks like data (no header)."""
    cells = [c.strip() for c in header]
    looks_like_header = all(0 < len(c) <= 8 and " " not in c for c in cells)
    if not looks_like_header:
        return None
    columns = [c.lower() if c.lower() == "id" else normalize_code(c, f"the header of {path}") for c in cells]
    if len(set(columns)) != len(columns):
        raise KdemoError(f"{path}: the header repeats a column: {', '.join(cells)}.")
    if "en" not in columns:
        raise KdemoError(f"{path}: the header {cells} has no 'en' column; kdemo distils from English.")
    return columns


def _codes_from_name(path: Path, width: int) -> list[str]:
    pair = path.stem.split(".")[-1]
    codes = pair.replace("_", "-").split("-")
    if width != 2 or len(codes) != 2:
        raise KdemoError(
            f"{path} has no header. Add a first line of language codes (e.g. 'en<TAB>de'), "
            "or name a two-column file like 'talks.en-de.tsv'."
        )
    columns = [normalize_code(code, f"the file name {path.name}") for code in codes]
    if "en" not in columns:
        raise KdemoError(f"{path.name}: neither column is English ('en').")
    return columns


def _read_jsonl(path: Path) -> ParallelCorpus:
    check = _RowChecker(path)
    ids: list[str] = []
    texts: dict[str, list[str]] | None = None
    for line, raw in enumerate(_decoded_lines(path), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise KdemoError(f"{path}, line {line}: not valid JSON ({exc.msg}).") from None
        if not isinstance(obj, dict):
            raise KdemoError(f"{path}, line {line}: expected an object like {{\"en\": ..., \"de\": ...}}.")
        row = {("id" if k == "id" else normalize_code(k, f"{path}, line {line}")): v for k, v in obj.items()}
        if texts is None:
            if "en" not in row:
                raise KdemoError(f"{path}, line {line}: no 'en' key; kdemo distils from English.")
            texts = {lang: [] for lang in row if lang != "id"}
        if set(row) - {"id"} != set(texts):
            raise KdemoError(
                f"{path}, line {line}: keys {sorted(set(row) - {'id'})} differ from the first row's {sorted(texts)}."
            )
        ids.append(str(row.get("id", f"{path.stem}-{line:05d}")))
        for lang in texts:
            texts[lang].append(check.cell(row[lang], lang, line))
    if texts is None:
        raise KdemoError(f"{path} is empty.")
    return ParallelCorpus(ids, texts, name=path.name, groups=[path.stem] * len(ids), notes=check.notes())


def _read_line_aligned(files: Sequence[Path], name: str) -> ParallelCorpus:
    by_lang: dict[str, Path] = {}
    for path in files:
        code = path.suffix.lstrip(".")
        if path.is_file() and code:
            by_lang[normalize_code(code, f"the file name {path.name}")] = path
    if "en" not in by_lang or len(by_lang) < 2:
        raise KdemoError(
            f"{name}: line-aligned corpora need an English file and at least one translation, "
            f"named like '{name}.en' and '{name}.de'. Found: {', '.join(p.name for p in files) or 'nothing'}."
        )
    lines = {lang: _decoded_lines(path) for lang, path in by_lang.items()}
    n_en = len(lines["en"])
    for lang, col in lines.items():
        if len(col) != n_en:
            raise KdemoError(
                f"{by_lang[lang]} has {len(col)} lines but {by_lang['en']} has {n_en}; "
                "line-aligned files must have one translation per English line."
            )
    texts: dict[str, list[str]] = {}
    notes: list[str] = []
    for lang in ["en"] + sorted(set(by_lang) - {"en"}):
        check = _RowChecker(by_lang[lang])
        texts[lang] = [check.cell(t, lang, n) for n, t in enumerate(lines[lang], start=1)]
        notes += check.notes()
    ids = [f"{name}-{n:05d}" for n in range(1, n_en + 1)]
    return ParallelCorpus(ids, texts, name=name, groups=[name] * n_en, notes=notes)


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
        langs = {c: normalize_code(c, f"the columns of {spec}") for c in columns if c != "id"}
        texts = {code: ds[col] for col, code in langs.items()}
    check = _RowChecker(Path(spec))
    texts = {lang: [check.cell(t, lang, n) for n, t in enumerate(col, start=1)] for lang, col in texts.items()}
    ids = [str(i) for i in ds["id"]] if "id" in columns else [f"row-{n:06d}" for n in range(len(ds))]
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
