"""The MSE training loop: one code path for CPU, one GPU and DDP over several processes.

``Trainer(config, train_dataset, val_dataset).run()`` trains with AdamW (linear warm-up, cosine
decay), scores the validation set after every epoch (PSNR inside the damaged region, whole-image
PSNR and SSIM, also per damage kind), keeps the best and the last checkpoint, and appends each
epoch to ``metrics.csv`` / ``metrics.json``. Under ``torchrun`` (``WORLD_SIZE`` > 1) it wraps the
model in DistributedDataParallel (NCCL on GPUs, gloo on the CPU); rank 0 alone validates and
writes. On CUDA it uses bf16 autocast, pinned memory and, where it works, ``torch.compile``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from medinpaint.errors import InputError
from medinpaint.nets import build_model, classical_fill, load_model
from medinpaint.train.augment import augment, noise_levels, scanner_noise, scored, validation_noise
from medinpaint.train.checkpoint import git_commit, load_training_state, save_checkpoint
from medinpaint.train.config import TrainConfig
from medinpaint.train.metrics import masked_mse, psnr, ssim

TENSOR_KEYS = ("damaged", "clean", "mask")


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack the image tensors of a list of samples; keep every other key as a list."""
    batch: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        batch[key] = (torch.stack([torch.as_tensor(v).float() for v in values]) if key in TENSOR_KEYS
                      else values)
    return batch


def model_input(model: nn.Module, damaged: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The tensor ``model`` takes: the damaged stack, plus the mask when the model has a channel for it."""
    expected = getattr(model, "in_channels", damaged.shape[1])
    if expected == damaged.shape[1] + 1:
        return torch.cat([damaged, mask], dim=1)
    if expected != damaged.shape[1]:
        raise ValueError(f"model takes {expected} channels; samples have {damaged.shape[1]} (+1 mask)")
    return damaged


def drop_neighbours(model: nn.Module, damaged: torch.Tensor, mask: torch.Tensor, share: float,
                    generator: torch.Generator) -> torch.Tensor:
    """``damaged`` ``(B, 2k+1, H, W)`` with the neighbours of a ``share`` of the samples replaced by
    the centre's in-plane fill (``model.in_plane_fill``, else the classical fill), as the repair engine
    builds the input of a 2D image (both sides: half of them) or of an edge slice (one side: a quarter
    each). A network trained so learns what it can add when it has the slice alone."""
    context = damaged.shape[1] // 2
    if not context or share <= 0:
        return damaged
    count = damaged.shape[0]
    chosen = torch.rand(count, generator=generator) < share
    side = torch.rand(count, generator=generator)  # < 0.5: both sides, < 0.75: before only, else after
    if not bool(chosen.any()):
        return damaged
    centre = damaged[:, context : context + 1]
    with torch.no_grad():
        fill = (model.in_plane_fill(centre, mask) if hasattr(model, "in_plane_fill")
                else classical_fill(centre.float(), mask.float())).to(damaged.dtype)
    out = damaged.clone()
    for d in range(-context, context + 1):
        if d == 0:
            continue
        drop = chosen & ((side < 0.5) | ((side < 0.75) if d < 0 else (side >= 0.75)))
        drop = drop.to(damaged.device).view(-1, 1, 1)
        out[:, context + d] = torch.where(drop, fill[:, 0], damaged[:, context + d])
    return out


def learning_rate(step: int, config: TrainConfig, total_steps: int, time_fraction: float = 0.0) -> float:
    """Linear warm-up to ``config.lr``, then cosine decay to 2% of it at the end of training.

    The end is ``total_steps``, or, with ``config.max_minutes``, whichever comes first of that and the
    time limit (``time_fraction`` is the share of it used), so that a run cut short by the clock on a
    busy machine still anneals instead of stopping at a high rate.
    """
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
    progress = min(1.0, max(progress, time_fraction))
    return config.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def _switch(value: str, default: bool) -> bool:
    return default if value == "auto" else value in ("on", "True")


class Trainer:
    """Trains one model as ``config`` says, on any torch Dataset of medinpaint samples.

    Samples are dicts with float32 ``damaged`` (C, H, W), ``clean`` (1, H, W) and ``mask``
    (1, H, W) tensors plus ``kind`` (the damage kind, used to break validation down).

    Args:
        config: the run's settings.
        train_dataset: training samples (random damage each time is welcome).
        val_dataset: fixed validation samples from subjects not in ``train_dataset``.
        model: a ready model; built from ``config.model`` / ``config.model_args`` when None.
        extra_meta: recorded in every checkpoint's JSON (normalisation, data sources...).
    """

    def __init__(
        self,
        config: TrainConfig,
        train_dataset: Dataset,
        val_dataset: Dataset | None = None,
        model: nn.Module | None = None,
        extra_meta: dict[str, Any] | None = None,
    ):
        self.config = config
        self.train_dataset = train_dataset
        self.val_dataset = val_dataset
        self.model_args = dict(config.model_args)
        if config.model != "SeedCNN":
            self.model_args.setdefault("context", config.context)
        else:
            self.model_args.setdefault("in_channels", 2 * config.context + 2)
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed + 7919 * self.rank)
        self.model = model if model is not None else build_model(config.model, **self.model_args)
        self.extra_meta = dict(extra_meta or {})
        self.output = Path(config.output)

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = _resolve_device(config.device)
        cuda = self.device.type == "cuda"
        if self.world_size > 1 and not dist.is_initialized():
            if cuda:
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if cuda else "gloo")
        self.amp = cuda and _switch(config.amp, True)
        if config.init:
            self._start_from(config.init)
        self.model.to(self.device)
        if cuda:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.trained = self.model
        if self.world_size > 1:
            self.trained = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if cuda else None)
        if _switch(config.compile, cuda):
            self.trained = torch.compile(self.trained)

    def _start_from(self, path: str) -> None:
        """Load the weights of the saved model at ``path`` into the network (same architecture and
        arguments, else an error naming the file)."""
        saved, meta = load_model(path)
        args = {k: v for k, v in meta.get("args", {}).items() if k != "single_slice_fill"}
        ours = {k: v for k, v in self.config.model_args.items() if k != "single_slice_fill"}
        if meta.get("architecture") != self.config.model or any(args.get(k) != v for k, v in ours.items()):
            raise InputError(path, f"is a {meta.get('architecture')}{args}, not the configured "
                             f"{self.config.model}{ours}: cannot start from its weights")
        self.model.load_state_dict(saved.state_dict())

    def _loader(self) -> torch.utils.data.DataLoader:
        from monai.data import DataLoader

        config = self.config
        sampler = None
        if self.world_size > 1 and hasattr(self.train_dataset, "__len__"):
            sampler = torch.utils.data.DistributedSampler(self.train_dataset, seed=config.seed,
                                                          drop_last=True)
        shuffle = sampler is None and hasattr(self.train_dataset, "__len__") and not isinstance(
            self.train_dataset, torch.utils.data.IterableDataset
        )
        return DataLoader(
            self.train_dataset, batch_size=config.batch_size, shuffle=shuffle, sampler=sampler,
            drop_last=True, num_workers=config.num_workers, pin_memory=self.device.type == "cuda",
            collate_fn=collate,
            persistent_workers=config.num_workers > 0,
        )

    def _batches(self, loader) -> Iterator[dict[str, Any]]:
        epoch = 0
        while True:
            if isinstance(loader.sampler, torch.utils.data.DistributedSampler):
                loader.sampler.set_epoch(epoch)
            yielded = False
            for batch in loader:
                yielded = True
                yield batch
            if not yielded:
                raise ValueError("the training dataset yields no full batch; lower batch_size")
            epoch += 1

    # ------------------------------------------------------------------ steps
    def _to_device(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(batch[k].to(self.device, non_blocking=True) for k in TENSOR_KEYS)

    def train_step(self, batch: dict[str, Any], step: int, total_steps: int,
                   time_fraction: float = 0.0) -> float:
        """One AdamW step on one batch; returns the batch's loss."""
        damaged, clean, mask = self._to_device(batch)
        weight = None
        if self.config.noise_sigma:
            sigma = noise_levels(clean.shape[0], self.generator, tuple(self.config.noise_sigma))
            damaged, mask = scanner_noise(clean, sigma, self.generator), torch.ones_like(clean)
            # each sample's error over its noise variance: every level weighs the same in dB, where a
            # plain MSE would be all about the strongest noise and leave weak noise untouched
            weight = (self.config.noise_sigma[0] / sigma) ** 2
        if self.config.augment:
            damaged, clean, mask = augment(
                damaged, clean, mask, self.generator, gamma=self.config.preset != "noise",
                noise_floor=self.config.noise_floor,
            )
        if self.config.single_slice_share and self.config.task == "repair":
            damaged = drop_neighbours(self.model, damaged, mask, self.config.single_slice_share,
                                      self.generator)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, self.config, total_steps, time_fraction)
        self.trained.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            prediction = self.trained(model_input(self.model, damaged, mask))
        loss = masked_mse(prediction, clean, mask if self.config.loss == "masked" else None, weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Mean PSNR in the damaged region, whole-image PSNR and SSIM, overall and per damage kind.

        2.5D samples whose neighbour is a copy of the target (volume edges) are left out. A denoiser
        (``noise_sigma`` set) is scored on :func:`validation_noise` instead of the preset's noise.
        """
        self.model.eval()
        rows: dict[str, list[list[float]]] = defaultdict(list)
        count = min(self.config.val_samples, len(self.val_dataset))
        for index in range(count):
            batch = collate([self.val_dataset[index]])
            if neighbour_is_target(batch):
                continue
            damaged, clean, mask = self._to_device(batch)
            if self.config.noise_sigma:  # a denoiser: scored at fixed noise levels above the references' own
                damaged, sigma = validation_noise(clean, index)
                if not scored(clean, sigma):
                    continue
                mask = torch.ones_like(clean)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                prediction = self.model(model_input(self.model, damaged, mask))
            prediction = prediction.float().clamp(-0.5, 1.5)
            if self.config.task == "repair":  # SeedCNN predicts every pixel: keep the undamaged ones
                centre = damaged[:, damaged.shape[1] // 2 : damaged.shape[1] // 2 + 1]
                prediction = centre + mask * (prediction - centre)
            values = [float(psnr(prediction, clean, mask)[0]), float(psnr(prediction, clean)[0]),
                      float(ssim(prediction, clean)[0])]
            rows["all"].append(values)
            rows[str(batch.get("kind", ["all"])[0])].append(values)
        result: dict[str, Any] = {}
        for kind, values in rows.items():
            with warnings.catch_warnings():  # a kind whose masks were all empty has no masked PSNR
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(np.asarray(values, dtype=np.float64), axis=0)
            result[kind] = {"psnr_mask": float(mean[0]), "psnr": float(mean[1]), "ssim": float(mean[2]),
                            "n": len(values)}
        return result

    def _score(self, val: dict[str, Any]) -> float:
        overall = val.get("all", {})
        return overall.get("psnr_mask" if self.config.task == "repair" else "psnr", float("-inf"))

    # ------------------------------------------------------------------ run
    def _meta(self, epoch: int, step: int, val: dict[str, Any], best: float,
              history: list[dict[str, Any]]) -> dict[str, Any]:
        meta = {
            "task": self.config.task,
            "damage_preset": self.config.preset,
            "context": self.config.context,
            "loss": ("per-sample MSE averaged over the damaged pixels" if self.config.loss == "masked"
                     else "MSE over the whole image"),
            "training": self.config.to_dict(),
            "git_commit": git_commit(),
            "torch": torch.__version__,
            "epoch": epoch,
            "step": step,
            "best_score": best,
            "metrics": val,
            "history": history,
        }
        meta.update(self.extra_meta)
        return meta

    def run(self) -> dict[str, Any]:
        """Train for ``config.epochs`` epochs (or until ``max_minutes``); return the final summary."""
        from tqdm.auto import tqdm

        self._setup()
        config = self.config
        main = self.rank == 0
        steps = config.steps_per_epoch or len(self._loader())
        total_steps = steps * config.epochs
        epoch, step, best, history = 0, 0, float("-inf"), []
        if config.resume and (self.output / "last.json").exists():
            meta = load_training_state(self.output, "last", self.model, self.optimizer)
            epoch, step, best, history = meta["epoch"], meta["step"], meta["best_score"], meta["history"]
        previous = history[-1]["seconds"] if history else 0.0
        if main:
            self.output.mkdir(parents=True, exist_ok=True)
        batches = self._batches(self._loader())
        started = time.monotonic()
        while epoch < config.epochs:
            torch.manual_seed(config.seed * 100003 + epoch * 1009 + self.rank)
            losses, samples, epoch_start = [], 0, time.monotonic()
            bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not main,
                       mininterval=2.0, leave=False)
            for _ in bar:
                batch = next(batches)
                losses.append(self.train_step(batch, step, total_steps, self._time_used(started, previous)))
                samples += batch["clean"].shape[0] * self.world_size
                step += 1
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.2e}", refresh=False)
                if self._out_of_time(started, previous):
                    break
            train_seconds = time.monotonic() - epoch_start
            epoch += 1
            if main:
                val = self.validate() if self.val_dataset is not None else {}
                score = self._score(val)
                record = {
                    "epoch": epoch, "step": step, "train_loss": float(np.mean(losses)),
                    "lr": self.optimizer.param_groups[0]["lr"], "samples_per_s": samples / train_seconds,
                    "seconds": previous + time.monotonic() - started, "val": val,
                }
                history.append(record)
                if score > best or not (self.output / "best.json").exists():
                    best = max(best, score)
                    save_checkpoint(self.output, "best", self.model, self.model_args,
                                    self._meta(epoch, step, val, best, history))
                save_checkpoint(self.output, "last", self.model, self.model_args,
                                self._meta(epoch, step, val, best, history), self.optimizer)
                self._write_metrics(history)
                tqdm.write(_epoch_line(record))
            out_of_time = self._out_of_time(started, previous)
            if self.world_size > 1:
                dist.barrier()
            if out_of_time:
                break
        return {"epochs": epoch, "steps": step, "best_score": best, "history": history,
                "output": str(self.output)}

    def _time_used(self, started: float, previous: float) -> float:
        """Share of ``max_minutes`` used so far (0 without a limit), the same on every rank."""
        if not self.config.max_minutes:
            return 0.0
        used = (previous + time.monotonic() - started) / 60.0 / self.config.max_minutes
        if self.world_size > 1:
            shared = torch.tensor([used], device=self.device)
            dist.broadcast(shared, 0)
            used = float(shared.item())
        return used

    def _out_of_time(self, started: float, previous: float) -> bool:
        return bool(self.config.max_minutes) and self._time_used(started, previous) >= 1.0

    def _write_metrics(self, history: list[dict[str, Any]]) -> None:
        (self.output / "metrics.json").write_text(json.dumps(history, indent=2) + "\n")
        fields = ["epoch", "step", "train_loss", "lr", "samples_per_s", "seconds", "val_psnr_mask",
                  "val_psnr", "val_ssim"]
        with open(self.output / "metrics.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for record in history:
                overall = record["val"].get("all", {})
                row = {k: record[k] for k in fields[:6]}
                row.update({"val_psnr_mask": overall.get("psnr_mask"), "val_psnr": overall.get("psnr"),
                            "val_ssim": overall.get("ssim")})
                writer.writerow(row)


def neighbour_is_target(batch: dict[str, Any]) -> bool:
    """True for a 2.5D sample whose neighbour slice is a copy of the clean target.

    Datasets repeat the edge slice of a volume (and the only slice of a 2D image) as its own neighbour;
    such a neighbour holds the answer, so scoring on it would reward copying rather than repairing.
    """
    damaged, clean = batch["damaged"], batch["clean"]
    centre = damaged.shape[1] // 2
    return any(torch.equal(damaged[:, c : c + 1], clean) for c in range(damaged.shape[1]) if c != centre)


def _epoch_line(record: dict[str, Any]) -> str:
    overall = record["val"].get("all", {})
    parts = [f"epoch {record['epoch']}", f"loss {record['train_loss']:.3e}",
             f"{record['samples_per_s']:.1f} samples/s"]
    if overall:
        parts += [f"val PSNR(mask) {overall['psnr_mask']:.2f} dB", f"PSNR {overall['psnr']:.2f} dB",
                  f"SSIM {overall['ssim']:.4f}"]
    return " | ".join(parts)
