"""The ``trained/<run_id>/`` layout: where a run's files go, which are required, and safe run ids.

Layout of one run::

    trained/<run_id>/
        student/          the student in sentence-transformers format (``SentenceTransformer(path)``)
        config.json       the DistillConfig that reproduces the run
        metrics.json      {"teacher": {...}, "student_before": {...}, "student_after": {...}}
        retrieval.json    language x language retrieval accuracy on the dev split, teacher and student
        history.jsonl     one JSON object per step (loss, lr) or live evaluation
        run.json          when, how long, sizes, versions, status, owner
        README.md         a model card
        probe.npz         optional: 2-D positions of a fixed probe set at every live evaluation
        failures.json     optional: the dev pairs the student aligns worst
        corpus/           optional: the uploaded corpus the run trained on (so config.json reproduces)
        student-int8/     optional: the int8 ONNX export, made on first download (``kdemo.export``)

A run may hold ``student-delta/`` instead of ``student/``: the student stored as its difference to
a base model an installed package ships (see ``kdemo.compact``); ``student/`` is rebuilt from it on
first use. The demo run in the repository is stored that way.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdemo.errors import KdemoError

RUNS_DIR = Path(__file__).resolve().parent.parent.parent / "trained"
_ID_OK = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


def runs_dir() -> Path:
    """The folder holding runs: ``$KDEMO_RUNS`` or ``trained/`` beside the package."""
    return Path(os.environ.get("KDEMO_RUNS") or RUNS_DIR).expanduser().resolve()


def sanitize_run_id(name: str) -> str:
    """Lower-case letters, digits, ``.``, ``_`` and ``-`` only; never a path.

    Example:
        >>> sanitize_run_id("../My Run: de+fr")
        'my-run-de-fr'
    """
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")
    slug = re.sub(r"\.{2,}", ".", slug)[:80].strip("-._")
    return slug or "run"


@dataclass(frozen=True)
class RunLayout:
    """Paths of one run folder, and the check that it is complete.

    Example:
        >>> RunLayout(Path("/tmp/none")).missing()[:2]
        ['student/modules.json', 'config.json']
    """

    root: Path

    REQUIRED = ("config.json", "metrics.json", "retrieval.json", "history.jsonl", "run.json", "README.md")

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def packed(self) -> Path:
        return self.root / "student-delta"

    def file(self, name: str) -> Path:
        return self.root / name

    def read_json(self, name: str) -> Any:
        """One of the run's JSON files, parsed."""
        return json.loads(self.file(name).read_text(encoding="utf-8"))

    def write_json(self, name: str, data: Any) -> None:
        """Write one of the run's JSON files (readable, UTF-8)."""
        self.file(name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def missing(self) -> list[str]:
        """Required files that are absent (empty when the run is valid)."""
        missing = [name for name in self.REQUIRED if not (self.root / name).exists()]
        if not (self.student / "modules.json").exists() and not (self.packed / "base.json").exists():
            missing.insert(0, "student/modules.json")
        return missing

    def is_valid(self) -> bool:
        """True when every required file is present."""
        return not self.missing()


def run_path(run_id: str) -> RunLayout:
    """The layout of an existing or future run; ids that could escape ``trained/`` are refused.

    Example:
        >>> run_path("../etc")
        Traceback (most recent call last):
        ...
        kdemo.errors.KdemoError: '../etc' is not a valid run id (letters, digits, '.', '_' and '-' only).
    """
    if not isinstance(run_id, str) or not _ID_OK.match(run_id) or ".." in run_id:
        raise KdemoError(f"{str(run_id)[:100]!r} is not a valid run id (letters, digits, '.', '_' and '-' only).")
    root = (runs_dir() / run_id).resolve()
    if root.parent != runs_dir():
        raise KdemoError(f"Run id {run_id!r} points outside the runs folder.")
    return RunLayout(root)
