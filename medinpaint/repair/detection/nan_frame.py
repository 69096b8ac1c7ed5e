"""A frame of NaN around every slice: a resampler's outside of the field of view, no part of the scan.
NaN equals no fill value, so the detectors would count it as content: a scan's own background of 0
between the frame and the anatomy then passed for packets lost between content (1,536-6,880 voxels in
single slices of ch2, ch2bet, ch2better and mni152 padded with NaN). Detection runs on what lies
inside the frame."""

from __future__ import annotations

import numpy as np

from medinpaint.repair.detection.kinds import Detection


def inside_nan_frame(array: np.ndarray) -> tuple[slice, slice, slice] | None:
    """The in-plane box inside whole lines of NaN from the border inwards, in every slice, on all four
    sides; None where there is no such frame, or nothing inside it. A stream cut short writes its fill
    over the frame's last lines: the frame is broken there, and the scan is judged whole, its tail
    found as before."""
    if array.dtype.kind != "f" or array.ndim != 3:
        return None
    box = []
    for axis in (0, 1):
        n = array.shape[axis]

        def line(index: int, axis: int = axis) -> np.ndarray:
            return array[index] if axis == 0 else array[:, index]

        start, stop = 0, n
        while start < n and np.isnan(line(start)).all():
            start += 1
        while stop > start and np.isnan(line(stop - 1)).all():
            stop -= 1
        if start == 0 or stop == n or stop == start:
            return None
        box.append(slice(start, stop))
    return box[0], box[1], slice(None)


def framed(found: Detection, inner: tuple[slice, slice, slice], shape: tuple[int, ...]) -> Detection:
    """``found`` (detection inside the frame, :func:`inside_nan_frame`) on the whole scan: nothing in the
    frame."""
    labels = np.zeros(shape, dtype=found.labels.dtype, order="F")
    labels[inner] = found.labels
    offset = np.array([inner[0].start, inner[1].start, 0])
    doubtful = {kind: where + offset for kind, where in found.doubtful.items()}
    return Detection(labels, found.details, doubtful)
