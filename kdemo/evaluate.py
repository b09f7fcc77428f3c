"""Metrics on aligned corpora: what distillation is for, measured without labels.

Every metric is a float where higher is better, keyed ``{dataset}_{lang}_{metric}`` (``lang`` is a
language code or ``mean``); ``MetricKey.parse`` is the one way to read a key back.

Per language ``xx`` (the evaluated model's embeddings of the dev rows, the teacher's English ones):

- ``acc``: translation retrieval in the model's own space, xx->en and en->xx averaged (``acc_xx2en``,
  ``acc_en2xx``): can it find a sentence's translation among all the dev sentences?
- ``agreement``: Spearman between the model's cos(xx_i, en_j) and the teacher's cos(en_i, en_j)
  over pairs i != j: does it rank cross-lingual pairs as the teacher ranks the English ones?
- ``compat``: retrieval of the *teacher's* English embedding by the model's translation: can it
  query an index the teacher built? (only for models in the teacher's space)
- ``neg_mse``: minus 100 x the mean squared error to the teacher's English embedding (the paper's
  MSEEvaluator, negated so that higher is better; only in the teacher's space)
- ``cos``: mean cosine between a sentence and its English translation, own space.

For English: ``en_fidelity``, Spearman between the model's and the teacher's cosines over pairs of
English dev sentences (does it rank English pairs as the teacher does? the teacher scores 1), and
``en_neg_mse``. ``mean_*`` average the languages. The primary metric is ``mean_agreement``.

Quadratic work is bounded: at most ``MAX_ROWS`` rows enter any n x n matrix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus

PRIMARY_METRIC = "mean_agreement"
MAX_ROWS = 1000
# What each metric means, in words a visitor understands (the app's legends and the CLI's table).
METRIC_LABELS = {
    "acc": "translation retrieval (%)",
    "agreement": "cross-lingual agreement with the teacher",
    "fidelity": "English fidelity to the teacher",
    "compat": "search in the teacher's English index (%)",
    "neg_mse": "-MSE x100 to the teacher",
    "cos": "cosine to the English translation",
}
_KEY = re.compile(r"^(?P<dataset>[a-z0-9]+)_(?P<lang>[a-z]{2,3}|mean)_(?P<metric>[a-z0-9_]+)$")


@dataclass(frozen=True)
class MetricKey:
    """The parts of a metric key ``{dataset}_{lang}_{metric}``.

    Example:
        >>> MetricKey.parse("dev_de_acc_xx2en")
        MetricKey(dataset='dev', lang='de', metric='acc_xx2en')
        >>> str(MetricKey("live", "mean", "agreement"))
        'live_mean_agreement'
    """

    dataset: str
    lang: str
    metric: str

    @classmethod
    def parse(cls, key: str) -> MetricKey | None:
        """The parts of ``key``, or None when it is not a metric key (a step number, a note)."""
        match = _KEY.match(key)
        return cls(**match.groupdict()) if match else None

    def __str__(self) -> str:
        return f"{self.dataset}_{self.lang}_{self.metric}"


def metric_values(metrics: dict[str, float], dataset: str, metric: str) -> dict[str, float]:
    """``{lang: value}`` for one dataset and metric (``mean`` included when present).

    Example:
        >>> metric_values({"dev_de_acc": 0.5, "dev_mean_acc": 0.5, "dev_de_cos": 0.9}, "dev", "acc")
        {'de': 0.5, 'mean': 0.5}
    """
    out = {}
    for key, value in metrics.items():
        parsed = MetricKey.parse(key)
        if parsed and parsed.dataset == dataset and parsed.metric == metric:
            out[parsed.lang] = value
    return out


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """All-pairs cosine similarity between rows of ``a`` and rows of ``b`` (or ``a``)."""
    a = normalize_rows(a)
    return a @ (a if b is None else normalize_rows(b)).T


def retrieval_accuracy(queries: np.ndarray, keys: np.ndarray) -> float:
    """Share of rows i whose nearest key by cosine is key i.

    Example:
        >>> retrieval_accuracy(np.eye(3), np.eye(3))
        1.0
    """
    return float(np.mean(cosine_matrix(queries, keys).argmax(axis=1) == np.arange(len(queries))))


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x))
    # Ties get their mean rank, as in scipy's spearmanr.
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for start, end in zip(starts, ends):
        if end - start > 1:
            ranks[order[start:end]] = (start + end - 1) / 2
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length vectors (0 when either is constant).

    Example:
        >>> spearman(np.array([1.0, 2, 3]), np.array([10.0, 20, 25]))
        1.0
    """
    ra, rb = _ranks(np.asarray(a, np.float64)), _ranks(np.asarray(b, np.float64))
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def english_fidelity(student_en: np.ndarray, teacher_en: np.ndarray) -> float:
    """Spearman between the student's and the teacher's cosines over all pairs of English rows.

    Example:
        >>> t = np.random.default_rng(0).normal(size=(20, 8))
        >>> english_fidelity(t, t)
        1.0
    """
    n = min(len(student_en), MAX_ROWS)
    upper = np.triu_indices(n, 1)
    return spearman(cosine_matrix(student_en[:n])[upper], cosine_matrix(teacher_en[:n])[upper])


def crosslingual_agreement(student_xx: np.ndarray, student_en: np.ndarray, teacher_en: np.ndarray) -> float:
    """Spearman between the student's cos(xx_i, en_j) and the teacher's cos(en_i, en_j), i != j.

    Example:
        >>> t = np.random.default_rng(0).normal(size=(20, 8))
        >>> crosslingual_agreement(t, t, t)
        1.0
    """
    n = min(len(student_xx), MAX_ROWS)
    off = ~np.eye(n, dtype=bool)
    return spearman(cosine_matrix(student_xx[:n], student_en[:n])[off], cosine_matrix(teacher_en[:n])[off])


def translation_metrics(embeddings: dict[str, np.ndarray], teacher_en: np.ndarray, dataset: str = "dev",
                        teacher_space: bool = True) -> dict[str, float]:
    """Every metric of the module docstring for one model's embeddings per language (with ``en``).

    ``teacher_en`` is the teacher's English embeddings of the same rows. ``teacher_space=False``
    (a model in its own space, such as me5-small before distillation) leaves out the metrics that
    compare vectors with the teacher's directly (``compat``, ``neg_mse``).

    Example:
        >>> t = np.random.default_rng(0).normal(size=(5, 4))
        >>> m = translation_metrics({"en": t, "de": t}, t)
        >>> m["dev_mean_acc"], m["dev_mean_compat"], m["dev_en_fidelity"]
        (1.0, 1.0, 1.0)
    """
    n = min(len(teacher_en), MAX_ROWS)
    teacher_en = teacher_en[:n]
    en = embeddings["en"][:n]
    metrics: dict[str, float] = {f"{dataset}_en_fidelity": english_fidelity(en, teacher_en)}
    if teacher_space:
        metrics[f"{dataset}_en_neg_mse"] = -100 * float(np.mean((en - teacher_en) ** 2))
    per_lang: dict[str, dict[str, float]] = {}
    for lang, emb in embeddings.items():
        if lang == "en":
            continue
        emb = emb[:n]
        sims = cosine_matrix(emb, en)
        xx2en = float(np.mean(sims.argmax(axis=1) == np.arange(n)))
        en2xx = float(np.mean(sims.argmax(axis=0) == np.arange(n)))
        values = {"acc_xx2en": xx2en, "acc_en2xx": en2xx, "acc": (xx2en + en2xx) / 2, "cos": float(np.mean(np.diag(sims))),
                  "agreement": crosslingual_agreement(emb, en, teacher_en)}
        if teacher_space:
            values["compat"] = retrieval_accuracy(emb, teacher_en)
            values["neg_mse"] = -100 * float(np.mean((emb - teacher_en) ** 2))
        per_lang[lang] = values
        metrics.update({f"{dataset}_{lang}_{name}": value for name, value in values.items()})
    for name in ("acc", "cos", "agreement", "compat", "neg_mse"):
        values = [v[name] for v in per_lang.values() if name in v]
        if values:
            metrics[f"{dataset}_mean_{name}"] = float(np.mean(values))
    return metrics


def embed_corpus(model: SentenceTransformer, corpus: ParallelCorpus, batch_size: int = 64,
                 should_stop: object = None, precision: str = "fp32") -> dict[str, np.ndarray]:
    """One embedding matrix per language, rows aligned with the corpus (``should_stop``, ``precision``: see ``models.encode``)."""
    from kdemo.models import encode

    return {lang: encode(model, texts, batch_size, should_stop=should_stop, precision=precision) for lang, texts in corpus.texts.items()}


def retrieval_matrix(embeddings: dict[str, np.ndarray]) -> pd.DataFrame:
    """Language x language accuracy: row a, column b = share of a's sentences that find their b translation."""
    import pandas as pd

    langs = list(embeddings)
    trimmed = {lang: emb[:MAX_ROWS] for lang, emb in embeddings.items()}
    values = [[retrieval_accuracy(trimmed[a], trimmed[b]) for b in langs] for a in langs]
    return pd.DataFrame(values, index=langs, columns=langs)


def per_language_table(metrics_by_model: dict[str, dict[str, float]], dataset: str = "dev", metric: str = "acc",
                       percent: bool = True) -> pd.DataFrame:
    """Rows = languages (then ``mean``), columns = models: one metric, for before/after cards.

    Example:
        >>> m = {"teacher": {"dev_de_acc": 0.5, "dev_mean_acc": 0.5}}
        >>> float(per_language_table(m).loc["de", "teacher"])
        50.0
    """
    import pandas as pd

    scale = 100 if percent else 1
    columns = {name: metric_values(m, dataset, metric) for name, m in metrics_by_model.items()}
    langs = list(dict.fromkeys(lang for values in columns.values() for lang in values if lang != "mean"))
    if any("mean" in values for values in columns.values()):
        langs.append("mean")
    rows = {lang: {name: round(scale * values.get(lang, float("nan")), 1 if percent else 3) for name, values in columns.items()}
            for lang in langs}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(columns))


def headline(metrics: dict[str, float], dataset: str = "dev") -> dict[str, float]:
    """The few numbers a card shows for one model: retrieval, agreement, English fidelity, compatibility.

    Example:
        >>> headline({"dev_mean_acc": 0.9, "dev_en_fidelity": 0.8})
        {'retrieval %': 90.0, 'English fidelity': 0.8}
    """
    picks = {"retrieval %": (f"{dataset}_mean_acc", 100), "agreement": (f"{dataset}_mean_agreement", 1),
             "English fidelity": (f"{dataset}_en_fidelity", 1), "teacher-index search %": (f"{dataset}_mean_compat", 100)}
    return {label: round(scale * metrics[key], 1 if scale == 100 else 3) for label, (key, scale) in picks.items() if key in metrics}
