"""Maps of embeddings: the Compare tab's projection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kdemo.languages import language_name
from kdemo.viz.common import LAYOUT, MODEL_SYMBOLS, language_color, message_figure

if TYPE_CHECKING:
    import pandas as pd

    from kdemo.probe import ProbeReplay

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
    fig.update_layout(title=title, height=560, legend=dict(font=dict(size=10)), **LAYOUT)
    return fig


def _star(values: list[float]) -> list[float | None]:
    """Segments from the first member (the anchor) to each other member, separated by gaps."""
    out: list[float | None] = []
    for v in values[1:]:
        out += [values[0], v, None]
    return out




def alignment_map(replay: ProbeReplay, frame: int, title: str = "") -> go.Figure:
    """The probe set at one recorded evaluation, on the run's fixed map.

    Grey circles are the teacher's English sentences (fixed); coloured diamonds are the student's
    sentences at this step, each joined to its English anchor by a line. The axes stay the same for
    every frame, so the lines visibly shrink as the student aligns the languages.
    """
    import numpy as np

    if replay is None or not replay.steps:
        return message_figure("The alignment map appears at the first live evaluation.", title)
    frame = max(0, min(frame, len(replay.steps) - 1))
    coords = replay.coords[frame]
    anchors = replay.anchors
    rows = np.array(replay.anchor_rows)
    langs = np.array(replay.langs)
    every = np.vstack([replay.coords.reshape(-1, 2), anchors])
    low, high = every.min(axis=0), every.max(axis=0)
    pad = 0.05 * (high - low + 1e-9)
    fig = go.Figure()
    xs: list[float | None] = []
    ys: list[float | None] = []
    for i in np.flatnonzero(langs != "en"):
        ax, ay = anchors[rows[i]]
        xs += [float(ax), float(coords[i, 0]), None]
        ys += [float(ay), float(coords[i, 1]), None]
    fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", line=dict(color="rgba(8,81,156,0.25)", width=1), hoverinfo="skip",
                               showlegend=False))
    fig.add_trace(go.Scatter(x=anchors[:, 0], y=anchors[:, 1], mode="markers", name="teacher · English (fixed)",
                             marker=dict(color="#bbbbbb", size=11, symbol="circle", line=dict(width=1, color="#666")),
                             text=[f"<b>teacher</b> · English<br>{t}" for t in replay.anchor_texts], hovertemplate="%{text}<extra></extra>"))
    for lang in dict.fromkeys(replay.langs):
        idx = np.flatnonzero(langs == lang)
        fig.add_trace(go.Scatter(x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=f"{lang} · student",
                                 marker=dict(color=language_color(lang), size=8, symbol="diamond", line=dict(width=0.5, color="white")),
                                 text=[f"<b>student</b> · {language_name(lang)}<br>{replay.texts[i]}" for i in idx],
                                 hovertemplate="%{text}<extra></extra>"))
    distance = replay.mean_distance()[frame]
    step = replay.steps[frame]
    fig.update_xaxes(range=[low[0] - pad[0], high[0] + pad[0]], showticklabels=False, zeroline=False)
    fig.update_yaxes(range=[low[1] - pad[1], high[1] + pad[1]], showticklabels=False, zeroline=False)
    fig.update_layout(title=title or f"Step {step}: each line joins a translation to the teacher's English sentence "
                                     f"(mean length {distance:.3f}; shorter = better aligned)",
                      height=560, legend=dict(font=dict(size=10)), **LAYOUT)
    return fig
