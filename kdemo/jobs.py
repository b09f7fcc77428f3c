"""One training at a time per server, in a background thread the UI can watch and cancel.

The app polls ``TrainingManager.snapshot()``; a new snapshot ``version`` means there is something
new to draw. A run belongs to the browser that started it: the owner's token is kept only as a
hash, and only that browser (after a reload too) may cancel it or read its error messages.
Cancel is honoured in every phase (reading, embedding, evaluating, fitting, training).
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdemo.config import DistillConfig
from kdemo.errors import KdemoError
from kdemo.runs import owner_key

logger = logging.getLogger(__name__)


@dataclass
class JobSnapshot:
    """A consistent copy of the job's state for one UI refresh (``owner`` is a hash, never a token)."""

    state: str = "idle"  # idle | running | cancelling | done | cancelled | failed
    owner: str = ""
    config: DistillConfig | None = None
    message: str = ""
    progress: float = 0.0
    eta: float = float("nan")
    step: int = 0
    loss: float = float("nan")
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    probe: Any = None  # kdemo.probe.ProbeReplay so far
    run_id: str = ""
    error: str = ""
    version: int = 0

    @property
    def busy(self) -> bool:
        return self.state in ("running", "cancelling")

    def owned_by(self, token: str) -> bool:
        return bool(token) and self.owner == owner_key(token)


class TrainingManager:
    """Runs ``distill`` + ``save_run`` in a thread; thread-safe snapshots for any number of viewers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job = JobSnapshot()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> JobSnapshot:
        """A copy of the current state (safe to read while training goes on)."""
        with self._lock:
            snap = copy.copy(self._job)
            snap.history = list(self._job.history)
            snap.metrics = dict(self._job.metrics)
            return snap

    def start(self, config: DistillConfig, token: str, upload: Path | None = None) -> None:
        """Start training ``config`` for the browser holding ``token``; refuses while another run is in progress.

        An uploaded corpus is copied aside first (Gradio may delete its upload), trained on, kept
        in the saved run, and removed from the staging folder when the job ends.
        """
        if not token:
            raise KdemoError("Your browser has no session token yet; reload the page and try again.")
        with self._lock:
            if self._job.busy:
                who = "You are" if self._job.owner == owner_key(token) else "Someone else is"
                raise KdemoError(f"{who} already training ({self._describe(self._job.config)}); one run at a time on this server.")
            staged = None
            if upload is not None:
                staged = Path(tempfile.mkdtemp(prefix="kdemo-upload-")) / _safe_name(upload.name)
                shutil.copyfile(upload, staged)
                config = config.replace(corpus=str(staged))
            self._cancel.clear()
            self._job = JobSnapshot(state="running", owner=owner_key(token), config=config, message="Starting",
                                    version=self._job.version + 1)
        self._thread = threading.Thread(target=self._run, args=(config, token, staged), name="kdemo-train", daemon=True)
        self._thread.start()

    def cancel(self, token: str) -> bool:
        """Ask the running job to stop (within about a second). Returns False when nothing was running."""
        with self._lock:
            if not self._job.busy:
                return False
            if self._job.owner != owner_key(token):
                raise KdemoError("Only the person who started this run can cancel it.")
            self._job.state = "cancelling"
            self._job.message = "Cancelling…"
            self._job.version += 1
        self._cancel.set()
        return True

    @staticmethod
    def _describe(config: DistillConfig | None) -> str:
        if config is None:
            return "a run"
        return f"student {config.student} on {', '.join(config.languages) or 'all languages'}"

    def _update(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._job, key, value)
            self._job.version += 1

    def _append(self, entry: dict[str, Any], **changes: Any) -> None:
        with self._lock:
            self._job.history.append(entry)
            for key, value in changes.items():
                setattr(self._job, key, value)
            self._job.version += 1

    def _callbacks(self, staged: Path | None):  # -> Callbacks
        from kdemo.distill import Callbacks

        def on_status(message: str) -> None:
            with self._lock:
                if self._job.state == "running":
                    self._job.message = _without_paths(message, staged)
                self._job.version += 1

        return Callbacks(
            on_step=lambda info: self._append({"step": info.step, "loss": info.loss}, step=info.step, loss=info.loss,
                                              progress=info.progress, eta=info.eta),
            on_eval=lambda step, metrics: self._append(dict(metrics)),
            on_status=on_status,
            on_metrics=lambda metrics: self._update(metrics=metrics),
            on_probe=lambda replay: self._update(probe=replay),
            should_stop=self._cancel.is_set,
        )

    def _run(self, config: DistillConfig, token: str, staged: Path | None) -> None:
        from kdemo.distill import distill
        from kdemo.runs import save_run

        started = time.perf_counter()
        try:
            from kdemo.limits import limits

            result = distill(config, self._callbacks(staged), max_rows=limits().upload_rows if staged is not None else None)
            if result.cancelled or self._cancel.is_set():
                self._update(state="cancelled", message=f"Cancelled at step {result.steps}; nothing was saved.", metrics=result.metrics)
                return
            self._update(message="Saving the run")
            layout = save_run(result, owner=token, corpus_file=staged)
            self._update(state="done", progress=1.0, eta=0.0, metrics=result.metrics, run_id=layout.run_id, probe=result.probe,
                         message=f"Done: {result.steps} steps in {result.train_seconds:.0f} s of training "
                                 f"({time.perf_counter() - started:.0f} s in all). Saved as {layout.run_id}.")
        except KdemoError as exc:
            self._update(state="failed", error=_without_paths(str(exc), staged), message="Training stopped.")
        except Exception:  # the UI gets a message, the log the traceback
            logger.exception("training failed")
            self._update(state="failed", error="Unexpected error; the server log has the details.", message="Training stopped.")
        finally:
            if staged is not None:
                shutil.rmtree(staged.parent, ignore_errors=True)


def _safe_name(name: str) -> str:
    """A file name without folders or odd characters, keeping the extension readers rely on.

    Example:
        >>> _safe_name("../../etc/my pairs.en-de.tsv")
        'my-pairs.en-de.tsv'
    """
    import re

    stem = Path(name).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "corpus.tsv"
    return cleaned[-100:]


def _without_paths(message: str, staged: Path | None) -> str:
    """An error message with the server's staging folder replaced by the uploaded file's name."""
    if staged is not None:
        message = message.replace(str(staged), staged.name).replace(str(staged.parent), "upload")
    return message

