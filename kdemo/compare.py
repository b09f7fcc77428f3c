"""Compare teacher and student on a handful of sentences: similarities, neighbours, 2-D/3-D maps.

A ``SentenceSet`` is a list of (group, language, text): one group holds the translations of one
meaning. Sets come from the curated examples in ``assets/examples/``, a sample of the built-in
test split, or text a person types (``lang: text`` per line, a blank line between meanings).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kdemo.errors import KdemoError
from kdemo.evaluate import cosine_matrix
from kdemo.languages import normalize_code

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus

logger = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
MAX_SENTENCES = 400


@dataclass
class SentenceSet:
    """Sentences to compare; ``groups[i]`` names the meaning that ``texts[i]`` expresses."""

    groups: list[str]
    langs: list[str]
    texts: list[str]
    name: str = "sentences"

    def __len__(self) -> int:
        return len(self.texts)

    def labels(self, width: int = 38) -> list[str]:
        """Short unique labels for heatmap axes: ``lang: text…``."""
        labels = []
        for lang, text in zip(self.langs, self.texts, strict=True):
            short = text if len(text) <= width else text[: width - 1] + "…"
            labels.append(f"{lang}: {short}" + "\u200b" * labels.count(f"{lang}: {short}"))
        return labels


def parse_user_text(text: str, max_sentences: int = MAX_SENTENCES) -> SentenceSet:
    """Parse ``lang: sentence`` lines; a blank line starts a new meaning (group).

    Example:
        >>> s = parse_user_text("en: I am hungry.\\nde: Ich habe Hunger.\\n\\nen: It is late.")
        >>> s.groups, s.langs
        (['g1', 'g1', 'g2'], ['en', 'de', 'en'])
    """
    groups, langs, texts = [], [], []
    group = 1
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            if texts and groups[-1] == f"g{group}":
                group += 1
            continue
        tag, sep, sentence = line.partition(":")
        if not sep or not sentence.strip() or len(tag.strip()) > 8:
            raise KdemoError(f"Line {n}: write 'lang: sentence', e.g. 'de: Guten Morgen.' (got {line[:60]!r}).")
        langs.append(normalize_code(tag, f"line {n}"))
        texts.append(sentence.strip())
        groups.append(f"g{group}")
    if len(texts) < 2:
        raise KdemoError("Enter at least two sentences, one per line as 'lang: sentence'.")
    if len(texts) > max_sentences:
        raise KdemoError(f"{len(texts)} sentences are more than this view can show; keep it to {max_sentences}.")
    return SentenceSet(groups, langs, texts, "your sentences")


def from_corpus(corpus: ParallelCorpus, n: int, languages: list[str] | None = None, seed: int = 0,
                max_sentences: int = MAX_SENTENCES) -> SentenceSet:
    """``n`` random rows of a corpus, each row a group with English and ``languages``."""
    langs = ["en"] + [lang for lang in (languages or corpus.languages) if lang != "en"]
    missing = [lang for lang in langs if lang not in corpus.texts]
    if missing:
        raise KdemoError(f"The corpus has no {', '.join(missing)} sentences.")
    rows = random.Random(seed).sample(range(len(corpus)), min(n, len(corpus)))
    if len(rows) * len(langs) > max_sentences:
        raise KdemoError(f"{len(rows)} sentences x {len(langs)} languages is too many; pick fewer of either.")
    groups, out_langs, texts = [], [], []
    for row in rows:
        for lang in langs:
            groups.append(corpus.ids[row])
            out_langs.append(lang)
            texts.append(corpus.texts[lang][row])
    return SentenceSet(groups, out_langs, texts, f"{len(rows)} test sentences")


def example_sets() -> list[str]:
    """Names of the curated example sets (files in ``assets/examples/``)."""
    return sorted(p.stem for p in EXAMPLES.glob("*.tsv"))


def load_example_set(name: str) -> SentenceSet:
    """A curated set: a TSV with columns ``group``, ``lang``, ``text``."""
    path = EXAMPLES / f"{name}.tsv"
    if name not in example_sets():
        raise KdemoError(f"No example set {name!r}; choose one of {', '.join(example_sets())}.")
    groups, langs, texts = [], [], []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise KdemoError(f"{path}, line {n}: expected 3 tab-separated columns (group, lang, text).")
        groups.append(parts[0])
        langs.append(normalize_code(parts[1], f"{path}, line {n}"))
        texts.append(parts[2])
    return SentenceSet(groups, langs, texts, name)


@dataclass
class Comparison:
    """Embeddings of one sentence set under the teacher and (optionally) a student."""

    sentences: SentenceSet
    teacher: np.ndarray
    student: np.ndarray | None = None

    @property
    def models(self) -> dict[str, np.ndarray]:
        models = {"teacher": self.teacher}
        if self.student is not None:
            models["student"] = self.student
        return models


def compare(sentences: SentenceSet, teacher: SentenceTransformer, student: SentenceTransformer | None = None,
            embed: Callable[[str, SentenceTransformer, list[str]], np.ndarray] | None = None) -> Comparison:
    """Embed the set with both models; ``embed(role, model, texts)`` may serve them from a cache."""
    from kdemo.models import encode

    embed = embed or (lambda role, model, texts: encode(model, texts))
    return Comparison(sentences, embed("teacher", teacher, sentences.texts),
                      None if student is None else embed("student", student, sentences.texts))


def pair_table(comp: Comparison) -> pd.DataFrame:
    """Each non-anchor sentence against its group's anchor (English if present), cosine per model."""
    import pandas as pd

    s = comp.sentences
    sims = {name: cosine_matrix(emb) for name, emb in comp.models.items()}
    rows = []
    for group in dict.fromkeys(s.groups):
        members = [i for i, g in enumerate(s.groups) if g == group]
        anchor = next((i for i in members if s.langs[i] == "en"), members[0])
        for i in members:
            if i == anchor:
                continue
            row = {"group": group, "pair": f"{s.langs[anchor]}–{s.langs[i]}", "anchor": s.texts[anchor], "sentence": s.texts[i],
                   "teacher cos": round(float(sims["teacher"][anchor, i]), 3)}
            if "student" in sims:
                row["student cos"] = round(float(sims["student"][anchor, i]), 3)
                row["Δ"] = round(row["student cos"] - row["teacher cos"], 3)
            rows.append(row)
    return pd.DataFrame(rows)


def neighbours(comp: Comparison, index: int, k: int = 5, other_languages_only: bool = True) -> pd.DataFrame:
    """Top-k neighbours of sentence ``index`` under each model (other languages only by default)."""
    import pandas as pd

    s = comp.sentences
    if not 0 <= index < len(s):
        raise KdemoError(f"Pick a sentence between 1 and {len(s)}.")
    candidates = [i for i in range(len(s)) if i != index and (not other_languages_only or s.langs[i] != s.langs[index])]
    rows: dict[str, list[str]] = {}
    for name, emb in comp.models.items():
        sims = cosine_matrix(emb[[index]], emb[candidates])[0]
        order = np.argsort(-sims)[:k]
        rows[name] = [
            f"{'✓ ' if s.groups[candidates[j]] == s.groups[index] else ''}{s.langs[candidates[j]]}: {s.texts[candidates[j]]} ({sims[j]:.2f})"
            for j in order
        ]
    table = pd.DataFrame(rows)
    table.index = range(1, len(table) + 1)
    return table.rename_axis("rank").reset_index()


_UMAP_LOCK = threading.Lock()
_UMAP_READY = threading.Event()


def project(comp: Comparison, method: str = "umap", dims: int = 2, joint: bool = True, seed: int = 0) -> pd.DataFrame:
    """2-D or 3-D coordinates for every (model, sentence).

    ``joint`` fits one projection on teacher and student embeddings together (the student lives in
    the teacher's space, so an overlay is meaningful); otherwise each model gets its own map.
    """
    import pandas as pd

    if method not in ("umap", "pca"):
        raise KdemoError(f"Unknown projection {method!r}; choose umap or pca.")
    if dims not in (2, 3):
        raise KdemoError("Choose 2 or 3 dimensions.")
    s = comp.sentences
    models = comp.models
    blocks = [(name, emb) for name, emb in models.items()]
    if joint:
        coords = _reduce(np.vstack([e for _, e in blocks]), method, dims, seed)
        parts = np.split(coords, len(blocks))
    else:
        parts = [_reduce(e, method, dims, seed) for _, e in blocks]
    frames = []
    for (name, _), xy in zip(blocks, parts):
        frame = pd.DataFrame(xy, columns=["x", "y", "z"][:dims])
        frame["model"] = name
        frame["lang"] = s.langs
        frame["group"] = s.groups
        frame["text"] = s.texts
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _reduce(x: np.ndarray, method: str, dims: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    n = len(x)
    if method == "pca" or n < 6:
        return PCA(n_components=min(dims, n, x.shape[1]), random_state=seed).fit_transform(x) if n > dims else np.zeros((n, dims))
    umap = _umap_module()
    with _UMAP_LOCK:  # numba-compiled UMAP is not re-entrant while it compiles
        reducer = umap.UMAP(n_components=dims, n_neighbors=max(2, min(15, n - 1)), metric="cosine", random_state=seed,
                            init="spectral" if n > dims + 10 else "random", n_jobs=1)
        coords = reducer.fit_transform(x)
    _UMAP_READY.set()
    return coords


@functools.lru_cache(maxsize=1)
def _umap_module():  # -> module
    import umap

    return umap


def umap_ready() -> bool:
    """True once UMAP has been compiled in this process (its first call takes 10–20 s)."""
    return _UMAP_READY.is_set()


def warm_umap() -> None:
    """Compile UMAP's numba code once so the first real plot is quick."""
    try:
        _reduce(np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32), "umap", 2, 0)
        logger.info("UMAP is warmed up")
    except Exception as exc:  # warming is an optimisation; the plot itself reports real errors
        logger.warning("UMAP warm-up failed: %s", exc)
