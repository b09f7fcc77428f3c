"""The alignment replay: a fixed probe set's positions at every live evaluation, on one fixed map.

The map is a PCA fitted once, on the teacher's English embeddings of the probe (the anchors), so
it never changes during a run: a point that moves on screen moved in the embedding space. Each
frame holds the student's 2-D positions of every probe sentence; lines join each translation to
its English anchor, and they shrink as the student learns to put translations where the teacher
puts the English sentence. A run stores its replay in ``probe.npz`` (float16, a few hundred KB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus


def _pca(anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top-2 principal axes (2 x d) of the anchors."""
    mean = anchors.mean(axis=0)
    _, _, vt = np.linalg.svd(anchors - mean, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:
        axes = np.vstack([axes, np.zeros((2 - axes.shape[0], anchors.shape[1]))])
    return mean, axes


@dataclass
class ProbeSet:
    """Sentences to follow through a run: ``anchor_rows[i]`` is the row of sentence i's English anchor.

    Example:
        >>> from kdemo.data import ParallelCorpus
        >>> c = ParallelCorpus(["a", "b", "c"], {"en": ["Hi.", "Bye.", "Yes."], "de": ["Hallo.", "Tschüss.", "Ja."]})
        >>> probe = ProbeSet.from_corpus(c, np.eye(3, 4))
        >>> probe.langs, probe.frame(np.eye(6, 4)).shape
        (['en', 'en', 'en', 'de', 'de', 'de'], (6, 2))
    """

    texts: list[str]
    langs: list[str]
    anchor_rows: list[int]
    anchors: np.ndarray  # the teacher's English embeddings, one row per meaning
    anchor_texts: list[str]
    is_live: bool = False

    def __post_init__(self) -> None:
        self.mean, self.axes = _pca(self.anchors.astype(np.float64))

    @classmethod
    def from_corpus(cls, corpus: ParallelCorpus, teacher_en: np.ndarray) -> ProbeSet:
        """Every sentence of ``corpus`` (the live subset), language by language."""
        texts, langs, rows = [], [], []
        for lang, column in corpus.texts.items():
            texts += column
            langs += [lang] * len(column)
            rows += list(range(len(column)))
        return cls(texts, langs, rows, np.asarray(teacher_en, np.float32), list(corpus.texts["en"]), is_live=True)

    @classmethod
    def from_groups(cls, groups: list[str], langs: list[str], texts: list[str], teacher: SentenceTransformer) -> ProbeSet:
        """A curated set (``kdemo.compare.SentenceSet`` fields); each group's English sentence is its anchor."""
        from kdemo.errors import KdemoError
        from kdemo.models import encode

        order = list(dict.fromkeys(groups))
        anchor_text = {}
        for group, lang, text in zip(groups, langs, texts):
            if lang == "en" and group not in anchor_text:
                anchor_text[group] = text
        missing = [g for g in order if g not in anchor_text]
        if missing:
            raise KdemoError(f"Every meaning in a probe set needs an English sentence; {len(missing)} have none.")
        keep = [g for g in order]
        anchor_texts = [anchor_text[g] for g in keep]
        return cls(list(texts), list(langs), [keep.index(g) for g in groups], encode(teacher, anchor_texts), anchor_texts)

    def embed_with(self, student: SentenceTransformer, live: dict[str, np.ndarray] | None,
                   encode: Callable[..., np.ndarray]) -> np.ndarray:
        """The student's embeddings of the probe (taken from the live evaluation when the probe is the live subset)."""
        if self.is_live and live is not None:
            return np.vstack([live[lang] for lang in dict.fromkeys(self.langs)])
        return encode(student, self.texts)

    def frame(self, embeddings: np.ndarray) -> np.ndarray:
        """2-D positions of ``embeddings`` on the probe's fixed map."""
        return ((np.asarray(embeddings, np.float64) - self.mean) @ self.axes.T).astype(np.float32)

    def replay(self, frames: list[tuple[int, np.ndarray]]) -> ProbeReplay | None:
        """The recorded frames (step, 2-D positions from ``frame``) as one replay; None when there are none."""
        if not frames:
            return None
        coords = np.stack([positions for _, positions in frames])
        return ProbeReplay(steps=[step for step, _ in frames], coords=coords, anchors=self.frame(self.anchors),
                           langs=list(self.langs), texts=list(self.texts), anchor_rows=list(self.anchor_rows),
                           anchor_texts=list(self.anchor_texts))


@dataclass
class ProbeReplay:
    """What the replay slider shows: ``coords[t, i]`` is sentence i's position at ``steps[t]``."""

    steps: list[int]
    coords: np.ndarray  # (frames, sentences, 2)
    anchors: np.ndarray  # (meanings, 2): the teacher's English sentences, fixed
    langs: list[str]
    texts: list[str]
    anchor_rows: list[int]
    anchor_texts: list[str]

    def mean_distance(self) -> list[float]:
        """Per frame: mean distance on the map from a translation to its English anchor."""
        foreign = np.array([lang != "en" for lang in self.langs])
        if not foreign.any():
            return [0.0] * len(self.steps)
        delta = self.coords[:, foreign] - self.anchors[np.array(self.anchor_rows)[foreign]][None]
        return [float(v) for v in np.linalg.norm(delta, axis=2).mean(axis=1)]

    def save(self, path: Path) -> None:
        """Write an ``.npz`` (float16 coordinates, text as unicode arrays; no pickles)."""
        np.savez_compressed(path, steps=np.array(self.steps, np.int32), coords=self.coords.astype(np.float16),
                            anchors=self.anchors.astype(np.float16), langs=np.array(self.langs), texts=np.array(self.texts),
                            anchor_rows=np.array(self.anchor_rows, np.int32), anchor_texts=np.array(self.anchor_texts))

    @classmethod
    def load(cls, path: Path) -> ProbeReplay:
        with np.load(path, allow_pickle=False) as data:
            return cls(steps=data["steps"].tolist(), coords=data["coords"].astype(np.float32), anchors=data["anchors"].astype(np.float32),
                       langs=data["langs"].tolist(), texts=data["texts"].tolist(), anchor_rows=data["anchor_rows"].tolist(),
                       anchor_texts=data["anchor_texts"].tolist())
