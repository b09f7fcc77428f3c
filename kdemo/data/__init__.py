"""Parallel corpora: ``ParallelCorpus``, the readers behind ``load_corpus``, and ``train_dev_split``."""

from __future__ import annotations

from kdemo.data.corpus import ParallelCorpus, builtin_split, is_builtin_test_id, train_dev_split
from kdemo.data.english import load_english
from kdemo.data.readers import ASSETS, BUILTIN_CORPUS, MAX_CHARS, load_corpus

__all__ = ["ASSETS", "BUILTIN_CORPUS", "MAX_CHARS", "ParallelCorpus", "builtin_split", "is_builtin_test_id", "load_corpus", "load_english",
           "train_dev_split"]
