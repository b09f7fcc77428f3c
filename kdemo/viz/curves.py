"""Curves and bars over a run: the loss, the live metrics with reference lines, before -> after.

Live metrics come from the loop's history (``live_*`` keys). Every chart of a metric draws the
teacher's value and the untrained student's value as labelled dashed lines, so a visitor sees
where the run started, where the teacher is, and where the student stands now.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from kdemo.evaluate import metric_values
from kdemo.languages import language_name
from kdemo.viz.common import LAYOUT, ORDER, language_color, message_figure

# The headline metrics: (label, key in the live/dev metrics, scale to show, axis range)
HEADLINES = [
    ("search in the teacher's index (%)", "mean_compat", 100),
    ("cross-lingual agreement x100", "mean_agreement", 100),
    ("English fidelity x100", "en_fidelity", 100),
    ("translation retrieval (%)", "mean_acc", 100),
]
MODEL_COLORS = {"teacher": "#7f7f7f", "student_before": "#9ecae1", "student_after": "#08519c"}
MODEL_LABELS = {"teacher": "teacher", "student_before": "student before training", "student_after": "student after"}


def loss_curve(history: list[dict[str, Any]], title: str = "Training loss") -> go.Figure:
    """Loss per step (faint) with an exponential moving average (bold)."""
    points = [(h["step"], h["loss"]) for h in history if "loss" in h]
    if not points:
        return message_figure("The loss curve appears after the first step.", title)
    steps, losses = zip(*points)
    smooth, avg = [], None
    for value in losses:
        avg = value if avg is None else 0.9 * avg + 0.1 * value
        smooth.append(avg)
    fig = go.Figure()
    fig.add_scatter(x=steps, y=losses, mode="lines", name="loss", line=dict(color="#9ecae1", width=1))
    fig.add_scatter(x=steps, y=smooth, mode="lines", name="smoothed", line=dict(color="#08519c", width=2.5))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss", height=320, legend=dict(orientation="h", y=1.12), **LAYOUT)
    return fig


def _evals(history: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    return [h for h in history if any(str(k).startswith(f"{dataset}_") for k in h)]


def _reference_lines(fig: go.Figure, references: dict[str, float], scale: float) -> None:
    """Dashed horizontal lines, labelled, for the teacher and the untrained student."""
    for name, value in references.items():
        if value is None:
            continue
        fig.add_hline(y=scale * value, line=dict(color=MODEL_COLORS.get(name, "#999"), dash="dash", width=1.5),
                      annotation_text=MODEL_LABELS.get(name, name), annotation_position="top left",
                      annotation_font=dict(size=10, color=MODEL_COLORS.get(name, "#555")))


def live_headlines(history: list[dict[str, Any]], references: dict[str, dict[str, float]] | None = None,
                   dataset: str = "live", title: str = "What the run is learning (live dev subset)") -> go.Figure:
    """One panel per headline metric over steps, each with the teacher's and the untrained student's lines.

    ``references`` maps ``teacher`` / ``student_before`` to their dev metrics (``dev_*`` keys).
    """
    from plotly.subplots import make_subplots

    evals = _evals(history, dataset)
    if not evals:
        return message_figure("Live metrics appear after the first evaluation.", title)
    shown = [(label, key, scale) for label, key, scale in HEADLINES if f"{dataset}_{key}" in evals[-1]]
    fig = make_subplots(rows=1, cols=len(shown), subplot_titles=[label for label, _, _ in shown], horizontal_spacing=0.07)
    steps = [h["step"] for h in evals]
    for col, (label, key, scale) in enumerate(shown, start=1):
        values = [scale * h.get(f"{dataset}_{key}", float("nan")) for h in evals]
        fig.add_scatter(x=steps, y=values, mode="lines+markers", name=label, showlegend=False, line=dict(color="#08519c", width=2.5),
                        marker=dict(size=6), hovertemplate=f"{label}: %{{y:.1f}} at step %{{x}}<extra></extra>", row=1, col=col)
        for name, metrics in (references or {}).items():
            value = metrics.get(f"dev_{key}") if metrics else None
            if value is None:
                continue
            fig.add_hline(y=scale * value, line=dict(color=MODEL_COLORS.get(name, "#999"), dash="dash", width=1.5),
                          annotation_text=MODEL_LABELS.get(name, name), annotation_position="bottom right",
                          annotation_font=dict(size=9, color=MODEL_COLORS.get(name, "#555")), row=1, col=col)
    if evals[0].get("note") == "after warm start":
        fig.add_annotation(x=steps[0], y=1.0, yref="paper", text="after warm start", showarrow=False, font=dict(size=9, color="#555"),
                           xanchor="left")
    fig.update_xaxes(title_text="step")
    fig.update_layout(title=title, height=330, **LAYOUT)
    return fig


def live_by_language(history: list[dict[str, Any]], metric: str = "compat", dataset: str = "live",
                     references: dict[str, dict[str, float]] | None = None, title: str = "") -> go.Figure:
    """One metric per language over steps, the mean in bold, with reference lines for the mean."""
    from kdemo.evaluate import METRIC_LABELS

    title = title or f"{METRIC_LABELS.get(metric, metric)} per language"
    evals = [h for h in _evals(history, dataset) if f"{dataset}_mean_{metric}" in h]
    if not evals:
        return message_figure("Per-language metrics appear after the first evaluation.", title)
    scale = 100 if metric in ("acc", "compat", "agreement") else 1
    langs = sorted({lang for h in evals for lang in metric_values(h, dataset, metric)} - {"mean"},
                   key=lambda lang: ORDER.index(lang) if lang in ORDER else 99)
    steps = [h["step"] for h in evals]
    fig = go.Figure()
    for lang in langs:
        fig.add_scatter(x=steps, y=[scale * h.get(f"{dataset}_{lang}_{metric}", float("nan")) for h in evals], mode="lines+markers",
                        name=lang, line=dict(color=language_color(lang), width=1.5), marker=dict(size=5),
                        hovertemplate=f"{language_name(lang)}: %{{y:.1f}} at step %{{x}}<extra></extra>")
    fig.add_scatter(x=steps, y=[scale * h[f"{dataset}_mean_{metric}"] for h in evals], mode="lines+markers", name="mean",
                    line=dict(color="black", width=3.5), marker=dict(size=7))
    _reference_lines(fig, {name: (m or {}).get(f"dev_mean_{metric}") for name, m in (references or {}).items()}, scale)
    fig.update_layout(title=title, xaxis_title="step", height=340, **LAYOUT)
    return fig


def before_after(metrics: dict[str, dict[str, float]], dataset: str = "dev",
                 title: str = "Before → after on the dev split") -> go.Figure:
    """Grouped bars of the headline metrics: teacher, student before training, student after."""
    models = [name for name in ("teacher", "student_before", "student_after") if metrics.get(name)]
    if "student_after" not in models:
        return message_figure("The before → after card appears when a run finishes.", title)
    fig = go.Figure()
    labels = [label for label, _, _ in HEADLINES]
    for name in models:
        values = [scale * metrics[name][f"{dataset}_{key}"] if f"{dataset}_{key}" in metrics[name] else None
                  for _, key, scale in HEADLINES]
        fig.add_bar(x=labels, y=values, name=MODEL_LABELS[name], marker_color=MODEL_COLORS[name],
                    text=["" if v is None else f"{v:.0f}" for v in values], textposition="outside")
    fig.update_layout(title=title, barmode="group", yaxis_range=[0, 112], height=360, legend=dict(orientation="h", y=-0.2), **LAYOUT)
    return fig


def per_language_bars(table: Any, title: str = "Per language") -> go.Figure:
    """Grouped bars per language from a ``per_language_table`` (columns = models)."""
    if table is None or table.empty:
        return message_figure("No results yet.", title)
    fig = go.Figure()
    for column in table.columns:
        fig.add_bar(x=list(table.index), y=table[column], name=MODEL_LABELS.get(column, column),
                    marker_color=MODEL_COLORS.get(column), text=[f"{v:.0f}" for v in table[column]], textposition="outside")
    fig.update_layout(title=title, barmode="group", yaxis_range=[0, 110], height=360, **LAYOUT)
    return fig
