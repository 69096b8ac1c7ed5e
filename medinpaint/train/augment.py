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

import math

import torch


def _contrast(x: torch.Tensor, gamma: torch.Tensor, gain: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    positive = x.clamp_min(0.0)
    return gain * (positive.pow(gamma) + (x - positive)) + offset


def augment(
    damaged: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, generator: torch.Generator,
    gamma: bool = True, noise_floor: float = 0.02,
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


def noise_levels(count: int, generator: torch.Generator, sigma_range: tuple[float, float]) -> torch.Tensor:
    """``count`` noise levels drawn log-uniformly from ``sigma_range`` (every octave equally often)."""
    low, high = sigma_range
    if not 0 < low <= high:
        raise ValueError(f"sigma_range must satisfy 0 < low <= high, got {sigma_range}")
    u = torch.rand(count, generator=generator)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def rician(clean: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``clean`` with Rician noise (the magnitude of complex Gaussian noise, as in MR) of level
    ``sigma`` per sample; at the levels of interest it is Gaussian on tissue."""
    sigma = sigma.view((clean.shape[0],) + (1,) * (clean.ndim - 1)).to(clean.device)
    real = torch.randn(clean.shape, generator=generator).to(clean.device)
    imaginary = torch.randn(clean.shape, generator=generator).to(clean.device)
    return torch.sqrt((clean + sigma * real) ** 2 + (sigma * imaginary) ** 2)


def grainy(clean: torch.Tensor, sigma: torch.Tensor, grain: torch.Tensor,
           generator: torch.Generator) -> torch.Tensor:
    """``clean`` plus correlated Gaussian noise of standard deviation ``sigma`` and grain size ``grain``
    pixels per sample: white noise band-passed as filtered back-projection leaves it in low-dose CT
    (the texture of ``medinpaint.damage.LowDoseNoise``), which a denoiser trained on white noise
    barely touches."""
    height, width = clean.shape[-2:]
    white = torch.randn(clean.shape, generator=generator)
    f2 = torch.fft.fftfreq(height)[:, None] ** 2 + torch.fft.rfftfreq(width)[None, :] ** 2
    scale = (math.pi * grain.view(-1, *([1] * (clean.ndim - 1)))) ** 2
    band = torch.exp(-2 * scale * f2) - torch.exp(-32 * scale * f2)
    noise = torch.fft.irfft2(torch.fft.rfft2(white) * band, s=(height, width))
    noise = noise / noise.flatten(1).std(1).clamp_min(1e-12).view(scale.shape)
    return clean + (sigma.view(scale.shape) * noise).to(clean.device)


def scanner_noise(clean: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The denoiser's training noise: per sample, at its level ``sigma``, either Rician (MR, half of the
    samples) or CT noise (the other half): grainy Gaussian of grain 0.7-1.5 pixels (low-dose CT's
    texture) on two thirds of those, white Gaussian on one third (thin-slice and older scanners' CT,
    on which a denoiser trained on grain alone fell 3-11 dB below BM3D, issue 19)."""
    count = clean.shape[0]
    shape = (-1,) + (1,) * (clean.ndim - 1)
    grains = 0.7 + 0.8 * torch.rand(count, generator=generator)
    kind = torch.rand(count, generator=generator)
    level, kind = sigma.view(shape).to(clean.device), kind.view(shape).to(clean.device)
    white = clean + level * torch.randn(clean.shape, generator=generator).to(clean.device)
    ct = torch.where(kind < 1 / 6, white, grainy(clean, sigma, grains, generator))
    return torch.where(kind < 0.5, ct, rician(clean, sigma, generator))


def rician_noise(clean: torch.Tensor, generator: torch.Generator,
                 sigma_range: tuple[float, float]) -> torch.Tensor:
    """``clean`` with Rician noise of a level drawn log-uniformly from ``sigma_range`` per sample.

    Used to train the blind denoiser over a wide, known range of levels: the level must not matter.
    """
    return rician(clean, noise_levels(clean.shape[0], generator, sigma_range), generator)


VALIDATION_SIGMAS = (0.02, 0.05, 0.1)
CLEANER_BY = 2.0  # a reference is scored at a noise level at least this many times its own


def reference_noise(clean: torch.Tensor) -> float:
    """The noise a reference slice carries itself, in its units: the median absolute finest diagonal
    Haar coefficient over 0.6745 (Donoho & Johnstone's wavelet estimator; edges barely move it)."""
    x = clean[..., : clean.shape[-2] // 2 * 2, : clean.shape[-1] // 2 * 2].float()
    diagonal = (x[..., ::2, ::2] - x[..., 1::2, ::2] - x[..., ::2, 1::2] + x[..., 1::2, 1::2]) / 2
    return float(diagonal.abs().median()) / 0.6745


def validation_noise(clean: torch.Tensor, index: int) -> tuple[torch.Tensor, float]:
    """The noisy version of validation slice ``index`` for a denoiser, and its noise level.

    Rician noise of a fixed level, cycling through :data:`VALIDATION_SIGMAS` (normalised units: about
    2, 5 and 10% of the intensity range, BrainWeb's range of levels), its field seeded by ``index``:
    the same noisy slices at every validation and in ``medinpaint.train.compare``. A blind denoiser
    also removes the noise the reference carries itself (the held-out EPI crops: about 0.04), so a
    pair is scored only where the added level is :data:`CLEANER_BY` times the reference's own
    (:func:`scored`); below that the score would reward leaving noise in.
    """
    sigma = VALIDATION_SIGMAS[index % len(VALIDATION_SIGMAS)]
    generator = torch.Generator().manual_seed(int(index))
    return rician_noise(clean, generator, (sigma, sigma)), sigma


def scored(clean: torch.Tensor, sigma: float) -> bool:
    """Whether a denoiser can be scored against ``clean`` at added noise ``sigma``
    (see :func:`validation_noise`)."""
    return sigma >= CLEANER_BY * reference_noise(clean)
