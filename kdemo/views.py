"""What each part of the app shows, computed without gradio: figures, tables and Markdown.

``app.py`` wires these to components; keeping them here lets tests call them directly and keeps
the app a thin layer. Every function raises ``KdemoError`` with a message meant for the page.
"""

from __future__ import annotations

import functools
import html
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdemo import viz
from kdemo.config import DEFAULT_TEACHER, DistillConfig
from kdemo.errors import KdemoError
from kdemo.languages import language_name

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go
    from sentence_transformers import SentenceTransformer

    from kdemo.compare import Comparison
    from kdemo.data import ParallelCorpus
    from kdemo.jobs import JobSnapshot

logger = logging.getLogger(__name__)

TEACHER_ONLY = "(teacher only)"
SOURCES = ("Example set", "Test sentences", "Your text")

INTRO = """
# kdemo — make an English embedding model multilingual
An **embedding model** turns a sentence into a vector; similar meanings get nearby vectors. The
*teacher* (all-MiniLM-L6-v2) only really knows English: a German or Chinese sentence lands far from
its English translation. **Knowledge distillation** (Reimers & Gurevych, 2020) trains a *student*
to put both the English sentence *and* its translations where the teacher puts the English one.
Afterwards, translations sit together and the student can search across languages.

**Compare** shows a ready distilled student next to the teacher · **Train** distils your own
in a few minutes on this CPU · **Runs** lists, downloads and compares the students.
"""

USER_TEXT_PLACEHOLDER = """en: The weather is lovely today.
de: Das Wetter ist heute herrlich.
ja: 今日はとてもいい天気です。

en: Where is the train station?
es: ¿Dónde está la estación de tren?"""


# ---------------------------------------------------------------- shared loading (cached)

@functools.lru_cache(maxsize=1)
def builtin_corpus() -> ParallelCorpus:
    """The built-in corpus (read once per process)."""
    from kdemo.data import load_corpus

    return load_corpus("builtin")


@functools.lru_cache(maxsize=1)
def builtin_test() -> ParallelCorpus:
    """The built-in corpus's fixed test split."""
    from kdemo.data import builtin_split

    return builtin_split(builtin_corpus())[1]


def corpus_languages() -> list[str]:
    """Languages of the built-in corpus, for checkboxes."""
    try:
        return list(builtin_corpus().languages)
    except KdemoError:
        return []


@functools.lru_cache(maxsize=3)
def _student(run_id: str, stamp: float) -> SentenceTransformer:
    from kdemo.runs import load_student

    return load_student(run_id)


_LOAD_LOCK = threading.Lock()


def student_for(run_id: str) -> SentenceTransformer:
    """A run's student, cached while its files are unchanged.

    One load at a time: rebuilding a packed student (or converting me5-small) from two requests
    at once would race on the same folders; the second request waits and then hits the cache.
    """
    from kdemo.runs import student_folder

    with _LOAD_LOCK:
        folder = student_folder(run_id)  # rebuilds a packed student once
        return _student(run_id, (folder / "modules.json").stat().st_mtime)


# ---------------------------------------------------------------- Compare

def run_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for run pickers: the demo run first, then newest first."""
    from kdemo.runs import list_runs

    choices = [(f"{r['run_id']}{'  ★ demo' if r['demo'] else ''}", r["run_id"]) for r in list_runs()]
    return choices + [(TEACHER_ONLY, TEACHER_ONLY)]


def default_run() -> str:
    """The run Compare opens on: the demo run if present (and loadable here), else the newest, else the teacher."""
    from kdemo.runs import can_rebuild

    for _, run_id in run_choices():
        if run_id == TEACHER_ONLY or can_rebuild(run_id):
            return run_id
    return TEACHER_ONLY


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


def sentence_set(source: str, example: str, n: int, languages: list[str], text: str, seed: int = 0):  # -> SentenceSet
    """The sentences a Compare request asks for."""
    from kdemo.compare import from_corpus, load_example_set, parse_user_text

    if source == "Example set":
        return load_example_set(example)
    if source == "Test sentences":
        if not languages:
            raise KdemoError("Tick at least one language to sample test sentences in.")
        return from_corpus(builtin_test(), int(n), list(languages), seed)
    if source == "Your text":
        return parse_user_text(text or "")
    raise KdemoError(f"Unknown sentence source {source!r}.")


def compare_view(run_id: str, source: str, example: str, n: int, languages: list[str], text: str,
                 method: str = "UMAP", dims: str = "2D", layout: str = "Overlay", seed: int = 0) -> CompareView:
    """Embed the chosen sentences with the teacher and the run's student; build every Compare output."""
    from kdemo.compare import compare, pair_table, project
    from kdemo.evaluate import cosine_matrix
    from kdemo.models import load_teacher

    sentences = sentence_set(source, example, n, languages, text, seed)
    student = None if not run_id or run_id == TEACHER_ONLY else student_for(run_id)
    teacher_name = _run_teacher(run_id)
    comp = compare(sentences, load_teacher(teacher_name), student)
    labels = sentences.labels()
    matrices = {name: cosine_matrix(emb) for name, emb in comp.models.items()}
    points = project(comp, method=method.lower(), dims=3 if dims == "3D" else 2, joint=layout == "Overlay", seed=seed)
    title = f"{method} of {len(sentences)} sentences — lines join translations of one meaning"
    pairs = pair_table(comp)
    summary = _compare_summary(sentences, pairs, run_id)
    return CompareView(comp, summary, viz.embedding_map(points, joint=layout == "Overlay", title=title),
                       viz.similarity_heatmaps(matrices, labels), pairs,
                       [f"{i + 1}. {label}" for i, label in enumerate(labels)], retrieval_figure(run_id))


def _run_teacher(run_id: str) -> str:
    if not run_id or run_id == TEACHER_ONLY:
        return DEFAULT_TEACHER
    from kdemo.runs import load_run_config

    return load_run_config(run_id).teacher


def _compare_summary(sentences, pairs: pd.DataFrame, run_id: str) -> str:
    langs = ", ".join(dict.fromkeys(sentences.langs))
    head = f"**{len(sentences)} sentences** ({sentences.name}; {langs})."
    if pairs.empty or "student cos" not in pairs:
        return head + " Pick a run to see a student beside the teacher."
    t, s = pairs["teacher cos"].mean(), pairs["student cos"].mean()
    return (f"{head} Mean cosine between a sentence and its anchor translation: teacher **{t:.2f}**, "
            f"student **{s:.2f}** ({'+' if s >= t else ''}{s - t:.2f}) — run `{run_id}`.")


def neighbours_view(comp: Comparison | None, choice: str, k: int) -> pd.DataFrame:
    """Top-k cross-lingual neighbours of the chosen sentence (``"3. de: …"``)."""
    from kdemo.compare import neighbours

    if comp is None:
        raise KdemoError("Run a comparison first.")
    if not choice:
        raise KdemoError("Pick a sentence.")
    index = int(choice.split(".", 1)[0]) - 1
    return neighbours(comp, index, int(k))


def retrieval_figure(run_id: str) -> go.Figure:
    """The run's language × language retrieval heatmaps (teacher beside student) from its dev split."""
    if not run_id or run_id == TEACHER_ONLY:
        return viz.message_figure("Pick a run to see its language × language retrieval.")
    from plotly.subplots import make_subplots

    from kdemo.runs import load_retrieval

    matrices = load_retrieval(run_id)
    names = [n for n in ("teacher", "student_after") if n in matrices]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[n.replace("_after", "") for n in names], horizontal_spacing=0.1)
    for col, name in enumerate(names, start=1):
        for trace in viz.retrieval_heatmap(matrices[name]).data:
            trace.showscale = col == len(names)
            fig.add_trace(trace, row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
        fig.update_xaxes(side="top", row=1, col=col)
    fig.update_layout(title="Language × language retrieval on the dev split (%): row = query, column = searched",
                      height=480, template="plotly_white", margin=dict(l=40, r=20, t=90, b=20))
    return fig


# ---------------------------------------------------------------- Train

def config_from_form(teacher: str, student: str, corpus_choice: str, upload: str | None, hf_id: str, languages: list[str],
                     budget_kind: str, budget: float, lr: float, batch_size: int, loss: str, seed: int,
                     warm_start: bool, name: str, extend_vocab: int = 0) -> DistillConfig:
    """Validate the Train form into a config; messages name the field to fix."""
    if corpus_choice == "Built-in":
        corpus = "builtin"
    elif corpus_choice == "Upload":
        if not upload:
            raise KdemoError("Upload a corpus file (TSV, CSV or JSONL) or choose the built-in corpus.")
        corpus = str(upload)
    else:
        if not (hf_id or "").strip():
            raise KdemoError("Enter a datasets id, e.g. sentence-transformers/parallel-sentences-talks:en-de.")
        corpus = "hf:" + hf_id.strip()
    if corpus == "builtin" and not languages:
        raise KdemoError("Tick at least one language to train on.")
    if budget is None or not math.isfinite(float(budget)) or budget <= 0:
        raise KdemoError("The budget must be a positive number.")
    budget_fields: dict[str, Any] = {"max_minutes": None, "max_steps": None}
    if budget_kind == "minutes":
        if budget > 60:
            raise KdemoError("Keep a run in the app under 60 minutes; use the CLI for longer runs.")
        budget_fields["max_minutes"] = float(budget)
    else:
        budget_fields["max_steps"] = int(budget)
    return DistillConfig(teacher=(teacher or DEFAULT_TEACHER).strip(), student=(student or "teacher-copy").strip(),
                         corpus=corpus, languages=tuple(languages) if corpus == "builtin" else (), loss=loss,
                         lr=float(lr) if lr not in (None, "") and float(lr) > 0 else None, batch_size=int(batch_size), seed=int(seed), warm_start=bool(warm_start),
                         run_name=(name or "").strip(), extend_vocab=int(extend_vocab or 0), **budget_fields)


def progress_html(snap: JobSnapshot, viewer: str) -> str:
    """A status line with a progress bar and ETA, telling viewers whose run it is."""
    if snap.state == "idle":
        return "<div class='kd-status'>No training running. Choose settings and press <b>Start</b>.</div>"
    mine = snap.owner == viewer
    who = "Your run" if mine else "Someone else's run"
    cfg = snap.config
    what = f"student <code>{html.escape(cfg.student)}</code>, {html.escape(', '.join(cfg.languages) or 'all languages')}" if cfg else ""
    pct = int(round(100 * min(max(snap.progress, 0.0), 1.0)))
    eta = "" if not snap.busy or math.isnan(snap.eta) or snap.step == 0 else f" · about {_duration(snap.eta)} left"
    loss = "" if math.isnan(snap.loss) else f" · loss {snap.loss:.4g}"
    error = f"<div class='kd-error'>{html.escape(snap.error)}</div>" if snap.error else ""
    return (f"<div class='kd-status kd-{snap.state}'><b>{who}</b> ({what}): {html.escape(snap.message)}"
            f"<div class='kd-bar'><div style='width:{pct}%'></div></div>"
            f"<small>{pct}% · step {snap.step}{loss}{eta}</small>{error}</div>")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def result_table(metrics: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Before → after per language (%), with language names, for the result card."""
    from kdemo.evaluate import per_language_table

    table = per_language_table({k: v for k, v in metrics.items() if v})
    if table.empty:
        return table
    if "student_after" in table and "teacher" in table:
        table["gain"] = (table["student_after"] - table["teacher"]).round(1)
    table.insert(0, "language", [language_name(code) if code != "mean" else "mean" for code in table.index])
    return table.rename(columns={"student_before": "student before", "student_after": "student after"}).reset_index(names="code")


def result_figure(metrics: dict[str, dict[str, float]]) -> go.Figure:
    """Grouped bars for the before → after card."""
    from kdemo.evaluate import per_language_table

    if not metrics.get("student_after"):
        return viz.message_figure("The before → after card appears when a run finishes.")
    return viz.before_after(per_language_table(metrics))


def tokenizer_coverage(student: str, extend: int = 0, languages: list[str] | None = None) -> pd.DataFrame:
    """[UNK] rate and pieces per word of a student's tokenizer on the built-in test split, per language.

    With ``extend`` > 0 the student is also extended with that many tokens learned from the train
    split, and the table shows both (``before`` / ``after``).
    """
    import copy

    from kdemo.data import builtin_split
    from kdemo.models import build_student, load_teacher
    from kdemo.vocab import tokenization_stats

    corpus = builtin_corpus().select(languages or [])
    train, test = builtin_split(corpus)
    teacher = load_teacher()
    model = student_for(student) if _is_saved_run(student) else build_student(student or "teacher-copy", teacher)
    cols = ["language", "unk_rate", "pieces_per_word", "tokens_per_sentence", "unit"]
    table = tokenization_stats(model, test.texts)[cols]
    if extend:
        from kdemo.vocab import extend_vocabulary

        extended = copy.deepcopy(model)
        extend_vocabulary(extended, train.sentences(english=False), extend, keep_unchanged=train.texts["en"])
        after = tokenization_stats(extended, test.texts)[cols[:4]]
        table = table.merge(after, on="language", suffixes=(" before", f" after +{extend}"))
    return table.round(3)


def _is_saved_run(name: str) -> bool:
    from kdemo.runs import run_path

    try:
        return run_path(name).root.exists()
    except KdemoError:
        return False


# ---------------------------------------------------------------- Runs

def runs_table() -> pd.DataFrame:
    """All runs with their headline numbers (retrieval in %)."""
    import pandas as pd

    from kdemo.runs import list_runs

    rows = list_runs()
    if not rows:
        return pd.DataFrame(columns=["run", "created", "student", "languages", "budget", "teacher %", "after %"])
    pct = lambda v: None if v is None else round(100 * v, 1)  # noqa: E731
    return pd.DataFrame([{
        "run": r["run_id"] + (" ★ demo" if r["demo"] else ""), "created": r["created"], "teacher model": r["teacher"].split("/")[-1],
        "student": r["student"], "languages": r["languages"], "loss": r["loss"], "budget": r["budget"],
        "teacher %": pct(r["teacher_acc"]), "before %": pct(r["before_acc"]), "after %": pct(r["after_acc"]),
    } for r in rows])


def run_details(run_id: str) -> str:
    """The run's model card."""
    from kdemo.runs import run_path

    if not run_id or run_id == TEACHER_ONLY:
        return "Pick a run."
    card = run_path(run_id).file("README.md")
    return card.read_text(encoding="utf-8") if card.exists() else f"No model card for {run_id}."


def compare_runs(run_ids: list[str]) -> tuple[go.Figure, pd.DataFrame]:
    """Student retrieval per language for several runs, as bars and a table."""
    import pandas as pd

    from kdemo.evaluate import per_language_table
    from kdemo.runs import load_run_metrics

    run_ids = [r for r in run_ids or [] if r and r != TEACHER_ONLY]
    if len(run_ids) < 2:
        raise KdemoError("Pick two or more runs to compare.")
    series = {}
    for run_id in run_ids:
        metrics = load_run_metrics(run_id)
        table = per_language_table({"after": metrics.get("student_after", {})})
        series[run_id] = table["after"]
    frame = pd.DataFrame(series)
    return viz.runs_comparison(series), frame.reset_index(names="language")


def download_path(run_id: str, folder: Path) -> str:
    """Zip the run's student for download."""
    from kdemo.runs import zip_student

    if not run_id or run_id == TEACHER_ONLY:
        raise KdemoError("Pick a run to download.")
    return str(zip_student(run_id, folder))
