"""Choosing fp32 or bf16 autocast for training, by measuring on this machine rather than assuming.

bfloat16 autocast halves the cost of matrix products on CPUs with bf16 units (avx512_bf16, AMX)
and on recent GPUs, and is slower on CPUs without them. ``choose_precision`` times a few real
forward+backward passes both ways and keeps bf16 only when it is clearly faster; the answer is
cached per machine, model class and batch shape in ``$KDEMO_CACHE/precision.json``, so the
measurement (a few seconds) happens once.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# bf16 must be at least this much faster to be worth its rounding.
MIN_SPEEDUP = 1.15


def choose_precision(requested: str, student: SentenceTransformer, texts: list[str], device: torch.device) -> tuple[str, dict[str, float]]:
    """``requested`` unless it is ``auto``; then bf16 where it measures at least 1.15x faster.

    Returns the precision and what was measured (seconds per step each way; empty when not measured).
    """
    import torch

    if requested != "auto":
        return requested, {}
    if device.type == "cuda":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp32"), {}
    key = f"{platform.processor() or platform.machine()}|{_cpu_name()}|{torch.__version__}|{type(student[0].auto_model).__name__}" \
          f"|{student[0].auto_model.config.num_hidden_layers}|{len(texts)}"
    cache = _cache_file()
    known = json.loads(cache.read_text()) if cache.exists() else {}
    if key in known:
        return known[key]["precision"], known[key]
    fp32, bf16 = _timings(student, texts, device)
    choice = "bf16" if fp32 / bf16 >= MIN_SPEEDUP else "fp32"
    entry = {"precision": choice, "fp32_step_s": round(fp32, 4), "bf16_step_s": round(bf16, 4)}
    known[key] = entry
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=1))
    tmp.replace(cache)
    logger.info("precision: %s (fp32 %.3f s/step, bf16 %.3f s/step)", choice, fp32, bf16)
    return choice, entry


def _cache_file():  # -> Path
    from kdemo.storage import cache_dir

    return cache_dir() / "precision.json"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def _timings(student: SentenceTransformer, texts: list[str], device: torch.device, rounds: int = 3) -> tuple[float, float]:
    """Median seconds of a forward+backward pass in fp32 and in bf16, measured in alternation.

    Alternating the two (after one untimed warm-up pass of each) keeps a burst of other work on the
    machine from landing on one side only.
    """
    import statistics

    import torch

    from kdemo.distill.batches import tokenize

    features = {k: v.to(device) for k, v in tokenize(student, texts).items()}
    times: dict[bool, list[float]] = {False: [], True: []}
    was_training = student.training
    student.train()
    try:
        for attempt in range(rounds + 1):
            for bf16 in (False, True):
                started = time.perf_counter()
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    out = student(features)["sentence_embedding"]
                out.float().square().mean().backward()
                if attempt:
                    times[bf16].append(time.perf_counter() - started)
    finally:
        student.zero_grad(set_to_none=True)
        student.train(was_training)
    return statistics.median(times[False]), statistics.median(times[True])
