"""DDP on the CPU: two real processes started by torchrun (gloo) train together and agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_source


def test_two_process_torchrun_gloo_training_keeps_both_ranks_identical(tmp_path):
    require_source("ch2")  # what the workers train on: skip (fail under CI) here, not inside torchrun
    worker = Path(__file__).with_name("ddp_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(worker), str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [(tmp_path / f"rank{r}.txt").read_text().split() for r in (0, 1)]
    assert ranks[0] == ranks[1]
    digest, world_size, changed = ranks[0]
    assert world_size == "2" and changed == "True"
    assert (tmp_path / "best.safetensors").exists() and (tmp_path / "metrics.csv").exists()
