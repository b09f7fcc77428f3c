"""Plots as pure functions: data in, plotly ``go.Figure`` out. Never imports gradio.

Each function returns a readable message figure instead of raising when its data is unusable,
so the UI shows "nothing to plot yet" rather than a traceback.
"""

from __future__ import annotations

from kdemo.viz.common import MODEL_SYMBOLS, language_color, message_figure
from kdemo.viz.curves import before_after, live_by_language, live_headlines, loss_curve, per_language_bars
from kdemo.viz.heatmaps import retrieval_heatmap, retrieval_pair, runs_comparison, similarity_heatmaps
from kdemo.viz.maps import alignment_map, embedding_map

__all__ = [
    "MODEL_SYMBOLS", "alignment_map", "before_after", "embedding_map", "language_color", "live_by_language", "live_headlines",
    "loss_curve", "message_figure", "per_language_bars", "retrieval_heatmap", "retrieval_pair", "runs_comparison",
    "similarity_heatmaps",
]
