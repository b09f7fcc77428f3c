"""A faster student for CPUs: the transformer body in ONNX with int8 weights, the rest unchanged.

``export_int8(run)`` writes ``student-int8/`` beside a run's ``student/``: the same
sentence-transformers folder (tokenizer, pooling, the Dense head, normalisation) with the weights
file replaced by ``onnx/model_qint8.onnx``: the body exported with PyTorch's ONNX exporter and its
matrix products quantised to int8 by ONNX Runtime (dynamic quantisation, no calibration data).
That is the layout sentence-transformers' own ONNX backend reads
(``SentenceTransformer(path, backend="onnx", model_kwargs={"file_name": "onnx/model_qint8.onnx"})``,
with ``optimum`` installed); ``OnnxStudent`` encodes with ``onnxruntime`` alone. docs/PERF.md
measures its speed and what it loses.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kdemo.errors import KdemoError
from kdemo.storage import atomic_directory

if TYPE_CHECKING:
    from kdemo.runs import Run

logger = logging.getLogger(__name__)

ONNX_FILE = "onnx/model_qint8.onnx"
FOLDER = "student-int8"


def export_int8(run: Run) -> Path:
    """Write (once) and return the run's ``student-int8/`` folder."""
    target = run.layout.root / FOLDER
    if (target / ONNX_FILE).exists():
        return target
    student_dir = run.student_folder()
    with atomic_directory(target) as tmp:
        for path in student_dir.rglob("*"):
            rel = path.relative_to(student_dir)
            if path.is_file() and rel != Path("model.safetensors"):  # the body's weights live in the ONNX file
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, tmp / rel)
        export_body(student_dir, tmp / ONNX_FILE)
        (tmp / "README.md").write_text(_card(run.run_id), encoding="utf-8")
    return target


def export_body(student_dir: Path, out: Path) -> None:
    """The student's transformer body as an int8 ONNX file taking input_ids and attention_mask."""
    import tempfile

    import torch

    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise KdemoError("Exporting needs onnxruntime (pip install onnxruntime onnx).") from None
    from kdemo.models import load_sentence_transformer

    model = load_sentence_transformer(str(student_dir))
    model.eval()
    body = model[0].auto_model
    sample = model[0].tokenizer(["An example sentence.", "Ein Beispiel."], padding=True, return_tensors="pt")

    class Body(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "model.onnx"
        axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                "token_embeddings": {0: "batch", 1: "tokens"}}
        torch.onnx.export(Body(), (sample["input_ids"], sample["attention_mask"]), str(plain), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["token_embeddings"], dynamic_axes=axes)
        # Matrix products only, one scale per output channel: the embedding table stays float, which
        # keeps rare tokens exact (measured in docs/PERF.md against quantising everything per tensor).
        quantize_dynamic(str(plain), str(out), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    logger.info("exported %s (%.0f MB)", out, out.stat().st_size / 1e6)


class OnnxStudent:
    """Encode with an exported ``student-int8/`` folder using onnxruntime, tokenizers and numpy only.

    Mean pooling over the attention mask, then the Dense head and normalisation the folder's
    modules declare: the same embedding the sentence-transformers student computes, up to int8 rounding.
    """

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        settings = _json(folder / "sentence_bert_config.json")
        pad = _json(folder / "tokenizer_config.json").get("pad_token", "[PAD]")
        pad = pad.get("content", "[PAD]") if isinstance(pad, dict) else pad
        self.tokenizer.enable_truncation(int(settings.get("max_seq_length", 128)))
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(pad) or 0, pad_token=pad)
        self.weight, self.bias, self.normalize = _head(folder)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings in the order of ``texts``; batches are taken longest first, so little is padded."""
        if not texts:
            return np.zeros((0, 0), np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, len(texts), batch_size)]
        parts = [self._encode_batch([texts[i] for i in rows]) for rows in batches]
        out = np.empty((len(texts), parts[0].shape[1]), np.float32)
        for rows, part in zip(batches, parts):
            out[rows] = part
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        tokens = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        pooled = (tokens * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        if self.weight is not None:
            pooled = pooled @ self.weight.T + self.bias
        if self.normalize:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _head(folder: Path) -> tuple[np.ndarray | None, np.ndarray | None, bool]:
    """The Dense head's weight and bias (if any) and whether the modules end with Normalize."""
    from safetensors.numpy import load_file

    modules = json.loads((folder / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    weight = bias = None
    dense = next((m for m in modules if m["type"].endswith("Dense")), None)
    if dense is not None:
        tensors = load_file(str(folder / dense["path"] / "model.safetensors"))
        weight, bias = tensors["linear.weight"], tensors.get("linear.bias", np.zeros(tensors["linear.weight"].shape[0]))
    return weight, bias, kinds[-1] == "Normalize"


def _card(run_id: str) -> str:
    return f"""# {run_id}: int8 ONNX student

The student of run `{run_id}` with its transformer body exported to ONNX and quantised to int8
(`{ONNX_FILE}`); tokenizer, pooling, Dense head and normalisation are unchanged.

```python
# with sentence-transformers and optimum installed:
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("{FOLDER}", backend="onnx", model_kwargs={{"file_name": "{ONNX_FILE}"}})

# or with onnxruntime only, through kdemo:
from kdemo.export import OnnxStudent
model = OnnxStudent("{FOLDER}")
embeddings = model.encode(["Hello world", "Hallo Welt"])
```
"""
