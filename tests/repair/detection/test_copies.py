"""Copied blocks: a rectangle holding, bit for bit, another place's data, found by its twin."""

import numpy as np

from medinpaint.io import read
from medinpaint.repair import detect
from medinpaint.repair.detection.copies import COPIED_BLOCKS


def _copied(stored: np.ndarray, to: tuple[int, int, int], source: tuple[int, int, int], h: int, w: int):
    """``stored`` with the ``h`` x ``w`` rectangle at ``source`` (row, column, slice) copied to ``to``,
    and the mask of the voxels that changed."""
    damaged = np.array(stored)
    (i, j, k), (si, sj, sk) = to, source
    damaged[i:i + h, j:j + w, k] = stored[si:si + h, sj:sj + w, sk]
    return damaged, damaged != stored


def test_a_copy_within_a_single_slice_is_found_and_not_its_twin(sample_data):
    """One slice alone: no slice beside tells the copy from tissue, but its twin does, and the seams
    around the copy (not around the twin, which is where it belongs) tell which of the two is the
    copy. Nothing was found before."""
    clean = read(sample_data / "mr_head.nii.gz")
    plane = clean.with_array(np.asarray(clean.array)[:, :, 24:25])
    damaged, changed = _copied(plane.array, (50, 60, 0), (110, 100, 0), 21, 27)
    found = detect(plane.with_array(damaged)).labels > 0
    assert found[changed].mean() >= 0.9
    block = np.zeros(found.shape, dtype=bool)
    block[50:71, 60:87] = True
    assert not (found & ~block).any()  # the twin stays


def test_a_copy_the_slices_beside_flag_is_proven_by_its_twin_in_a_large_scan(sample_data):
    """mr_head (1.9 million voxels) is too large to search every patch: the rectangles the slices
    beside flag but cannot prove are searched for. This copy from the slice before misses them as a
    block does, but so does the tissue outside one of its sides: the misplaced-block rule alone left
    it unfound."""
    clean = read(sample_data / "mr_head.nii.gz")
    assert clean.array.size > COPIED_BLOCKS.searched
    damaged, changed = _copied(clean.array, (41, 116, 16), (94, 140, 15), 24, 29)
    found = detect(clean.with_array(damaged)).labels > 0
    assert found[changed].mean() >= 0.9
    block = np.zeros(found.shape, dtype=bool)
    block[41:65, 116:145, 16] = True
    assert not (found & ~block).any()


def test_repeats_on_a_codec_grid_are_no_copy(sample_data):
    """A lossy codec decodes equal coefficients to equal pixels: whole 8x8 blocks of its grid, a whole
    number of blocks apart, repeat in a clean JPEG image. The same rectangle one pixel off that
    grid is a copy."""
    clean = read(sample_data / "mr_head.nii.gz")
    plane = clean.with_array(np.asarray(clean.array)[:, :, 24:25])
    on_grid, _ = _copied(plane.array, (48, 56, 0), (112, 104, 0), 16, 24)
    assert not detect(plane.with_array(on_grid)).labels.any()
    off_grid, changed = _copied(plane.array, (49, 56, 0), (112, 104, 0), 16, 24)
    assert (detect(plane.with_array(off_grid)).labels > 0)[changed].mean() >= 0.9


def test_a_slice_stored_twice_is_no_copy(sample_data):
    """A series that holds one slice twice (a repeated acquisition, a converter's duplicate): every
    patch of it has a twin in the slice beside, and each of the two is explained by its slices
    beside as well as the other, so neither is taken for the copy (with any twin that misses a
    little more taken, the whole slice was)."""
    clean = read(sample_data / "mr_head.nii.gz")
    crop = np.array(np.asarray(clean.array)[40:140, 40:160, 18:30])  # small enough to search whole
    assert crop.size <= COPIED_BLOCKS.searched
    assert not detect(clean.with_array(crop)).labels.any()
    crop[:, :, 6] = crop[:, :, 5]
    assert not detect(clean.with_array(crop)).labels.any()


def test_one_view_shown_twice_under_a_crosshair_is_no_copy(sample_data):
    """A key image or secondary capture may show one slice twice side by side, one view under a
    burned-in crosshair or outline: every patch has a twin, and the annotation's lines give one
    twin seams. A repeat that large in one plane is the image's layout, not a block of the stream
    (17,816 voxels of the annotated view were taken for a copy)."""
    clean = read(sample_data / "mr_head.nii.gz")
    view = np.asarray(clean.array)[:, :, 24]
    crosshair = view.copy()
    crosshair[90, :] = 255
    crosshair[:, 108] = 255
    outline = view.copy()
    outline[60, 50:150] = outline[130, 50:150] = 255
    outline[60:131, 50] = outline[60:131, 149] = 255
    for annotated in (crosshair, outline):
        image = np.ascontiguousarray(np.concatenate([view, annotated], axis=1)[:, :, None])
        assert not detect(clean.with_array(image)).labels.any()


def test_a_copy_into_the_scans_last_slice_is_found_by_its_twin_where_it_belongs(sample_data):
    """The last slice has no slice after it to judge a copy by, and its seams alone miss the 2 asked
    of a copy in one plane; but its twin's slices beside explain the twin (it is where it belongs),
    so the copy needs only seams that stand out of the twin's (here 1.8, three times the twin's, from a
    column over in a slice two before: unfound before). A last slice stored twice is no copy."""
    clean = read(sample_data / "mr_head.nii.gz")
    crop = np.array(np.asarray(clean.array)[40:140, 40:160, 18:30])
    damaged, changed = _copied(crop, (62, 11, 11), (62, 10, 9), 22, 25)
    found = detect(clean.with_array(damaged)).labels > 0
    assert found[changed].mean() >= 0.9
    block = np.zeros(found.shape, dtype=bool)
    block[62:84, 11:36, 11] = True
    assert not (found & ~block).any()
    crop[:, :, 11] = crop[:, :, 10]
    assert not detect(clean.with_array(crop)).labels.any()


def test_background_copied_over_tissue_stays_part_of_the_copy():
    """The independent generator's seed 131 copies a 27x34 block of ch2bet's middle slice, whose last
    columns are the skull-stripped background (0), over tissue. Flat edge lines were trimmed off as
    background over background; in the copy they stop dead at tissue, so they stay, and their seam
    shows the copy (909 voxels were unfound). Flat lines that go on past the rectangle in both
    places are still trimmed."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("ch2bet", False)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(131))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed = np.asarray(res.mask, bool)
    assert found[changed].all() and not (found & ~np.asarray(res.lost, bool)).any()


def test_a_copy_of_a_noisy_volume_is_told_by_its_seams_where_the_slices_beside_explain_neither():
    """The independent generator's seed 132 copies a 36x38 block of nibabel's EPI (96x96x16 crop) from
    slice 4 into slice 12. Its slices differ as much as the copy differs from its place (both miss
    their slices beside by a ratio of 1.0), so the seams judge: 3.7 against the twin's 0.65."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("nibabel-example4d", True)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(132))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed = np.asarray(res.mask, bool)
    assert found[:, :, 12][changed[:, :, 12]].all()
    assert not (found & ~np.asarray(res.lost, bool)).any()


def test_a_copy_over_part_of_its_own_source_is_judged_by_the_sides_away_from_its_twin():
    """The independent generator's seed 131 copies a 27x34 block of nibabel's EPI slice 23 rows down
    and 22 columns right of its source, over part of it. The part of the copy whose twin survived
    ends where that twin begins: the jump there counted for both, and the twin's seams (1.8) stood
    within a third of the copy's (4.9). Judged by the sides away from each other, the copy stands out
    (907 voxels were unfound)."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("nibabel-example4d", False)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(131))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed = np.asarray(res.mask, bool)
    assert found[changed].mean() > 0.8 and not (found & ~np.asarray(res.lost, bool)).any()


def test_background_beside_both_twins_is_trimmed_off_the_copy():
    """The independent generator's seed 112 copies a block of nibabel's EPI (96x96x16 crop) from slice
    4 into slice 7, beside the head's zero background; the equal lines grown in take two rows of that
    background, at both places, whose lines beyond hold background too. They are trimmed off: only
    a flat line walled off by tissue at one place (background copied over tissue) stays."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("nibabel-example4d", True)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(112))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    assert not (found & ~np.asarray(res.lost, bool)).any()


def test_a_copy_into_padding_takes_no_padding_beside_it():
    """dipy's S0 crop padded with 40 columns of 0 either side; a 20x20 block at the right edge of
    slice 5's content copied into slice 9's padding, 3 columns short of the content's straight left
    edge. Those columns are 0 at both places and walled off by tissue at the copy's, but the padding
    goes on past both their ends: the scan's own band, trimmed (a helper's review: 60 voxels)."""
    from tests.repair.detection.scans import bench_view

    volume = bench_view("dipy-s0", True)
    stored = np.pad(np.asarray(volume.array), ((0, 0), (40, 40), (0, 0)))
    damaged = stored.copy()
    damaged[38:58, 17:37, 9] = stored[38:58, 116:136, 5]
    changed = damaged != stored
    labels = detect(volume.with_array(np.ascontiguousarray(damaged))).labels
    from medinpaint.repair.detection import CODE

    blocks = labels == CODE["corrupted-blocks"]
    assert blocks[changed].all() and not blocks[~changed].any()


def test_garbage_found_along_a_copys_side_is_no_measure_of_its_seams():
    """The independent generator's seed 212 in cranium's middle slice: a 36x42 copy of brain over the
    air, whose top line a block of uniform noise then overwrote. The noise (found) made that side's
    jumps and steps alike, and the copy's seams 0.86 against its twin's 0.17: 1,511 voxels unfound
    (7.8 dB). Voxels found damaged are left out of the seams."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("cranium", False)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(212))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed = np.asarray(res.mask, bool)
    assert found[changed].mean() > 0.99 and not (found & ~np.asarray(res.lost, bool)).any()
