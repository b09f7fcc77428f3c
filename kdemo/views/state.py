"""What the app keeps in memory between requests, and the locks that guard it.

Caches here are the app's only shared state: the built-in corpus, loaded students (by run id and
the student folder's timestamp), embeddings of sentence sets (by model and texts), and the
teacher's embedding of an English index. Everything else is computed per request. Bounded LRU
caches keep memory flat however many visitors come.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from kdemo.data import ParallelCorpus
    from kdemo.runs import Run


@functools.lru_cache(maxsize=1)
def builtin_corpus() -> ParallelCorpus:
    """The built-in corpus (read once per process)."""
    from kdemo.data import load_corpus

    return load_corpus("builtin")


@functools.lru_cache(maxsize=1)
def builtin_test() -> ParallelCorpus:
    """The built-in corpus's fixed test split."""
    from kdemo.data import builtin_split

    return builtin_split(builtin_corpus())[1]


def corpus_languages() -> list[str]:
    """Languages of the built-in corpus, for checkboxes."""
    return list(builtin_corpus().languages)


_STUDENTS: OrderedDict[tuple[str, float], SentenceTransformer] = OrderedDict()
_STUDENT_LOCK = threading.Lock()
MAX_STUDENTS = 2


def student_for(run: Run) -> SentenceTransformer:
    """A run's student, cached while its files are unchanged (at most ``MAX_STUDENTS`` in memory).

    One load at a time: rebuilding a packed student (or converting me5-small) from two requests
    at once would race on the same folders; the second request waits and then hits the cache.
    """
    with _STUDENT_LOCK:
        folder = run.student_folder()  # rebuilds a packed student once
        key = (run.run_id, (folder / "modules.json").stat().st_mtime)
        if key not in _STUDENTS:
            _STUDENTS[key] = run.load_student()
            while len(_STUDENTS) > MAX_STUDENTS:
                _STUDENTS.popitem(last=False)
        _STUDENTS.move_to_end(key)
        return _STUDENTS[key]


def forget_student(run_id: str) -> None:
    """Drop a run's student from memory (after it is deleted)."""
    with _STUDENT_LOCK:
        for key in [k for k in _STUDENTS if k[0] == run_id]:
            del _STUDENTS[key]


class EmbeddingCache:
    """Embeddings of text lists per model, LRU-bounded by the number of vectors held.

    Example:
        >>> import numpy as np
        >>> cache = EmbeddingCache(max_vectors=10)
        >>> calls = []
        >>> f = lambda texts: calls.append(1) or np.zeros((len(texts), 2))
        >>> _ = cache.get("m", ["a", "b"], f); _ = cache.get("m", ["a", "b"], f)
        >>> len(calls)
        1
    """

    def __init__(self, max_vectors: int = 60_000) -> None:
        self.max_vectors = max_vectors
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_id: str, texts: list[str], compute) -> np.ndarray:  # compute: Callable[[list[str]], np.ndarray]
        digest = hashlib.sha256(model_id.encode())
        for text in texts:
            digest.update(b"\x00" + text.encode())
        key = digest.hexdigest()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute(texts)
        with self._lock:
            self._items[key] = value
            while sum(len(v) for v in self._items.values()) > self.max_vectors and len(self._items) > 1:
                self._items.popitem(last=False)
        return value


EMBEDDINGS = EmbeddingCache()
