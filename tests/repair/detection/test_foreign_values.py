"""Short runs of a negative value in a scan that is never negative: lost lines and a stream's tail too
short for the fill rules, in pydicom's 16x16 CT thumbnail (CT5N, stored values 358-1099), where every
lost line is such a run."""

import numpy as np

from medinpaint.io import Volume
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.repair.detection.scans import bench_view, independently_damaged


def _thumbnail():
    clean = bench_view("pydicom-ct5n", volume_view=False)
    assert clean.shape == (16, 16, 1)
    return clean, np.asarray(clean.array)


def test_short_pieces_of_lost_lines_below_the_tissue_are_found():
    """Two pieces of lines (6 and 5 voxels of -1024): lost lines, nothing else."""
    clean, array = _thumbnail()
    damaged = array.copy()
    damaged[0:6, 15] = -1024
    damaged[11:16, 14] = -1024
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
    damaged[0:6, 15] = -1024
    damaged[11:16, 14] = -1024
    damaged[7:9, 5] = -1024
    damaged[8, 6] = -1024
    labels = detect(clean.with_array(damaged)).labels
    assert not (labels == CODE["lost-lines"]).any()


def test_a_value_far_below_the_tissue_but_not_negative_is_left():
    """The same pieces at stored 0, 358 below the tissue: a clean scan holds such values in such runs
    (ch2better's own 0 voxels inside its brain, six in a column), so 0 is no proof."""
    clean, array = _thumbnail()
    damaged = array.copy()
    damaged[0:6, 15] = 0
    damaged[11:16, 14] = 0
    assert not detect(clean.with_array(damaged)).labels.any()


def test_a_short_run_in_a_scan_with_a_nan_slice_is_judged_with_that_slice():
    """A value also held in another shape in a slice that holds NaN (whose lowest is NaN) is still the
    scan's own: the slice is looked at."""
    clean, array = _thumbnail()
    volume = np.concatenate([array, array], axis=2).astype(np.float32)
    volume[0:6, 15, 0] = -1024
    volume[7:9, 5, 1] = -1024
    volume[8, 6, 1] = -1024
    volume[3, 3, 1] = np.nan
    found = detect(Volume(volume, np.eye(4))).labels
    assert not (found == CODE["lost-lines"]).any()


def test_a_negative_fill_beside_a_resamplings_ringing_below_0_is_foreign_everywhere():
    """nibabel's anatomical middle slice (values -136..13,000: a resampling rang two voxels below 0),
    lines of the independent generator at -1024 (seed 241): two lines were found whole, and the pieces
    of two cut mid-line (5 and 7 voxels) left, 13.2 dB. -1024 lies a tenth of a range below the values
    and nothing of the scan's own reaches halfway down to it: foreign, its pieces lost too."""
    clean, _, changed, lost, detection = independently_damaged("nibabel-anatomical", False, "lines", 241,
                                                               fill=-1024)
    assert np.asarray(clean.array).min() < 0 and changed.sum() > 50
    assert (detection.labels[changed] == CODE["lost-lines"]).all()
    assert not detection.labels[~lost].any()
