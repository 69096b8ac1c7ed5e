"""The settings of one training run, from a JSON file and/or command-line options."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from medinpaint.errors import InputError

TASKS = {"RepairNet": "repair", "Denoiser": "denoise", "SeedCNN": "repair"}


@dataclass
class TrainConfig:
    """Everything that decides a training run; saved beside every checkpoint.

    Args:
        model: registered architecture (``RepairNet``, ``Denoiser``, ``SeedCNN``).
        model_args: its keyword arguments (``context`` is filled in from ``context`` below).
        preset: damage preset of ``medinpaint.damage`` the pairs are made with.
        sources: training volumes (paths or the names that ``medinpaint.data`` knows).
        context: neighbouring slices on each side (2.5D stack of ``2*context+1``).
        patch_size: training patch edge in pixels.
        epochs / steps_per_epoch: length of training; an epoch is ``steps_per_epoch`` batches
            (0: one pass over the dataset).
        batch_size, lr, weight_decay, warmup_steps: AdamW with linear warm-up then cosine decay.
        loss: ``"masked"`` (per-sample MSE over the damaged pixels) or ``"full"`` (whole image).
        augment: random flips, quarter turns and contrast of training batches (gain/offset only for
            the noise preset, whose statistics a gamma would distort).
        noise_floor: largest standard deviation of the Gaussian noise added alike to damaged and clean
            images (scanners' own noise, which template volumes lack); 0 turns it off.
        noise_sigma: ``[low, high]``: train a denoiser on Rician noise of these levels (normalised units)
            added to the clean slices here, instead of the preset's noise; empty: the preset's damage.
        single_slice_share: repair training with context: the share of samples whose neighbours are
            replaced by the centre's in-plane fill, as the repair engine gives a 2D image or an edge
            slice (half of them on both sides, a quarter on each one side), so the network also
            learns what it can add with no neighbour; 0 turns it off.
        val_samples: validation slices scored after each epoch (subject-held-out split).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        amp: bf16 autocast on CUDA (``"auto"``: on when CUDA), ``compile``: ``torch.compile`` (auto: CUDA).
        num_workers: DataLoader workers per process.
        output: folder for checkpoints and metrics; ``resume``: continue from its ``last`` checkpoint.
        init: a saved model (``.safetensors``) whose weights the network starts from (fine-tuning:
            its architecture and arguments must be the config's); None: random weights.
        seed: seed of weights, data order and damage.
        threads: CPU threads per process (0: PyTorch's default).
        max_minutes: stop after the epoch that passes this wall time (0: no limit).
    """

    model: str = "RepairNet"
    model_args: dict[str, Any] = field(default_factory=dict)
    preset: str = "transmission"
    sources: list[str] = field(default_factory=list)
    context: int = 1
    patch_size: int = 128
    epochs: int = 10
    steps_per_epoch: int = 200
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    loss: str = "masked"
    augment: bool = True
    noise_floor: float = 0.02
    noise_sigma: list[float] = field(default_factory=list)
    single_slice_share: float = 0.0
    val_samples: int = 64
    device: str = "auto"
    amp: str = "auto"
    compile: str = "auto"
    num_workers: int = 2
    output: str = "runs/train"
    resume: bool = False
    init: str | None = None
    seed: int = 0
    threads: int = 0
    max_minutes: float = 0.0

    def __post_init__(self) -> None:
        if self.loss not in ("masked", "full"):
            raise ValueError(f"loss must be 'masked' or 'full', got {self.loss!r}")
        for name in ("epochs", "batch_size", "patch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.context < 0:
            raise ValueError(f"context must be >= 0, got {self.context}")
        if not 0.0 <= self.single_slice_share <= 1.0:
            raise ValueError(f"single_slice_share must be in [0, 1], got {self.single_slice_share}")
        for name in ("amp", "compile"):
            if str(getattr(self, name)) not in ("auto", "on", "off", "True", "False"):
                raise ValueError(f"{name} must be auto, on or off, got {getattr(self, name)!r}")

    @property
    def task(self) -> str:
        return TASKS.get(self.model, "repair")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides: Any) -> TrainConfig:
        """Read a JSON config file; ``overrides`` (options given on the command line) win."""
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise InputError(path, f"cannot read training config: {error}") from error
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(path, f"unknown training settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``medinpaint train`` and ``python -m medinpaint.train`` (one definition)."""
    parser.add_argument("--config", metavar="JSON", help="training config file; options below override it")
    parser.add_argument("--model", help="architecture: RepairNet (default), Denoiser or SeedCNN")
    parser.add_argument("--model-args", type=json.loads, metavar="JSON",
                        help='architecture arguments, e.g. \'{"features": [16, 32, 64, 64]}\'')
    parser.add_argument("--preset", help="damage preset of the pairs: transmission, mr-artifacts, "
                        "ct-artifacts, all, or noise (Rician / low-dose noise only, for the denoiser)")
    parser.add_argument("--sources", nargs="+", metavar="SRC",
                        help="training volumes (default: all permitted sources)")
    parser.add_argument("--context", type=int, help="neighbouring slices on each side (2.5D), default 1")
    parser.add_argument("--patch-size", type=int, help="training patch edge in pixels, default 128")
    parser.add_argument("--epochs", type=int, help="epochs, default 10")
    parser.add_argument("--steps-per-epoch", type=int, help="batches per epoch (0: one pass), default 200")
    parser.add_argument("--batch-size", type=int, help="samples per batch and process, default 16")
    parser.add_argument("--lr", type=float, help="peak AdamW learning rate, default 2e-3")
    parser.add_argument("--loss", choices=("masked", "full"),
                        help="MSE over damaged pixels per sample, or the whole image")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="flips, quarter turns and contrast changes of training batches (default on)")
    parser.add_argument("--noise-floor", type=float,
                        help="largest noise level added to damaged and clean alike (default 0.02)")
    parser.add_argument("--noise-sigma", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="denoiser training: Rician noise levels to add to clean slices "
                        "(normalised units)")
    parser.add_argument("--single-slice-share", type=float,
                        help="repair: share of samples trained without neighbours (their in-plane fill "
                        "in their place), default 0")
    parser.add_argument("--val-samples", type=int, help="validation slices scored each epoch, default 64")
    parser.add_argument("--device", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--amp", choices=("auto", "on", "off"), help="bf16 mixed precision on CUDA")
    parser.add_argument("--compile", choices=("auto", "on", "off"),
                        help="torch.compile the model (auto: on CUDA)")
    parser.add_argument("--num-workers", type=int, help="DataLoader workers per process, default 2")
    parser.add_argument("--output", "-o", metavar="DIR", help="folder for checkpoints and metrics")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="continue from OUTPUT's last checkpoint")
    parser.add_argument("--init", metavar="MODEL",
                        help="start from this saved model's weights (.safetensors; fine-tuning)")
    parser.add_argument("--seed", type=int, help="seed of weights, data order and damage, default 0")
    parser.add_argument("--threads", type=int, help="CPU threads per process (0: PyTorch default)")
    parser.add_argument("--max-minutes", type=float, help="stop after the epoch that passes this wall time")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Merge a config file (if any) with the options that were given."""
    options = {f.name: getattr(args, f.name, None) for f in fields(TrainConfig)}
    options = {k: v for k, v in options.items() if v is not None}
    if getattr(args, "config", None):
        return TrainConfig.from_file(args.config, **options)
    return TrainConfig(**options)
