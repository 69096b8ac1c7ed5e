"""MONAI-compatible networks: the seed CNN baseline, the repair network and the blind denoiser.

All are plain ``torch.nn.Module``s on ``(B, C, H, W)`` tensors, constructible from a MONAI bundle
config (``{"_target_": "medinpaint.nets.RepairNet", "context": 1}``) and usable under
``monai.inferers.SlidingWindowInferer``. Models are stored as safetensors plus JSON
(:func:`save_model`, :func:`load_model`); :func:`resolve_model` takes a file, a module or None (the
shipped model) as a caller names it, and :func:`pick_device` decides the device the same way for all.
"""

from medinpaint.nets.denoise import Denoiser
from medinpaint.nets.fill import (
    biharmonic_inpaint,
    biharmonic_relax,
    classical_fill,
    exact_fill,
    push_pull_fill,
)
from medinpaint.nets.repair import RepairNet
from medinpaint.nets.seed import SeedCNN
from medinpaint.nets.store import (
    ARCHITECTURES,
    build_model,
    default_model_path,
    load_model,
    read_model_meta,
    resolve_model,
    save_model,
)
from medinpaint.nets.unet import SmallUNet
from medinpaint.nets.utils import channels_last, pick_device

__all__ = [
    "ARCHITECTURES",
    "Denoiser",
    "RepairNet",
    "SeedCNN",
    "SmallUNet",
    "biharmonic_inpaint",
    "biharmonic_relax",
    "build_model",
    "channels_last",
    "classical_fill",
    "default_model_path",
    "exact_fill",
    "load_model",
    "pick_device",
    "push_pull_fill",
    "read_model_meta",
    "resolve_model",
    "save_model",
]
