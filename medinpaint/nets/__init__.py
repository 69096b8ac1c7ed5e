"""MONAI-compatible networks: the seed CNN baseline, the repair network and the blind denoiser.

All are plain ``torch.nn.Module``s on ``(B, C, H, W)`` tensors, constructible from a MONAI bundle
config (``{"_target_": "medinpaint.nets.RepairNet", "context": 1}``) and usable under
``monai.inferers.SlidingWindowInferer``. Models are stored as safetensors plus JSON
(:func:`save_model`, :func:`load_model`).
"""

from medinpaint.nets.denoise import Denoiser
from medinpaint.nets.fill import biharmonic_relax, classical_fill, push_pull_fill
from medinpaint.nets.repair import RepairNet
from medinpaint.nets.seed import SeedCNN
from medinpaint.nets.store import (
    ARCHITECTURES,
    build_model,
    default_model_path,
    load_model,
    read_model_meta,
    save_model,
)
from medinpaint.nets.unet import SmallUNet

__all__ = [
    "ARCHITECTURES",
    "Denoiser",
    "RepairNet",
    "SeedCNN",
    "SmallUNet",
    "biharmonic_relax",
    "build_model",
    "classical_fill",
    "default_model_path",
    "load_model",
    "push_pull_fill",
    "read_model_meta",
    "save_model",
]
