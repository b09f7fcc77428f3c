"""The Inspect tab: a saved run's alignment replay, and the pairs where its alignment fails."""

from __future__ import annotations

from typing import Any

import gradio as gr

from kdemo.views import inspect as view
from kdemo.views.compare import open_selected
from kdemo.views.runs import default_run, run_choices
from kdemo.views.state import corpus_languages
from kdemo.web.common import AppContext, friendly
from kdemo.web.compare_tab import CompareTab, compare_outputs
from kdemo.web.replay import replay_controls


def build(ctx: AppContext, compare: CompareTab, page: gr.Blocks) -> gr.Dropdown:
    """Pick a run; replay how its alignment formed; list the worst pairs (a click opens one in Compare).

    ``page`` (the app's Blocks) fills the tab at page load, so the preselected run shows without a pick."""
    run = gr.Dropdown(run_choices(), value=default_run(), label="Run", elem_id="inspect-run")
    with gr.Accordion("How the alignment formed during training", open=True):
        replay = replay_controls("inspect", follow_live=False)
    with gr.Accordion("Where alignment fails: the dev pairs this student handles worst", open=True):
        gr.Markdown("A pair fails when the translation finds the **wrong English sentence** among all dev sentences "
                    "(shown in *found instead*); below those come the pairs furthest from the teacher's English embedding. "
                    "**Click a row** to open the pair in Compare.")
        language = gr.Dropdown(["all", *corpus_languages()], value="all", label="Language", elem_id="inspect-lang")
        table = gr.Dataframe(wrap=True, interactive=False, elem_id="failures-table")

    @friendly
    def on_run(run_id: str, lang: str) -> tuple[Any, ...]:
        selected = open_selected(run_id)
        saved = selected.probe() if selected is not None else None
        frames = len(saved.steps) if saved is not None else 1
        failures = view.failures_view(selected, lang) if selected is not None and selected.failures else None
        return (saved, gr.update(maximum=max(frames - 1, 1), value=frames - 1), view.replay_figure(saved), failures)

    @friendly
    def on_select(current: Any, run_id: str, evt: gr.SelectData) -> dict[Any, Any]:
        import pandas as pd

        text = view.pair_as_text(pd.DataFrame(current) if not isinstance(current, pd.DataFrame) else current, evt.index[0])
        values = {name: component.value for name, component in compare.form.items()}
        values |= {"run_id": run_id, "source": "Your text", "text": text}
        return compare_outputs(compare, **values) | {compare.source: "Your text", compare.text: gr.update(value=text, visible=True),
                                                     compare.run: run_id, ctx.tabs: gr.Tabs(selected="compare")}

    for trigger in (run.change, language.change, page.load):
        trigger(on_run, [run, language], [replay.state, replay.slider, replay.map, table])
    table.select(on_select, [table, run], [*compare.outputs.values(), compare.source, compare.text, compare.run, ctx.tabs],
                 concurrency_limit=2, concurrency_id="compare")
    return run
