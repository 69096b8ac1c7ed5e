"""Shifted blocks: a rectangle's own pixels moved along the stream, found by rolling them back."""

import numpy as np

from medinpaint.io import read
from medinpaint.repair import detect
from medinpaint.repair.detection.shifted import rolled_back


def _shifted(stored: np.ndarray, at: tuple[int, int, int], h: int, w: int, steps: int):
    """``stored`` with the ``h`` x ``w`` rectangle at ``at`` rolled by ``steps`` along its raster, and
    the rectangle's mask."""
    damaged = np.array(stored)
    i, j, k = at
    damaged[i:i + h, j:j + w, k] = np.roll(stored[i:i + h, j:j + w, k].ravel(), steps).reshape(h, w)
    block = np.zeros(stored.shape, dtype=bool)
    block[i:i + h, j:j + w, k] = True
    return damaged, block


def test_a_shifted_block_the_slices_beside_only_flag_is_rolled_back(sample_data):
    """A 39x15 block of mr_head rolled by 161 pixels (10 rows and 11 columns) misses the slices beside
    too little, against the tissue around it, for the misplaced-block rule: nothing was found. Rolled
    back by those 161 pixels, it is the tissue the slices beside explain."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, block = _shifted(clean.array, (126, 36, 26), 39, 15, 161)
    found = detect(clean.with_array(damaged)).labels > 0
    changed = damaged != clean.array
    assert found[changed].mean() >= 0.99
    assert not (found & ~block).any()


def test_rolled_back_finds_the_bounds_and_leaves_tissue_alone(sample_data):
    """From a rectangle two lines short of the block on two sides (as the slices beside flag it),
    the bounds move out to the block's; the same rectangle of the clean slice, where no roll
    explains anything better, is no shifted block."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, _ = _shifted(clean.array, (60, 70, 20), 24, 30, 377)
    three = np.asarray(damaged[:, :, 19:22], dtype=np.float64)
    assert rolled_back(three, (slice(62, 84), slice(70, 98)), 3.0) == (slice(60, 84), slice(70, 100))
    assert rolled_back(np.asarray(clean.array[:, :, 19:22], dtype=np.float64),
                       (slice(60, 84), slice(70, 100)), 3.0) is None
