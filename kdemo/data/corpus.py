"""A parallel corpus in memory, and the one way kdemo splits it into train and dev.

``ParallelCorpus`` holds English sentences and their aligned translations. ``train_dev_split``
is the only split function: training, ``kdemo eval``, the app and the bench all call it with the
run's config, so a run is never scored on rows it trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kdemo.errors import KdemoError
from kdemo.languages import normalize_code

if TYPE_CHECKING:
    from kdemo.config import DistillConfig

TEST_PERCENT = 15


@dataclass
class ParallelCorpus:
    """English sentences (``texts["en"]``) with line-aligned translations in other languages.

    Example:
        >>> c = ParallelCorpus(ids=["a"], texts={"en": ["Hi."], "de": ["Hallo."]})
        >>> c.languages, len(c)
        (('de',), 1)
    """

    ids: list[str]
    texts: dict[str, list[str]]
    name: str = "corpus"
    groups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    builtin: bool = False  # kdemo's own corpus, whose dev split is its fixed test split

    def __post_init__(self) -> None:
        if "en" not in self.texts:
            raise KdemoError(f"{self.name}: no English column ('en'); kdemo distils from English.")
        sizes = {lang: len(col) for lang, col in self.texts.items()}
        if len(set(sizes.values()) | {len(self.ids)}) != 1:
            raise KdemoError(f"{self.name}: columns have different lengths {sizes} (ids: {len(self.ids)}).")
        if not self.groups:
            self.groups = [""] * len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def languages(self) -> tuple[str, ...]:
        """The non-English languages, in column order."""
        return tuple(lang for lang in self.texts if lang != "en")

    def sentences(self, english: bool = True) -> list[str]:
        """Every text of the corpus, language by language (without English when ``english`` is False)."""
        return [t for lang, column in self.texts.items() if english or lang != "en" for t in column]

    def take(self, indices: Iterable[int], name: str | None = None) -> ParallelCorpus:
        """The rows at ``indices``, in that order."""
        idx = list(indices)
        return ParallelCorpus(
            ids=[self.ids[i] for i in idx],
            texts={lang: [col[i] for i in idx] for lang, col in self.texts.items()},
            name=name or self.name,
            groups=[self.groups[i] for i in idx],
            notes=list(self.notes),
            builtin=self.builtin,
        )

    def select(self, languages: Sequence[str]) -> ParallelCorpus:
        """Keep English and ``languages`` (all when empty); unknown ones are an error."""
        if not languages:
            return self
        wanted = [normalize_code(lang) for lang in languages]
        missing = [lang for lang in wanted if lang not in self.texts]
        if missing:
            raise KdemoError(
                f"{self.name} has no {', '.join(missing)} column. It has: {', '.join(self.languages)}."
            )
        keep = ["en"] + [lang for lang in wanted if lang != "en"]
        return ParallelCorpus(list(self.ids), {lang: self.texts[lang] for lang in keep}, self.name, list(self.groups), list(self.notes),
                              self.builtin)

    def split(self, dev_fraction: float = 0.15, seed: int = 0) -> tuple[ParallelCorpus, ParallelCorpus]:
        """Deterministic (train, dev) split by hashing each row's id with ``seed``.

        The same id always lands on the same side, so adding rows never moves old ones.
        """
        threshold = int(dev_fraction * 10_000)
        dev = [i for i, row_id in enumerate(self.ids) if _bucket(f"{seed}:{row_id}") < threshold]
        train = sorted(set(range(len(self))) - set(dev))
        if not dev or not train:
            raise KdemoError(f"{self.name}: {len(self)} rows are too few to split into train and dev.")
        return self.take(train, f"{self.name}/train"), self.take(dev, f"{self.name}/dev")


def _bucket(key: str) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 10_000


def is_builtin_test_id(row_id: str) -> bool:
    """The built-in corpus's fixed test split: about 15% of ids, chosen by a hash of the id."""
    return _bucket(f"kdemo-test:{row_id}") < TEST_PERCENT * 100


def builtin_split(corpus: ParallelCorpus) -> tuple[ParallelCorpus, ParallelCorpus]:
    """(train, test) of the built-in corpus; the test rows are never trained on."""
    test = [i for i, row_id in enumerate(corpus.ids) if is_builtin_test_id(row_id)]
    train = [i for i in range(len(corpus)) if not is_builtin_test_id(corpus.ids[i])]
    return corpus.take(train, f"{corpus.name}/train"), corpus.take(test, f"{corpus.name}/test")




def train_dev_split(corpus: ParallelCorpus, config: DistillConfig) -> tuple[ParallelCorpus, ParallelCorpus]:
    """(train, dev) exactly as a run with ``config`` split ``corpus``.

    The built-in corpus always uses its fixed test split as dev; any other corpus is split by a
    hash of each row id with the run's ``seed`` and ``dev_fraction``. The dev side keeps at most
    ``config.dev_rows`` rows (the first in hashed order; the rest are neither trained nor scored).

    Example:
        >>> from kdemo.config import DistillConfig
        >>> from kdemo.data import load_corpus
        >>> train, dev = train_dev_split(load_corpus("builtin"), DistillConfig(max_steps=1))
        >>> len(dev), dev.name
        (219, 'builtin/test')
    """
    train, dev = builtin_split(corpus) if corpus.builtin else corpus.split(config.dev_fraction, config.seed)
    if len(dev) > config.dev_rows:
        dev = dev.take(range(config.dev_rows), dev.name)
    return train, dev
