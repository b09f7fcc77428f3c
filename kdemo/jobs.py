"""One training at a time per server, in a background thread the UI can watch and cancel.

The app polls ``TrainingManager.snapshot()``; a new snapshot ``version`` means there is something
new to draw. Only the person who started a run may cancel it; everyone sees what is training.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kdemo.config import DistillConfig
from kdemo.errors import KdemoError

logger = logging.getLogger(__name__)


@dataclass
class JobSnapshot:
    """A consistent copy of the job's state for one UI refresh."""

    state: str = "idle"  # idle | running | cancelling | done | cancelled | failed
    owner: str = ""
    config: DistillConfig | None = None
    started: float = 0.0
    message: str = ""
    progress: float = 0.0
    eta: float = float("nan")
    step: int = 0
    loss: float = float("nan")
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    run_id: str = ""
    error: str = ""
    version: int = 0

    @property
    def busy(self) -> bool:
        return self.state in ("running", "cancelling")


class TrainingManager:
    """Runs ``distill`` + ``save_run`` in a thread; thread-safe snapshots for any number of viewers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job = JobSnapshot()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> JobSnapshot:
        """A deep copy of the current state (safe to read while training goes on)."""
        with self._lock:
            return copy.deepcopy(self._job)

    def start(self, config: DistillConfig, owner: str) -> None:
        """Start training ``config``; refuses while another run is in progress."""
        with self._lock:
            if self._job.busy:
                who = "You are" if self._job.owner == owner else "Someone else is"
                raise KdemoError(f"{who} already training ({self._describe(self._job.config)}); one run at a time on this server.")
            self._cancel.clear()
            self._job = JobSnapshot(state="running", owner=owner, config=config, started=time.time(),
                                    message="Starting", version=self._job.version + 1)
        self._thread = threading.Thread(target=self._run, args=(config,), name="kdemo-train", daemon=True)
        self._thread.start()

    def cancel(self, owner: str) -> bool:
        """Ask the running job to stop before its next step. Returns False when nothing was running."""
        with self._lock:
            if not self._job.busy:
                return False
            if self._job.owner != owner:
                raise KdemoError("Only the person who started this run can cancel it.")
            self._job.state = "cancelling"
            self._job.message = "Cancelling after the current step…"
            self._job.version += 1
        self._cancel.set()
        return True

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the current job ends (for tests and scripts)."""
        if self._thread:
            self._thread.join(timeout)
        return self.snapshot()

    @staticmethod
    def _describe(config: DistillConfig | None) -> str:
        if config is None:
            return "a run"
        langs = ", ".join(config.languages) or "all languages"
        return f"student {config.student} on {langs}"

    def _update(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._job, key, value)
            self._job.version += 1

    def _run(self, config: DistillConfig) -> None:
        from kdemo.distill import Callbacks, distill
        from kdemo.runs import save_run

        def on_step(info) -> None:  # StepInfo
            with self._lock:
                self._job.history.append({"step": info.step, "loss": info.loss})
                self._job.step, self._job.loss = info.step, info.loss
                self._job.progress, self._job.eta = info.progress, info.eta
                self._job.version += 1

        def on_eval(step: int, metrics: dict[str, Any]) -> None:
            with self._lock:
                self._job.history.append({"step": step, **metrics})
                self._job.version += 1

        def on_status(message: str) -> None:
            with self._lock:
                if self._job.state == "running":
                    self._job.message = message
                self._job.version += 1

        callbacks = Callbacks(on_step=on_step, on_eval=on_eval, on_status=on_status, should_stop=self._cancel.is_set)
        try:
            result = distill(config, callbacks)
            if result.cancelled:
                self._update(state="cancelled", message=f"Cancelled at step {result.steps}; nothing was saved.",
                             metrics=result.metrics)
                return
            on_status("Saving the run")
            layout = save_run(result)
            self._update(state="done", progress=1.0, metrics=result.metrics, run_id=layout.run_id,
                         message=f"Done: {result.steps} steps in {result.train_seconds:.0f} s. Saved as {layout.run_id}.")
        except KdemoError as exc:
            self._update(state="failed", error=str(exc), message="Training stopped.")
        except Exception as exc:  # the UI must get a message, the log the traceback
            logger.exception("training failed")
            self._update(state="failed", error=f"Unexpected error: {exc}. Details are in the server log.", message="Training stopped.")
