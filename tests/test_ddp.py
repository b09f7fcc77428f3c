"""The same loop under PyTorch DDP: two CPU processes via torchrun (Gloo), rank 0 evaluates and saves."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_torchrun_two_processes_train_and_save_once(tmp_path: Path) -> None:
    env = dict(os.environ, KDEMO_RUNS=str(tmp_path), OMP_NUM_THREADS="1")
    cmd = [shutil.which("torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "kdemo", "train",
           "--student", "teacher-copy", "--languages", "de", "--steps", "4", "--eval-every", "2", "--name", "ddp", "--english", "",
           "--precision", "fp32"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("On the dev split (higher is better)") == 1  # only rank 0 reports
    runs = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1 and (runs[0] / "student" / "modules.json").exists()
    history = (runs[0] / "history.jsonl").read_text().splitlines()
    steps = [line for line in history if '"loss"' in line]
    assert len(steps) == 4 and '"examples": 256' in steps[-1]  # 4 steps x 32 x 2 ranks
