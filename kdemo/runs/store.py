"""Saved runs: written atomically, listed, opened once as a ``Run``, packed, zipped, deleted.

A ``Run`` is opened once by id (``open_run``) and carries what the views need: its layout, config,
metadata, metrics, retrieval matrices, history, probe replay and failures, and its student.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdemo.config import DistillConfig
from kdemo.errors import KdemoError
from kdemo.runs.card import budget_text, model_card
from kdemo.runs.layout import RunLayout, run_path, runs_dir, sanitize_run_id
from kdemo.storage import atomic_directory, cache_dir, remove_stale_temp

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    from kdemo.distill import DistillResult

logger = logging.getLogger(__name__)


def owner_key(token: str) -> str:
    """What run.json stores about the person who started a run: a hash of their browser token, never the token.

    Example:
        >>> owner_key("abc") == owner_key("abc") != owner_key("abd")
        True
    """
    return hashlib.sha256(f"kdemo-owner:{token}".encode()).hexdigest()[:32]


def new_run_id(config: DistillConfig) -> str:
    """A fresh, readable, unique id: date-time plus the run name or student."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = sanitize_run_id(f"{stamp}-{config.run_name or config.student.split('/')[-1]}")
    candidate, n = base, 2
    while (runs_dir() / candidate).exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def save_run(result: DistillResult, run_id: str | None = None, owner: str = "", corpus_file: Path | None = None) -> RunLayout:
    """Write a finished run atomically: built in a hidden temp folder, renamed at the end.

    ``owner`` is the starter's token (stored hashed; empty = made from the command line).
    ``corpus_file``: an uploaded corpus to keep beside the run, so its config reproduces it.

    Example:
        >>> layout = save_run(result)  # doctest: +SKIP
        >>> layout.is_valid()  # doctest: +SKIP
        True
    """
    if result.cancelled:
        raise KdemoError("A cancelled run is not saved; start a new one to get a student.")
    run_id = run_id or new_run_id(result.config)
    layout = run_path(run_id)
    if layout.root.exists():
        raise KdemoError(f"A run named {run_id!r} already exists; choose another name or delete it first.")
    config = result.config
    with atomic_directory(layout.root) as tmp:
        staged = RunLayout(tmp)
        if corpus_file is not None:
            (tmp / "corpus").mkdir()
            shutil.copy2(corpus_file, tmp / "corpus" / corpus_file.name)
            config = config.replace(corpus=f"corpus/{corpus_file.name}")
        result.student.save(str(staged.student))
        staged.write_json("config.json", config.to_dict())
        staged.write_json("metrics.json", result.metrics)
        staged.write_json("retrieval.json", result.matrices)
        with open(staged.file("history.jsonl"), "w", encoding="utf-8") as f:
            for row in result.history:
                f.write(json.dumps(row) + "\n")
        if result.probe is not None:
            result.probe.save(staged.file("probe.npz"))
        if result.failures:
            staged.write_json("failures.json", result.failures)
        meta = {
            "run_id": run_id,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "status": "done",
            "owner": owner_key(owner) if owner else "",
            "steps": result.steps,
            "train_seconds": result.train_seconds,
            **result.info,
            "versions": _versions(),
        }
        staged.write_json("run.json", meta)
        (tmp / "README.md").write_text(model_card(run_id, config, result.metrics, meta), encoding="utf-8")
    logger.info("saved run %s", layout.root)
    return layout


def _versions() -> dict[str, str]:
    import sentence_transformers
    import torch
    import transformers

    from kdemo import __version__

    return {"kdemo": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__}


@dataclass(frozen=True)
class Run:
    """One saved run, opened once: everything a view or the CLI reads about it.

    Example:
        >>> run = open_run("demo-me5-small")  # doctest: +SKIP
        >>> run.config.student, run.is_demo  # doctest: +SKIP
        ('me5-small', True)
    """

    layout: RunLayout
    config: DistillConfig
    meta: dict[str, Any] = field(repr=False)

    @property
    def run_id(self) -> str:
        return self.layout.run_id

    @property
    def is_demo(self) -> bool:
        return bool(self.meta.get("demo", False))

    def owned_by(self, token: str) -> bool:
        """True when ``token`` started this run (runs made by the CLI or shipped have no owner)."""
        return bool(token) and self.meta.get("owner", "") == owner_key(token)

    @functools.cached_property
    def metrics(self) -> dict[str, dict[str, float]]:
        return self.layout.read_json("metrics.json")

    @functools.cached_property
    def retrieval(self) -> dict[str, pd.DataFrame]:
        """Language x language retrieval matrices ({"teacher": ..., "student_after": ...})."""
        import pandas as pd

        return {name: pd.DataFrame(matrix) for name, matrix in self.layout.read_json("retrieval.json").items()}

    @functools.cached_property
    def history(self) -> list[dict[str, Any]]:
        lines = self.layout.file("history.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    @functools.cached_property
    def failures(self) -> list[dict[str, Any]]:
        """The dev pairs the student aligns worst (empty for runs saved before kdemo kept them)."""
        path = self.layout.file("failures.json")
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []

    def probe(self):  # -> ProbeReplay | None
        """The alignment replay stored with the run, or None."""
        from kdemo.probe import ProbeReplay

        path = self.layout.file("probe.npz")
        return ProbeReplay.load(path) if path.exists() else None

    def summary(self) -> dict[str, Any]:
        """Headline facts for tables."""
        after = self.metrics.get("student_after", {})
        return {
            "run_id": self.run_id,
            "created": self.meta.get("created", ""),
            "demo": self.is_demo,
            "owner": self.meta.get("owner", ""),
            "teacher": self.config.teacher,
            "student": self.config.student,
            "languages": ",".join(self.config.languages) or "all",
            "loss": self.config.loss,
            "budget": budget_text(self.config.to_dict()),
            "train_seconds": self.meta.get("train_seconds", 0),
            "teacher_acc": self.metrics.get("teacher", {}).get("dev_mean_acc"),
            "before_acc": self.metrics.get("student_before", {}).get("dev_mean_acc"),
            "after_acc": after.get("dev_mean_acc"),
        }

    def can_rebuild(self) -> bool:
        """True when the student can be loaded here (a packed one needs its base model's package)."""
        from kdemo.students import student_kind

        if (self.layout.student / "modules.json").exists():
            return True
        base = self.layout.read_json("student-delta/base.json").get("base", "")
        return student_kind(base).available()

    def student_folder(self) -> Path:
        """The plain sentence-transformers folder, rebuilt from ``student-delta/`` if needed."""
        from kdemo.compact import unpack_student

        if not (self.layout.student / "modules.json").exists():
            unpack_student(self.layout.packed, self.layout.student)
        return self.layout.student

    def load_student(self) -> SentenceTransformer:
        from kdemo.models import load_sentence_transformer

        return load_sentence_transformer(str(self.student_folder()))


def open_run(run_id: str) -> Run:
    """Open a saved run by id; a missing or incomplete run is a ``KdemoError`` that says which."""
    layout = run_path(run_id)
    if not layout.root.is_dir():
        raise KdemoError(f"No run named {run_id!r}. `python -m kdemo runs` lists them.")
    if not layout.is_valid():
        raise KdemoError(f"Run {run_id!r} is incomplete (missing {', '.join(layout.missing())}).")
    try:
        return Run(layout, DistillConfig.from_dict(layout.read_json("config.json")), layout.read_json("run.json"))
    except (OSError, ValueError, TypeError) as exc:
        raise KdemoError(f"Run {run_id!r} cannot be read: {exc}") from None


def list_runs() -> list[Run]:
    """Valid runs, the demo first, then newest first; incomplete folders are skipped with a log line."""
    root = runs_dir()
    if not root.exists():
        return []
    runs = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            runs.append(open_run(folder.name))
        except KdemoError as exc:
            logger.info("skipping %s: %s", folder.name, exc)
    runs.sort(key=lambda r: r.meta.get("created", ""), reverse=True)
    return [r for r in runs if r.is_demo] + [r for r in runs if not r.is_demo]


def clean_runs_folder() -> list[str]:
    """Remove temporary folders that a killed save or unpack left behind (called at start)."""
    removed = remove_stale_temp(runs_dir(), older_than=0)
    for folder in runs_dir().iterdir() if runs_dir().exists() else []:
        if folder.is_dir() and not folder.name.startswith("."):
            removed += [f"{folder.name}/{name}" for name in remove_stale_temp(folder, older_than=0)]
    return removed


def pack_run(run_id: str, demo_id: str | None = None) -> Path:
    """Replace a run's ``student/`` by ``student-delta/`` (its difference to the base package model).

    With ``demo_id`` (which must start with ``demo-``) the run is also renamed and marked as the
    demo run that ships in the repository: listed first, opened by Compare, never deleted by the UI.
    Everything is checked before anything is written, and run.json is written last.
    """
    from kdemo.compact import pack_student
    from kdemo.students import student_kind

    run = open_run(run_id)
    kind = student_kind(run.config.student)
    if kind.pack_base is None:
        raise KdemoError(f"Only students with a base package model can be packed (this run has {run.config.student}).")
    if run.layout.packed.exists():
        raise KdemoError(f"{run_id} is packed already.")
    target = None
    if demo_id:
        if not demo_id.startswith("demo-"):
            raise KdemoError("A demo run's id must start with 'demo-' (that is what .gitignore lets through).")
        target = run_path(demo_id)
        if target.root.exists():
            raise KdemoError(f"A run named {demo_id!r} already exists; delete it first or choose another demo id.")
    pack_student(run.layout.student, kind.pack_base(run.config.teacher), run.layout.packed)
    shutil.rmtree(run.layout.student)
    if target is None:
        return run.layout.packed
    card = run.layout.file("README.md").read_text(encoding="utf-8").replace(run_id, demo_id)
    run.layout.file("README.md").write_text(card, encoding="utf-8")
    run.layout.write_json("run.json", run.meta | {"demo": True, "run_id": demo_id, "trained_as": run_id, "owner": ""})
    run.layout.root.rename(target.root)
    return target.packed


def delete_run(run_id: str, requester: str | None = None, admin: bool = False) -> None:
    """Remove a run folder. The demo run is protected.

    ``requester`` is the browser token of a visitor (the app); only the run's owner may delete it,
    unless ``admin``. ``None`` means the command line, which owns the folder anyway.
    """
    run = open_run(run_id)
    if run.is_demo:
        raise KdemoError(f"{run_id} is the demo run that ships with kdemo; it cannot be deleted here.")
    if requester is not None and not admin and not run.owned_by(requester):
        raise KdemoError(f"Only the person who trained {run_id} can delete it.")
    shutil.rmtree(run.layout.root)
    for int8 in (False, True):
        _zip_path(run, int8).unlink(missing_ok=True)


def downloads_dir() -> Path:
    """Where ``zip_student`` writes; the app serves this folder (and only it) as static files."""
    return cache_dir() / "downloads"


def _zip_path(run: Run, int8: bool = False) -> Path:
    return downloads_dir() / f"{run.run_id}-student{'-int8' if int8 else ''}.zip"


def zip_student(run: Run, int8: bool = False) -> Path:
    """A zip of the run's ``student/`` folder (a plain sentence-transformers model), made once per run.

    ``int8``: the ``student-int8/`` export instead (ONNX body with int8 weights, ``kdemo.export``).
    Weights are stored, not deflated: float tensors barely compress, and storing a 470 MB model
    takes seconds where deflating it takes most of a minute of CPU on a shared server.
    """
    import zipfile

    if int8:
        from kdemo.export import export_int8

        folder = export_int8(run)
    else:
        folder = run.student_folder()
    target = _zip_path(run, int8)
    stamp = (folder / "modules.json").stat().st_mtime
    if target.exists() and target.stat().st_mtime >= stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{time.time_ns()}.partial")
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                stored = path.suffix in (".safetensors", ".bin", ".onnx")
                archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}",
                              compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target

