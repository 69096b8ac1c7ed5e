"""Classical fills a user would try instead of medinpaint, and the ones it is measured against.

Every function takes 2D float images (H, W) with a boolean or 0/1 ``mask`` (True where damaged)
and returns a float32 image of the same shape in which only masked pixels changed. The heavy
optional packages (OpenCV, scikit-image, bm3d: the ``eval`` extra) are imported on use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METHODS = ("telea", "biharmonic", "median", "slice_interpolation")


def _as_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask).astype(bool)
    if mask.shape != shape:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {shape}")
    return mask


def _keep_outside(image: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.asarray(image, dtype=np.float32).copy()
    out[mask] = np.asarray(filled, dtype=np.float32)[mask]
    return out


def telea(image: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    """OpenCV's fast-marching inpainting (Telea 2004).

    The image is mapped to the full uint16 range for OpenCV (its float32 path returns wrong
    values in OpenCV 5) and mapped back; the rounding error is below 1e-4 of the image's range.
    """
    import cv2

    image = np.asarray(image, dtype=np.float32)
    mask = _as_mask(mask, image.shape)
    if not mask.any() or mask.all():
        return image.copy()
    low, high = float(image[~mask].min()), float(image[~mask].max())
    scale = (high - low) / 65535.0 or 1.0
    stored = np.clip(np.rint((image - low) / scale), 0, 65535).astype(np.uint16)
    filled = cv2.inpaint(np.ascontiguousarray(stored), mask.astype(np.uint8), float(radius),
                         cv2.INPAINT_TELEA)
    return _keep_outside(image, filled.astype(np.float32) * scale + low, mask)


def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting: the smoothest surface that matches the hole's rim."""
    from skimage.restoration import inpaint_biharmonic

    image = np.asarray(image, dtype=np.float32)
    mask = _as_mask(mask, image.shape)
    if not mask.any() or mask.all():
        return image.copy()
    filled = inpaint_biharmonic(image.astype(np.float64), mask)
    return _keep_outside(image, filled, mask)


def median(image: np.ndarray, mask: np.ndarray, size: int = 5) -> np.ndarray:
    """Median of the undamaged pixels in a ``size`` x ``size`` window, repeated from the rim inwards."""
    if size < 3 or size % 2 == 0:
        raise ValueError(f"size must be an odd number >= 3, got {size}")
    image = np.asarray(image, dtype=np.float32)
    mask = _as_mask(mask, image.shape)
    out = image.copy()
    missing = mask.copy()
    half = size // 2
    while missing.any() and not missing.all():
        padded = np.pad(np.where(missing, np.nan, out), half, mode="constant", constant_values=np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
        rows, cols = np.nonzero(missing)
        local = windows[rows, cols].reshape(len(rows), -1)
        known = ~np.all(np.isnan(local), axis=1)
        if not known.any():
            break
        out[rows[known], cols[known]] = np.nanmedian(local[known], axis=1)
        missing[rows[known], cols[known]] = False
    return out


def slice_interpolation(stack: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Linear interpolation between the two slices next to the damaged centre of a 2.5D stack.

    Args:
        stack: ``(C, H, W)`` with an odd ``C >= 3``; the centre slice is the damaged one.
        mask: ``(H, W)``, True where the centre slice is damaged.
    """
    stack = np.asarray(stack, dtype=np.float32)
    if stack.ndim != 3 or stack.shape[0] < 3 or stack.shape[0] % 2 == 0:
        raise ValueError(f"stack must be (C, H, W) with an odd C >= 3, got {stack.shape}")
    centre = stack.shape[0] // 2
    mask = _as_mask(mask, stack.shape[1:])
    return _keep_outside(stack[centre], 0.5 * (stack[centre - 1] + stack[centre + 1]), mask)


def interpolate_slices(volume: np.ndarray, lost: Sequence[int], axis: int = 2) -> np.ndarray:
    """Re-create whole lost slices of a volume by linear interpolation along ``axis``.

    Each lost slice is interpolated between the nearest intact slices on either side (copied from
    the one side where the gap touches the volume's edge).
    """
    volume = np.asarray(volume, dtype=np.float32)
    moved = np.moveaxis(volume, axis, 0).copy()
    lost_set = {int(i) % moved.shape[0] for i in lost}
    intact = [i for i in range(moved.shape[0]) if i not in lost_set]
    if not intact:
        raise ValueError("every slice is lost; nothing to interpolate from")
    for i in sorted(lost_set):
        below = max((j for j in intact if j < i), default=None)
        above = min((j for j in intact if j > i), default=None)
        if below is None or above is None:
            moved[i] = moved[above if below is None else below]
        else:
            t = (i - below) / (above - below)
            moved[i] = (1.0 - t) * moved[below] + t * moved[above]
    return np.moveaxis(moved, 0, axis)


def bm3d_denoise(image: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D (Dabov et al. 2007) told the true noise standard deviation ``sigma`` (image units)."""
    import bm3d

    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    image = np.asarray(image, dtype=np.float32)
    return np.asarray(bm3d.bm3d(image, sigma_psd=float(sigma)), dtype=np.float32)
