"""kdemo's Gradio app: build_demo() wires the UI to the core in kdemo/; nothing else lives here.

Run ``python app.py`` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT), or deploy as a
Hugging Face Space (``app_file: app.py``).
"""

from __future__ import annotations

import functools
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from kdemo import views, viz
from kdemo.config import DEFAULT_TEACHER, LOSSES, DistillConfig
from kdemo.errors import KdemoError
from kdemo.jobs import TrainingManager
from kdemo.models import STUDENT_CHOICES

logger = logging.getLogger("kdemo.app")

CSS = """
.kd-status {padding: 10px 14px; border-radius: 8px; background: var(--block-background-fill); border: 1px solid var(--border-color-primary);}
.kd-bar {height: 10px; background: #e5e7eb; border-radius: 5px; margin: 8px 0 4px; overflow: hidden;}
.kd-bar > div {height: 100%; background: #2563eb; transition: width .5s;}
.kd-done .kd-bar > div {background: #16a34a;}
.kd-failed .kd-bar > div, .kd-cancelled .kd-bar > div {background: #9ca3af;}
.kd-error {color: #b91c1c; margin-top: 6px; font-weight: 600;}
"""

TRAINER = TrainingManager()
DOWNLOADS = Path(tempfile.mkdtemp(prefix="kdemo-downloads-"))


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show a KdemoError's message (or a short note for a bug) in the page, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KdemoError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as exc:
            logger.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong: {exc}. The server log has the details.", print_exception=False) from None

    return wrapper


def _viewer(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


# ------------------------------------------------------------------------- handlers

@friendly
def on_compare(run_id, source, example, n, languages, text, method, dims, layout):
    view = views.compare_view(run_id, source, example, n, languages, text, method, dims, layout)
    first = view.sentence_labels[0] if view.sentence_labels else None
    table = views.neighbours_view(view.comparison, first, 5) if first else None
    return (view.summary, view.map_figure, view.heatmaps, view.pairs,
            gr.update(choices=view.sentence_labels, value=first), table, view.retrieval, view.comparison)


def on_page_load(run_id, source, example, n, languages, text, method, dims, layout):
    """The first view: UMAP if it is compiled already, else the instant PCA (and say so)."""
    from kdemo.compare import umap_ready

    if method == "UMAP" and not umap_ready():
        method = "PCA"
        gr.Info("Showing PCA while UMAP compiles in the background (about 20 s); press Compare again for UMAP.")
    return (*on_compare(run_id, source, example, n, languages, text, method, dims, layout), method)


@friendly
def on_neighbours(comparison, choice, k):
    return views.neighbours_view(comparison, choice, k)


@friendly
def on_start(teacher, student, corpus_choice, upload, hf_id, languages, budget_kind, budget, lr, batch_size, loss, seed,
             warm_start, extend, name, request: gr.Request):
    config = views.config_from_form(teacher, student, corpus_choice, upload, hf_id, languages, budget_kind, budget, lr,
                                    batch_size, loss, seed, warm_start, name, extend)
    TRAINER.start(config, _viewer(request))
    gr.Info("Training started. The curves update every second.")


@friendly
def on_coverage(student, extend, languages):
    return views.tokenizer_coverage(student, int(extend or 0), list(languages or []))


@friendly
def on_cancel(request: gr.Request):
    if not TRAINER.cancel(_viewer(request)):
        gr.Info("Nothing is training.")


def on_tick(last_version: int, last_state: str, request: gr.Request):
    """Redraw the Train tab only when the job changed; refresh run lists when a run lands."""
    snap = TRAINER.snapshot()
    if snap.version == last_version:
        return [gr.skip()] * 10
    viewer = _viewer(request)
    finished = snap.state == "done" and last_state != "done"
    mine = snap.owner == viewer
    return (
        views.progress_html(snap, viewer),
        viz.loss_curve(snap.history),
        viz.live_retrieval(snap.history),
        views.result_table(snap.metrics) if snap.metrics.get("student_after") else gr.skip(),
        views.result_figure(snap.metrics) if snap.metrics.get("student_after") else gr.skip(),
        gr.update(interactive=not snap.busy),
        gr.update(interactive=snap.busy and mine),
        snap.version,
        snap.state,
        gr.update(choices=views.run_choices()) if finished else gr.skip(),
    )


@friendly
def on_runs_refresh(current: str | None):
    """Re-read trained/: the table, and run pickers that keep a still-existing selection."""
    choices = views.run_choices()
    values = [value for _, value in choices]
    keep = current if current in values and current != views.TEACHER_ONLY else views.default_run()
    return views.runs_table(), gr.update(choices=choices, value=keep), gr.update(choices=choices)


@friendly
def on_run_selected(run_id):
    return views.run_details(run_id)


@friendly
def on_download(run_id):
    return views.download_path(run_id, DOWNLOADS)


@friendly
def on_delete(run_id, confirm):
    from kdemo.runs import delete_run

    if not confirm:
        raise KdemoError("Tick 'Yes, delete' first; deleting cannot be undone.")
    delete_run(run_id)
    gr.Info(f"Deleted {run_id}.")
    choices = views.run_choices()
    return views.runs_table(), gr.update(choices=choices, value=choices[0][1]), gr.update(choices=choices), False


@friendly
def on_compare_runs(run_ids):
    return views.compare_runs(run_ids)


def on_open_in_compare(run_id):
    return gr.update(choices=views.run_choices(), value=run_id), gr.Tabs(selected="compare")


# ------------------------------------------------------------------------- layout

def build_demo() -> gr.Blocks:
    """The whole UI: Compare (opens on the demo run), Train (live curves, cancel), Runs."""
    threading.Thread(target=_warm_up, name="kdemo-warmup", daemon=True).start()
    languages = views.corpus_languages()
    examples = _example_sets()
    defaults = DistillConfig()
    run_choices = views.run_choices()

    with gr.Blocks(title="kdemo — multilingual distillation") as demo:
        gr.Markdown(views.INTRO)
        with gr.Tabs(selected="compare") as tabs:
            with gr.Tab("Compare", id="compare"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        c_run = gr.Dropdown(run_choices, value=views.default_run(), label="Student (run)",
                                            info="The demo run ships with kdemo; your runs appear here too.")
                        c_source = gr.Radio(list(views.SOURCES), value="Example set", label="Sentences")
                        c_example = gr.Dropdown(examples, value=examples[0] if examples else None, label="Example set")
                        c_n = gr.Slider(2, 30, value=8, step=1, label="Test sentences to sample", visible=False)
                        c_langs = gr.CheckboxGroup(languages, value=["de", "ru", "zh", "ar"][: len(languages)], label="Languages",
                                                   visible=False)
                        c_text = gr.Textbox(lines=8, label="Your sentences: 'lang: text' per line, blank line between meanings",
                                            placeholder=views.USER_TEXT_PLACEHOLDER, visible=False)
                        with gr.Row():
                            c_method = gr.Radio(["UMAP", "PCA"], value="UMAP", label="Map")
                            c_dims = gr.Radio(["2D", "3D"], value="2D", label="Dimensions")
                        c_layout = gr.Radio(["Overlay", "Side by side"], value="Side by side", label="Teacher and student")
                        c_go = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                    with gr.Column(scale=3):
                        c_summary = gr.Markdown(elem_id="compare-summary")
                        c_map = gr.Plot(label="Embedding map", elem_id="compare-map")
                with gr.Accordion("Similarity tables", open=True):
                    c_pairs = gr.Dataframe(label="Each sentence against its anchor translation", wrap=True, elem_id="compare-pairs")
                    c_heat = gr.Plot(label="Cosine similarity, teacher vs student", elem_id="compare-heatmaps")
                with gr.Accordion("Cross-lingual nearest neighbours", open=True):
                    with gr.Row():
                        c_query = gr.Dropdown([], label="Sentence", scale=3)
                        c_k = gr.Slider(1, 10, value=5, step=1, label="Top k", scale=1)
                    c_nn = gr.Dataframe(label="Nearest sentences in other languages (✓ = a translation)", wrap=True)
                with gr.Accordion("Language × language retrieval of this run", open=False):
                    c_retrieval = gr.Plot()
                comparison = gr.State(None)

            with gr.Tab("Train", id="train"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        t_teacher = gr.Dropdown([DEFAULT_TEACHER], value=DEFAULT_TEACHER, allow_custom_value=True, label="Teacher",
                                                info="Offline default; any sentence-transformers id or folder when online.")
                        t_student = gr.Dropdown(list(STUDENT_CHOICES), value=defaults.student, allow_custom_value=True,
                                                label="Student", info="teacher-copy, compact:K (K layers), me5-small, or an encoder id/folder")
                        t_corpus = gr.Radio(["Built-in", "Upload", "datasets id"], value="Built-in", label="Corpus")
                        t_upload = gr.File(label="TSV / CSV / JSONL with a header of language codes", file_types=[".tsv", ".csv", ".jsonl", ".txt"],
                                           type="filepath", visible=False)
                        t_hf = gr.Textbox(label="datasets id (online)", placeholder="sentence-transformers/parallel-sentences-talks:en-de", visible=False)
                        t_langs = gr.CheckboxGroup(languages, value=languages, label="Languages")
                        with gr.Row():
                            t_budget_kind = gr.Radio(["minutes", "steps"], value="minutes", label="Budget in")
                            t_budget = gr.Number(value=3, minimum=0.1, label="Budget")
                        with gr.Accordion("Advanced", open=False):
                            t_loss = gr.Radio(["auto", *LOSSES], value=defaults.loss, label="Loss",
                                              info="mse: match the teacher's vectors · kd: match its in-batch similarities (Hinton KD) · both · "
                                                   "auto: mse for me5-small, mse+kd for teacher copies")
                            t_lr = gr.Number(value=None, label="Learning rate (empty: the default for the student)")
                            t_batch = gr.Slider(8, 128, value=defaults.batch_size, step=8, label="Batch size")
                            t_seed = gr.Number(value=defaults.seed, precision=0, label="Seed")
                            t_warm = gr.Checkbox(value=defaults.warm_start, label="Warm start (ridge map to the teacher's space; not needed for teacher copies)")
                            t_extend = gr.Slider(0, 8000, value=0, step=500, label="Extend the vocabulary by N learned tokens (0 = off)",
                                                 info="For WordPiece students such as teacher-copy: fewer [UNK] and shorter pieces for ru, ar, zh, ja.")
                            t_name = gr.Textbox(label="Run name (optional)")
                        with gr.Row():
                            t_start = gr.Button("Start", variant="primary", elem_id="start-btn")
                            t_cancel = gr.Button("Cancel", variant="stop", interactive=False, elem_id="cancel-btn")
                    with gr.Column(scale=2):
                        t_status = gr.HTML(views.progress_html(TRAINER.snapshot(), ""), elem_id="train-status")
                        with gr.Row():
                            t_loss_plot = gr.Plot(label="Loss", elem_id="loss-plot")
                            t_live_plot = gr.Plot(label="Dev retrieval", elem_id="live-plot")
                        t_result = gr.Dataframe(label="Before → after: translation retrieval on the test split (%)", elem_id="result-table")
                        t_result_plot = gr.Plot(label="Before → after")
                        with gr.Accordion("Tokenizer coverage of the chosen student", open=False):
                            t_cov_btn = gr.Button("Show [UNK] rate and pieces per word (with and without the extension)")
                            t_cov = gr.Dataframe(elem_id="coverage-table")
                version = gr.State(-1)
                job_state = gr.State("")
                timer = gr.Timer(1.0)

            with gr.Tab("Runs", id="runs"):
                r_table = gr.Dataframe(views.runs_table(), label="Runs (★ = the demo run that ships with kdemo)", interactive=False,
                                       wrap=True, elem_id="runs-table")
                with gr.Row():
                    r_refresh = gr.Button("Refresh")
                    r_run = gr.Dropdown(run_choices, value=views.default_run(), label="Run", scale=3)
                with gr.Row():
                    r_open = gr.Button("Open in Compare")
                    r_download = gr.Button("Download student (.zip)", elem_id="download-btn")
                    r_confirm = gr.Checkbox(label="Yes, delete", value=False)
                    r_delete = gr.Button("Delete run", variant="stop")
                r_file = gr.File(label="Download", elem_id="download-file", height=80)
                with gr.Accordion("Model card", open=False):
                    r_card = gr.Markdown(views.run_details(views.default_run()))
                with gr.Accordion("Compare runs", open=False):
                    r_pick = gr.Dropdown(run_choices, multiselect=True, label="Runs to compare")
                    r_cmp = gr.Button("Compare runs")
                    r_cmp_plot = gr.Plot()
                    r_cmp_table = gr.Dataframe()

        # Compare wiring
        def show_source(source: str):
            return (gr.update(visible=source == "Example set"), gr.update(visible=source == "Test sentences"),
                    gr.update(visible=source == "Test sentences"), gr.update(visible=source == "Your text"))

        c_source.change(show_source, c_source, [c_example, c_n, c_langs, c_text])
        compare_inputs = [c_run, c_source, c_example, c_n, c_langs, c_text, c_method, c_dims, c_layout]
        compare_outputs = [c_summary, c_map, c_heat, c_pairs, c_query, c_nn, c_retrieval, comparison]
        c_go.click(on_compare, compare_inputs, compare_outputs, concurrency_limit=2)
        c_query.input(on_neighbours, [comparison, c_query, c_k], c_nn)
        c_k.release(on_neighbours, [comparison, c_query, c_k], c_nn)
        demo.load(on_page_load, compare_inputs, [*compare_outputs, c_method])

        # Train wiring
        t_corpus.change(lambda c: (gr.update(visible=c == "Upload"), gr.update(visible=c == "datasets id"),
                                   gr.update(visible=c == "Built-in")), t_corpus, [t_upload, t_hf, t_langs])
        t_start.click(on_start, [t_teacher, t_student, t_corpus, t_upload, t_hf, t_langs, t_budget_kind, t_budget, t_lr, t_batch,
                                 t_loss, t_seed, t_warm, t_extend, t_name], None, concurrency_limit=1)
        t_cov_btn.click(on_coverage, [t_student, t_extend, t_langs], t_cov, concurrency_limit=1)
        t_cancel.click(on_cancel, None, None)
        timer.tick(on_tick, [version, job_state], [t_status, t_loss_plot, t_live_plot, t_result, t_result_plot, t_start, t_cancel,
                                                   version, job_state, c_run], show_progress="hidden")

        # Runs wiring
        r_refresh.click(on_runs_refresh, r_run, [r_table, r_run, r_pick])
        tabs.select(on_runs_refresh, r_run, [r_table, r_run, r_pick])
        demo.load(on_runs_refresh, r_run, [r_table, r_run, r_pick])
        r_run.change(on_run_selected, r_run, r_card)
        r_download.click(on_download, r_run, r_file)
        r_delete.click(on_delete, [r_run, r_confirm], [r_table, r_run, r_pick, r_confirm])
        r_cmp.click(on_compare_runs, r_pick, [r_cmp_plot, r_cmp_table])
        r_open.click(on_open_in_compare, r_run, [c_run, tabs]).then(on_compare, compare_inputs, compare_outputs)
    return demo


def _example_sets() -> list[str]:
    from kdemo.compare import example_sets

    names = example_sets()
    preferred = "one_meaning_13_languages"
    return sorted(names, key=lambda n: n != preferred)


def _warm_up() -> None:
    """Load the teacher and the demo student and compile UMAP in the background, so the first clicks are quick."""
    from kdemo.compare import warm_umap
    from kdemo.models import load_teacher

    try:
        load_teacher()
        run_id = views.default_run()
        if run_id != views.TEACHER_ONLY:
            views.student_for(run_id)  # a packed demo student is rebuilt once, before the first click
    except KdemoError as exc:
        logger.warning("warm-up failed: %s", exc)
    warm_umap()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build_demo().queue(default_concurrency_limit=4).launch(css=CSS, theme=gr.themes.Soft(primary_hue="blue"))
