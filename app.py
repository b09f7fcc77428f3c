"""kdemo's Gradio app: ``build_demo()`` lays out the tabs from ``kdemo.web`` and wires the page load.

Run ``python app.py`` (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT), or deploy as a Hugging
Face Space (``app_file: app.py``). ``KDEMO_ADMIN=1`` lets any visitor delete any run (local use only).
"""

from __future__ import annotations

import logging
import threading

import gradio as gr

from kdemo.errors import KdemoError
from kdemo.jobs import TrainingManager
from kdemo.runs import downloads_dir
from kdemo.views.runs import run_choices
from kdemo.web import compare_tab, inspect_tab, runs_tab, search_tab, train_tab
from kdemo.web.common import CSS, AppContext, admin_enabled, ensure_token, friendly

logger = logging.getLogger("kdemo.app")

INTRO = """
# kdemo — make an English embedding model multilingual
An **embedding model** turns a sentence into a vector; similar meanings get nearby vectors. The
*teacher* (all-MiniLM-L6-v2) only really knows English: a German or Chinese sentence lands far from
its English translation. **Knowledge distillation** (Reimers & Gurevych, 2020) trains a *student*
to put both the English sentence *and* its translations where the teacher puts the English one.
Afterwards, translations sit together, and the student can search an English index the teacher built.

**Compare** a distilled student with the teacher · **Search** the teacher's English index in any language ·
**Train** your own student in a few minutes on this CPU · **Inspect** how a run aligned and where it fails ·
**Runs** lists, downloads and compares students.
"""
TRAINER = TrainingManager()


def build_demo() -> gr.Blocks:
    """The whole UI. Run lists are re-read at every page load, so a new visitor sees every run."""
    threading.Thread(target=_warm_up, name="kdemo-warmup", daemon=True).start()
    folder = downloads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    gr.set_static_paths([folder])  # student zips are served from here, not copied (they reach 470 MB)
    with gr.Blocks(title="kdemo — multilingual distillation") as demo:
        gr.Markdown(INTRO)
        token = gr.BrowserState("", storage_key="kdemo-owner")
        with gr.Tabs(selected="compare") as tabs:
            ctx = AppContext(TRAINER, token, tabs, admin_enabled())
            with gr.Tab("Compare", id="compare"):
                compare = compare_tab.build(ctx)
            with gr.Tab("Search", id="search"):
                search_run = search_tab.build(ctx)
            with gr.Tab("Train", id="train"):
                train_tab.build(ctx)
            with gr.Tab("Inspect", id="inspect"):
                inspect_run = inspect_tab.build(ctx, compare, demo)
            with gr.Tab("Runs", id="runs"):
                runs = runs_tab.build(ctx)
        pickers = [compare.run, search_run, inspect_run]
        demo.load(ensure_token, token, token)
        demo.load(friendly(lambda current, tok: runs_tab.refresh_outputs(runs, current, tok)), [runs.run, token],
                  [runs.table, runs.run, runs.pick])
        demo.load(_refresh_pickers, pickers, pickers)
        tabs.select(_refresh_pickers, pickers, pickers)
        demo.load(compare_tab.first_view(compare), inputs_kwargs=compare.form, outputs=[*compare.outputs.values(), compare.form["method"]])
        tabs.select(friendly(lambda current, tok: runs_tab.refresh_outputs(runs, current, tok)), [runs.run, token],
                    [runs.table, runs.run, runs.pick])
        runs.open.click(lambda run_id: (gr.update(choices=run_choices(), value=run_id), gr.Tabs(selected="compare")), runs.run,
                        [compare.run, tabs]).then(lambda **v: compare_tab.compare_outputs(compare, **v), inputs_kwargs=compare.form,
                                                  outputs=list(compare.outputs.values()))
    return demo


def _refresh_pickers(*current: str) -> list[dict]:
    """Every run picker re-read from disk, keeping each one's selection."""
    choices = run_choices()
    return [gr.update(choices=choices, value=value) for value in current]


def _warm_up() -> None:
    """Clear what a killed save left behind, load the teacher and the demo student, compile UMAP: the first clicks are quick."""
    from kdemo.compare import warm_umap
    from kdemo.models import load_teacher
    from kdemo.runs import clean_runs_folder
    from kdemo.views.compare import open_selected
    from kdemo.views.runs import default_run
    from kdemo.views.state import student_for

    try:
        clean_runs_folder()
        load_teacher()
        run = open_selected(default_run())
        if run is not None:
            student_for(run)  # a packed demo student is rebuilt once, before the first click
    except KdemoError as exc:
        logger.warning("warm-up failed: %s", exc)
    warm_umap()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build_demo().queue(default_concurrency_limit=4).launch(css=CSS, theme=gr.themes.Soft(primary_hue="blue"),
                                                           max_file_size="50mb")
