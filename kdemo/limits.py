"""Limits on what one visitor may ask of a shared server, each settable by an environment variable.

The app is meant to be hosted for strangers on two CPU cores: every upload, text box and API value
is bounded, and the UI states the bounds. Self-hosters raise them with ``KDEMO_*`` variables; the
command line is not bound by the upload limits (it reads your own files) but still never builds
a quadratic matrix over more than ``dev_rows`` rows.

Example:
    >>> limits().compare_sentences
    400
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from kdemo.errors import KdemoError


@dataclass(frozen=True)
class Limits:
    """The bounds, with the environment variable that sets each (``KDEMO_`` + upper-case name)."""

    upload_mb: float = 20.0  # size of an uploaded corpus file
    upload_rows: int = 50_000  # rows of an uploaded corpus
    text_chars: int = 20_000  # the Compare "Your text" box and pasted search collections
    compare_sentences: int = 400  # sentences in one Compare view
    query_chars: int = 500  # one search query
    index_lines: int = 5_000  # lines of an English collection to search
    dev_rows: int = 1_000  # dev rows evaluated at the end of a run (a larger dev split is sampled)
    app_minutes: float = 30.0  # budget of a run started from the app

    def describe(self) -> str:
        """The limits in one line, for the UI."""
        return (f"Uploads up to {self.upload_mb:g} MB and {self.upload_rows:,} rows; runs up to {self.app_minutes:g} minutes; "
                f"Compare up to {self.compare_sentences} sentences ({self.text_chars:,} characters of text); "
                f"search collections up to {self.index_lines:,} lines.")


def limits() -> Limits:
    """The limits in force: defaults overridden by ``KDEMO_UPLOAD_MB`` and friends."""
    values = {}
    for f in fields(Limits):
        raw = os.environ.get(f"KDEMO_{f.name.upper()}")
        if raw is None:
            continue
        try:
            value = float(raw) if f.type in ("float", float) else int(raw)
        except ValueError:
            raise KdemoError(f"KDEMO_{f.name.upper()}={raw!r} is not a number.") from None
        if value <= 0:
            raise KdemoError(f"KDEMO_{f.name.upper()} must be positive, got {raw}.")
        values[f.name] = value
    return Limits(**values)


def check_text(text: str, what: str, max_chars: int) -> str:
    """``text`` if it is within ``max_chars``, else a message saying so (and nothing is processed).

    Example:
        >>> check_text("x" * 30, "Your text", 10)
        Traceback (most recent call last):
        ...
        kdemo.errors.KdemoError: Your text has 30 characters; the limit here is 10. Shorten it and try again.
    """
    text = text or ""
    if len(text) > max_chars:
        raise KdemoError(f"{what} has {len(text):,} characters; the limit here is {max_chars:,}. Shorten it and try again.")
    return text
