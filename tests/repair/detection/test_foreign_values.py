"""Short runs at a value far below a scan's tissue: lost lines and a stream's tail too short for the
fill rules, in pydicom's 16x16 CT thumbnail (CT5N), where every lost line is such a run."""

import numpy as np

from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.repair.detection.scans import bench_view


def _thumbnail():
    clean = bench_view("pydicom-ct5n", volume_view=False)
    assert clean.shape == (16, 16, 1)
    return clean, np.asarray(clean.array)


def test_short_pieces_of_lost_lines_below_the_tissue_are_found():
    """Two pieces of lines (6 and 5 voxels of stored 0, the tissue at 358-1099): lost lines, nothing
    else."""
    clean, array = _thumbnail()
    damaged = array.copy()
    damaged[0:6, 15] = 0
    damaged[11:16, 14] = 0
    labels = detect(clean.with_array(damaged)).labels
    truth = damaged != array
    assert (labels[truth] == CODE["lost-lines"]).all()
    assert not labels[~truth].any()


def test_a_short_tail_below_the_tissue_is_a_cut_stream():
    """The stream's last 5 voxels (first index fastest) at -1024: truncation."""
    clean, array = _thumbnail()
    damaged = array.copy()
    damaged[11:, 15] = -1024
    labels = detect(clean.with_array(damaged)).labels
    assert (labels[11:, 15] == CODE["truncation"]).all()
    assert np.count_nonzero(labels) == 5


def test_a_value_also_held_in_another_shape_is_the_scans_own():
    """The same two pieces, with the value also filling an L of three voxels elsewhere (a shape no lost
    line makes): the value is the scan's own, and the pieces are left."""
    clean, array = _thumbnail()
    damaged = array.copy()
    damaged[0:6, 15] = 0
    damaged[11:16, 14] = 0
    damaged[7:9, 5] = 0
    damaged[8, 6] = 0
    labels = detect(clean.with_array(damaged)).labels
    assert not (labels == CODE["lost-lines"]).any()
