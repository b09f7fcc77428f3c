"""The Train tab: the form, the status line, the live charts and the before -> after card."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdemo import viz
from kdemo.config import DEFAULT_TEACHER, DistillConfig
from kdemo.errors import KdemoError
from kdemo.languages import language_name
from kdemo.limits import limits

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from kdemo.jobs import JobSnapshot

CORPUS_CHOICES = ("Built-in", "Upload", "datasets id")
PROBE_DEV = "a sample of the dev split"
# A hub dataset id: owner/name with an optional :subset. Never a builder name (csv, json, text...)
# or a local path: a visitor must not make the server read its own files.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(:[A-Za-z0-9_.-]{1,64})?$")


@dataclass(frozen=True)
class TrainForm:
    """The Train tab's inputs, by name (Gradio passes them as keyword arguments)."""

    teacher: str = DEFAULT_TEACHER
    student: str = "me5-small"
    corpus_choice: str = "Built-in"
    upload: str | None = None
    hf_id: str = ""
    languages: tuple[str, ...] = ()
    budget_kind: str = "minutes"
    budget: float = 3.0
    lr: float | None = None
    batch_size: int = 32
    loss: str = "auto"
    seed: int = 42
    warm_start: bool = True
    english: bool = True
    precision: str = "auto"
    extend: int = 0
    name: str = ""
    probe: str = PROBE_DEV
    eval_every: int = 40


def hub_dataset_id(text: str) -> str:
    """``text`` if it is a hub dataset id (``owner/name[:subset]``) and not a local path, else an error.

    Example:
        >>> hub_dataset_id("sentence-transformers/parallel-sentences-talks:en-de")
        'sentence-transformers/parallel-sentences-talks:en-de'
        >>> hub_dataset_id("csv")
        Traceback (most recent call last):
        ...
        kdemo.errors.KdemoError: 'csv' is not a datasets id; write owner/name, e.g. sentence-transformers/parallel-sentences-talks:en-de.
    """
    text = (text or "").strip()
    if not _HUB_ID.match(text) or ".." in text or Path(text.partition(":")[0]).exists():
        raise KdemoError(f"{text[:80]!r} is not a datasets id; write owner/name, e.g. sentence-transformers/parallel-sentences-talks:en-de.")
    return text


def config_from_form(form: TrainForm) -> tuple[DistillConfig, Path | None]:
    """Validate the Train form into a config and the uploaded file (if any); messages name the field to fix."""
    bound = limits()
    upload = None
    if form.corpus_choice == "Built-in":
        corpus = "builtin"
    elif form.corpus_choice == "Upload":
        if not form.upload:
            raise KdemoError("Upload a corpus file (TSV, CSV or JSONL) or choose the built-in corpus.")
        upload = Path(form.upload)
        size_mb = upload.stat().st_size / 1e6 if upload.exists() else 0
        if size_mb > bound.upload_mb:
            raise KdemoError(f"The uploaded file is {size_mb:.1f} MB; the limit here is {bound.upload_mb:g} MB. "
                             "Upload a smaller sample, or run the command line on your own machine.")
        corpus = str(upload)
    elif form.corpus_choice == "datasets id":
        corpus = "hf:" + hub_dataset_id(form.hf_id)
    else:
        raise KdemoError(f"Choose a corpus: {', '.join(CORPUS_CHOICES)}.")
    if corpus == "builtin" and not form.languages:
        raise KdemoError("Tick at least one language to train on.")
    budget = _number(form.budget, "The budget")
    budget_fields: dict[str, Any] = {"max_minutes": None, "max_steps": None}
    if form.budget_kind == "minutes":
        if budget > bound.app_minutes:
            raise KdemoError(f"Keep a run in the app to {bound.app_minutes:g} minutes; use the command line for longer runs.")
        budget_fields["max_minutes"] = budget
    elif form.budget_kind == "steps":
        if budget > 100_000:
            raise KdemoError("Keep a run in the app to 100,000 steps; use the command line for longer runs.")
        budget_fields["max_steps"] = max(1, int(budget))
    else:
        raise KdemoError("Choose a budget in minutes or steps.")
    lr = None if form.lr in (None, "", 0) else _number(form.lr, "The learning rate")
    config = DistillConfig(
        teacher=_short(form.teacher, 200, "The teacher") or DEFAULT_TEACHER, student=_short(form.student, 200, "The student") or "me5-small",
        corpus=corpus,
        languages=tuple(form.languages) if corpus == "builtin" else (), loss=form.loss, lr=lr, batch_size=int(form.batch_size),
        seed=int(form.seed), warm_start=bool(form.warm_start), english="builtin" if form.english else "", precision=form.precision,
        run_name=_short(form.name, 60, "The run name"), extend_vocab=int(form.extend or 0),
        probe="dev" if form.probe in (PROBE_DEV, "", None) else _example_set(form.probe),
        eval_every=max(1, int(_number(form.eval_every, "Live evaluation every"))), **budget_fields)
    return config, upload


def _short(text: str | None, limit: int, what: str) -> str:
    text = (text or "").strip()
    if len(text) > limit:
        raise KdemoError(f"{what} has {len(text)} characters; keep it to {limit}.")
    return text


def _example_set(name: str) -> str:
    from kdemo.compare import example_sets

    if name not in example_sets():
        raise KdemoError(f"No example set {str(name)[:60]!r}; choose one from the list.")
    return name


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise KdemoError(f"{what} must be a number.") from None
    if not math.isfinite(number) or number <= 0:
        raise KdemoError(f"{what} must be a positive number.")
    return number


def progress_html(snap: JobSnapshot, viewer: str) -> str:
    """A status line with a progress bar and ETA, telling viewers whose run it is.

    The error of a failed run is shown to its owner only; others see that it stopped.
    """
    if snap.state == "idle":
        return "<div class='kd-status'>No training running. Choose settings and press <b>Start</b>.</div>"
    mine = snap.owned_by(viewer)
    who = "Your run" if mine else "Someone else's run"
    cfg = snap.config
    what = f"student <code>{html.escape(cfg.student)}</code>, {html.escape(', '.join(cfg.languages) or 'all languages')}" if cfg else ""
    pct = int(round(100 * min(max(snap.progress, 0.0), 1.0)))
    eta = "" if not snap.busy or math.isnan(snap.eta) or snap.step == 0 else f" · about {duration(snap.eta)} left"
    loss = "" if math.isnan(snap.loss) else f" · loss {snap.loss:.4g}"
    error = f"<div class='kd-error'>{html.escape(snap.error)}</div>" if snap.error and mine else ""
    return (f"<div class='kd-status kd-{snap.state}'><b>{who}</b> ({what}): {html.escape(snap.message)}"
            f"<div class='kd-bar'><div style='width:{pct}%'></div></div>"
            f"<small>{pct}% · step {snap.step}{loss}{eta}</small>{error}</div>")


def duration(seconds: float) -> str:
    """Seconds in words.

    Example:
        >>> duration(75), duration(8)
        ('1 min 15 s', '8 s')
    """
    seconds = max(0, int(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def result_card(metrics: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The before -> after card: headline metrics (rows) for the teacher, the student before and after.

    For me5-small, "before" is me5-small alone in its own space; metrics that compare vectors with
    the teacher's directly do not apply to it and show as empty.
    """
    import pandas as pd

    from kdemo.evaluate import headline

    columns = {"teacher": "teacher", "student_before": "student before (alone)", "student_after": "student after"}
    data = {label: headline(metrics[name]) for name, label in columns.items() if metrics.get(name)}
    table = pd.DataFrame(data)
    if "student after" in table and "student before (alone)" in table:
        table["change"] = (table["student after"] - table["student before (alone)"]).round(3)
    return table.reset_index(names="metric (dev split)")


def language_table(metrics: dict[str, dict[str, float]], metric: str = "acc") -> pd.DataFrame:
    """One metric per language for the teacher, before and after, with language names."""
    from kdemo.evaluate import per_language_table

    table = per_language_table({k: v for k, v in metrics.items() if v}, metric=metric, percent=metric in ("acc", "compat"))
    if table.empty:
        return table
    table.insert(0, "language", [language_name(code) if code != "mean" else "mean" for code in table.index])
    return table.rename(columns={"student_before": "student before", "student_after": "student after"}).reset_index(names="code")


def live_figures(snap: JobSnapshot) -> tuple[go.Figure, go.Figure]:
    """The loss curve and the live headline metrics with the teacher's and untrained student's lines."""
    references = {name: snap.metrics.get(name, {}) for name in ("teacher", "student_before")}
    return viz.loss_curve(snap.history), viz.live_headlines(snap.history, references)
