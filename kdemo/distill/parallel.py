"""What the loop needs to run under torchrun (PyTorch DDP): ranks, agreement, devices, seeds.

Without a process group every helper degrades to the single-process answer, so the same loop runs
on a laptop CPU, one GPU, or many machines.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer


def training_device() -> torch.device:
    """This process's GPU under torchrun (``LOCAL_RANK``), the only GPU, or the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run (head initialisation, dropout, batches) repeats exactly."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _dist():  # -> module | None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank() -> int:
    dist = _dist()
    return dist.get_rank() if dist else 0


def world() -> int:
    dist = _dist()
    return dist.get_world_size() if dist else 1


def agree(flag: bool) -> bool:
    """True on every rank when it is true on any (stop, cancel), so no rank waits forever."""
    dist = _dist()
    if not dist:
        return flag
    import torch

    tensor = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def maybe_ddp(student: SentenceTransformer) -> torch.nn.Module:
    if not _dist():
        return student
    from torch.nn.parallel import DistributedDataParallel

    device = training_device()
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(student, device_ids=ids, find_unused_parameters=True)
