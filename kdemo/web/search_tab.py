"""The Search tab: query the teacher's English index in any language (logic in ``kdemo.views.search``)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from kdemo.views import search as view
from kdemo.views.compare import open_selected
from kdemo.views.runs import default_run, run_choices
from kdemo.web.common import AppContext, friendly

EXAMPLE_QUERIES = ["Wo ist der nächste Bahnhof?", "我明天要去看医生。", "¿Cuánto cuesta un billete de ida y vuelta?",
                   "Мне нужно купить молоко и хлеб.", "هل يمكنك مساعدتي في حمل هذه الحقيبة؟"]


def build(ctx: AppContext) -> gr.Dropdown:
    """The query box, the collection, and the two result lists side by side. Returns the run picker."""
    gr.Markdown(view.EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            run = gr.Dropdown(run_choices(), value=default_run(), label="Student (run)", elem_id="search-run")
            query = gr.Textbox(label="Query, in any of the 13 languages", placeholder=EXAMPLE_QUERIES[0],
                               elem_id="search-query")
            gr.Examples([[q] for q in EXAMPLE_QUERIES], [query], label="Try")
            collection = gr.Radio(list(view.COLLECTIONS), value=view.BUILTIN_COLLECTION, label="English collection (indexed by the teacher)")
            lines = gr.Textbox(lines=8, label="Your English lines, one per line", visible=False)
            k = gr.Slider(1, 20, value=5, step=1, label="Results")
            go = gr.Button("Search", variant="primary", elem_id="search-btn")
        with gr.Column(scale=3):
            summary = gr.Markdown(elem_id="search-summary")
            results = gr.Dataframe(wrap=True, column_widths=["7%", "36%", "10%", "37%", "10%"], elem_id="search-results", label="Top results: teacher (left) and student (right)")
    collection.change(lambda c: gr.update(visible=c == view.OWN_COLLECTION), collection, lines)

    @friendly
    def on_search(**values: Any) -> tuple[str, Any]:
        form = view.SearchForm(**values)
        result = view.search_view(form, open_selected(form.run_id))
        return result.summary, result.results

    inputs = dict(run_id=run, query=query, collection=collection, lines=lines, k=k)
    go.click(on_search, inputs_kwargs=inputs, outputs=[summary, results], concurrency_limit=2, concurrency_id="compare", api_name="search")
    query.submit(on_search, inputs_kwargs=inputs, outputs=[summary, results], concurrency_limit=2, concurrency_id="compare",
                 api_visibility="private")
    return run
