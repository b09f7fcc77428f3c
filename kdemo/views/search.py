"""The Search tab: query an English index the teacher built, in any language.

An English collection is embedded once *by the teacher*, as an existing English search index
would be. A query is embedded by the teacher and by the run's student; both top-k lists are shown
side by side. The teacher only understands English, so its list is right for English queries and
mostly wrong for others; the distilled student puts a German or Chinese query where the teacher
would put its English translation, so it finds the same sentences. That is the practical payoff
of distillation: keep your English index, query it in 13 languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kdemo.config import DEFAULT_TEACHER
from kdemo.errors import KdemoError
from kdemo.limits import check_text, limits

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from kdemo.runs import Run

BUILTIN_COLLECTION = "Built-in corpus (English side, 1,330 sentences)"
OWN_COLLECTION = "Your English lines"
COLLECTIONS = (BUILTIN_COLLECTION, OWN_COLLECTION)
EXPLANATION = (
    "**Keep your English index, query it in any language.** The collection below is embedded once by the "
    "English *teacher*, the way an existing English search index was built. Your query is embedded twice: by "
    "the teacher (left) and by the distilled *student* (right). The teacher only knows English, so a German "
    "or Chinese query lands far from its meaning; the student puts it where the teacher puts the English "
    "sentence, so it finds the right entries without re-indexing anything."
)


@dataclass(frozen=True)
class SearchForm:
    """The Search tab's inputs, by name."""

    run_id: str = ""
    query: str = ""
    collection: str = BUILTIN_COLLECTION
    lines: str = ""
    k: int = 5


@dataclass
class SearchView:
    summary: str
    results: pd.DataFrame


def collection_texts(form: SearchForm) -> list[str]:
    """The English sentences to search: the built-in corpus's English side, or the visitor's lines."""
    from kdemo.views.state import builtin_corpus

    if form.collection == BUILTIN_COLLECTION:
        return list(builtin_corpus().texts["en"])
    if form.collection != OWN_COLLECTION:
        raise KdemoError(f"Choose a collection: {', '.join(COLLECTIONS)}.")
    bound = limits()
    text = check_text(form.lines, "The collection", bound.text_chars)
    lines = list(dict.fromkeys(" ".join(line.split()) for line in text.split("\n") if line.strip()))
    if len(lines) < 2:
        raise KdemoError("Paste at least two English lines to search, one per line.")
    if len(lines) > bound.index_lines:
        raise KdemoError(f"The collection has {len(lines):,} lines; the limit here is {bound.index_lines:,}.")
    return lines


def search_view(form: SearchForm, run: Run | None) -> SearchView:
    """Top-k of the teacher's English index for the query, embedded by the teacher and by the student."""
    import pandas as pd

    from kdemo.evaluate import cosine_matrix
    from kdemo.models import encode, load_teacher
    from kdemo.views.state import EMBEDDINGS, student_for

    query = check_text((form.query or "").strip(), "The query", limits().query_chars)
    if not query:
        raise KdemoError("Type a query, in any language.")
    if run is None:
        raise KdemoError("Pick a run: its student is what searches the teacher's index across languages.")
    k = max(1, min(int(form.k), 20))
    texts = collection_texts(form)
    teacher_name = run.config.teacher or DEFAULT_TEACHER
    teacher = load_teacher(teacher_name)
    index = EMBEDDINGS.get(f"index|{teacher_name}", texts, lambda t: encode(teacher, t))
    columns = {}
    for who, model in (("teacher", teacher), ("student", student_for(run))):
        scores = cosine_matrix(encode(model, [query]), index)[0]
        columns[who] = _top(scores, texts, k)
    table = pd.DataFrame({"rank": range(1, k + 1),
                          "teacher's query → English index": [t for t, _ in columns["teacher"]],
                          "teacher score": [s for _, s in columns["teacher"]],
                          "student's query → the same index": [t for t, _ in columns["student"]],
                          "student score": [s for _, s in columns["student"]]})
    summary = (f"Searched **{len(texts):,} English sentences** indexed by the teacher (`{teacher_name.split('/')[-1]}`) "
               f"with the query embedded by the teacher and by run `{run.run_id}`'s student.")
    return SearchView(summary, table)


def _top(scores: np.ndarray, texts: list[str], k: int) -> list[tuple[str, float]]:
    import numpy as np

    order = np.argsort(-scores)[:k]
    return [(texts[i], round(float(scores[i]), 3)) for i in order]
