"""The project's exceptions: messages written for the person who has to act on them."""

from __future__ import annotations


class KdemoError(Exception):
    """A problem the user can fix: the message says what was wrong, where, and what to do.

    The CLI prints it without a traceback and the app shows it as a message.

    Example:
        >>> raise KdemoError("corpus.tsv, line 3: the 'de' cell is empty; fill it or drop the row")
        Traceback (most recent call last):
        ...
        kdemo.errors.KdemoError: corpus.tsv, line 3: the 'de' cell is empty; fill it or drop the row
    """


class RunCancelled(Exception):
    """Raised inside long work (embedding, evaluation, fitting) when the person cancelled the run.

    Not an error: the caller stops, saves nothing, and says so.
    """
