"""Metrics on aligned corpora. Every metric is a float where higher is better, keyed ``{dataset}_{metric}``.

The primary metric is ``{dataset}_mean_acc``: translation retrieval accuracy (both directions,
averaged over languages) inside the evaluated model's own space, the task a multilingual
embedding model is judged on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus

PRIMARY_METRIC = "mean_acc"


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def retrieval_accuracy(queries: np.ndarray, keys: np.ndarray) -> float:
    """Share of rows i whose nearest key by cosine is key i.

    Example:
        >>> retrieval_accuracy(np.eye(3), np.eye(3))
        1.0
    """
    sims = normalize_rows(queries) @ normalize_rows(keys).T
    return float(np.mean(sims.argmax(axis=1) == np.arange(len(queries))))


def embed_corpus(model: SentenceTransformer, corpus: ParallelCorpus, batch_size: int = 64) -> dict[str, np.ndarray]:
    """One embedding matrix per language, rows aligned with the corpus."""
    from kdemo.models import encode

    return {lang: encode(model, texts, batch_size) for lang, texts in corpus.texts.items()}


def translation_metrics(embeddings: dict[str, np.ndarray], teacher_en: np.ndarray, dataset: str = "dev") -> dict[str, float]:
    """Per-language retrieval, pair cosine and closeness to the teacher, plus their means.

    ``embeddings`` are one model's embeddings per language (with ``en``); ``teacher_en`` the
    teacher's English embeddings of the same rows.

    Example:
        >>> e = {"en": np.eye(3), "de": np.eye(3)}
        >>> translation_metrics(e, np.eye(3))["dev_mean_acc"]
        1.0
    """
    en = embeddings["en"]
    metrics: dict[str, float] = {f"{dataset}_en_neg_mse": -float(np.mean((en - teacher_en) ** 2))}
    accs, coss = [], []
    for lang, emb in embeddings.items():
        if lang == "en":
            continue
        xx2en = retrieval_accuracy(emb, en)
        en2xx = retrieval_accuracy(en, emb)
        cos = float(np.mean(np.sum(normalize_rows(emb) * normalize_rows(en), axis=1)))
        metrics.update({
            f"{dataset}_{lang}_acc_xx2en": xx2en,
            f"{dataset}_{lang}_acc_en2xx": en2xx,
            f"{dataset}_{lang}_acc": (xx2en + en2xx) / 2,
            f"{dataset}_{lang}_cos": cos,
            f"{dataset}_{lang}_neg_mse": -float(np.mean((emb - teacher_en) ** 2)),
        })
        accs.append((xx2en + en2xx) / 2)
        coss.append(cos)
    if accs:
        metrics[f"{dataset}_mean_acc"] = float(np.mean(accs))
        metrics[f"{dataset}_mean_cos"] = float(np.mean(coss))
    return metrics


def retrieval_matrix(embeddings: dict[str, np.ndarray]) -> pd.DataFrame:
    """Language × language accuracy: row a, column b = share of a's sentences that find their b translation."""
    import pandas as pd

    langs = list(embeddings)
    values = [[retrieval_accuracy(embeddings[a], embeddings[b]) for b in langs] for a in langs]
    return pd.DataFrame(values, index=langs, columns=langs)


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """All-pairs cosine similarity between rows of ``a`` and rows of ``b`` (or ``a``)."""
    a = normalize_rows(a)
    return a @ (a if b is None else normalize_rows(b)).T


def per_language_table(metrics_by_model: dict[str, dict[str, float]], dataset: str = "dev") -> pd.DataFrame:
    """Rows = languages, columns = models: retrieval accuracy in percent, for before/after cards.

    Example:
        >>> m = {"teacher": {"dev_de_acc": 0.5, "dev_mean_acc": 0.5}}
        >>> per_language_table(m).loc["de", "teacher"]
        50.0
    """
    import pandas as pd

    suffix = "_acc"
    langs: list[str] = []
    for metrics in metrics_by_model.values():
        for key in metrics:
            lang = key[len(dataset) + 1 : -len(suffix)]
            if key.startswith(f"{dataset}_") and key.endswith(suffix) and "_" not in lang and lang not in langs:
                langs.append(lang)
    rows = {lang: {name: round(100 * m.get(f"{dataset}_{lang}_acc", float("nan")), 1) for name, m in metrics_by_model.items()} for lang in langs}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if f"{dataset}_mean_acc" in next(iter(metrics_by_model.values()), {}):
        table.loc["mean"] = {name: round(100 * m.get(f"{dataset}_mean_acc", float("nan")), 1) for name, m in metrics_by_model.items()}
    return table
