"""Lost scan lines cut from a stream mid-line: a band of fill that wraps from one line's end to the next
line's start, where the lines beside a whole lost line are mostly fill themselves."""

import numpy as np

from medinpaint.io import read
from medinpaint.repair import detect
from tests.repair.detection.scans import independently_damaged

K = 24  # the sample MR head's middle slice, where a cut crosses the head


def cut_across_the_head(array: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample MR head ``array`` (modified) with the stream lost, as 0, in slice ``K`` from 15% along
    row 88 to 80% along row 90; where the cut is (in the slice), and where it changed a value."""
    row, width = 88, array.shape[1]
    cut = np.zeros(array.shape[:2], dtype=bool)
    cut.ravel()[row * width + int(0.15 * width):(row + 2) * width + int(0.8 * width)] = True
    changed = cut & (array[:, :, K] != 0)
    array[:, :, K][cut] = 0
    return array, cut, changed


def test_a_cut_through_a_whole_line_of_a_small_ct_is_found():
    """pydicom's 16 x 16 CT5N with lines lost at seed 202: two runs of the stream, 7 and 30 pixels, from
    the end of row 3 to the start of row 6 with three pixels between them. Row 5 is a whole line of 0,
    but row 4 holds content at only 3 of its 16 pixels, too little beside it for a lost line; the band
    steps a row where each run starts and stops, so it is no straight band either."""
    _, _, changed, lost, detection = independently_damaged("pydicom-ct5n", False, "lines", 202,
                                                           fill="stored_zero")
    found = detection.mask.astype(bool)
    assert changed.sum() == 37
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_a_cut_of_parts_of_two_lines_across_the_plane_is_found():
    """CT5N at seed 211: 24 pixels lost from row 11's fourth pixel to row 12's eleventh. No line is
    whole, but the band holds every place along the rows: it crosses the plane from border to border."""
    _, _, changed, lost, detection = independently_damaged("pydicom-ct5n", False, "lines", 211,
                                                           fill="stored_zero")
    found = detection.mask.astype(bool)
    assert changed.sum() == 24
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_a_cut_across_a_head_with_background_beside_it_is_found(sample_data):
    """The sample MR head (48 slices): in its middle slice the stream lost 575 pixels from 15% along a row
    through the head to 80% along the row two on. The row between is whole, the rows beside it hold
    content for only 15% and 20% of their length; the run wraps through the background beside the
    head, which the cut leaves as it was (0)."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, cut, changed = cut_across_the_head(np.asarray(clean.array).copy())
    found = detect(clean.with_array(damaged)).labels > 0
    assert changed.sum() > 500
    assert found[:, :, K][changed].all()
    assert not found[:, :, K][~cut].any()
    assert not np.delete(found, K, axis=2).any()


def test_a_cut_in_a_float_scan_holding_a_nan_voxel_is_found(sample_data):
    """The same cut in the MR head stored as float with one NaN voxel in a corner: the scan's minimum,
    a fill candidate, is NaN then, and no value stands apart from it (the rule had judged nothing
    content, and found none of the cut)."""
    clean = read(sample_data / "mr_head.nii.gz")
    array = np.asarray(clean.array).astype(np.float32)
    array[0, 0, 0] = np.nan
    damaged, cut, changed = cut_across_the_head(array)
    found = detect(clean.with_array(damaged)).labels[:, :, K] > 0
    assert found[changed].all()
    assert not found[~cut].any()
