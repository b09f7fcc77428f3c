"""One validated, serialisable configuration per distillation run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kdemo.errors import KdemoError

DEFAULT_TEACHER = "sentence-transformers/all-MiniLM-L6-v2"
LOSSES = ("mse", "kd", "mse+kd")
PRECISIONS = ("auto", "fp32", "bf16")
# Keys older kdemo versions wrote into config.json that no longer mean anything; read and ignored.
_RETIRED_KEYS = frozenset({"extra"})


def default_lr(student: str) -> float:
    """The learning rate kdemo uses for ``student`` when none is given (declared in ``kdemo.students``).

    Example:
        >>> default_lr("compact:3")
        0.0002
    """
    from kdemo.students import student_kind

    return student_kind(student).lr


def _default_student() -> str:
    from kdemo.students import default_student

    return default_student()


@dataclass(frozen=True)
class DistillConfig:
    """Everything needed to reproduce one run; saved as ``config.json`` beside the student.

    The budget stops the run at whichever limit comes first: ``max_minutes`` (time spent in
    optimiser steps), ``max_steps`` or ``epochs``. The learning-rate schedule follows the same
    progress fraction, so a time-limited run still warms up and decays to zero at its end.

    ``english`` names English-only sentences trained on beside the corpus (``builtin``: the ones
    in ``assets/english/``; a file with one sentence per line; empty for none): they need no
    translation, and anchor the student's English side. ``precision`` is ``fp32``, ``bf16``
    (autocast) or ``auto``: bf16 where it measures faster on this machine (``kdemo.precision``);
    training and the student's evaluations use it (bf16 moves dev metrics by well under a point,
    docs/PERF.md).
    At most ``dev_rows`` rows of the dev split are evaluated (the first of its hashed order), so a
    large corpus never costs a quadratic matrix over its whole dev split.

    ``warm_start_strength`` is the warm start's shrinkage toward a rotation (1: a pure rotation,
    which keeps the student's own similarities); ``teacher_weight`` blends each training target:
    that much of the teacher's embedding of the English sentence, the rest the warm-started
    student's own embedding of it (1: the teacher's alone, as in Reimers & Gurevych; below 1 the
    student keeps more of its own English while its translations are pulled onto it; it needs
    the warm start). ``None`` for either, like ``lr`` and ``auto`` loss, takes the student's
    default (``kdemo.students``; a strength of ``None`` there: chosen by held-out agreement).
    Live evaluations (the app's curves) embed ``eval_sentences`` dev rows every ``eval_every``
    steps; after the first three, one is skipped while they have taken more than 6% of the
    training time (``kdemo.distill.loop.LIVE_EVAL_SHARE``).
    ``train_layers`` trains only the top N transformer layers and the head (None: every layer),
    which makes each step cheaper on a CPU. ``probe`` names the sentences followed on the
    alignment map: ``dev`` (the live subset of the dev split) or a curated example set
    (``assets/examples/<name>.tsv``).

    Example:
        >>> cfg = DistillConfig(languages=("de", "fr"), max_minutes=2)
        >>> DistillConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    teacher: str = DEFAULT_TEACHER
    student: str = field(default_factory=_default_student)
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
    eval_sentences: int = 64
    dev_fraction: float = 0.15
    dev_rows: int = 1000
    warm_start: bool = True
    warm_start_strength: float | None = None
    teacher_weight: float | None = None
    train_layers: int | None = None
    english: str = "builtin"
    precision: str = "auto"
    probe: str = "dev"
    extend_vocab: int = 0
    seed: int = 42
    run_name: str = ""

    def __post_init__(self) -> None:
        # Lists arrive from JSON and the UI; a tuple keeps the config hashable and frozen.
        object.__setattr__(self, "languages", tuple(self.languages))
        problems = []
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
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
            "dev_rows": self.dev_rows >= 2,
            "temperature": self.temperature > 0,
            "kd_temperature": self.kd_temperature > 0,
            "kd_alpha": 0 <= self.kd_alpha <= 1,
            "extend_vocab": self.extend_vocab >= 0,
            "warm_start_strength": self.warm_start_strength is None or self.warm_start_strength >= 0,
            "train_layers": self.train_layers is None or self.train_layers >= 0,
            "teacher_weight": self.teacher_weight is None or 0 <= self.teacher_weight <= 1,
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
        data = {k: v for k, v in data.items() if k not in _RETIRED_KEYS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KdemoError(f"Unknown config keys: {', '.join(unknown)}. Known keys: {', '.join(sorted(known))}.")
        return cls(**data)

    def resolved(self) -> DistillConfig:
        """The same run with ``auto`` loss and empty ``lr``, ``teacher_weight`` and
        ``warm_start_strength`` replaced by the student's defaults (what gets saved)."""
        from kdemo.students import student_kind

        kind = student_kind(self.student)
        loss = kind.loss if self.loss == "auto" else self.loss
        weight = kind.teacher_weight if self.teacher_weight is None else self.teacher_weight
        strength = kind.warm_start_strength if self.warm_start_strength is None else self.warm_start_strength
        return self.replace(loss=loss, lr=self.learning_rate, teacher_weight=weight, warm_start_strength=strength)

    @property
    def learning_rate(self) -> float:
        """``lr``, or the default for this student when ``lr`` is None."""
        return self.lr if self.lr is not None else default_lr(self.student)

    def replace(self, **changes: Any) -> DistillConfig:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)
