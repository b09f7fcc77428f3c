"""Plots as pure functions: data in, plotly ``go.Figure`` out. Never imports gradio.

Each function returns a readable message figure instead of raising when its data is unusable,
so the UI shows "nothing to plot yet" rather than a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kdemo.languages import language_name

if TYPE_CHECKING:
    import pandas as pd

# One colour per language, stable across every plot (colour-blind-friendly first).
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
            "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD", "#E377C2", "#2CA02C", "#FF7F0E"]
_ORDER = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "tr", "ar", "zh", "ja"]
MODEL_SYMBOLS = {"teacher": "circle", "student": "diamond"}
_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=40), font=dict(size=12))


def language_color(lang: str) -> str:
    """The colour a language gets in every plot.

    Example:
        >>> language_color("en")
        '#0072B2'
    """
    index = _ORDER.index(lang) if lang in _ORDER else len(_ORDER) + sum(map(ord, lang))
    return _PALETTE[index % len(_PALETTE)]


def message_figure(message: str, title: str = "") -> go.Figure:
    """A blank figure that says ``message``: for empty data and errors."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=14, color="#555"))
    fig.update_layout(title=title, xaxis=dict(visible=False), yaxis=dict(visible=False), height=300, **_LAYOUT)
    return fig


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
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss", height=320, legend=dict(orientation="h", y=1.12), **_LAYOUT)
    return fig


def live_retrieval(history: list[dict[str, Any]], dataset: str = "live", title: str = "Dev retrieval while training") -> go.Figure:
    """Translation retrieval accuracy per language over steps (from the live evaluations)."""
    evals = [h for h in history if f"{dataset}_mean_acc" in h]
    if not evals:
        return message_figure("Dev metrics appear after the first evaluation.", title)
    langs = sorted({k[len(dataset) + 1 : -4] for h in evals for k in h if k.endswith("_acc") and k.count("_") == 2} - {"mean"},
                   key=lambda lang: _ORDER.index(lang) if lang in _ORDER else 99)
    steps = [h["step"] for h in evals]
    fig = go.Figure()
    for lang in langs:
        fig.add_scatter(x=steps, y=[100 * h.get(f"{dataset}_{lang}_acc", float("nan")) for h in evals], mode="lines+markers",
                        name=lang, line=dict(color=language_color(lang), width=1.5), marker=dict(size=5),
                        hovertemplate=f"{language_name(lang)}: %{{y:.1f}}% at step %{{x}}<extra></extra>")
    fig.add_scatter(x=steps, y=[100 * h[f"{dataset}_mean_acc"] for h in evals], mode="lines+markers", name="mean",
                    line=dict(color="black", width=3.5), marker=dict(size=7))
    if evals[0].get("note") == "after warm start":
        fig.add_annotation(x=steps[0], y=100 * evals[0][f"{dataset}_mean_acc"], text="warm start", showarrow=True, arrowhead=2,
                           ax=30, ay=30)
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="retrieval accuracy (%)", yaxis_range=[0, 101], height=320, **_LAYOUT)
    return fig


def before_after(table: pd.DataFrame, title: str = "Translation retrieval on the dev split") -> go.Figure:
    """Grouped bars per language: teacher, student before, student after (columns of ``table``)."""
    if table is None or table.empty:
        return message_figure("No results yet.", title)
    colors = {"teacher": "#999999", "student_before": "#9ecae1", "student_after": "#08519c"}
    fig = go.Figure()
    for column in table.columns:
        fig.add_bar(x=[f"{lang}" for lang in table.index], y=table[column], name=column.replace("_", " "),
                    marker_color=colors.get(column), text=[f"{v:.0f}" for v in table[column]], textposition="outside")
    fig.update_layout(title=title, barmode="group", yaxis_title="accuracy (%)", yaxis_range=[0, 110], height=360, **_LAYOUT)
    return fig


def similarity_heatmaps(matrices: dict[str, Any], labels: list[str], title: str = "Cosine similarity") -> go.Figure:
    """Side-by-side cosine heatmaps (one per model) with the sentences as axis labels."""
    if not matrices or not labels:
        return message_figure("Pick sentences to compare.", title)
    names = list(matrices)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.12)
    for col, name in enumerate(names, start=1):
        fig.add_trace(go.Heatmap(z=matrices[name], x=labels, y=labels, zmin=-0.2, zmax=1.0, colorscale="Viridis",
                                 showscale=col == len(names), hovertemplate="%{y}<br>%{x}<br>cos %{z:.2f}<extra></extra>"),
                      row=1, col=col)
        fig.update_yaxes(autorange="reversed", showticklabels=col == 1, row=1, col=col)
        fig.update_xaxes(showticklabels=len(labels) <= 30, tickangle=45, row=1, col=col)
    size = min(max(400, 18 * len(labels) + 200), 900)
    fig.update_layout(title=title, height=size, **_LAYOUT)
    return fig


def embedding_map(points: pd.DataFrame, joint: bool = True, title: str = "Embedding map") -> go.Figure:
    """Scatter of projected embeddings: colour = language, marker = model, hover = sentence.

    Thin lines join the translations of one meaning (one group) within each model, so a good
    multilingual space shows short lines and a monolingual one shows long ones.
    """
    if points is None or points.empty:
        return message_figure("Nothing to plot yet.", title)
    three_d = "z" in points
    models = list(dict.fromkeys(points["model"]))
    panels = [models] if joint else [[m] for m in models]
    if three_d:
        fig = make_subplots(rows=1, cols=len(panels), specs=[[{"type": "scene"}] * len(panels)],
                            subplot_titles=None if joint else models)
    else:
        fig = make_subplots(rows=1, cols=len(panels), subplot_titles=None if joint else models, horizontal_spacing=0.06)
    shown: set[str] = set()
    for col, panel in enumerate(panels, start=1):
        for model in panel:
            part = points[points["model"] == model]
            for _, members in part.groupby("group", sort=False):
                if len(members) < 2:
                    continue
                line = dict(color="rgba(120,120,120,0.35)" if model == "teacher" else "rgba(8,81,156,0.45)",
                            width=1, dash="dot" if model == "teacher" else "solid")
                coords = {axis: _star(members[axis].tolist()) for axis in (["x", "y", "z"] if three_d else ["x", "y"])}
                trace = go.Scatter3d(mode="lines", line=line, **coords) if three_d else go.Scattergl(mode="lines", line=line, **coords)
                trace.update(hoverinfo="skip", showlegend=False)
                fig.add_trace(trace, row=1, col=col)
            for lang, members in part.groupby("lang", sort=False):
                key = f"{model}-{lang}"
                marker = dict(color=language_color(lang), size=6 if three_d else 10, symbol=MODEL_SYMBOLS.get(model, "circle"),
                              line=dict(width=1, color="white"))
                common = dict(mode="markers", name=f"{lang} · {model}", legendgroup=key, showlegend=key not in shown, marker=marker,
                              text=[f"<b>{model}</b> · {language_name(lang)}<br>{t}" for t in members["text"]],
                              hovertemplate="%{text}<extra></extra>")
                shown.add(key)
                if three_d:
                    fig.add_trace(go.Scatter3d(x=members["x"], y=members["y"], z=members["z"], **common), row=1, col=col)
                else:
                    fig.add_trace(go.Scatter(x=members["x"], y=members["y"], **common), row=1, col=col)
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    fig.update_layout(title=title, height=560, legend=dict(font=dict(size=10)), **_LAYOUT)
    return fig


def _star(values: list[float]) -> list[float | None]:
    """Segments from the first member (the anchor) to each other member, separated by gaps."""
    out: list[float | None] = []
    for v in values[1:]:
        out += [values[0], v, None]
    return out


def retrieval_heatmap(matrix: pd.DataFrame, title: str = "Language × language retrieval (%)") -> go.Figure:
    """Row a, column b: share of a's sentences whose nearest b sentence is their translation."""
    if matrix is None or matrix.empty:
        return message_figure("No retrieval matrix for this selection.", title)
    values = 100 * matrix.values
    fig = go.Figure(go.Heatmap(z=values, x=list(matrix.columns), y=list(matrix.index), zmin=0, zmax=100, colorscale="Blues",
                               text=[[f"{v:.0f}" for v in row] for row in values], texttemplate="%{text}",
                               hovertemplate="query %{y} → %{x}: %{z:.1f}%<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="query language")
    fig.update_xaxes(title="searched language", side="top")
    fig.update_layout(title=title, height=480, **_LAYOUT)
    return fig


def runs_comparison(tables: dict[str, pd.Series], title: str = "Student retrieval per language (%)") -> go.Figure:
    """Grouped bars: one series per run, languages on the x axis."""
    if not tables:
        return message_figure("Pick runs to compare.", title)
    fig = go.Figure()
    for name, series in tables.items():
        fig.add_bar(x=list(series.index), y=list(series.values), name=name)
    fig.update_layout(title=title, barmode="group", yaxis_title="accuracy (%)", yaxis_range=[0, 105], height=360, **_LAYOUT)
    return fig
