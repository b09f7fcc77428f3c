"""The Runs tab: every saved run with its headline numbers; details, comparison, download, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdemo import viz
from kdemo.errors import KdemoError
from kdemo.views.compare import TEACHER_ONLY

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from kdemo.runs import Run

COLUMNS = ["run", "created", "student", "languages", "budget", "teacher-index search %", "agreement", "English fidelity",
           "retrieval %", "yours"]


def run_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for run pickers: the demo run first, then newest first, then the teacher alone."""
    from kdemo.runs import list_runs

    return [(f"{r.run_id}{'  ★ demo' if r.is_demo else ''}", r.run_id) for r in list_runs()] + [(TEACHER_ONLY, TEACHER_ONLY)]


def default_run() -> str:
    """The run Compare opens on: the demo run if its student loads here, else the newest loadable, else the teacher."""
    from kdemo.runs import list_runs

    return next((r.run_id for r in list_runs() if r.can_rebuild()), TEACHER_ONLY)


def runs_table(viewer: str = "") -> pd.DataFrame:
    """All runs with the after-training headline numbers on their dev split."""
    import pandas as pd

    from kdemo.evaluate import headline
    from kdemo.runs import list_runs

    rows = []
    for run in list_runs():
        summary = run.summary()
        after = headline(run.metrics.get("student_after", {}))
        rows.append({"run": run.run_id + (" ★ demo" if run.is_demo else ""), "created": summary["created"],
                     "student": summary["student"], "languages": summary["languages"], "budget": summary["budget"],
                     "teacher-index search %": after.get("teacher-index search %"), "agreement": after.get("agreement"),
                     "English fidelity": after.get("English fidelity"), "retrieval %": after.get("retrieval %"),
                     "yours": "✓" if run.owned_by(viewer) else ""})
    return pd.DataFrame(rows, columns=COLUMNS)


def run_details(run: Run | None) -> str:
    """The run's model card."""
    if run is None:
        return "Pick a run."
    card = run.layout.file("README.md")
    return card.read_text(encoding="utf-8") if card.exists() else f"No model card for {run.run_id}."


def compare_runs(runs: list[Run], metric: str = "compat") -> tuple[go.Figure, pd.DataFrame]:
    """One metric per language (after training) for several runs, as bars and a table."""
    import pandas as pd

    from kdemo.evaluate import METRIC_LABELS, per_language_table

    if len(runs) < 2:
        raise KdemoError("Pick two or more runs to compare.")
    series = {run.run_id: per_language_table({"after": run.metrics.get("student_after", {})}, metric=metric)["after"] for run in runs}
    frame = pd.DataFrame(series)
    return viz.runs_comparison(series, title=f"{METRIC_LABELS.get(metric, metric)} per language"), frame.reset_index(names="language")


def delete(run: Run, viewer: str, admin: bool) -> None:
    """Delete a run the viewer owns (or any but the demo, on a server with the admin switch)."""
    from kdemo.runs import delete_run
    from kdemo.views.state import forget_student

    delete_run(run.run_id, requester=viewer, admin=admin)
    forget_student(run.run_id)
