"""The Compare tab's components and wiring (the logic lives in ``kdemo.views.compare``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from kdemo.views import compare as view
from kdemo.views.runs import default_run, run_choices
from kdemo.views.state import corpus_languages
from kdemo.web.common import AppContext, friendly


@dataclass
class CompareTab:
    """The Compare tab's components; ``form`` maps CompareForm fields to their inputs."""

    form: dict[str, gr.components.Component]
    outputs: dict[str, Any]
    run: gr.Dropdown
    source: gr.Radio
    text: gr.Textbox
    go: gr.Button


def _example_sets() -> list[str]:
    from kdemo.compare import example_sets

    return sorted(example_sets(), key=lambda name: name != "one_meaning_13_languages")


def build(ctx: AppContext) -> CompareTab:
    """Pick sentences and a run; see teacher and student side by side."""
    examples, languages = _example_sets(), corpus_languages()
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            run = gr.Dropdown(run_choices(), value=default_run(), label="Student (run)", elem_id="compare-run",
                              info="The demo run ships with kdemo; your runs appear here too.")
            source = gr.Radio(list(view.SOURCES), value="Example set", label="Sentences")
            example = gr.Dropdown(examples, value=examples[0] if examples else None, label="Example set")
            n = gr.Slider(2, 30, value=8, step=1, label="Test sentences to sample", visible=False)
            langs = gr.CheckboxGroup(languages, value=[c for c in ("de", "ru", "zh", "ar") if c in languages], label="Languages",
                                     visible=False)
            text = gr.Textbox(lines=8, label="Your sentences: 'lang: text' per line, blank line between meanings",
                              placeholder=view.USER_TEXT_PLACEHOLDER, visible=False, elem_id="compare-text")
            with gr.Row():
                method = gr.Radio(["UMAP", "PCA"], value="UMAP", label="Map")
                dims = gr.Radio(["2D", "3D"], value="2D", label="Dimensions")
            layout = gr.Radio(["Overlay", "Side by side"], value="Side by side", label="Teacher and student")
            go = gr.Button("Compare", variant="primary", elem_id="compare-btn")
        with gr.Column(scale=3):
            summary = gr.Markdown(elem_id="compare-summary")
            plot = gr.Plot(label="Embedding map", elem_id="compare-map")
    with gr.Accordion("Similarity tables", open=True):
        pairs = gr.Dataframe(label="Each sentence against its anchor translation", wrap=True, elem_id="compare-pairs")
        heat = gr.Plot(label="Cosine similarity, teacher vs student", elem_id="compare-heatmaps")
    with gr.Accordion("Cross-lingual nearest neighbours", open=True):
        with gr.Row():
            query = gr.Dropdown([], label="Sentence", scale=3)
            k = gr.Slider(1, 10, value=5, step=1, label="Top k", scale=1)
        nn = gr.Dataframe(label="Nearest sentences in other languages (✓ = a translation)", wrap=True)
    with gr.Accordion("Language × language retrieval of this run", open=False):
        retrieval = gr.Plot()
    comparison = gr.State(None)
    form = dict(run_id=run, source=source, example=example, n=n, languages=langs, text=text, method=method, dims=dims, layout=layout)
    outputs = dict(summary=summary, map=plot, heat=heat, pairs=pairs, query=query, nn=nn, retrieval=retrieval, comparison=comparison)
    tab = CompareTab(form, outputs, run, source, text, go)
    _wire(tab, example, n, langs, k)
    return tab


def compare_outputs(tab: CompareTab, **values: Any) -> dict[Any, Any]:
    """Run a comparison for ``values`` (CompareForm fields) and map the results onto the tab's outputs."""
    form = view.CompareForm(**{k: (tuple(v) if k == "languages" else v) for k, v in values.items()})
    result = view.compare_view(form, view.open_selected(form.run_id))
    first = result.sentence_labels[0] if result.sentence_labels else None
    o = tab.outputs
    return {o["summary"]: result.summary, o["map"]: result.map_figure, o["heat"]: result.heatmaps, o["pairs"]: result.pairs,
            o["query"]: gr.update(choices=result.sentence_labels, value=first),
            o["nn"]: view.neighbours_view(result.comparison, first, 5) if first else None,
            o["retrieval"]: result.retrieval, o["comparison"]: result.comparison}


def _wire(tab: CompareTab, example: gr.Dropdown, n: gr.Slider, langs: gr.CheckboxGroup, k: gr.Slider) -> None:
    def show_source(source: str):
        return (gr.update(visible=source == "Example set"), gr.update(visible=source == "Test sentences"),
                gr.update(visible=source == "Test sentences"), gr.update(visible=source == "Your text"))

    tab.source.change(show_source, tab.source, [example, n, langs, tab.text])
    outputs = list(tab.outputs.values())
    tab.go.click(friendly(lambda **values: compare_outputs(tab, **values)), inputs_kwargs=tab.form, outputs=outputs,
                 concurrency_limit=2, concurrency_id="compare", api_name="compare")
    neighbours = friendly(view.neighbours_view)
    tab.outputs["query"].input(neighbours, [tab.outputs["comparison"], tab.outputs["query"], k], tab.outputs["nn"])
    k.release(neighbours, [tab.outputs["comparison"], tab.outputs["query"], k], tab.outputs["nn"])


def first_view(tab: CompareTab):  # -> Callable for demo.load
    """The page's first Compare view: UMAP once it is compiled, else the instant PCA (and say so)."""
    from kdemo.compare import umap_ready

    def load(**values: Any) -> dict[Any, Any]:
        if values.get("method") == "UMAP" and not umap_ready():
            values["method"] = "PCA"
            gr.Info("Showing PCA while UMAP compiles in the background (about 20 s); press Compare again for UMAP.")
        return compare_outputs(tab, **values) | {tab.form["method"]: values["method"]}

    return friendly(load)
