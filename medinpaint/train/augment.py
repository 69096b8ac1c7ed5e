"""Batch augmentation of damaged/clean/mask samples, on the tensors the loop already holds.

Noise floor: real scans carry noise that the templates among the training volumes lack, so a
network trained on them alone learns that every fine texture is damage. Each sample gets Gaussian
noise of a random level up to ``noise_floor``: the same draw on the damaged centre slice and on its
clean target (the scanner's noise is part of the truth), independent draws on the neighbours.

Geometry: the eight flips and quarter turns, the same for every tensor of a sample (lost lines
become lost columns, which scanners with column-wise readout produce too). Intensity: a random
contrast (gamma), gain and offset, applied alike to the damaged stack and the clean target so
the pair stays consistent; with ``gamma=False`` (noise training) only gain and offset, which
keep the noise's statistics up to its scale. Zoom and rotation by arbitrary angles belong before
the damage is made (they would blur a bit error), so they are not done here.
"""

from __future__ import annotations

import torch


def _contrast(x: torch.Tensor, gamma: torch.Tensor, gain: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    positive = x.clamp_min(0.0)
    return gain * (positive.pow(gamma) + (x - positive)) + offset


def augment(
    damaged: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, generator: torch.Generator, gamma: bool = True,
    noise_floor: float = 0.02,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Randomly flip/turn, re-contrast and add a noise floor to each sample of a batch ``(B, C, H, W)``."""
    batch = clean.shape[0]
    draws = torch.rand(batch, 7, generator=generator)
    square = clean.shape[-1] == clean.shape[-2]
    out = []
    for tensor in (damaged, clean, mask):
        samples = []
        for i in range(batch):
            t = tensor[i]
            if draws[i, 0] < 0.5:
                t = t.flip(-1)
            if draws[i, 1] < 0.5:
                t = t.flip(-2)
            if square and draws[i, 2] < 0.5:
                t = t.transpose(-1, -2)
            samples.append(t)
        out.append(torch.stack(samples).contiguous())
    damaged, clean, mask = out
    shape = (batch, 1, 1, 1)
    g = (0.7 + 0.8 * draws[:, 3]).view(shape) if gamma else torch.ones(shape)
    gain = (0.8 + 0.4 * draws[:, 4]).view(shape)
    offset = (0.2 * draws[:, 5] - 0.1).view(shape)
    g, gain, offset = (v.to(clean.device) for v in (g, gain, offset))
    damaged, clean = _contrast(damaged, g, gain, offset), _contrast(clean, g, gain, offset)
    if noise_floor > 0:
        sigma = (noise_floor * draws[:, 6]).view(shape).to(clean.device)
        noise = sigma * torch.randn(damaged.shape, generator=generator).to(clean.device)
        centre = damaged.shape[1] // 2
        damaged = damaged + noise
        clean = clean + noise[:, centre : centre + 1]
    return damaged, clean, mask


def rician_noise(clean: torch.Tensor, generator: torch.Generator, sigma_range: tuple[float, float]) -> torch.Tensor:
    """``clean`` with Rician noise (the magnitude of complex Gaussian noise, as in MR) of a level drawn
    log-uniformly from ``sigma_range`` per sample; at the levels of interest it is Gaussian on tissue.

    Used to train the blind denoiser over a wide, known range of levels: the level must not matter.
    """
    low, high = sigma_range
    if not 0 < low <= high:
        raise ValueError(f"sigma_range must satisfy 0 < low <= high, got {sigma_range}")
    shape = (clean.shape[0],) + (1,) * (clean.ndim - 1)
    u = torch.rand(shape, generator=generator)
    sigma = (torch.exp(torch.log(torch.tensor(low)) + u * (torch.log(torch.tensor(high)) - torch.log(torch.tensor(low))))).to(clean.device)
    real = torch.randn(clean.shape, generator=generator).to(clean.device)
    imaginary = torch.randn(clean.shape, generator=generator).to(clean.device)
    return torch.sqrt((clean + sigma * real) ** 2 + (sigma * imaginary) ** 2)
