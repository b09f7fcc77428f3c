"""The alignment replay controls, shared by the Train tab (live) and the Inspect tab (saved runs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from kdemo.views import inspect

PLAY_SECONDS_PER_FRAME = 0.5


@dataclass
class ReplayControls:
    slider: gr.Slider
    play: gr.Button
    follow: gr.Checkbox
    map: gr.Plot
    state: gr.State


def replay_controls(prefix: str, follow_live: bool = True) -> ReplayControls:
    """A map, a step slider and a Play button over a ``ProbeReplay`` held in a ``gr.State``."""
    plot = gr.Plot(label="Alignment map (fixed projection: motion is real movement)", elem_id=f"{prefix}-replay-map")
    with gr.Row():
        slider = gr.Slider(0, 1, value=0, step=1, label="Evaluation (drag to replay)", elem_id=f"{prefix}-replay-slider", scale=4)
        play = gr.Button("▶ Play", scale=1, elem_id=f"{prefix}-replay-play")
        follow = gr.Checkbox(value=follow_live, label="Follow the live run", visible=follow_live, scale=1)
    state = gr.State(None)
    controls = ReplayControls(slider, play, follow, plot, state)
    _wire(controls)
    return controls


def _wire(c: ReplayControls) -> None:
    def show(replay: Any, frame: float) -> Any:
        return inspect.replay_figure(replay, int(frame))

    def play(replay: Any) -> Iterator[dict[Any, Any]]:
        if replay is None or not replay.steps:
            yield {c.map: inspect.replay_figure(None)}
            return
        for frame in range(len(replay.steps)):
            yield {c.slider: gr.update(value=frame), c.map: inspect.replay_figure(replay, frame), c.follow: False}
            time.sleep(PLAY_SECONDS_PER_FRAME)

    c.slider.input(lambda replay, frame: (show(replay, frame), False), [c.state, c.slider], [c.map, c.follow],
                   trigger_mode="always_last", show_progress="hidden")
    c.play.click(play, c.state, [c.slider, c.map, c.follow], concurrency_limit=4, concurrency_id="replay")
