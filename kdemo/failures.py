"""Where alignment fails: the dev pairs a trained student handles worst.

A pair is a dev row's English sentence and one of its translations. It fails when the student's
translation finds the wrong English sentence among all the dev rows (its nearest English
neighbour in the student's space is another row), and it is weak when the student's translation
lies far from the teacher's English embedding (low cosine). The worst are listed first: wrong
neighbours, then the lowest cosines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kdemo.evaluate import MAX_ROWS, cosine_matrix, normalize_rows

if TYPE_CHECKING:
    import pandas as pd

    from kdemo.data import ParallelCorpus

PER_LANGUAGE = 25


def worst_pairs(dev: ParallelCorpus, student: dict[str, np.ndarray], teacher_en: np.ndarray,
                per_language: int = PER_LANGUAGE) -> list[dict[str, Any]]:
    """Up to ``per_language`` worst pairs per language, as JSON-ready records.

    Example:
        >>> from kdemo.data import ParallelCorpus
        >>> dev = ParallelCorpus(["a", "b"], {"en": ["Hi.", "Bye."], "de": ["Tschüss.", "Hallo."]})
        >>> e = {"en": np.eye(2), "de": np.eye(2)[::-1]}
        >>> [(r["id"], r["correct"], r["neighbour"]) for r in worst_pairs(dev, e, np.eye(2))]
        [('a', False, 'Bye.'), ('b', False, 'Hi.')]
    """
    n = min(len(dev), MAX_ROWS)
    en = student["en"][:n]
    teacher = normalize_rows(teacher_en[:n])
    records: list[dict[str, Any]] = []
    for lang in dev.languages:
        xx = student[lang][:n]
        nearest = cosine_matrix(xx, en).argmax(axis=1)
        to_teacher = np.sum(normalize_rows(xx) * teacher, axis=1)
        rows = sorted(range(n), key=lambda i: (bool(nearest[i] == i), float(to_teacher[i])))[:per_language]
        for i in rows:
            j = int(nearest[i])
            records.append({"lang": lang, "id": dev.ids[i], "en": dev.texts["en"][i], "translation": dev.texts[lang][i],
                            "cos_to_teacher": round(float(to_teacher[i]), 4), "correct": bool(j == i),
                            "neighbour": dev.texts["en"][j]})
    return records


def failures_table(records: list[dict[str, Any]], language: str | None = None) -> pd.DataFrame:
    """The records as a table for the app, optionally one language only; wrong neighbours first.

    Example:
        >>> failures_table([{"lang": "de", "id": "a", "en": "Hi.", "translation": "Tschüss.", "cos_to_teacher": 0.1,
        ...                  "correct": False, "neighbour": "Bye."}]).columns.tolist()
        ['language', 'English', 'translation', 'found instead', 'cos to teacher', 'id']
    """
    import pandas as pd

    from kdemo.languages import language_name

    rows = [r for r in records if not language or r["lang"] == language]
    rows.sort(key=lambda r: (r["correct"], r["cos_to_teacher"]))
    return pd.DataFrame([{
        "language": f"{language_name(r['lang'])} ({r['lang']})", "English": r["en"], "translation": r["translation"],
        "found instead": "✓ (its translation)" if r["correct"] else r["neighbour"], "cos to teacher": r["cos_to_teacher"],
        "id": r["id"],
    } for r in rows], columns=["language", "English", "translation", "found instead", "cos to teacher", "id"])
