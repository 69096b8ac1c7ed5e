"""Run by ``torchrun`` in test_ddp.py: a tiny DDP training on real slices, then each rank's weights hash."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from medinpaint.train import TrainConfig, Trainer  # noqa: E402
from tests.train.slices import HoleSlices, load_head  # noqa: E402


def main(output: str) -> None:
    head = load_head()
    config = TrainConfig(
        model="RepairNet", model_args={"features": [8, 16]}, context=1, epochs=1, steps_per_epoch=3,
        batch_size=2, num_workers=0, output=output, val_samples=2, warmup_steps=1, device="cpu", threads=1,
    )
    trainer = Trainer(config, HoleSlices(head, count=8, patch=32),
                      HoleSlices(head, count=2, patch=32, seed=1))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.run()
    digest = hashlib.sha256()
    for p in trainer.model.parameters():
        digest.update(p.detach().numpy().tobytes())
    changed = any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))
    Path(output, f"rank{trainer.rank}.txt").write_text(
        f"{digest.hexdigest()} {trainer.world_size} {changed}\n")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
