"""Saved runs: the ``trained/<run_id>/`` layout, written atomically, opened once as a ``Run``."""

from __future__ import annotations

from kdemo.runs.card import budget_text, model_card
from kdemo.runs.layout import RUNS_DIR, RunLayout, run_path, runs_dir, sanitize_run_id
from kdemo.runs.store import (
    Run,
    clean_runs_folder,
    delete_run,
    downloads_dir,
    list_runs,
    new_run_id,
    open_run,
    owner_key,
    pack_run,
    save_run,
    zip_student,
)

__all__ = [
    "RUNS_DIR", "Run", "RunLayout", "budget_text", "clean_runs_folder", "delete_run", "downloads_dir", "list_runs", "model_card", "new_run_id",
    "open_run", "owner_key", "pack_run", "run_path", "runs_dir", "sanitize_run_id", "save_run", "zip_student",
]
