"""The scan's noise level and value ranges, from a sample of its slices: what thresholds are relative to."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def intensity_stats(array: np.ndarray, not_constant: np.ndarray, padding: float | None = None) -> dict | None:
    """Noise level and value ranges of the scan's content, from a subset of its slices; ``padding``: the
    constant a padded scan frames its slices with, which is no part of its ranges."""
    ks = sample_slices(not_constant)
    if len(ks) == 0 or array.dtype.kind not in "iuf":
        return None
    sample = np.asarray(array[:, :, ks]).astype(np.float32)
    sigma = noise_sigma(sample, padding)
    ranged = sample if padding is None else sample[sample != np.float32(padding)]
    if ranged.size == 0:
        return None
    low, high = np.nanpercentile(ranged, [0.5, 99.5])  # values that are not finite have no place in a range
    full_range = float(np.nanmax(sample) - np.nanmin(sample))
    if not (high - low > 0 and full_range > 0):
        return None
    # the tissue's range: the same percentiles once single voxels (impulses, flips) are smoothed away
    smooth = ndimage.median_filter(sample, size=(3, 3, 1))
    smooth = smooth if padding is None else smooth[sample != np.float32(padding)]
    tissue_low, tissue_high = np.nanpercentile(smooth, [0.5, 99.5])
    return {"sigma": sigma, "low": float(low), "high": float(high), "value_range": float(high - low),
            "full_range": full_range, "tissue_low": float(tissue_low), "tissue_high": float(tissue_high)}


def sample_slices(not_constant: np.ndarray) -> np.ndarray:
    """Up to about 16 slices with content, spread over the scan: enough for a noise level and ranges."""
    ks = np.nonzero(not_constant)[0]
    return ks[:: max(1, len(ks) // 16)]


def full_range_of_sound(array: np.ndarray, not_constant: np.ndarray, labels: np.ndarray) -> float:
    """The full range of the sampled slices over the voxels not found damaged."""
    ks = sample_slices(not_constant)
    sound = np.asarray(array[:, :, ks])[labels[:, :, ks] == 0]
    return float(sound.max()) - float(sound.min()) if sound.size else 0.0


def noise_sigma(sample: np.ndarray, padding: float | None = None) -> float:
    """Robust noise level: MAD of the 3x3 median residual over the sampled slices (but in and beside a
    padded scan's ``padding``)."""
    sample = sample[:, :, ::max(1, sample.shape[2] // 6)]  # a subset of slices is enough for one number
    residual = np.abs(sample - ndimage.median_filter(sample, size=(3, 3, 1)))
    if padding is not None:
        residual[ndimage.maximum_filter(sample == np.float32(padding), size=(3, 3, 1))] = 0
    moved = residual[residual > 0]  # NaN compares False: left out
    return float(1.4826 * np.median(moved)) if moved.size else 0.0
