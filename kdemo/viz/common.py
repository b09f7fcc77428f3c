"""What every figure shares: one colour per language, the layout, and the message figure."""

from __future__ import annotations

import plotly.graph_objects as go

# One colour per language, stable across every plot (colour-blind-friendly first).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
            "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD", "#E377C2", "#2CA02C", "#FF7F0E"]
ORDER = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "tr", "ar", "zh", "ja"]
MODEL_SYMBOLS = {"teacher": "circle", "student": "diamond"}
LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=40), font=dict(size=12))


def language_color(lang: str) -> str:
    """The colour a language gets in every plot.

    Example:
        >>> language_color("en")
        '#0072B2'
    """
    index = ORDER.index(lang) if lang in ORDER else len(ORDER) + sum(map(ord, lang))
    return PALETTE[index % len(PALETTE)]


def message_figure(message: str, title: str = "") -> go.Figure:
    """A blank figure that says ``message``: for empty data and errors."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=14, color="#555"))
    fig.update_layout(title=title, xaxis=dict(visible=False), yaxis=dict(visible=False), height=300, **LAYOUT)
    return fig


