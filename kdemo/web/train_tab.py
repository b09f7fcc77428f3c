"""The Train tab's components and wiring (the logic lives in ``kdemo.views.train``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from kdemo import students, viz
from kdemo.config import DEFAULT_TEACHER, LOSSES, DistillConfig
from kdemo.limits import limits
from kdemo.views import inspect
from kdemo.views import train as view
from kdemo.views.state import corpus_languages
from kdemo.web.common import AppContext, friendly, valid_token
from kdemo.web.replay import ReplayControls, replay_controls


@dataclass
class TrainTab:
    form: dict[str, gr.components.Component]
    start: gr.Button
    cancel: gr.Button
    outputs: dict[str, Any]
    replay: ReplayControls


def _form(defaults: DistillConfig, languages: list[str]) -> dict[str, gr.components.Component]:
    """The settings column; returns the TrainForm fields' components."""
    from kdemo.compare import example_sets

    f: dict[str, gr.components.Component] = {}
    f["teacher"] = gr.Dropdown([DEFAULT_TEACHER], value=DEFAULT_TEACHER, allow_custom_value=True, label="Teacher",
                               info="Offline default; any sentence-transformers id or folder when online.")
    f["student"] = gr.Dropdown(students.choices(), value=defaults.student, allow_custom_value=True, label="Student", elem_id="train-student",
                               info="me5-small (multilingual), teacher-copy, compact:K, scratch, or an encoder id when online")
    f["corpus_choice"] = gr.Radio(list(view.CORPUS_CHOICES), value="Built-in", label="Corpus", elem_id="train-corpus")
    f["upload"] = gr.File(label="TSV / CSV / JSONL with a header of language codes", file_types=[".tsv", ".csv", ".jsonl", ".txt"],
                          type="filepath", visible=False, elem_id="train-upload")
    f["hf_id"] = gr.Textbox(label="datasets id (online): owner/name[:subset]", visible=False,
                            placeholder="sentence-transformers/parallel-sentences-talks:en-de", elem_id="train-hf")
    f["languages"] = gr.CheckboxGroup(languages, value=languages, label="Languages", elem_id="train-langs")
    with gr.Row():
        f["budget_kind"] = gr.Radio(["minutes", "steps"], value="minutes", label="Budget in", elem_id="train-budget-kind")
        f["budget"] = gr.Number(value=3, minimum=0.1, label="Budget", elem_id="train-budget")
    with gr.Accordion("Advanced", open=False, elem_id="train-advanced"):
        f["loss"] = gr.Radio(["auto", *LOSSES], value=defaults.loss, label="Loss",
                             info="mse: match the teacher's vectors · kd: match its in-batch similarities (Hinton KD) · both")
        f["lr"] = gr.Number(value=None, label="Learning rate (empty: the default for the student)")
        f["batch_size"] = gr.Slider(8, 128, value=defaults.batch_size, step=8, label="Batch size")
        f["seed"] = gr.Number(value=defaults.seed, precision=0, label="Seed")
        f["warm_start"] = gr.Checkbox(value=defaults.warm_start, label="Warm start (closed-form map to the teacher's space)")
        f["english"] = gr.Checkbox(value=True, label="Also train on kdemo's English-only sentences (keeps the teacher's English)", elem_id="train-english")
        f["precision"] = gr.Radio(["auto", "fp32", "bf16"], value="auto", label="Precision",
                                  info="auto: bf16 where it measures faster on this machine")
        f["extend"] = gr.Slider(0, 8000, value=0, step=500, label="Extend the vocabulary by N learned tokens (0 = off)")
        f["eval_every"] = gr.Number(value=defaults.eval_every, precision=0, minimum=1, label="Live evaluation every N steps",
                                    elem_id="train-eval-every")
        f["probe"] = gr.Dropdown([view.PROBE_DEV, *example_sets()], value=view.PROBE_DEV, label="Sentences on the alignment map")
        f["name"] = gr.Textbox(label="Run name (optional)")
    return f


def build(ctx: AppContext) -> TrainTab:
    """Settings on the left; status, live charts, the alignment map and the result card on the right."""
    defaults = DistillConfig()
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            form = _form(defaults, corpus_languages())
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="start-btn")
                cancel = gr.Button("Cancel", variant="stop", interactive=False, elem_id="cancel-btn")
            gr.Markdown(limits().describe(), elem_classes="kd-limits")
        with gr.Column(scale=2):
            status = gr.HTML(view.progress_html(ctx.trainer.snapshot(), ""), elem_id="train-status")
            live = gr.Plot(label="Live metrics", elem_id="live-plot")
            with gr.Row():
                loss = gr.Plot(label="Loss", elem_id="loss-plot")
                with gr.Column():
                    metric = gr.Radio([("teacher-index search", "compat"), ("agreement", "agreement"), ("retrieval", "acc")],
                                      value="compat", label="Per language")
                    by_lang = gr.Plot(label="Per language", elem_id="live-lang-plot")
            with gr.Accordion("Alignment map: watch the translations move onto the teacher's English", open=True):
                replay = replay_controls("train")
            card = gr.Dataframe(label="Before → after on the dev split", elem_id="result-table")
            card_plot = gr.Plot(label="Before → after")
            languages = gr.Dataframe(label="Per language, after training", elem_id="result-languages")
    with gr.Accordion("Tokenizer coverage of the chosen student", open=False):
        coverage_btn = gr.Button("Show [UNK] rate and pieces per word (with and without the extension)")
        coverage = gr.Dataframe(elem_id="coverage-table")
    outputs = dict(status=status, live=live, loss=loss, by_lang=by_lang, card=card, card_plot=card_plot, languages=languages)
    tab = TrainTab(form, start, cancel, outputs, replay)
    _wire(ctx, tab, metric, coverage_btn, coverage)
    return tab


def _wire(ctx: AppContext, tab: TrainTab, metric: gr.Radio, coverage_btn: gr.Button, coverage: gr.Dataframe) -> None:
    f = tab.form
    f["corpus_choice"].change(lambda c: (gr.update(visible=c == "Upload"), gr.update(visible=c == "datasets id"),
                                         gr.update(visible=c == "Built-in")), f["corpus_choice"], [f["upload"], f["hf_id"], f["languages"]])

    @friendly
    def on_start(token: str, **values: Any) -> None:
        config, upload = view.config_from_form(view.TrainForm(**{k: (tuple(v) if k == "languages" else v) for k, v in values.items()}))
        ctx.trainer.start(config, valid_token(token), upload)
        gr.Info("Training started. The charts update every second.")

    @friendly
    def on_cancel(token: str) -> None:
        if not ctx.trainer.cancel(valid_token(token)):
            gr.Info("Nothing is training.")

    tab.start.click(on_start, inputs_kwargs={"token": ctx.token, **f}, concurrency_limit=1, concurrency_id="start", api_name="start_training")
    tab.cancel.click(on_cancel, ctx.token, None, api_name="cancel_training")

    def training_state() -> str:
        """idle, running, cancelling, done, cancelled or failed: whether the server is busy training."""
        return ctx.trainer.snapshot().state

    gr.api(training_state, api_name="training_state")
    coverage_btn.click(friendly(lambda student, extend, languages: _coverage(student, extend, languages)),
                       [f["student"], f["extend"], f["languages"]], coverage, concurrency_limit=1, concurrency_id="coverage")
    metric.change(lambda m: viz.live_by_language(ctx.trainer.snapshot().history, m, references=_references(ctx)), metric,
                  tab.outputs["by_lang"])
    version, last_state = gr.State(-1), gr.State("")
    timer = gr.Timer(1.0)
    o = tab.outputs
    timer.tick(lambda v, s, token, m, follow, shown: tick(ctx, tab, (version, last_state), v, s, valid_token(token), m, follow, shown),
               [version, last_state, ctx.token, metric, tab.replay.follow, tab.replay.state],
               [*o.values(), tab.start, tab.cancel, version, last_state, tab.replay.slider, tab.replay.map, tab.replay.state],
               show_progress="hidden")


def _coverage(student: str, extend: int, languages: list[str]):  # -> pd.DataFrame
    from kdemo.vocab import tokenizer_coverage

    return tokenizer_coverage((student or "teacher-copy").strip()[:200], int(extend or 0), list(languages or []))


def _references(ctx: AppContext) -> dict[str, dict[str, float]]:
    metrics = ctx.trainer.snapshot().metrics
    return {name: metrics.get(name, {}) for name in ("teacher", "student_before")}


def tick(ctx: AppContext, tab: TrainTab, states: tuple[gr.State, gr.State], last_version: int, last_state: str, token: str,
         metric: str, follow: bool, shown: Any = None) -> dict[Any, Any]:
    """Redraw the Train tab only when the job changed (``states``: where the last drawn version and state are kept).

    The alignment map follows the run only when a new frame arrived since ``shown`` (the replay last sent),
    so a visitor who has just moved the slider is not pulled back by the next step's redraw."""
    snap = ctx.trainer.snapshot()
    if snap.version == last_version:
        return {states[0]: last_version}  # nothing new (an empty dict would not count as "no updates")
    o = tab.outputs
    loss, live = view.live_figures(snap)
    updates: dict[Any, Any] = {
        o["status"]: view.progress_html(snap, token), o["live"]: live, o["loss"]: loss,
        o["by_lang"]: viz.live_by_language(snap.history, metric, references=_references(ctx)),
        tab.start: gr.update(interactive=not snap.busy), tab.cancel: gr.update(interactive=snap.busy and snap.owned_by(token)),
        states[0]: snap.version, states[1]: snap.state,
    }
    if snap.metrics.get("student_after") and last_state != snap.state:
        updates |= {o["card"]: view.result_card(snap.metrics), o["card_plot"]: viz.before_after(snap.metrics),
                    o["languages"]: view.language_table(snap.metrics, "compat")}
    if snap.probe is not None:
        frames = len(snap.probe.steps)
        updates[tab.replay.state] = snap.probe
        if follow and (shown is None or len(shown.steps) != frames):
            updates |= {tab.replay.slider: gr.update(maximum=max(frames - 1, 1), value=frames - 1),
                        tab.replay.map: inspect.replay_figure(snap.probe)}
        else:
            updates[tab.replay.slider] = gr.update(maximum=max(frames - 1, 1))
    return updates
