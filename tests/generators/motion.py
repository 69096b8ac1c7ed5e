"""Motion between slices: clean scans whose slices moved against their neighbours (the patient moved
between the two passes of an interleaved acquisition, or during one slice). No data is lost, so any
voxel detection labels in them is a false one.

Whole-pixel and sub-pixel translations and small turns, each resampled linearly with the edges held (the
scanner's background) and stored back in the scan's own type.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# (how, amount): "odd" every odd slice translated (rows, columns); "odd-sub" the same by sub-pixel
# amounts; "one" the middle slice alone translated; "turn" every odd slice turned by degrees
MOTIONS = [("odd", (1, 0)), ("odd", (0, 1)), ("odd", (2, 2)), ("odd", (3, 0)), ("odd", (-2, 1)),
           ("odd", (4, 0)), ("odd", (5, -3)), ("odd-sub", (0.5, 0)), ("odd-sub", (1.5, -0.5)),
           ("odd-sub", (3.3, -1.7)), ("one", (1, 0)), ("one", (2, 2)), ("turn", 1.0), ("turn", 3.0)]


def moved(array: np.ndarray, how: str, amount) -> np.ndarray:
    """A copy of ``array`` (``(H, W, D)``, slices last) with slices moved as ``how`` says (see MOTIONS)."""
    out = np.array(array)
    ks = [array.shape[2] // 2] if how == "one" else range(1, array.shape[2], 2)
    for k in ks:
        plane = array[:, :, k].astype(np.float64)
        if how == "turn":
            plane = ndimage.rotate(plane, amount, reshape=False, order=1, mode="nearest")
        else:
            plane = ndimage.shift(plane, amount, order=1, mode="nearest")
        out[:, :, k] = _stored(plane, array.dtype)
    return out


def _stored(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)
