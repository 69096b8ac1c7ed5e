"""The scan's noise level and value ranges, from a sample of its slices: what thresholds are relative to."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection import slabs

# a value this many times the 90th percentile of a scan's non-zero magnitudes is none of its own: a CT's
# metal or an MR's vessel reaches some 1e2-1e4 times it, random bytes read as floats 1e300
ABSURD = 2.0**30


def intensity_stats(array: np.ndarray, not_constant: np.ndarray, padding: float | None = None) -> dict | None:
    """Noise level and value ranges of the scan's content, from a subset of its slices; ``padding``: the
    constant a padded scan frames its slices with, which is no part of its ranges."""
    ks = sample_slices(not_constant)
    if len(ks) == 0 or array.dtype.kind not in "iuf":
        return None
    sample = np.asarray(array[:, :, ks]).astype(np.float32)
    whole = whole_valued(array.dtype)
    full_range = float(np.nanmax(sample) - np.nanmin(sample))
    limit = absurd_limit(sample) if array.dtype.kind == "f" else None
    absurd = absurd_values(sample, limit)
    if absurd is not None:  # garbage has no place in a range (NaN: left out, as a NaN of the scan's own)
        sample[absurd] = np.nan
    smooth = median_in_plane(sample)
    ranged = sample if padding is None else sample[sample != np.float32(padding)]
    if ranged.size == 0:
        return None
    # the tissue's range: the same percentiles once single voxels (impulses, flips) are smoothed away
    tissue = smooth if padding is None else smooth[sample != np.float32(padding)]
    sigma, (low, high), (tissue_low, tissue_high) = slabs.in_threads(lambda job: job(), [
        lambda: noise_sigma(sample, smooth, padding),
        lambda: percentiles(ranged, [0.5, 99.5], whole),
        lambda: percentiles(tissue, [0.5, 99.5], whole)])
    if not (high - low > 0 and full_range > 0):
        return None
    return {"sigma": sigma, "low": float(low), "high": float(high), "value_range": float(high - low),
            "full_range": full_range, "tissue_low": float(tissue_low), "tissue_high": float(tissue_high),
            "absurd_above": limit}


def absurd_limit(sample: np.ndarray) -> float | None:
    """The magnitude above which a float ``sample``'s values are none a scan holds: ``ABSURD`` times the
    90th percentile of its non-zero magnitudes (random bytes read as floats spread over some 600
    orders of magnitude, half of them far above any scan's values); None where all are zero. The
    percentile stands while garbage far above is under a tenth of the non-zero values, and a
    background of tiny non-zero values (a resampled scan's 1e-9 around the head) stays below it."""
    magnitude = np.abs(sample)
    nonzero = magnitude[(magnitude > 0) & np.isfinite(magnitude)]
    return ABSURD * float(np.percentile(nonzero, 90)) if nonzero.size else None


def absurd_values(sample: np.ndarray, limit: float | None) -> np.ndarray | None:
    """Where a float ``sample`` holds values beyond ``limit`` (:func:`absurd_limit`), or infinite (or
    beyond float32); None where it holds none."""
    if limit is None:
        return None
    absurd = ~(np.abs(sample) <= limit)  # (NaN: compared False, and so absurd)
    absurd &= ~np.isnan(sample)  # a NaN is no measurement, not garbage
    return absurd if absurd.any() else None


def percentiles(values: np.ndarray, q: list[float], whole: bool = False) -> np.ndarray:
    """``np.nanpercentile(values, q)``, without its copy and NaN sorting where ``values`` holds no NaN.
    ``whole``: the values are whole numbers within a 16-bit type's range (a sample of an integer scan,
    as float32), whose order statistics are counted instead of partially sorted: NumPy's linear
    interpolation between them then gives the same result to the bit, several times faster."""
    if whole and values.size and values.dtype.kind == "f":
        return _counted_percentiles(values.ravel(), q)
    return np.nanpercentile(values, q) if np.isnan(values).any() else np.percentile(values, q)


def whole_valued(dtype: np.dtype) -> bool:
    """Whether a float32 sample of a scan stored as ``dtype`` holds whole numbers within a 16-bit
    type's range (:func:`percentiles`' ``whole``)."""
    return dtype.kind in "iu" and dtype.itemsize <= 2


def _counted_percentiles(flat: np.ndarray, q: list[float]) -> np.ndarray:
    """``np.percentile(flat, q)`` (method "linear"), its two order statistics per quantile found in a
    histogram of the whole values; the interpolation as NumPy's own (``(n - 1) q`` and its lerp)."""
    n = flat.size
    low = flat.min()
    ends = np.cumsum(np.bincount((flat - low).astype(np.intp)))  # ends[v]: values at most low + v
    quantiles = np.asarray(q, dtype=np.float64) / 100
    at = (n - 1) * quantiles
    gamma = at - np.floor(at)
    before = np.minimum(np.floor(at), n - 1).astype(np.intp)
    after = np.minimum(before + 1, n - 1)
    a = (np.searchsorted(ends, before, side="right") + low).astype(flat.dtype)
    b = (np.searchsorted(ends, after, side="right") + low).astype(flat.dtype)
    step = b - a
    result = np.add(a, step * gamma)
    np.subtract(b, step * (1 - gamma), out=result, where=gamma >= 0.5)
    return result


def sample_slices(not_constant: np.ndarray) -> np.ndarray:
    """Up to about 16 slices with content, spread over the scan: enough for a noise level and ranges."""
    ks = np.nonzero(not_constant)[0]
    return ks[:: max(1, len(ks) // 16)]


def value_range_of_sound(array: np.ndarray, not_constant: np.ndarray, labels: np.ndarray,
                         padding: float | None, limit: float | None) -> float | None:
    """The 0.5..99.5 percentile range of the sampled slices over the voxels not found damaged (nor
    padding, NaN or beyond the ``limit`` of absurd values); None where none is left. Garbage found
    already widens a scan's range: two blocks of random bytes in a 96x96x16 uint16 DWI, 1.2% of its
    voxels, took it from 1,939 to 50,247 and the misplaced blocks' floor with it."""
    ks = sample_slices(not_constant)
    sample = np.asarray(array[:, :, ks]).astype(np.float32)
    keep = labels[:, :, ks] == 0
    if padding is not None:
        keep &= sample != np.float32(padding)
    keep &= np.isfinite(sample) if limit is None else np.abs(sample) <= limit
    sound = sample[keep]
    if sound.size == 0:
        return None
    low, high = percentiles(sound, [0.5, 99.5], whole_valued(array.dtype))
    return float(high - low) if high > low else None


def full_range_of_sound(array: np.ndarray, not_constant: np.ndarray, labels: np.ndarray) -> float:
    """The full range of the sampled slices over the voxels not found damaged."""
    ks = sample_slices(not_constant)
    sound = np.asarray(array[:, :, ks])[labels[:, :, ks] == 0]
    return float(sound.max()) - float(sound.min()) if sound.size else 0.0


def noise_sigma(sample: np.ndarray, median: np.ndarray, padding: float | None = None) -> float:
    """Robust noise level: MAD of the residual to ``median`` (the sample's 3x3 median,
    :func:`median_in_plane`) over the sampled slices (but in and beside a padded scan's ``padding``)."""
    step = max(1, sample.shape[2] // 6)  # a subset of slices is enough for one number
    sample = sample[:, :, ::step]
    residual = np.abs(sample - median[:, :, ::step])
    if padding is not None:
        residual[ndimage.maximum_filter(sample == np.float32(padding), size=(3, 3, 1))] = 0
    moved = residual[residual > 0]  # NaN compares False: left out
    return float(1.4826 * np.median(moved)) if moved.size else 0.0


# the compare-exchanges of a sorting network that leaves the median of nine values in the fifth place
# (Paeth, Graphics Gems, 1990; Devillard's opt_med9)
MEDIAN_OF_NINE = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8),
                  (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def median_in_plane(sample: np.ndarray) -> np.ndarray:
    """``ndimage.median_filter(sample, size=(3, 3, 1))`` (edges reflected), by a sorting network of
    elementwise minima and maxima: the same values, several times faster. A sample with a NaN (whose
    order a network does not keep) goes to SciPy."""
    if sample.dtype.kind != "f" or min(sample.shape[:2]) < 2 or np.isnan(sample).any():
        return ndimage.median_filter(sample, size=(3, 3, 1))
    result = np.empty_like(sample)
    ni, nj, nk = sample.shape

    def planes(part: slice) -> None:
        for k in range(part.start, part.stop):  # a plane at a time: its nine shifted views stay in the cache
            padded = np.pad(sample[:, :, k], 1, mode="symmetric")  # SciPy's "reflect"
            p = [padded[di:di + ni, dj:dj + nj] for di in range(3) for dj in range(3)]
            for a, b in MEDIAN_OF_NINE:
                p[a], p[b] = np.minimum(p[a], p[b]), np.maximum(p[a], p[b])
            result[:, :, k] = p[4]

    slabs.for_each_slab(nk, max(1, -(-nk // max(1, slabs.WORKERS))), planes)
    return result
