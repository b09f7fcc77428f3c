"""Heatmaps: cosine similarities of a sentence set, language x language retrieval of a run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kdemo.viz.common import LAYOUT, message_figure

if TYPE_CHECKING:
    import pandas as pd

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
    fig.update_layout(title=title, height=size, **LAYOUT)
    return fig


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
    fig.update_layout(title=title, height=480, **LAYOUT)
    return fig


def runs_comparison(tables: dict[str, pd.Series], title: str = "Student retrieval per language (%)") -> go.Figure:
    """Grouped bars: one series per run, languages on the x axis."""
    if not tables:
        return message_figure("Pick runs to compare.", title)
    fig = go.Figure()
    for name, series in tables.items():
        fig.add_bar(x=list(series.index), y=list(series.values), name=name)
    fig.update_layout(title=title, barmode="group", yaxis_range=[0, 105], height=360, **LAYOUT)
    return fig


def retrieval_pair(matrices: dict[str, pd.DataFrame], title: str = "") -> go.Figure:
    """A run's language x language retrieval on its dev split: teacher beside student."""
    names = [n for n in ("teacher", "student_after") if n in (matrices or {})]
    if not names:
        return message_figure("Pick a run to see its language × language retrieval.")
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[n.replace("_after", "") for n in names], horizontal_spacing=0.1)
    for col, name in enumerate(names, start=1):
        for trace in retrieval_heatmap(matrices[name]).data:
            trace.showscale = col == len(names)
            fig.add_trace(trace, row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
        fig.update_xaxes(side="top", row=1, col=col)
    fig.update_layout(title=title or "Language × language retrieval on the dev split (%): row = query, column = searched",
                      height=480, template="plotly_white", margin=dict(l=40, r=20, t=90, b=20))
    return fig
