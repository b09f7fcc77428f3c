"""English-only sentences: the cheap half of distillation.

The student must put English sentences where the teacher does; that needs no translation, so
kdemo trains (and fits its warm start) on English sentences beyond the parallel corpus. The
built-in set (``assets/english/``, see its README) was written for kdemo in several genres.
"""

from __future__ import annotations

from pathlib import Path

from kdemo.errors import KdemoError

ENGLISH = Path(__file__).resolve().parent.parent.parent / "assets" / "english"


def load_english(source: str = "builtin", max_chars: int = 600) -> list[str]:
    """Sentences from ``builtin`` (every ``assets/english/*.txt``) or a UTF-8 file, one per line.

    Lines are split on ``\\n`` only; blank lines are skipped and repeats dropped.

    Example:
        >>> len(load_english()) >= 6000
        True
    """
    if source in ("", "none"):
        return []
    files = sorted(ENGLISH.glob("*.txt")) if source == "builtin" else [Path(source).expanduser()]
    if not files or not all(f.is_file() for f in files):
        raise KdemoError(f"English sentences not found: {source}. Give 'builtin', a text file with one sentence per line, or ''.")
    sentences: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise KdemoError(f"{path.name}, line {line}: bytes that are not UTF-8. Save the file as UTF-8.") from None
        sentences += [" ".join(line.split())[:max_chars] for line in text.split("\n") if line.strip()]
    return list(dict.fromkeys(sentences))
