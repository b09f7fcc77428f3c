"""A small Transformer student trained from scratch: its own multilingual tokenizer and a random BERT.

The article this demo grew out of printed a from-scratch student that could not have run, and
would not have learnt the task if it had. What it got wrong, and what this module does instead:

* ``nn.Transformer(d_model, nhead=d_model, ...)`` passed the hidden size as the number of heads
  (each head one dimension wide, when it does not fail the ``d_model % nhead`` check outright).
  Here ``heads`` is its own argument, and ``hidden`` must be a multiple of it.
* It passed a keyword ``nn.Transformer`` does not have, a ``TypeError`` before the first step.
  Here every setting is a field of a ``transformers.BertConfig``.
* It called ``nn.Transformer(src)`` with no target sequence; an encoder-decoder needs both, and
  a sentence embedding needs no decoder at all. Here the body is an encoder only (``BertModel``).
* It fed padded batches with no padding mask and no positions, so a sentence's vector changed
  with its batch-mates and word order was invisible. ``BertModel`` masks padded keys with the
  attention mask, adds learnt position embeddings, and mean pooling averages real tokens only.
* It ended in a language classifier (``Linear(d_model, n_languages)``) trained with cross
  entropy, which teaches the one thing distillation must erase: which language a sentence is in.
  Here the head is mean pooling, a linear ``Dense`` to the teacher's width and, when the teacher
  normalises, ``Normalize``; the loop then regresses it onto the teacher's embeddings.

It also tokenised with the teacher's English WordPiece vocabulary, which turns most Chinese,
Japanese and Arabic text into ``[UNK]``. Here a Unigram tokenizer is trained on the corpus in
every language it has (NFKC, lower-case like the uncased teacher, Metaspace so scripts without
spaces are segmented by the model, Arabic vowel marks dropped, punctuation and digits split off).

Everything is a standard transformers / sentence-transformers part, so the saved student loads
with ``SentenceTransformer(path)`` and no custom code.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kdemo.errors import KdemoError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ENCODER_FOLDER = "scratch_encoder"
_SCORE_DECIMALS = 6
_APPENDED_STEP = 1e-4  # tokenizers' UnigramTrainer::finalize, min_score_penalty_delta


def train_tokenizer(texts: list[str], vocab_size: int = 8000, max_seq_length: int = 128) -> PreTrainedTokenizerFast:
    """Train a Unigram tokenizer on ``texts`` and wrap it with ``[CLS] ... [SEP]`` around each text.

    The vocabulary holds every character of ``texts``, so they tokenise without ``[UNK]``; the
    vocabulary can come out smaller than ``vocab_size`` when the texts are few.

    Example:
        >>> tok = train_tokenizer(["Guten Morgen.", "早上好。", "صباح الخير."], vocab_size=100)
        >>> tok.convert_ids_to_tokens(tok("早上好。")["input_ids"])[0]
        '[CLS]'
    """
    from tokenizers import decoders
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing
    from tokenizers.trainers import UnigramTrainer
    from transformers import PreTrainedTokenizerFast

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise KdemoError("The scratch student's tokenizer needs training sentences; the corpus gave none.")
    if vocab_size < len(SPECIAL_TOKENS) + 2:
        raise KdemoError(f"vocab_size {vocab_size} is too small for a tokenizer; use a few thousand (default 8000).")

    tok = _untrained_tokenizer()
    trainer = UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        unk_token="[UNK]",
        max_piece_length=12,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)

    tok.model = Unigram(
        _canonical_pieces(json.loads(tok.to_str())["model"]["vocab"]),
        unk_id=SPECIAL_TOKENS.index("[UNK]"),
        byte_fallback=False,
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    cls_id, sep_id = SPECIAL_TOKENS.index("[CLS]"), SPECIAL_TOKENS.index("[SEP]")
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    logger.info("scratch tokenizer: %d pieces from %d texts", tok.get_vocab_size(), len(texts))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        model_max_length=max_seq_length, model_input_names=["input_ids", "attention_mask"],
    )  # fmt: skip


def _untrained_tokenizer():  # -> tokenizers.Tokenizer
    """A Unigram tokenizer with kdemo's normaliser and pre-tokeniser, before training."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram())
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.Lowercase(),
            # Arabic short-vowel marks and tatweel are optional in writing; dropping them lets
            # "رُزق" and "رزق" share pieces instead of splitting the first into single letters.
            normalizers.Replace(Regex("[\u0640\u064b-\u065f\u0670]"), ""),
            normalizers.Replace(Regex(r"\s+"), " "),
            normalizers.Strip(),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
            pre_tokenizers.Punctuation(behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    return tok


def _canonical_pieces(pieces: list[list]) -> list[tuple[str, float]]:
    """The trained pieces in an order that depends on the texts only: specials, then by score.

    The trainer is not reproducible as it stands: its multithreaded EM sums scores in a varying
    order (they differ in the last bits), and it appends the characters that no kept piece covers
    with scores ``min + k * 1e-4`` in hash-set order. Rounding the scores, giving every single
    character in that band the minimum score, and sorting by (score, piece) fixes the ids.
    """
    learnt = [(p, round(float(s), _SCORE_DECIMALS)) for p, s in pieces if p not in SPECIAL_TOKENS]
    if learnt:
        low = min(s for _, s in learnt)
        # The band is wide enough for every single character the trainer could have appended.
        top = low + _APPENDED_STEP * sum(len(p) == 1 for p, _ in learnt) + 10**-_SCORE_DECIMALS
        learnt = [(p, low if len(p) == 1 and s <= top else s) for p, s in learnt]
    return [(p, 0.0) for p in SPECIAL_TOKENS] + sorted(learnt, key=lambda ps: (-ps[1], ps[0]))


def unk_rate(tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> float:
    """The share of ``[UNK]`` among the tokens of ``texts`` (special tokens not counted).

    Example:
        >>> tok = train_tokenizer(["Guten Morgen.", "早上好。"], vocab_size=100)
        >>> unk_rate(tok, ["早上好。"]), unk_rate(tok, ["ok"]) > 0
        (0.0, True)
    """
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    total = sum(len(row) for row in ids)
    unknown = sum(row.count(tokenizer.unk_token_id) for row in ids)
    return unknown / total if total else 0.0


def _check_settings(teacher_dim: int, layers: int, hidden: int, heads: int, max_seq_length: int) -> None:
    problems = []
    if teacher_dim < 1:
        problems.append(f"teacher_dim must be positive, got {teacher_dim}")
    if layers < 1 or hidden < 1 or heads < 1:
        problems.append(f"layers, hidden and heads must be positive, got {layers}, {hidden}, {heads}")
    elif hidden % heads:
        problems.append(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    if not 8 <= max_seq_length <= 4096:
        problems.append(f"max_seq_length must be between 8 and 4096, got {max_seq_length}")
    if problems:
        raise KdemoError("Invalid scratch student settings: " + "; ".join(problems) + ".")


def build_scratch_student(
    texts: list[str],
    teacher_dim: int,
    normalize: bool,
    workdir: Path,
    vocab_size: int = 8000,
    layers: int = 4,
    hidden: int = 256,
    heads: int = 4,
    max_seq_length: int = 128,
    seed: int = 0,
) -> SentenceTransformer:
    """A randomly initialised BERT student with its own tokenizer, in the teacher's output space.

    Modules: ``Transformer`` (a ``BertModel`` and the tokenizer trained on ``texts``, saved in
    ``workdir/scratch_encoder`` and loaded from there), mean ``Pooling``, ``Dense`` to
    ``teacher_dim`` with no activation, and ``Normalize`` when ``normalize``. Pass the training
    texts of every language, so the vocabulary covers all scripts. The same ``seed`` gives the same
    weights; the global random state is left as it was.

    Example:
        >>> student = build_scratch_student(["Hello.", "Hallo.", "你好。"], 384, True, Path("/tmp/s"), vocab_size=200)
        >>> student.encode(["你好"]).shape
        (1, 384)
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    _check_settings(teacher_dim, layers, hidden, heads, max_seq_length)
    tokenizer = train_tokenizer(texts, vocab_size, max_seq_length)
    folder = Path(workdir).expanduser() / ENCODER_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KdemoError(
            f"Cannot create the scratch student's folder {folder}: {exc}. Choose a writable workdir."
        ) from None
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=max_seq_length, type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))
        body = Transformer(str(folder), max_seq_length=max_seq_length, model_kwargs={"use_safetensors": True})
        modules = [
            body,
            Pooling(hidden, pooling_mode="mean"),
            Dense(hidden, teacher_dim, activation_function=torch.nn.Identity()),
        ]
    if normalize:
        modules.append(Normalize())
    student = SentenceTransformer(modules=modules, device="cpu")
    student.max_seq_length = max_seq_length
    logger.info(
        "scratch student: %d layers, width %d, %d heads, vocab %d, %.1fM parameters, in %s",
        layers, hidden, heads, len(tokenizer), sum(p.numel() for p in student.parameters()) / 1e6, folder,
    )  # fmt: skip
    return student
