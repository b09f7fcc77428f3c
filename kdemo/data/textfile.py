"""Reading a corpus file as text, and the checks every reader shares.

Lines split on "\\n" only (the "\\r" of a CRLF file is dropped), so U+2028, U+2029, U+0085, vertical
tabs and form feeds stay inside the sentence they belong to; ``RowChecker.cell`` turns them into
spaces. Anything that cannot be plain text (other encodings, binary files, NUL bytes, control
characters, a byte-order mark in the middle) is rejected with the file and line, never guessed at.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from kdemo.errors import KdemoError
from kdemo.languages import language_name, normalize_code

logger = logging.getLogger(__name__)

MAX_CHARS = 600

# What people save under a corpus name by mistake, by the bytes it starts with.
_SIGNATURES = {
    b"PK\x03\x04": "a zip archive (an Excel .xlsx or OpenDocument workbook?)",
    b"\xd0\xcf\x11\xe0": "an old Office document (an Excel .xls workbook?)",
    b"\x1f\x8b": "gzip-compressed",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
}
# Characters no sentence holds: C0 controls that are not whitespace, DEL, a byte-order mark after the
# start, and a carriage return that does not end a line. Tabs, \x0b, \x0c and \x1c-\x1f are whitespace.
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1b\x7f\ufeff]|\r(?!\n|\\Z)")
# The same in a decoded value (a JSON "\u0000" escape, a dataset cell), plus lone UTF-16 surrogates,
# which no UTF-8 file can hold and which would fail later, when the text is encoded.
_NOT_IN_CELL = re.compile("[\x00-\x08\x0e-\x1b\x7f\ud800-\udfff]")


def decoded_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (a leading byte-order mark and CRLF endings allowed).

    Example:
        >>> path = Path("/tmp/kdemo-example.en")
        >>> _ = path.write_bytes("One.\\r\\nTwo\\u2028halves.\\n".encode())
        >>> decoded_lines(path)
        ['One.', 'Two\\u2028halves.']
    """
    raw = path.read_bytes()
    for signature, kind in _SIGNATURES.items():
        if raw.startswith(signature):
            raise KdemoError(
                f"{path} is {kind}, not UTF-8 text. Save or export it as UTF-8 text (TSV, CSV, JSONL, "
                "or one sentence per line)."
            )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise KdemoError(
            f"{path}, line {line}: bytes that are not UTF-8 (at byte {exc.start}). Save the file as UTF-8."
        ) from None
    bad = _NOT_TEXT.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise KdemoError(f"{path}, line {line}: {_why_not_text(bad.group())}")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _why_not_text(char: str) -> str:
    if char == "\x00":
        return "a NUL byte, so this is not UTF-8 text (UTF-16, or a binary file?). Save it as UTF-8 text."
    if char == "\r":
        return (
            "a carriage return (\\r) that does not end a line (old Mac line endings, or a stray \\r in a "
            "sentence). Save the file with \\n or \\r\\n line endings."
        )
    if char == "\ufeff":
        return (
            "a byte-order mark (U+FEFF) after the start of the file; two files were probably joined. "
            "Remove the mark and any second header after it."
        )
    return f"the control character U+{ord(char):04X}, which no sentence holds. Remove it (is this a text file?)."


def describe(value: object) -> str:
    """What a JSON value is, in words: ``a list``, ``an object``, ``null``...

    Example:
        >>> describe([1]), describe(None), describe(True)
        ('a list', 'null', 'a boolean')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def is_language(code: str) -> bool:
    """Whether ``normalize_code`` accepts ``code``.

    Example:
        >>> is_language("deu"), is_language("txt")
        (True, False)
    """
    try:
        normalize_code(code)
    except KdemoError:
        return False
    return True


def same_meaning(first: str, second: str, code: str) -> str:
    """The end of a message about two names for one language.

    Example:
        >>> same_meaning("de", "deu", "de")
        "'de' and 'deu' both mean German (de); keep one."
    """
    return f"'{first}' and '{second}' both mean {language_name(code)} ({code}); keep one."


def check_unique_ids(ids: Sequence[str], lines: Sequence[int], where: str, fix: str, unit: str = "lines") -> None:
    """Raise naming the first repeated id, how often it occurs and its first two ``lines``.

    Example:
        >>> check_unique_ids(["a", "b"], [2, 3], "c.tsv", "Give every row its own id.")
    """
    seen: dict[str, list[int]] = {}
    for row_id, line in zip(ids, lines):
        seen.setdefault(row_id, []).append(line)
    for row_id, at in seen.items():
        if len(at) > 1:
            raise KdemoError(
                f"{where}: the id {row_id!r} occurs {len(at)} times (first on {unit} {at[0]} and {at[1]}); "
                f"ids must be unique. {fix}"
            )


class RowChecker:
    """Shared cell validation: a non-empty string, truncated when over-long, with file and line in errors.

    Example:
        >>> RowChecker(Path("c.tsv")).cell("  Hello\\u2028world. ", "en", 2)
        'Hello world.'
    """

    def __init__(self, path: Path, unit: str = "line") -> None:
        self.path = path
        self.unit = unit
        self.truncated = 0

    def cell(self, value: object, lang: str, line: int) -> str:
        """The cleaned text of one cell: whitespace (any Unicode separator) collapsed to single spaces."""
        if not isinstance(value, str):
            raise KdemoError(
                f"{self.path}, {self.unit} {line}: the '{lang}' value is {describe(value)}; every value must be a string."
            )
        bad = _NOT_IN_CELL.search(value)
        if bad is not None:
            what = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "the control character"
            raise KdemoError(
                f"{self.path}, {self.unit} {line}: the '{lang}' text holds {what} U+{ord(bad.group()):04X}, "
                "which no sentence holds. Remove it."
            )
        text = " ".join(value.split())
        if not text:
            raise KdemoError(f"{self.path}, {self.unit} {line}: the '{lang}' text is empty. Fill it in or remove the row.")
        if len(text) > MAX_CHARS:
            self.truncated += 1
            text = text[:MAX_CHARS]
        return text

    def notes(self) -> list[str]:
        """A note on truncated texts, when there were any."""
        if not self.truncated:
            return []
        note = f"{self.path.name}: {self.truncated} over-long texts truncated to {MAX_CHARS} characters."
        logger.warning(note)
        return [note]
