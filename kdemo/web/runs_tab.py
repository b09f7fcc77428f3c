"""The Runs tab: list, open, compare, download and delete runs (logic in ``kdemo.views.runs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from kdemo.errors import KdemoError
from kdemo.views import runs as view
from kdemo.views.compare import TEACHER_ONLY, open_selected
from kdemo.web.common import AppContext, friendly, valid_token


@dataclass
class RunsTab:
    table: gr.Dataframe
    run: gr.Dropdown
    pick: gr.Dropdown
    open: gr.Button


def build(ctx: AppContext) -> RunsTab:
    """The table of runs and what can be done with one."""
    table = gr.Dataframe(label="Runs (★ = the demo run that ships with kdemo; ✓ = yours)", interactive=False, wrap=True,
                         elem_id="runs-table")
    with gr.Row():
        refresh = gr.Button("Refresh")
        run = gr.Dropdown(view.run_choices(), value=view.default_run(), label="Run", scale=3, elem_id="runs-run")
    with gr.Row():
        open_btn = gr.Button("Open in Compare")
        download = gr.Button("Download student (.zip)", elem_id="download-btn")
        download_int8 = gr.Button("Download int8 ONNX student (.zip, faster on CPUs)", elem_id="download-int8-btn")
        confirm = gr.Checkbox(label="Yes, delete", value=False, elem_id="runs-confirm")
        delete = gr.Button("Delete run", variant="stop", elem_id="delete-btn")
    file = gr.File(label="Download", elem_id="download-file", height=80)
    with gr.Accordion("Model card", open=False):
        card = gr.Markdown()
    with gr.Accordion("Compare runs", open=False):
        pick = gr.Dropdown(view.run_choices(), multiselect=True, label="Runs to compare")
        metric = gr.Radio([("teacher-index search", "compat"), ("agreement", "agreement"), ("retrieval", "acc")], value="compat",
                          label="Metric")
        compare_btn = gr.Button("Compare runs")
        compare_plot = gr.Plot()
        compare_table = gr.Dataframe()
    tab = RunsTab(table, run, pick, open_btn)

    def downloader(int8: bool):  # -> Callable[[str], str]
        @friendly
        def on_download(run_id: str) -> str:
            from kdemo.runs import zip_student

            selected = open_selected(run_id)
            if selected is None:
                raise KdemoError("Pick a run to download.")
            return str(zip_student(selected, int8=int8))

        return on_download

    @friendly
    def on_delete(run_id: str, yes: bool, token: str) -> dict[Any, Any]:
        selected = open_selected(run_id)
        if selected is None:
            raise KdemoError("Pick a run to delete.")
        if not yes:
            raise KdemoError("Tick 'Yes, delete' first; deleting cannot be undone.")
        view.delete(selected, valid_token(token), ctx.admin)
        gr.Info(f"Deleted {run_id}.")
        return refresh_outputs(tab, None, token) | {confirm: False}

    @friendly
    def on_compare(run_ids: list[str], chosen: str) -> tuple[Any, Any]:
        runs = [open_selected(r) for r in run_ids or [] if r and r != TEACHER_ONLY]
        return view.compare_runs([r for r in runs if r is not None], chosen)

    refresh.click(friendly(lambda current, token: refresh_outputs(tab, current, token)), [run, ctx.token], [table, run, pick])
    run.change(friendly(lambda run_id: view.run_details(open_selected(run_id))), run, card)
    download.click(downloader(False), run, file, concurrency_limit=1, concurrency_id="download")
    download_int8.click(downloader(True), run, file, concurrency_limit=1, concurrency_id="download")
    delete.click(on_delete, [run, confirm, ctx.token], [table, run, pick, confirm])
    compare_btn.click(on_compare, [pick, metric], [compare_plot, compare_table])
    return tab


def refresh_outputs(tab: RunsTab, current: str | None, token: str) -> dict[Any, Any]:
    """The table and pickers re-read from disk, keeping a still-existing selection."""
    choices = view.run_choices()
    values = [value for _, value in choices]
    keep = current if current in values and current != TEACHER_ONLY else view.default_run()
    return {tab.table: view.runs_table(valid_token(token)), tab.run: gr.update(choices=choices, value=keep),
            tab.pick: gr.update(choices=choices)}
