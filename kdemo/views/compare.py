"""The Compare tab: teacher and a run's student side by side on a set of sentences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kdemo import viz
from kdemo.config import DEFAULT_TEACHER
from kdemo.errors import KdemoError
from kdemo.limits import check_text, limits

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go
    from sentence_transformers import SentenceTransformer

    from kdemo.compare import Comparison, SentenceSet
    from kdemo.runs import Run

TEACHER_ONLY = "(teacher only)"
SOURCES = ("Example set", "Test sentences", "Your text")
USER_TEXT_PLACEHOLDER = """en: The weather is lovely today.
de: Das Wetter ist heute herrlich.
ja: 今日はとてもいい天気です。

en: Where is the train station?
es: ¿Dónde está la estación de tren?"""


@dataclass(frozen=True)
class CompareForm:
    """The Compare tab's inputs, by name."""

    run_id: str = TEACHER_ONLY
    source: str = "Example set"
    example: str = "one_meaning_13_languages"
    n: int = 8
    languages: tuple[str, ...] = ("de", "ru", "zh", "ar")
    text: str = ""
    method: str = "UMAP"
    dims: str = "2D"
    layout: str = "Side by side"
    seed: int = 0


@dataclass
class CompareView:
    """Everything the Compare tab draws for one request."""

    comparison: Comparison
    summary: str
    map_figure: go.Figure
    heatmaps: go.Figure
    pairs: pd.DataFrame
    sentence_labels: list[str]
    retrieval: go.Figure


def open_selected(run_id: str | None) -> Run | None:
    """The run a picker names, opened once (None for the teacher alone)."""
    from kdemo.runs import open_run

    if not run_id or run_id == TEACHER_ONLY:
        return None
    return open_run(run_id)


def sentence_set(form: CompareForm) -> SentenceSet:
    """The sentences a Compare request asks for (bounded by ``kdemo.limits``)."""
    from kdemo.compare import from_corpus, load_example_set, parse_user_text
    from kdemo.views.state import builtin_test

    bound = limits()
    if form.source == "Example set":
        return load_example_set(form.example)
    if form.source == "Test sentences":
        if not form.languages:
            raise KdemoError("Tick at least one language to sample test sentences in.")
        return from_corpus(builtin_test(), int(form.n), list(form.languages), form.seed, bound.compare_sentences)
    if form.source == "Your text":
        return parse_user_text(check_text(form.text, "Your text", bound.text_chars), bound.compare_sentences)
    raise KdemoError(f"Unknown sentence source {str(form.source)[:40]!r}; choose one of {', '.join(SOURCES)}.")


def compare_view(form: CompareForm, run: Run | None) -> CompareView:
    """Embed the chosen sentences with the teacher and the run's student; build every Compare output."""
    from kdemo.compare import compare, pair_table, project
    from kdemo.evaluate import cosine_matrix
    from kdemo.models import load_teacher
    from kdemo.views.state import student_for

    if form.method not in ("UMAP", "PCA") or form.dims not in ("2D", "3D") or form.layout not in ("Overlay", "Side by side"):
        raise KdemoError("Choose UMAP or PCA, 2D or 3D, and Overlay or Side by side.")
    sentences = sentence_set(form)
    student = student_for(run) if run is not None else None
    teacher_name = run.config.teacher if run is not None else DEFAULT_TEACHER
    comp = compare(sentences, load_teacher(teacher_name), student, embed=_cached_encode(run))
    labels = sentences.labels()
    matrices = {name: cosine_matrix(emb) for name, emb in comp.models.items()}
    joint = form.layout == "Overlay"
    points = project(comp, method=form.method.lower(), dims=3 if form.dims == "3D" else 2, joint=joint, seed=form.seed)
    title = f"{form.method} of {len(sentences)} sentences — lines join translations of one meaning"
    pairs = pair_table(comp)
    return CompareView(comp, _summary(sentences, pairs, run), viz.embedding_map(points, joint=joint, title=title),
                       viz.similarity_heatmaps(matrices, labels), pairs, [f"{i + 1}. {label}" for i, label in enumerate(labels)],
                       viz.retrieval_pair(run.retrieval if run else {}))


def _cached_encode(run: Run | None) -> Callable[[str, SentenceTransformer, list[str]], np.ndarray]:
    """Embeddings served from the app's cache, keyed by role, run (and its student's files) and texts."""
    from kdemo.models import encode
    from kdemo.views.state import EMBEDDINGS

    stamp = f"{run.run_id}:{run.layout.student.stat().st_mtime if run.layout.student.exists() else 0}" if run else ""
    teacher = run.config.teacher if run else DEFAULT_TEACHER
    return lambda role, model, texts: EMBEDDINGS.get(f"{role}|{teacher if role == 'teacher' else stamp}", texts,
                                                      lambda t: encode(model, t))


def _summary(sentences: SentenceSet, pairs: pd.DataFrame, run: Run | None) -> str:
    langs = ", ".join(dict.fromkeys(sentences.langs))
    head = f"**{len(sentences)} sentences** ({sentences.name}; {langs})."
    if run is None or pairs.empty or "student cos" not in pairs:
        return head + " Pick a run to see a student beside the teacher."
    t, s = pairs["teacher cos"].mean(), pairs["student cos"].mean()
    return (f"{head} Mean cosine between a sentence and its anchor translation: teacher **{t:.2f}**, "
            f"student **{s:.2f}** ({'+' if s >= t else ''}{s - t:.2f}) — run `{run.run_id}`.")


def neighbours_view(comp: Comparison | None, choice: str | None, k: int) -> pd.DataFrame:
    """Top-k cross-lingual neighbours of the chosen sentence (``"3. de: …"``)."""
    from kdemo.compare import neighbours

    if comp is None:
        raise KdemoError("Run a comparison first.")
    if not choice:
        raise KdemoError("Pick a sentence.")
    try:
        index = int(str(choice).split(".", 1)[0]) - 1
    except ValueError:
        raise KdemoError("Pick a sentence from the list.") from None
    return neighbours(comp, index, max(1, min(int(k), 20)))
