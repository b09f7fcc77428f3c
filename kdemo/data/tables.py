"""TSV and CSV corpora: a header of language codes (an ``id`` column optional), or a headerless
two-column file whose name gives the pair (``talks.en-de.tsv``).

The first row is read as a header only when it looks like one (short code-like cells, at least one a
known code); when that reading fails, the message says so and how to mark the file up instead.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import NamedTuple

from kdemo.data.corpus import ParallelCorpus
from kdemo.data.textfile import RowChecker, check_unique_ids, decoded_lines, is_language, same_meaning
from kdemo.errors import KdemoError
from kdemo.languages import normalize_code

# Large enough for any cell worth truncating to MAX_CHARS, small enough that a quote never closed
# cannot swallow a whole corpus into one field unnoticed.
FIELD_LIMIT = 4 * 1024 * 1024
ID = "#id"  # the id column's key; "id" itself is Indonesian once codes are normalised
_CODE_LIKE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*\Z")


class _Row(NamedTuple):
    first: int  # the line the row starts on
    last: int  # the line it ends on (later than first only for a quoted CSV cell with line breaks)
    cells: list[str]


def read_table(path: Path) -> ParallelCorpus:
    """A TSV (``.tsv``, ``.txt``) or CSV file as a corpus; ids come from an ``id`` column or the line numbers.

    Example:
        >>> corpus = read_table(Path("tests/data/tiny.tsv"))
        >>> corpus.languages
        ('de', 'fr')
    """
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    rows = _parse(path, delimiter)
    if not rows:
        raise KdemoError(
            f"{path} is empty. Start it with a header of language codes (e.g. 'en{_shown(delimiter)}de'), "
            "then one sentence pair per line."
        )
    columns, body, source = _columns(path, rows, delimiter)
    if not body:
        raise KdemoError(f"{path}: a header but no rows. Add one sentence pair per line below the header.")
    check = RowChecker(path)
    ids: list[str] = []
    texts: dict[str, list[str]] = {c: [] for c in columns if c != ID}
    for row in body:
        values = _values(path, row, columns, source, delimiter)
        ids.append(values.get(ID) or f"{path.stem}-{row.first:05d}")
        for lang in texts:
            texts[lang].append(check.cell(values[lang], lang, row.first))
    fix = "Give every row its own id, or remove the id column and kdemo numbers the rows."
    check_unique_ids(ids, [row.first for row in body], str(path), fix)
    return ParallelCorpus(ids, texts, name=path.name, groups=[path.stem] * len(ids), notes=check.notes())


def _parse(path: Path, delimiter: str) -> list[_Row]:
    """The non-blank rows, each with the lines it spans; csv errors become messages with a line."""
    lines = decoded_lines(path)
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    reader = csv.reader((line + "\n" for line in lines), delimiter=delimiter, quoting=quoting)
    rows: list[_Row] = []
    done = 0  # lines consumed by the rows read so far
    previous_limit = csv.field_size_limit(FIELD_LIMIT)
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append(_Row(done + 1, reader.line_num, cells))
            done = reader.line_num
    except csv.Error as exc:
        reason = str(exc)
        if "field larger than field limit" in reason:
            runs_on = f" (it runs on to line {reader.line_num})" if reader.line_num > done + 1 else ""
            check = "Check for a quote that is never closed, or split the text." if delimiter == "," else "Split the text."
            reason = f"a cell longer than {FIELD_LIMIT:,} characters{runs_on}. {check}"
        raise KdemoError(f"{path}, line {done + 1}: the row cannot be read: {reason}") from None
    finally:
        csv.field_size_limit(previous_limit)
    return rows


def _columns(path: Path, rows: list[_Row], delimiter: str) -> tuple[list[str], list[_Row], str]:
    """(column keys, data rows, where the columns came from), from the header or the file name."""
    first = rows[0]
    cells = [cell.strip() for cell in first.cells]
    pair = _name_pair(path)
    if _looks_like_header(cells, strict=pair is not None):
        return _header_columns(path, first, pair, delimiter), rows[1:], "the header has"
    _reject_misread_header(path, first, delimiter)
    if pair is None:
        raise KdemoError(
            f"{path} has no header: line {first.first} ({_shown(delimiter).join(cells)[:80]!r}) is not a row of "
            f"language codes. Add a first line such as 'en{_shown(delimiter)}de' (an 'id' column is optional), "
            "or name a two-column file like 'talks.en-de.tsv'."
        )
    columns = _pair_columns(path, pair)
    if len(first.cells) != 2:
        raise KdemoError(
            f"{path}, line {first.first}: {len(first.cells)} columns, but a file without a header holds the two "
            f"languages its name gives ({'-'.join(pair)}). Add a header of language codes for more columns."
        )
    return columns, rows, f"the file name {path.name} gives"


def _looks_like_header(cells: list[str], strict: bool) -> bool:
    """Short code-like cells (empty ones allowed, to be named later), at least one a known code.

    ``strict`` (the file name already gives the pair): every non-empty cell must be a known code or 'id'.
    """
    tokens = [cell for cell in cells if cell]
    if not tokens or not all(_CODE_LIKE.match(cell) for cell in tokens):
        return False
    known = [cell.lower() == "id" or is_language(cell) for cell in tokens]
    return all(known) if strict else any(known)


def _header_columns(path: Path, row: _Row, pair: list[str] | None, delimiter: str) -> list[str]:
    """Column keys of a header row, each checked: named, known, not repeated, English present."""
    cells = [cell.strip() for cell in row.cells]
    where = f"{path}, line {row.first}"
    if_data = _if_data(path, row, delimiter)
    columns: list[str] = []
    for n, cell in enumerate(cells, start=1):
        if not cell:
            raise KdemoError(
                f"{where}: the header has an empty column name at column {n} (a stray {_sep_name(delimiter)}, or "
                "an unnamed index column?). Name the column, or remove it from every row."
            )
        code = ID if cell.lower() == "id" else normalize_code(cell) if is_language(cell) else None
        if code is None:
            raise KdemoError(
                f"{where}: unknown language code '{cell}' in the header (column {n}). "
                f"Use ISO 639-1 codes such as en, de, fr, zh. {if_data}"
            )
        if code in columns:
            other = columns.index(code)
            what = "both name the id column; keep one." if code == ID else same_meaning(cells[other], cell, code)
            raise KdemoError(f"{where}: columns {other + 1} and {n} of the header: {what}")
        columns.append(code)
    langs = [c for c in columns if c != ID]
    shown = _shown(delimiter).join(cells)
    if "en" not in langs:
        raise KdemoError(
            f"{where} was read as a header of language codes ({shown}), and it has no 'en' column; "
            f"kdemo distils from English. {if_data}"
        )
    if len(langs) < 2:
        raise KdemoError(f"{where}: the header ({shown}) has English but no translation column. Add one, e.g. 'de'.")
    named = _pair_codes(pair)
    if named and not set(named) <= set(langs):
        raise KdemoError(
            f"{where}: the header ({shown}) does not match the languages in the file name ({'-'.join(pair or [])}). "
            "Fix the header or rename the file."
        )
    return columns


def _if_data(path: Path, row: _Row, delimiter: str) -> str:
    rename = f", or name the file like '{path.stem}.en-de{path.suffix}'" if len(row.cells) == 2 else ""
    return (
        f"If line {row.first} is data rather than a header, put a header such as 'en{_shown(delimiter)}de' "
        f"above it{rename}."
    )


def _reject_misread_header(path: Path, row: _Row, delimiter: str) -> None:
    """A first row that would be a header with other separators or without quotes: say so."""
    line = delimiter.join(row.cells)
    unquoted = [cell.strip().strip('"') for cell in row.cells]
    if delimiter == "\t" and unquoted != [c.strip() for c in row.cells] and _looks_like_header(unquoted, strict=False):
        raise KdemoError(
            f"{path}, line {row.first}: the header is in double quotes, but .tsv files are read as they are "
            "(no CSV quoting). Remove the quotes, or save the file as .csv."
        )
    for other in (",", ";", "\t", "|"):
        cells = [cell.strip() for cell in line.split(other)]
        if other != delimiter and len(cells) > 1 and _looks_like_header(cells, strict=True):
            raise KdemoError(
                f"{path}, line {row.first}: the columns seem to be separated by {_sep_name(other)}s, but "
                f"{path.suffix or 'this'} files must use {_sep_name(delimiter)}s. Save it again with "
                f"{_sep_name(delimiter)}s (or give it the extension that matches its separator)."
            )


def _values(path: Path, row: _Row, columns: list[str], source: str, delimiter: str) -> dict[str, str]:
    """One data row as {column key: raw cell}, after checking its shape."""
    if len(row.cells) != len(columns):
        names = ", ".join("id" if c == ID else c for c in columns)
        runaway = f" The row runs on to line {row.last}: a quote is probably not closed." if row.last > row.first else ""
        raise KdemoError(
            f"{path}, line {row.first}: {len(row.cells)} columns but {source} {len(columns)} ({names}). "
            f"Check for a missing or extra {_sep_name(delimiter)}.{runaway}"
        )
    values = dict(zip(columns, row.cells))
    for key, cell in values.items():
        label = "id" if key == ID else key
        if "\n" in cell:
            raise KdemoError(
                f"{path}, line {row.first}: the '{label}' cell runs over lines {row.first}-{row.last}. If a quote "
                "is not closed, close it; if the line break is real, replace it with a space."
            )
        quoted = cell.strip()
        if delimiter == "\t" and len(quoted) > 2 and quoted[0] == quoted[-1] == '"' and '""' in quoted[1:-1]:
            raise KdemoError(
                f"{path}, line {row.first}: the '{label}' cell has CSV quoting ({quoted[:40]}...), but .tsv files "
                "are read as they are, so the quotes would be trained on. Remove the quoting, or save as .csv."
            )
    if ID in values:
        values[ID] = values[ID].strip()
        if not values[ID]:
            raise KdemoError(f"{path}, line {row.first}: the id is empty. Give every row an id, or remove the id column.")
    return values


def _name_pair(path: Path) -> list[str] | None:
    """The two code-like parts of a name like ``talks.en-de.tsv`` or ``en_de.tsv``, unchecked."""
    tag = path.stem.rsplit(".", 1)[-1]
    for sep in ("-", "_"):
        parts = tag.split(sep)
        if len(parts) == 2 and all(_CODE_LIKE.match(part) for part in parts):
            return parts
    return None


def _pair_codes(pair: list[str] | None) -> list[str] | None:
    """The normalised codes of a name pair, or None when it has no pair or an unknown code."""
    if pair is None or not all(is_language(part) for part in pair):
        return None
    return [normalize_code(part) for part in pair]


def _pair_columns(path: Path, pair: list[str]) -> list[str]:
    """The columns of a headerless file, from the pair in its name."""
    for part in pair:
        if not is_language(part):
            raise KdemoError(
                f"{path} has no header, and its name gives the pair {'-'.join(pair)}, but '{part}' is not a "
                "language code kdemo knows. Use ISO 639-1 codes such as en, de, fr, zh, or add a header."
            )
    columns = [normalize_code(part) for part in pair]
    if columns[0] == columns[1]:
        raise KdemoError(f"{path.name}: in the file name, {same_meaning(pair[0], pair[1], columns[0])}")
    if "en" not in columns:
        raise KdemoError(f"{path.name}: neither column is English ('en'); the file name gives {'-'.join(pair)}.")
    return columns


def _shown(delimiter: str) -> str:
    return "<TAB>" if delimiter == "\t" else delimiter


def _sep_name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[delimiter]
