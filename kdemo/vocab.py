"""Vocabulary diagnostics and extension for a student that inherits an English WordPiece vocabulary.

The default teacher's uncased English WordPiece vocabulary strips accents, cuts German into many
pieces and turns much of Russian, Arabic, Chinese and Japanese into ``[UNK]`` or single
characters. ``tokenization_stats`` measures that per language; ``extend_vocabulary`` learns
subwords from a corpus and adds them to the student's WordPiece model itself (so they are used
*inside* words, unlike ``add_tokens``, which only matches whole strings), with each new embedding
row initialised as the mean of the rows of the pieces the old vocabulary produced for it.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kdemo.errors import KdemoError

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Languages written without spaces between words: a "word" there is a whole clause, so pieces are
# counted per character instead.
UNSPACED = frozenset({"zh", "ja", "th", "km", "lo", "my"})
# A new piece that replaces an [UNK] adds information, not just brevity: it counts as this many
# saved pieces when ranking candidates.
UNK_WEIGHT = 3.0
MAX_TRAIN_TEXTS = 200_000
STATS_COLUMNS = ("language", "sentences", "tokens", "unk_tokens", "unk_rate", "unit", "units", "pieces_per_word",
                 "tokens_per_sentence")  # fmt: skip


def tokenization_stats(
    tokenizer: Any, texts_by_lang: dict[str, list[str]], unspaced: Iterable[str] = UNSPACED
) -> pd.DataFrame:
    """Per language: [UNK] rate, pieces per word (per character where unspaced), tokens per sentence.

    ``tokenizer`` is a transformers tokenizer or a ``SentenceTransformer`` (its first module's
    tokenizer is used). Tokens are counted without special tokens and without truncation. Columns:
    ``language``, ``sentences``, ``tokens``, ``unk_tokens``, ``unk_rate`` (unk_tokens / tokens),
    ``unit`` (``"word"``: whitespace-separated words; ``"char"``: non-space characters, for the
    languages in ``unspaced`` such as zh and ja), ``units``, ``pieces_per_word`` (tokens / units,
    per character when ``unit == "char"``) and ``tokens_per_sentence``.

    Example:
        >>> from kdemo.models import load_teacher
        >>> stats = tokenization_stats(load_teacher(), {"en": ["Hello world."], "zh": ["你好。"]})
        >>> stats.set_index("language").loc["zh", "unit"]
        'char'
    """
    import pandas as pd

    tok = _text_tokenizer(tokenizer)
    unk_id = tok.unk_token_id
    per_char = set(unspaced)
    rows = []
    for lang, texts in texts_by_lang.items():
        ids = tok(list(texts), add_special_tokens=False, truncation=False)["input_ids"] if texts else []
        n_tokens = sum(len(seq) for seq in ids)
        n_unk = sum(seq.count(unk_id) for seq in ids) if unk_id is not None else 0
        unit = "char" if lang in per_char else "word"
        units = sum(len("".join(t.split())) if unit == "char" else len(t.split()) for t in texts)
        rows.append(
            {
                "language": lang,
                "sentences": len(texts),
                "tokens": n_tokens,
                "unk_tokens": n_unk,
                "unk_rate": n_unk / n_tokens if n_tokens else 0.0,
                "unit": unit,
                "units": units,
                "pieces_per_word": n_tokens / units if units else 0.0,
                "tokens_per_sentence": n_tokens / len(texts) if texts else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=list(STATS_COLUMNS))


def extend_vocabulary(
    student: SentenceTransformer,
    texts: list[str],
    n_new: int,
    seed: int = 0,
    keep_unchanged: list[str] | None = None,
    min_frequency: int = 2,
) -> dict[str, Any]:
    """Add up to ``n_new`` subwords learned from ``texts`` to the student's WordPiece vocabulary.

    A WordPiece tokenizer is trained on ``texts`` (best: the corpus's non-English side) with the
    student's own normaliser and pre-tokeniser, so its pieces are what the student sees. Pieces
    absent from the vocabulary are ranked by how many tokens they save on the corpus (frequency x
    old pieces replaced, a piece that replaces an [UNK] counting ``UNK_WEIGHT``), and the best
    ``n_new`` are appended to the WordPiece model's vocabulary (ids after the old ones, so old ids
    keep their rows). The word embeddings are resized and each new row is the mean of the rows of
    the pieces the *old* vocabulary produced for that string (the [UNK] row where it produced
    [UNK]). The student is changed in place and still saves and loads as a sentence-transformers
    folder.

    Existing words keep their tokenization unless a new piece is a longer greedy match inside
    them; pieces that would change the tokenization of any word of ``keep_unchanged`` (e.g. the
    corpus's English sentences) are skipped and replaced by the next candidates. ``seed`` picks
    the sample when ``texts`` has more than ``MAX_TRAIN_TEXTS`` sentences.

    Returns a dict: ``added``, ``vocab_before``, ``vocab_after``, ``candidates`` (learned pieces
    not yet in the vocabulary), ``fixes_unk`` (added pieces the old vocabulary could only read as
    [UNK]), ``skipped_for_unchanged`` and ``examples`` (the top pieces with their old pieces).

    Example:
        >>> from kdemo.models import load_teacher
        >>> from kdemo.students import build_student
        >>> student = build_student("teacher-copy", load_teacher())
        >>> extend_vocabulary(student, ["我每天早上六点起床。", "Я просыпаюсь каждое утро."] * 3, 20)["added"] > 0
        True
    """
    if n_new < 0:
        raise KdemoError(f"n_new must be zero or positive, got {n_new}.")
    tok = _text_tokenizer(student)
    spec = _wordpiece_spec(tok)
    model_spec = spec["model"]
    old_vocab: dict[str, int] = dict(model_spec["vocab"])
    unk = model_spec["unk_token"]
    prefix = model_spec.get("continuing_subword_prefix", "##")
    max_chars = int(model_spec.get("max_input_chars_per_word", 100))
    stats: dict[str, Any] = {"added": 0, "vocab_before": len(old_vocab), "vocab_after": len(old_vocab), "candidates": 0,
                             "fixes_unk": 0, "skipped_for_unchanged": 0, "examples": []}  # fmt: skip
    texts = [t for t in texts if t and t.strip()]
    if n_new == 0 or not texts:
        return stats
    if len(texts) > MAX_TRAIN_TEXTS:
        texts = random.Random(seed).sample(texts, MAX_TRAIN_TEXTS)
    backend = tok.backend_tokenizer
    ranked = _ranked_candidates(backend, texts, old_vocab, unk, prefix, max_chars, n_new, min_frequency)
    stats["candidates"] = len(ranked)
    chosen, skipped = _choose(ranked, n_new, old_vocab, keep_unchanged or [], backend, unk, prefix, max_chars)
    stats["skipped_for_unchanged"] = skipped
    if not chosen:
        return stats
    old_pieces = {piece: _wordpiece(piece, old_vocab, unk, prefix, max_chars) for piece in chosen}
    new_ids = _append_rows(student, chosen, old_pieces, old_vocab, unk)
    model_spec["vocab"] = {**old_vocab, **new_ids}
    tok._tokenizer = type(backend).from_str(json.dumps(spec))  # the backend is rebuilt, everything else kept
    stats.update(
        added=len(chosen),
        vocab_after=len(model_spec["vocab"]),
        fixes_unk=sum(old_pieces[p] == [unk] for p in chosen),
        examples=[{"piece": p, "old_pieces": old_pieces[p]} for p in chosen[:20]],
    )
    logger.info("extended the vocabulary by %d pieces (%d replace [UNK])", stats["added"], stats["fixes_unk"])
    return stats


def _wordpiece_spec(tok: Any) -> dict[str, Any]:
    """The tokenizer's JSON spec, refusing anything but a fast WordPiece tokenizer."""
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise KdemoError(f"extend_vocabulary needs a fast (tokenizers-backed) tokenizer; got {type(tok).__name__}.")
    spec = json.loads(backend.to_str())
    if spec["model"].get("type") != "WordPiece":
        raise KdemoError(
            f"extend_vocabulary works on WordPiece tokenizers (BERT-style students such as teacher-copy); "
            f"this student's tokenizer is {spec['model'].get('type')!r}. "
            "Choose a multilingual student such as me5-small instead."
        )
    return spec


def _append_rows(student: SentenceTransformer, chosen: list[str], old_pieces: dict[str, list[str]], old_vocab: dict[str, int],
                 unk: str) -> dict[str, int]:
    """Resize the word embeddings for ``chosen`` and set each new row to the mean of its old pieces' rows.

    New ids go after the largest of vocabulary and embedding table, so no old id changes its row.
    """
    import torch

    body = student[0].auto_model
    start = max(max(old_vocab.values()) + 1, body.get_input_embeddings().num_embeddings)
    new_ids = {piece: start + i for i, piece in enumerate(chosen)}
    body.resize_token_embeddings(start + len(chosen), mean_resizing=False)
    weight = body.get_input_embeddings().weight
    unk_id = old_vocab[unk]
    with torch.no_grad():
        for piece, new_id in new_ids.items():
            weight[new_id] = weight[[old_vocab.get(p, unk_id) for p in old_pieces[piece]]].mean(dim=0)
    return new_ids


def _text_tokenizer(model: Any) -> Any:
    """The transformers tokenizer of a SentenceTransformer, or ``model`` itself when it is one."""
    if hasattr(model, "unk_token_id"):
        return model
    tokenizer = getattr(model[0], "tokenizer", None) if hasattr(model, "__getitem__") else None
    if tokenizer is None:
        raise KdemoError(
            f"Expected a tokenizer or a SentenceTransformer with a text tokenizer, got {type(model).__name__}."
        )
    return tokenizer


def _ranked_candidates(
    backend: Any,
    texts: list[str],
    old_vocab: dict[str, int],
    unk: str,
    prefix: str,
    max_chars: int,
    n_new: int,
    min_frequency: int,
) -> list[str]:
    """Learned pieces not in ``old_vocab``, most useful first (tokens saved on ``texts``)."""
    from tokenizers import Tokenizer, models, trainers

    learner = Tokenizer(
        models.WordPiece(unk_token=unk, continuing_subword_prefix=prefix, max_input_chars_per_word=max_chars)
    )
    learner.normalizer = backend.normalizer
    learner.pre_tokenizer = backend.pre_tokenizer
    # Several times n_new: many learned pieces (Latin-script stems, punctuation) already exist.
    trainer = trainers.WordPieceTrainer(
        vocab_size=max(4 * n_new, 8_000), min_frequency=min_frequency, special_tokens=[unk],
        continuing_subword_prefix=prefix, show_progress=False,
    )  # fmt: skip
    learner.train_from_iterator(texts, trainer=trainer)
    usage: Counter[str] = Counter()
    for encoding in learner.encode_batch(texts, add_special_tokens=False):
        usage.update(encoding.tokens)
    scored = []
    for piece, count in usage.items():
        if piece in old_vocab or piece == unk or piece == prefix:
            continue
        old = _wordpiece(piece, old_vocab, unk, prefix, max_chars)
        gain = UNK_WEIGHT if old == [unk] else len(old) - 1
        if gain > 0:
            scored.append((-count * gain, piece))
    return [piece for _, piece in sorted(scored)]


def _choose(
    ranked: list[str],
    n_new: int,
    old_vocab: dict[str, int],
    keep_unchanged: list[str],
    backend: Any,
    unk: str,
    prefix: str,
    max_chars: int,
) -> tuple[list[str], int]:
    """The first ``n_new`` candidates that leave every word of ``keep_unchanged`` tokenized as before."""
    if not keep_unchanged:
        return ranked[:n_new], 0
    words: set[str] = set()
    for text in keep_unchanged:
        normalized = backend.normalizer.normalize_str(text) if backend.normalizer else text
        words.update(w for w, _ in backend.pre_tokenizer.pre_tokenize_str(normalized))
    before = {w: _wordpiece(w, old_vocab, unk, prefix, max_chars) for w in words}
    banned: set[str] = set()
    # Adding pieces can only make greedy matches longer, so a word that changes uses some new
    # piece; ban the new pieces it uses, refill from the ranking, and repeat until nothing changes
    # (this ends: every round bans at least one more piece).
    while True:
        chosen = [p for p in ranked if p not in banned][:n_new]
        vocab = set(old_vocab) | set(chosen)
        offenders: set[str] = set()
        for word, old in before.items():
            new = _wordpiece(word, vocab, unk, prefix, max_chars)
            if new != old:
                offenders.update(p for p in new if p not in old_vocab)
        if not offenders:
            return chosen, len(banned)
        banned |= offenders


def _wordpiece(
    word: str, vocab: dict[str, int] | set[str], unk: str, prefix: str = "##", max_chars: int = 100
) -> list[str]:
    """Greedy longest-match-first WordPiece of one pre-tokenized word, as the tokenizers library does.

    A string that starts with ``prefix`` is read as the continuation of a word, so ``"##ungen"``
    is split into continuation pieces. Any unmatched stretch makes the whole word ``[unk]``.

    Example:
        >>> _wordpiece("unaffable", {"un", "##aff", "##able"}, "[UNK]")
        ['un', '##aff', '##able']
    """
    continuation = bool(prefix) and word.startswith(prefix) and len(word) > len(prefix)
    chars = word[len(prefix) :] if continuation else word
    if len(chars) > max_chars:
        return [unk]
    pieces: list[str] = []
    start = 0
    while start < len(chars):
        end = len(chars)
        match = None
        while start < end:
            sub = chars[start:end]
            if start > 0 or continuation:
                sub = prefix + sub
            if sub in vocab:
                match = sub
                break
            end -= 1
        if match is None:
            return [unk]
        pieces.append(match)
        start = end
    return pieces


def tokenizer_coverage(student: str, extend: int = 0, languages: list[str] | None = None) -> pd.DataFrame:
    """[UNK] rate and pieces per word of a student's tokenizer on the built-in test split, per language.

    ``student`` is a student spec (``teacher-copy``) or a saved run id. With ``extend`` > 0 the
    student is also extended with that many tokens learned from the train split, and the table
    shows both (``before`` / ``after +N``).

    Example:
        >>> tokenizer_coverage("teacher-copy", languages=["de"]).loc[1, "language"]
        'de'
    """
    import copy

    from kdemo.data import builtin_split, load_corpus
    from kdemo.models import load_teacher
    from kdemo.students import build_student

    train, test = builtin_split(load_corpus("builtin").select(languages or []))
    model = _saved_student(student) or build_student(student or "teacher-copy", load_teacher())
    cols = ["language", "unk_rate", "pieces_per_word", "tokens_per_sentence", "unit"]
    table = tokenization_stats(model, test.texts)[cols]
    if extend:
        extended = copy.deepcopy(model)
        extend_vocabulary(extended, train.sentences(english=False), extend, keep_unchanged=train.texts["en"])
        after = tokenization_stats(extended, test.texts)[cols[:4]]
        table = table.merge(after, on="language", suffixes=(" before", f" after +{extend}"))
    return table.round(3)


def _saved_student(name: str) -> Any:
    """The student of the saved run ``name``, or None when ``name`` is not a run id."""
    from kdemo.runs import open_run, run_path

    try:
        exists = run_path(name).root.exists()
    except KdemoError:
        return None
    return open_run(name).load_student() if exists else None
