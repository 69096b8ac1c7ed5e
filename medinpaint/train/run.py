"""Train from a :class:`TrainConfig`: build the datasets, run the loop, tidy up DDP."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist

from medinpaint.train.config import TrainConfig
from medinpaint.train.data import build_datasets
from medinpaint.train.loop import Trainer


def train(config: TrainConfig) -> dict[str, Any] | None:
    """Run training; returns the summary on rank 0 (None on other ranks)."""
    train_set, val_set, meta = build_datasets(config)
    trainer = Trainer(config, train_set, val_set, extra_meta=meta)
    try:
        summary = trainer.run()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return summary if trainer.rank == 0 else None
