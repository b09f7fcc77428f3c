"""Figures are pure: data in, a figure out; empty data gives a message figure, never an exception."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kdemo import viz
from kdemo.probe import ProbeReplay

HISTORY = [
    {"step": 0, "note": "after warm start", "live_mean_compat": 0.5, "live_de_compat": 0.4, "live_fr_compat": 0.6,
     "live_mean_agreement": 0.3, "live_en_fidelity": 0.7, "live_mean_acc": 0.9},
    {"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.4},
    {"step": 2, "live_mean_compat": 0.8, "live_de_compat": 0.7, "live_fr_compat": 0.9, "live_mean_agreement": 0.6,
     "live_en_fidelity": 0.8, "live_mean_acc": 0.95},
]
REFERENCES = {"teacher": {"dev_mean_compat": 0.2, "dev_mean_agreement": 0.1, "dev_en_fidelity": 1.0, "dev_mean_acc": 0.2},
              "student_before": {"dev_mean_agreement": 0.45, "dev_en_fidelity": 0.55, "dev_mean_acc": 0.99}}


def _is_message(fig) -> bool:
    return not fig.data and len(fig.layout.annotations) == 1


def test_empty_inputs_give_message_figures() -> None:
    assert _is_message(viz.loss_curve([]))
    assert _is_message(viz.live_headlines([{"step": 1, "loss": 0.3}]))
    assert _is_message(viz.live_by_language([]))
    assert _is_message(viz.before_after({"teacher": {"dev_mean_acc": 0.2}}))
    assert _is_message(viz.embedding_map(pd.DataFrame()))
    assert _is_message(viz.retrieval_pair({}))
    assert _is_message(viz.alignment_map(None, 0))


def test_live_headlines_draw_reference_lines() -> None:
    fig = viz.live_headlines(HISTORY, REFERENCES)
    assert len(fig.data) == 4  # one curve per headline metric
    assert [list(trace.y) for trace in fig.data][0] == [50.0, 80.0]
    lines = [shape for shape in fig.layout.shapes if shape.type == "line"]
    assert len(lines) == 4 + 3  # the teacher on all four panels; the untrained student where it has a value
    labels = {a.text for a in fig.layout.annotations}
    assert {"teacher", "student before training"} <= labels


def test_live_by_language_has_one_line_per_language_and_the_mean() -> None:
    fig = viz.live_by_language(HISTORY, "compat", references=REFERENCES)
    assert [trace.name for trace in fig.data] == ["de", "fr", "mean"]
    assert list(fig.data[-1].y) == [50.0, 80.0]


def test_before_after_bars() -> None:
    metrics = REFERENCES | {"student_after": {"dev_mean_compat": 0.97, "dev_mean_agreement": 0.7, "dev_en_fidelity": 0.9,
                                              "dev_mean_acc": 0.99}}
    fig = viz.before_after(metrics)
    assert [trace.name for trace in fig.data] == ["teacher", "student before training", "student after"]
    assert fig.data[1].y[0] is None  # me5-small alone is not in the teacher's space: no compatibility bar


def test_alignment_map_keeps_its_axes_across_frames() -> None:
    coords = np.array([[[1.0, 1.0], [2.0, 0.0]], [[0.1, 0.1], [0.2, 0.0]]])
    replay = ProbeReplay(steps=[0, 10], coords=coords, anchors=np.array([[0.0, 0.0]]), langs=["de", "fr"], texts=["Hallo", "Salut"],
                         anchor_rows=[0, 0], anchor_texts=["Hello"])
    first, last = viz.alignment_map(replay, 0), viz.alignment_map(replay, 1)
    assert first.layout.xaxis.range == last.layout.xaxis.range
    assert replay.mean_distance()[1] < replay.mean_distance()[0]
    assert "Step 10" in last.layout.title.text


def test_embedding_map_joins_translations() -> None:
    points = pd.DataFrame({"x": [0.0, 1.0, 5.0, 6.0], "y": [0.0, 1.0, 5.0, 6.0], "model": ["teacher"] * 2 + ["student"] * 2,
                           "lang": ["en", "de"] * 2, "group": ["g1"] * 4, "text": ["Hi", "Hallo"] * 2})
    fig = viz.embedding_map(points, joint=True)
    lines = [trace for trace in fig.data if trace.mode == "lines"]
    assert len(lines) == 2 and [v for v in lines[0].x if v is not None] == [0.0, 1.0]
