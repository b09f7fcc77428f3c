"""JSONL corpora: one object per line, ``{"id": ..., "en": "...", "de": "..."}``.

Keys are language codes, compared after normalisation (``EN``, ``eng`` and ``en`` are one key, and
two of them in one object are an error); ``id`` (any case) is the row id, a string or a whole
number. Every other value must be a string: lists, objects, numbers and null are rejected rather
than trained on as their printed form.
"""

from __future__ import annotations

import json
from pathlib import Path

from kdemo.data.corpus import ParallelCorpus
from kdemo.data.textfile import RowChecker, check_unique_ids, decoded_lines, describe, same_meaning
from kdemo.errors import KdemoError
from kdemo.languages import normalize_code

_EXAMPLE = '{"en": "Hello.", "de": "Hallo."}'


class _RepeatedKey(Exception):
    """Raised while parsing when one object holds the same key twice (json keeps the last silently)."""


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [key for key, _ in pairs]
        raise _RepeatedKey(next(key for key in keys if keys.count(key) > 1))
    return obj


def read_jsonl(path: Path) -> ParallelCorpus:
    """A JSONL file as a corpus; the first object's languages are the columns every line must have.

    Example:
        >>> _ = Path("/tmp/kdemo-example.jsonl").write_text('{"id": 7, "en": "Hi.", "de": "Hallo."}\\n')
        >>> read_jsonl(Path("/tmp/kdemo-example.jsonl")).ids
        ['7']
    """
    check = RowChecker(path)
    ids: list[str] = []
    lines: list[int] = []
    texts: dict[str, list[str]] | None = None
    for line, raw in enumerate(decoded_lines(path), start=1):
        if not raw.strip():
            continue
        row_id, row = _parse_line(path, line, raw)
        if texts is None:
            texts = _first_columns(path, line, row)
        if set(row) != set(texts):
            raise KdemoError(
                f"{path}, line {line}: keys {sorted(row)} differ from the first row's {sorted(texts)}. "
                "Every line needs the same languages."
            )
        ids.append(row_id if row_id is not None else f"{path.stem}-{line:05d}")
        lines.append(line)
        for lang in texts:
            texts[lang].append(check.cell(row[lang], lang, line))
    if texts is None:
        raise KdemoError(f"{path} is empty. Write one object per line, like {_EXAMPLE}.")
    fix = "Give every object its own 'id', or leave 'id' out and kdemo numbers the lines."
    check_unique_ids(ids, lines, str(path), fix)
    return ParallelCorpus(ids, texts, name=path.name, groups=[path.stem] * len(ids), notes=check.notes())


def _parse_line(path: Path, line: int, raw: str) -> tuple[str | None, dict[str, object]]:
    """(row id or None, {language code: value}) of one line, every key checked."""
    where = f"{path}, line {line}"
    try:
        obj = json.loads(raw, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        whole = " (the file looks like one JSON document; JSONL needs one object per line)" if raw.strip() in ("[", "{") else ""
        raise KdemoError(f"{where}: not valid JSON ({exc.msg}){whole}.") from None
    except _RepeatedKey as exc:
        raise KdemoError(f"{where}: the key '{exc.args[0]}' appears twice in one object; keep one.") from None
    if not isinstance(obj, dict):
        raise KdemoError(f"{where}: {describe(obj)}, not an object. Each line must be one object like {_EXAMPLE}.")
    if not obj:
        raise KdemoError(f"{where}: an empty object. Each line must be one object like {_EXAMPLE}.")
    row_id: str | None = None
    id_key = ""
    keys: dict[str, str] = {}  # code -> the key as written
    row: dict[str, object] = {}
    for key, value in obj.items():
        if key.strip().lower() == "id":
            if id_key:
                raise KdemoError(f"{where}: keys '{id_key}' and '{key}' both name the row id; keep one.")
            id_key, row_id = key, _row_id(where, value)
            continue
        code = _key_code(where, key)
        if code in keys:
            raise KdemoError(f"{where}: keys {same_meaning(keys[code], key, code)}")
        keys[code] = key
        row[code] = value
    return row_id, row


def _key_code(where: str, key: str) -> str:
    try:
        return normalize_code(key)
    except KdemoError:
        raise KdemoError(
            f"{where}: the key '{key}' is not a language code kdemo knows. Keys must be codes such as en, de, "
            "fr (plus an optional 'id'); remove other keys."
        ) from None


def _row_id(where: str, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)[:40]
        raise KdemoError(f"{where}: the id is {describe(value)} ({shown}); an id must be a string or a whole number.")
    if not value.strip():
        raise KdemoError(f"{where}: the id is empty. Give every object an id, or leave 'id' out.")
    return value.strip()


def _first_columns(path: Path, line: int, row: dict[str, object]) -> dict[str, list[str]]:
    """The columns the first object sets, in its key order."""
    if "en" not in row:
        raise KdemoError(f"{path}, line {line}: no 'en' key; kdemo distils from English. Add one, e.g. {_EXAMPLE}.")
    if len(row) < 2:
        raise KdemoError(f"{path}, line {line}: English but no translation. Add one, e.g. {_EXAMPLE}.")
    return {lang: [] for lang in row}
