"""Corrupted blocks: rectangles of garbage, found whole, also beside flips that stretch the range."""

import numpy as np

from medinpaint.damage.transmission import (
    CorruptBlocks,
)
from medinpaint.io import read
from medinpaint.repair import detect
from tests.repair.detection.scans import (
    damage_copy,
)


def test_a_corrupted_block_is_found_in_a_scan_that_also_carries_bit_errors(pydicom_files):
    """Flipped high bits stretch the scan's full range, against which garbage is judged: the blocks
    are looked for again against the range of what was not found damaged."""
    clean = read(pydicom_files / "CT_small.dcm")
    damaged, block = damage_copy(clean, CorruptBlocks(blocks=[(40, 40, 16, 20)], seed=1))
    stored = damaged.array.copy()
    flips = (np.array([10, 20, 100, 110, 70]), np.array([100, 15, 30, 110, 90]), np.zeros(5, dtype=int))
    stored[flips] ^= np.int16(-32768)  # the sign bit: the full range becomes the whole int16 range
    found = detect(clean.with_array(stored)).labels
    assert (found[block] > 0).mean() >= 0.95
    assert (found[flips] > 0).all()


def test_a_corrupted_block_on_the_plane_border_is_found_whole(pydicom_files):
    """The garbage test's median is mirrored at the plane's border: reflected, the edge column was its
    own median too often, and the column of a block touching the border was trimmed off."""
    clean = read(pydicom_files / "MR_small.dcm")
    damaged, truth = damage_copy(clean, CorruptBlocks(blocks=[(8, 0, 7, 28), (10, 41, 25, 23)],
                                                      seed=890101386))
    found = detect(damaged).labels > 0
    assert found[truth].all()
    assert (found & ~truth).sum() <= 24


def test_the_edges_of_overlapping_blocks_are_not_trimmed_off(pydicom_files):
    """Four overlapping blocks on MR_small: the rectangles trimmed out of their union lose edge rows and
    columns of single blocks; rough voxels beside a block found are taken too (55 -> 25 missed)."""
    clean = read(pydicom_files / "MR_small.dcm")
    blocks = [(15, 42, 24, 14), (1, 11, 20, 29), (26, 33, 17, 29), (4, 33, 16, 18)]
    damaged, truth = damage_copy(clean, CorruptBlocks(blocks=blocks, seed=1013105928))
    visible = truth & (np.abs(damaged.array.astype(float) - clean.array) > 0.02 * np.ptp(clean.array))
    found = detect(damaged).labels > 0
    assert (visible & ~found).sum() <= 0.02 * visible.sum()
