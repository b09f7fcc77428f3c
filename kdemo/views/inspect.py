"""Inspecting a run: the alignment replay and the pairs where alignment fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdemo import viz
from kdemo.errors import KdemoError

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from kdemo.probe import ProbeReplay
    from kdemo.runs import Run


def replay_figure(replay: ProbeReplay | None, frame: int | None = None) -> go.Figure:
    """The alignment map at one recorded evaluation (the last when ``frame`` is None)."""
    if replay is None:
        return viz.message_figure("The alignment map appears at the first live evaluation.")
    index = len(replay.steps) - 1 if frame is None else max(0, min(int(frame), len(replay.steps) - 1))
    return viz.alignment_map(replay, index)


def failures_view(run: Run | None, language: str | None = None) -> pd.DataFrame:
    """The dev pairs the run's student aligns worst, optionally for one language."""
    from kdemo.failures import failures_table

    if run is None:
        raise KdemoError("Pick a run to see where its alignment fails.")
    if not run.failures:
        raise KdemoError(f"{run.run_id} was saved before kdemo recorded failures; train a new run to see them.")
    return failures_table(run.failures, None if language in (None, "", "all") else language)


def pair_as_text(table: pd.DataFrame, row: int) -> str:
    """The chosen failure as Compare's "Your text" (English, the translation, and what was found instead)."""
    if table is None or table.empty or not 0 <= row < len(table):
        raise KdemoError("Click a row of the table.")
    record = table.iloc[row]
    code = str(record["language"]).rsplit("(", 1)[-1].rstrip(")")
    lines = [f"en: {record['English']}", f"{code}: {record['translation']}"]
    found = str(record["found instead"])
    if not found.startswith("✓"):
        lines += ["", f"en: {found}"]
    return "\n".join(lines)
