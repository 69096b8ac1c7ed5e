"""MSE training of medinpaint's networks: the loop, checkpoints, metrics and settings.

``python -m medinpaint.train`` (or ``torchrun --nproc_per_node N -m medinpaint.train``) and
``medinpaint train`` run :class:`Trainer` with a :class:`TrainConfig`. The names below are
imported on first use, so ``medinpaint.train.config`` (the CLI's options) loads without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "TrainConfig": "medinpaint.train.config",
    "Trainer": "medinpaint.train.loop",
    "collate": "medinpaint.train.loop",
    "model_input": "medinpaint.train.loop",
    "masked_mse": "medinpaint.train.metrics",
    "psnr": "medinpaint.train.metrics",
    "ssim": "medinpaint.train.metrics",
    "train": "medinpaint.train.run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'medinpaint.train' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
