"""Lost lines in a scan known to have lost lines (the second look of lost_lines.py), on real scans damaged
by the independent generator (tests/generators) as bench_detection_independent.py damages them: the
pieces the whole-line and band rules leave are found, and the clean scans stay clean."""

import numpy as np

from medinpaint.data.sources import available_sources
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.conftest import require_source
from tests.generators.independent import damage
from tests.repair.detection.scans import bench_view


def _lost_lines(name: str, volume_view: bool, fill, seed: int = 0):
    """The view damaged by lost lines at ``fill``: what was changed, what was lost (changed or not), and
    what detection labels lost lines."""
    clean = bench_view(name, volume_view)
    result = damage(np.asarray(clean.array), "lines", np.random.default_rng(seed), fill=fill, on="stored",
                    slope=float(np.ravel(clean.slope)[0]), intercept=float(np.ravel(clean.intercept)[0]))
    found = detect(clean.with_array(np.ascontiguousarray(result.damaged))).labels == CODE["lost-lines"]
    return np.asarray(result.mask, bool), np.asarray(result.lost, bool), found


def test_a_cut_stream_running_on_into_the_next_line_is_found():
    """CT5N (16 x 16): a whole lost line and the two voxels the cut carried on into the next line's start,
    too few for a band of their own."""
    changed, lost, found = _lost_lines("pydicom-ct5n", False, "stored_zero")
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_a_whole_line_of_16_voxels_at_the_new_minimum_makes_it_a_fill_value():
    """CT5N (16 x 16) with one column lost at -1024 (seeds 40 and 41), below the slice's own values: 16
    voxels side by side at the minimum are 15 pairs, and fewer pairs than ``SCAN.min_hole`` had marked
    the minimum as lone bit errors, no fill, so the line went unfound (35-51 dB lost in ten cases)."""
    for seed in (40, 41):
        changed, lost, found = _lost_lines("pydicom-ct5n", False, -1024, seed=seed)
        assert changed.sum() == 16
        assert found[changed].all()
        assert not (found & ~lost).any()


def test_lines_of_minus_1024_through_a_background_of_0_are_found():
    """An EPI slice (0 outside the head) with whole lines at -1024 that lie partly outside the head:
    judged against -1024 alone, the background of 0 beside them is content."""
    changed, lost, found = _lost_lines("nibabel-example4d", False, -1024)
    assert found[changed].mean() > 0.99


def test_lines_of_minus_1024_wholly_in_a_background_of_0_are_found():
    """An EPI slice (0 outside the head) whose lines lost to -1024 lie wholly outside the head: they cut
    no content, but no MR magnitude is negative, and a run of a negative value the scan holds nowhere
    else is lost whatever its shape (whole rows, two rows together and a part of one: none was found)."""
    clean = bench_view("nibabel-example4d", False)
    stored = np.array(clean.array)
    assert not stored[:12].any() and not stored[-8:].any() and stored.min() == 0
    stored[3] = stored[6:8] = -1024
    stored[-3, 20:60] = -1024
    labels = detect(clean.with_array(stored)).labels
    lost = stored == -1024
    assert (labels[lost] == CODE["lost-lines"]).all()
    assert not labels[~lost].any()


def test_pieces_at_the_scan_edge_and_short_segments_are_found_in_a_volume():
    """A 96 x 96 x 16 crop of MNI152: lost lines at the scan's first and last column (content on one
    side only), a 13-voxel segment of one line and cut streams carried into the next line."""
    changed, lost, found = _lost_lines("mni152", True, "minimum")
    assert found[changed].mean() > 0.995
    assert not (found & ~lost).any()


def test_a_run_cut_mid_line_at_the_scan_edge_is_found_in_a_volume():
    """A 96 x 96 x 16 crop of MNI152 (seed 3): three lines lost from a point in the first to a point in
    the third, at the scan's edge: the whole middle line holds too little content beside it until the
    two nearly whole lines join it."""
    changed, lost, found = _lost_lines("mni152", True, "minimum", seed=3)
    assert found[changed].mean() > 0.99
    assert not (found & ~lost).any()


def test_a_short_segment_where_the_next_slice_lost_the_same_lines_is_found():
    """A 96 x 96 x 16 crop of MNI152 (seed 20): a 13-voxel segment of a column in one slice, where the
    next slice lost that column and the one beside it whole: that slice holds no content there, so the
    slice beyond it judges (6.2-8.2 dB lost in four cases of the bench)."""
    changed, lost, found = _lost_lines("mni152", True, "stored_zero", seed=20)
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_lines_lost_whole_in_the_last_slice_where_the_slice_before_lost_most_of_them_are_found():
    """A 96 x 96 x 16 crop of MNI152 (seed 31): three rows lost whole in the last slice, where the slice
    before lost the middle one whole and its neighbours in part (a quarter of content there). In a scan
    known to have lost lines, the slice beyond judges each voxel the slice beside lost too (20.7 dB
    lost in the bench)."""
    changed, lost, found = _lost_lines("mni152", True, "stored_zero", seed=31)
    assert found[changed].mean() > 0.99
    assert found[:, 28:31, 15].all()
    assert not (found & ~lost).any()


def test_a_band_of_zeroed_rows_leaves_the_background_along_the_planes_edge_alone():
    """nibabel's EPI resliced along its first axis (a 96 x 24 x 16 crop: the head reaches the plane's
    first row in some slices, not in others) with a band of four rows zeroed through the head in its
    middle slice: taken for lost lines (it is what they look like), which makes the scan one that lost
    lines. The background along the plane's first row of another slice, content two slices on, is not
    judged past the slice beside there (19 voxels of the review's sat-band volumes were)."""
    require_source("nibabel-example4d")
    volume = next(source for source in available_sources() if source.name == "nibabel-example4d").load()
    stored = np.asarray(volume.array)[..., 0]
    view = np.moveaxis(stored, 0, 2)
    crop = np.ascontiguousarray(view[:, :, view.shape[2] // 2 - 8:view.shape[2] // 2 + 8])
    banded = crop.copy()
    rows = np.nonzero((crop[:, :, 8] > 0).mean(axis=1) > 0.9)[0]
    band = slice(int(rows.mean()), int(rows.mean()) + 4)
    banded[band, :, 8] = 0
    found = detect(volume.with_array(banded)).labels == CODE["lost-lines"]
    assert found[band, :, 8].all()
    assert not found[0].any()


def test_a_stretch_lost_from_the_line_between_two_interleaved_lost_lines_is_found():
    """A 96 x 96 x 16 crop of MNI152 (seed 40): every other row lost whole in one slice, and 24 voxels
    of the row between two of them: no content lies beside that stretch in its plane for a band, but
    it lies between two lines found lost, with content there in the slices on both sides (9.6 dB
    lost in the bench)."""
    changed, lost, found = _lost_lines("mni152", True, "stored_zero", seed=40)
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_a_band_whose_margin_is_the_streams_continuation_is_found():
    """MNI152's middle 16 slices (seed 212, fill 0): in slice 3 row 9 was lost whole, row 8 from its
    second voxel (the stream's continuation, found after the bands) and row 6 from voxel 32 on: row 6's
    margin below was row 7 and the fill of row 8, not yet found, so 64 voxels of it were left (12.8 dB).
    The bands are looked for again once a continuation is found."""
    changed, lost, found = _lost_lines("mni152", True, "stored_zero", seed=212)
    assert found[6, 32:, 3].all()
    assert found[changed].mean() > 0.99
    assert not (found & ~lost).any()


def test_a_long_band_beside_lost_lines_in_a_single_slice_is_found():
    """pydicom's CT_small (one slice; seed 250, fill 0): every other row lost (19-25) and row 26 from
    its third voxel, 64 voxels: a band beside a lost line, whose margin the look at bands in one slice
    did not take (22.8 dB). In a slice known to have lost whole lines, a band of the first look's 16
    voxels with a lost line for its margin is lost; shorter ones stay (a gap in anatomy)."""
    changed, lost, found = _lost_lines("pydicom-ct-small", False, "stored_zero", seed=250)
    assert found[26, 2:66, 0].all()
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_interleaved_lines_across_the_narrow_top_of_a_head_are_found():
    """MNI152's middle slice (seed 2): every other line lost over the top of the head, where the lines
    between them hold 7-29% content: taken once the scan is known to have lost lines."""
    changed, lost, found = _lost_lines("mni152", False, "stored_zero", seed=2)
    assert found[changed].mean() > 0.9
    assert not (found & ~lost).any()


def test_the_views_are_clean_without_damage():
    for name, volume_view in (("pydicom-ct5n", False), ("nibabel-example4d", False), ("mni152", True)):
        assert detect(bench_view(name, volume_view)).counts() == {}, name


def test_a_damaged_template_keeps_its_own_lines_of_0():
    """ch2bet's slices 84-95 (skull-stripped: 0 outside the brain, thin lines of 0 inside it) with lost
    lines at 0: a cut line's stretch of background, and the template's own thin gaps, are not taken
    for lost lines by the looser rules of a scan that lost lines (a voxel or two of background beside
    the brain on a line cut mid-line may go with it: the fill value is the background's)."""
    require_source("ch2bet")
    volume = next(source for source in available_sources() if source.name == "ch2bet").load()
    clean = volume.with_array(np.ascontiguousarray(np.asarray(volume.array)[:, :, 84:96]))
    for seed in (2, 3):
        result = damage(np.asarray(clean.array), "lines", np.random.default_rng(seed), fill="stored_zero")
        found = detect(clean.with_array(np.ascontiguousarray(result.damaged))).labels == CODE["lost-lines"]
        assert found[np.asarray(result.mask, bool)].mean() > 0.94, seed
        assert (found & ~np.asarray(result.lost, bool)).sum() <= 2, seed


def test_every_voxel_of_a_negative_fill_in_a_scan_with_no_negative_value_is_lost():
    """dipy's PIESNO phantom (float, 0 to 0.6) with lines lost to -1024 at seed 1: the shape rules find
    384 of the 399 voxels; a value a range below a scan that holds no negative value is no value of its
    own, so its other 15 voxels (one costs the repair 86 dB) are lost too."""
    changed, lost, found = _lost_lines("dipy-piesno", False, -1024, seed=1)
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_a_negative_fill_that_also_frames_the_slices_is_padding_where_lines_cross_it(nibabel_files):
    """nibabel's anatomical.nii as magnitudes 0..800 in a frame of -1024 six voxels wide around every
    slice, with three lines lost to -1024: the frame is the scan's padding, so only the lines (and the
    36 frame voxels they cross) are labelled, not the frame's 25,800 voxels."""
    from medinpaint.io import read

    volume = read(nibabel_files / "anatomical.nii")
    values = np.clip(np.asarray(volume.array), 0, None).astype(np.float64)
    stored = (values * 800 / values.max()).astype(np.int16)
    framed = np.full((stored.shape[0] + 12, stored.shape[1] + 12, stored.shape[2]), -1024, np.int16)
    framed[6:-6, 6:-6] = stored
    damaged = framed.copy(order="F")
    damaged[20, :, 10] = damaged[21, :, 10] = damaged[:, 25, 14] = -1024
    found = detect(volume.with_array(damaged)).labels > 0
    changed = damaged != framed
    assert found[changed].all()
    assert (found & ~changed).sum() <= 36
