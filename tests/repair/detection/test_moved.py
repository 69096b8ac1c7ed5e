"""Motion between slices is no misplaced block: a clean scan whose slices moved against each other
gives no detection, while a block from elsewhere in a still scan is not taken for motion."""

from __future__ import annotations

import os

import numpy as np
import pytest

from medinpaint.io import read
from medinpaint.repair.detection import detect
from medinpaint.repair.detection.moved import explained_by_motion
from tests.generators.motion import moved
from tests.repair.detection.clean_forms import beyond_known, motion_cases

# what detection still finds on clean scans with motion, each a known open problem (docs/detection.md):
# ch2better holds isolated zero voxels inside the brain, which a slice turned by linear interpolation
# smears into lone low values (bit errors), and a straight-edged cut of its mask whose tile-aligned
# corner the slices beside, turned by 3 degrees, no longer share (lost packets: a hole inside the brain,
# no background at the plane's border, whose move is not looked for)
KNOWN = {
    "ch2better/turn1.0": {"bit-errors": 11},
    "ch2better/turn3.0": {"packet-loss": 64},
}


@pytest.mark.parametrize("part", range(3))
def test_no_detection_on_clean_scans_with_motion_between_slices(part):
    """Every source, with odd slices moved by whole and sub-pixel amounts or turned, or one slice
    moved (1,962 false voxels in 15 of 110 cases before the misplaced-block rule looked for motion; the
    moves of 4-5 pixels gave lost packets until the background beside was moved back)."""
    cases, unexpected, fixed = beyond_known(motion_cases(), KNOWN, (part, 3))
    if cases == 0:
        if os.environ.get("CI"):
            pytest.fail("no data source is available under CI (run `make data`)")
        pytest.skip("no data source is available (run `make data`)")
    assert not unexpected, f"detections on clean scans with motion: {unexpected}"
    assert not fixed, f"no longer detected (take them off KNOWN): {fixed}"


def _planes(array: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    return tuple(array[:, :, n].astype(np.float32) for n in (k - 1, k, k + 1))


def _judge(array: np.ndarray, k: int, rectangle) -> bool:
    before, centre, after = _planes(array, k)
    judged = np.ones(centre.shape, dtype=bool)
    return explained_by_motion(before, centre, after, judged, rectangle, 10.0)


@pytest.fixture(scope="module")
def head(sample_data) -> np.ndarray:
    return np.asarray(read(sample_data / "mr_head.nii.gz").array)


RECTANGLE = (slice(60, 84), slice(70, 100))


@pytest.mark.parametrize("how, amount", [("odd", (2, 2)), ("odd-sub", (1.5, -0.5)), ("turn", 2.0)])
def test_a_piece_of_a_slice_that_moved_is_explained(head, how, amount):
    assert _judge(moved(head, how, amount), 21, RECTANGLE)


def test_a_block_from_elsewhere_is_not_explained_by_motion(head):
    """Copied from 40 rows down and 30 columns left of the slice 6 before: no move of 3 pixels or less
    explains it."""
    stored = np.array(head)
    stored[60:84, 70:100, 20] = head[100:124, 40:70, 14]
    assert not _judge(stored, 20, RECTANGLE)


def test_a_block_rolled_within_reach_in_a_still_slice_is_not_explained_by_motion(head):
    """Its own pixels moved 58 along its raster of 30 columns: two rows down and two columns left but
    for the wrapped columns, a move within reach; but the tissue around it has not moved, and the rule
    finds half of it (as before it looked for motion)."""
    stored = np.array(head)
    block = head[60:84, 70:100, 20]
    stored[60:84, 70:100, 20] = np.roll(block.ravel(), 58).reshape(block.shape)
    assert not _judge(stored, 20, RECTANGLE)


def test_a_block_copied_from_two_pixels_away_in_a_still_slice_stays_found(sample_data):
    """Its own move explains it; the move looked for is the frame's, which has not moved. mr_head's
    middle 24 slices, a 16x34 block of slice 6 taken from 2 rows down and 1 column left: 150 of its 495
    changed voxels were found before the motion test, none while the move was the one that best
    explained the frame and the block together (found by the review), 150 again now."""
    clean = read(sample_data / "mr_head.nii.gz")
    part = np.ascontiguousarray(np.asarray(clean.array)[:, :, 12:36])
    stored = part.copy()
    stored[98:114, 128:162, 6] = part[100:116, 127:161, 6]
    changed = stored != part
    found = detect(clean.with_array(stored)).labels > 0
    assert found[changed].sum() >= 100


def test_a_nan_in_the_frame_leaves_the_motion_test_its_evidence(head):
    """A float scan with a NaN voxel beside a piece of a moved slice: NaN times an interpolation weight
    of 0 is NaN, which had made every ratio NaN and the piece a block (found by the review)."""
    stored = moved(head, "odd", (2, 2)).astype(np.float32)
    stored[58, 75, 21] = np.nan
    before, centre, after = _planes(stored, 21)
    judged = np.isfinite(before) & np.isfinite(centre) & np.isfinite(after)
    assert explained_by_motion(before, centre, after, judged, RECTANGLE, 10.0)
