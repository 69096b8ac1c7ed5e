"""The denoiser's guard: what it removes must look like noise, or the slice is left as it was.

A blind denoiser trained on some scans can, on a scan unlike them, remove structure instead of
noise, and a repair that makes a scan worse than leaving it alone is the worst thing medinpaint can
do (issue 19: one CT slice came back 17.7 dB worse than its noisy input). Each slice is therefore
checked against the noise level estimated from the slice itself, without being told it:

- the noise level ``sigma`` is the median absolute finest diagonal Haar coefficient over 0.6745
  (Donoho and Johnstone's wavelet estimator), over the 2x2 blocks that are not flat (so padding and
  clipped backgrounds, where every coefficient is 0, do not pull it to 0);
- per pixel, the removed residual is limited to ``CLAMP`` times that level, or times the residual's
  own robust spread (1.4826 MAD) where that is larger (grainy CT noise has little energy in the
  finest band, so the wavelet level alone cut 18% of its pixels): Gaussian noise lies within 3 sigma
  but for 0.3% of pixels, while an edge the network blurs or a ringing it adds does not;
- per slice, the residual must not look like anatomy: its band of ``SMOOTH`` to ``WIDE`` pixels (a
  difference of Gaussians: the scale of organs and ringing, not of noise grain, nor of the smooth
  Rician bias of an MR background) must carry at most ``STRUCTURE`` of its RMS, and its correlation
  with the fine detail of the denoised slice (what a blur removes) at most ``EDGES``. Else the slice
  is left as it was and the report says so. Measured on the validation subjects (bench/RESULTS.md):
  the shipped denoiser on Rician MR, white and grainy CT noise: band at most 0.18, correlation at
  most 0.43 (0.35-0.43 under heavy noise on the 33x41 EPI crops); removing 20% of the anatomy: band
  0.34 to 0.48; a Gaussian blur of 1.5 pixels: correlation 0.38 to 0.60, so the correlation only
  refuses the strongest blurs.

CT values outside the HU window the denoiser was trained on (padding below -1024 HU, metal above
3071 HU) are not tissue: the network sees them clipped to the window and they keep their stored
values, so nothing of the stored range is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CLAMP = 3.0  # the most a pixel may change, in noise levels estimated from the slice
SMOOTH, WIDE = 4.0, 16.0  # pixels: the band of the residual where anatomy shows and noise does not
STRUCTURE = 0.28  # the share of the residual's RMS in that band above which it is structure
EDGES = 0.5  # the correlation of the residual with the denoised slice's fine detail above which it is


def noise_sigma(plane: np.ndarray, where: np.ndarray | None = None) -> float:
    """The noise level of ``plane`` (its units) from its finest diagonal wavelet details (see the module);
    ``where``: the pixels to estimate from (the 2x2 blocks entirely inside). 0 when nothing varies."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    x = np.asarray(plane, dtype=np.float64)[:h, :w]
    a, b, c, d = x[::2, ::2], x[1::2, ::2], x[::2, 1::2], x[1::2, 1::2]
    use = ~((a == b) & (a == c) & (a == d))
    if where is not None:
        m = np.asarray(where, bool)[:h, :w]
        use &= m[::2, ::2] & m[1::2, ::2] & m[::2, 1::2] & m[1::2, 1::2]
    detail = np.abs(a - b - c + d)[use] / 2
    return float(np.median(detail)) / 0.6745 if detail.size else 0.0


@dataclass(frozen=True)
class Verdict:
    """What the guard decided for one slice: ``output`` (the slice to keep), ``kept`` (False: left as it
    was), ``sigma`` (estimated noise level), ``structure`` (share of the residual's RMS in the anatomy's
    band), ``edges`` (its correlation with the denoised slice's fine detail), ``clamped`` (share of
    pixels whose change was limited)."""

    output: np.ndarray
    kept: bool
    sigma: float
    structure: float
    edges: float
    clamped: float


def guard(noisy: np.ndarray, denoised: np.ndarray, where: np.ndarray | None = None) -> Verdict:
    """Check and limit what a denoiser removed from ``noisy`` (see the module); ``where``: the pixels it
    may change (others keep ``noisy``'s values)."""
    noisy = np.asarray(noisy, dtype=np.float32)
    where = np.ones(noisy.shape, bool) if where is None else np.asarray(where, bool)
    sigma = noise_sigma(noisy, where)
    residual = np.where(where, noisy - np.asarray(denoised, dtype=np.float32), 0.0)
    # grainy noise has little energy in the finest wavelet band, so its level there is too low a bound:
    # the residual's own robust spread (1.4826 MAD) is used where it is larger
    values = residual[where]
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values)))) if values.size else 0.0
    limit = CLAMP * max(sigma, spread)
    clamped = float(np.mean(np.abs(residual[where]) > limit)) if where.any() else 0.0
    residual = np.clip(residual, -limit, limit)
    rms = float(np.sqrt(np.mean(residual[where] ** 2))) if where.any() else 0.0
    if rms == 0:
        return Verdict(noisy.copy(), False, sigma, 0.0, 0.0, clamped)
    r = residual.astype(np.float64)
    band = ndimage.gaussian_filter(r, SMOOTH) - ndimage.gaussian_filter(r, WIDE)
    structure = float(np.sqrt(np.mean(band[where] ** 2))) / rms
    output = noisy - residual
    detail = output - ndimage.gaussian_filter(output.astype(np.float64), 2.0)
    a, b = r[where] - r[where].mean(), detail[where] - detail[where].mean()
    norm = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    edges = float(np.sum(a * b)) / norm if norm > 0 else 0.0
    if structure > STRUCTURE or edges > EDGES:
        return Verdict(noisy.copy(), False, sigma, structure, edges, clamped)
    return Verdict(output.astype(np.float32), True, sigma, structure, edges, clamped)

__all__ = ["CLAMP", "EDGES", "SMOOTH", "STRUCTURE", "WIDE", "Verdict", "guard", "noise_sigma"]
