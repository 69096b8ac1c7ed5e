"""Which constants a scan holds in runs are values written over data (lost lines and packets at any
value), and which are the scan's own: a floor with only garbage beyond it, or a plateau of coarsely
quantised tissue."""

from __future__ import annotations

import numpy as np

from medinpaint.repair.detection.slabs import SCAN, runs_of_true

# a constant whose runs end this often on the next value up or down is a plateau of the tissue
PLATEAU_ENDS = 0.5


def garbage_beyond(sample: np.ndarray, value: float) -> bool:
    """Whether ``value`` is the floor or ceiling of an integer ``sample``'s content with only garbage
    beyond it: no two voxels side by side in a row share a value below it (or above it). A block of
    noise over int16's range took cranium's clipped air at -1024 for a value written inside the
    range, and 40% of a slice's air for lost packets; tissue, noisy or clipped, repeats its values."""
    if sample.dtype.kind not in "iu":
        return False
    same = sample[1:] == sample[:-1]
    return not (same & (sample[1:] < value)).any() or not (same & (sample[1:] > value)).any()


def tissue_plateau(sample: np.ndarray, value: float) -> bool:
    """Whether the runs of ``value`` (``SCAN.run`` voxels along either in-plane axis) in a ``sample``
    of whole numbers end mostly (``PLATEAU_ENDS``) on the next value up or down: soft tissue at one
    level of a bone-window export (11 HU a level: runs of 16 and more, the levels beside all
    around), not a value written over data, whose runs cut through content at any value."""
    if sample.dtype.kind == "f":
        finite = sample[np.isfinite(sample)]
        if (finite != np.round(finite)).any():
            return False
    near = ends = 0
    for axis in (0, 1):
        lines = np.moveaxis(sample, axis, 0)
        n = lines.shape[0]
        if n <= SCAN.run:
            continue
        at = lines == value
        run = runs_of_true(at, SCAN.run)  # run[p]: lines p .. p + SCAN.run - 1 hold the value
        # the voxel after a run's last window, and the one before its first
        for end, beside in ((run[:n - SCAN.run] & ~at[SCAN.run:], lines[SCAN.run:]),
                            (run[1:] & ~at[:n - SCAN.run], lines[:n - SCAN.run])):
            step = np.abs(beside[end].astype(np.float64) - value)
            near += int(np.count_nonzero(step <= 1))
            ends += step.size
    return ends > 0 and near >= PLATEAU_ENDS * ends
