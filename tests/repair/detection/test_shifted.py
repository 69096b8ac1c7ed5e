"""Shifted blocks: a block's own pixels moved along the stream, proven by undoing the roll."""

import numpy as np
import pytest

from medinpaint.io import read
from medinpaint.repair import detect
from medinpaint.repair.detection.shifted import beside_costs, roll_costs, shifted_rectangle


def _shifted(clean, blocks):
    """``clean`` with each block (i, j, k, h, w, steps) rolled along its raster stream."""
    stored = np.array(clean.array)
    block = np.zeros(stored.shape, dtype=bool)
    for i, j, k, h, w, steps in blocks:
        stored[i:i + h, j:j + w, k] = np.roll(stored[i:i + h, j:j + w, k].ravel(), steps).reshape(h, w)
        block[i:i + h, j:j + w, k] = True
    return clean.with_array(stored), block & (stored != clean.array), block


def test_every_rolls_gain_is_the_jump_it_removes_from_the_sides():
    """The means come from circular correlations (FFT), all rolls at once; the gain equals the plain
    definition: undo the roll, take the squared jumps across the sides (a corner's pixel on both of
    its sides), as it stands over with the best roll undone; the typical gain the same with medians."""
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(40, 50)).cumsum(0).cumsum(1)
    i0, i1, j0, j1 = 5, 20, 7, 30
    stream = np.roll(plane[i0:i1, j0:j1].ravel(), 123)
    plane[i0:i1, j0:j1] = stream.reshape(i1 - i0, j1 - j0)
    gain, roll, typical = roll_costs(plane, (i0, i1, j0, j1))

    def jumps(k):
        block = np.roll(stream, -k).reshape(i1 - i0, j1 - j0)
        return np.concatenate([block[0] - plane[i0 - 1, j0:j1], block[-1] - plane[i1, j0:j1],
                               block[:, 0] - plane[i0:i1, j0 - 1], block[:, -1] - plane[i0:i1, j1]]) ** 2

    best = min(range(1, stream.size), key=lambda k: np.mean(jumps(k)))
    assert roll == best == 123  # the roll made is the one that fits
    assert gain == pytest.approx(np.mean(jumps(0)) / np.mean(jumps(123)))
    assert typical == pytest.approx(np.median(jumps(0)) / np.median(jumps(123)))


def test_shifted_blocks_in_slices_beside_each_other_are_found(sample_data):
    """A block in the slice beside misses too, so the lines outside a block missed and neither was
    proven (the independent generator's seed 81 put three in ch2's slices 10-12: 2,900 voxels
    unfound). Undoing each one's roll makes it continue the tissue around it."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, changed, block = _shifted(clean, [(60, 70, 20, 24, 30, 37), (70, 80, 21, 26, 34, 400)])
    found = detect(damaged).labels > 0
    assert found[changed].mean() >= 0.99
    assert not (found & ~block).any()


def test_a_block_shifted_by_three_rows_is_found(sample_data):
    """Moved by three rows and two pixels, most of the block still looks like the slices beside
    (inside it misses them under the 4 asked of a block), but its sides are seams a roll undone
    removes. Such a rectangle's sides are looked for a line either way only (they are many more in
    clean scans)."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged, changed, block = _shifted(clean, [(80, 60, 25, 24, 32, 3 * 32 + 2)])
    found = detect(damaged).labels > 0
    assert found[changed].all()
    assert not (found & ~block).any()


@pytest.mark.parametrize("where", ["background", "tissue", "head's edge"])
def test_no_roll_proves_a_rectangle_of_a_clean_slice(sample_data, where):
    """Flat background has no seam to undo; tissue and the head's edge continue across any sides
    as they stand, and no roll does better by the gain asked."""
    array = np.asarray(read(sample_data / "mr_head.nii.gz").array, dtype=np.float64)
    plane = array[:, :, 20]
    flagged = {"background": [2, 30, 2, 40], "tissue": [70, 100, 80, 120],
               "head's edge": [20, 60, 60, 110]}[where]
    bounds = [flagged[0] - 6, flagged[1] + 6, flagged[2] - 6, flagged[3] + 6]
    assert shifted_rectangle(plane, flagged, bounds, (array[:, :, 19], array[:, :, 21]), reach=8) is None


def test_no_line_of_tissue_is_taken_into_a_shifted_block():
    """The independent generator's seed 81 shifts a 27x41 block in slice 11 of ch2better's 96x96x16
    crop. A rectangle reaching two lines past it, into tissue, on two sides fitted a roll by the gain
    asked: 90 voxels of tissue were taken in. A line beyond the flagged rectangle counts only where
    the roll undone brings it nearer the slices beside, as a block's own line comes; tissue goes."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("ch2better", True)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(81))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    assert not (found & ~np.asarray(res.lost, bool))[:, :, 11].any()


def test_a_defaced_head_holds_no_shifted_block(sample_data):
    """The review's clean form: mr_head's 96x48x16 crop along its first axis, defaced by a plane
    stepped every two voxels and filled with the crop's own minimum. A rectangle reaching past a
    flagged one into tissue fitted a roll by the gain asked: 552 voxels were called a block. The
    lines taken in must come nearer the slices beside with the roll undone; tissue does not."""
    from medinpaint.repair.detection.kinds import CORRUPTED_BLOCKS_CODE

    volume = read(sample_data / "mr_head.nii.gz")
    array = np.moveaxis(np.asarray(volume.array), 0, 2)
    middle = tuple(slice(max(0, (n - keep) // 2), max(0, (n - keep) // 2) + min(n, keep))
                   for n, keep in zip(array.shape, (96, 96, 16), strict=True))
    crop = np.ascontiguousarray(array[middle])
    i, _, k = np.meshgrid(*(np.arange(n) for n in crop.shape), indexing="ij")
    head = crop > crop.min() + 0.15 * (np.percentile(crop, 99) - crop.min())
    rows = np.nonzero(head.any(axis=(1, 2)))[0]
    across = ((i // 2) * 2 + 0.5 - (rows[0] + rows[-1] + 1) / 2) + ((k // 2) * 2 + 0.5 - crop.shape[2] / 2)
    defaced = np.where(across > 0.4 * (rows[-1] + 1 - rows[0]) / 2, crop.min(), crop).astype(crop.dtype)
    assert not (detect(volume.with_array(defaced)).labels == CORRUPTED_BLOCKS_CODE).any()


def test_a_block_whose_unexplained_bounds_lie_beyond_the_reach_is_found_at_them():
    """The independent generator's seed 111 shifts a 37x35 block in slice 12 of ch2better's 96x96x16
    crop so far that the rectangle the slices beside prove lies 6 and 11 lines inside its bounds: the
    reach of 8 stopped short of its right edge and 1,271 voxels were unfound. The bounds themselves are
    tried as the block's edges too."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("ch2better", True)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(111))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed = np.asarray(res.mask, bool)
    assert found[38:75, 51:86, 12][changed[38:75, 51:86, 12]].all()
    assert not (found & ~np.asarray(res.lost, bool))[30:83, 43:94, 12].any()  # nothing around it


def test_blocks_whose_unexplained_voxels_reach_only_part_of_them_are_found_by_climbing_sides():
    """The independent generator's seed 102 shifts two blocks of mni152's crop that match the
    tissue they cover over much of themselves: the slices beside flag a 16-line piece of a 45 x 11
    block (slice 7), and 4 lines short of a 26 x 14 one (slice 3, a weak rectangle, searched a line
    out). Each side of the unexplained voxels' bounds climbs to the line that fits a roll best: both
    are found whole (827 voxels unfound before)."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("mni152", True)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(102))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed, lost = np.asarray(res.mask, bool), np.asarray(res.lost, bool)
    for k, rows, columns in ((7, slice(13, 58), slice(25, 36)), (3, slice(38, 64), slice(48, 62))):
        assert found[rows, columns, k][changed[rows, columns, k]].all()
        around = (slice(rows.start - 8, rows.stop + 8), slice(columns.start - 8, columns.stop + 8), k)
        assert not (found & ~lost)[around].any()


def test_a_block_beside_a_found_block_is_judged_by_the_other_slice_and_climbed_in_pairs():
    """The independent generator's seed 120 shifts a 43x41 block of ch2's crop (slice 8, rows 15-58)
    whose slice after holds a block of noise found over its upper rows: only rows 39-58 were flagged,
    the lines above were judged against the noise (their roll undone was no nearer it), and the climb
    from the bounds stopped where its bottom and right sides, each moved alone, fitted worse. The
    found block's voxels are now no evidence (the slice before judges alone there), and two sides
    meeting at a corner move together before the climb goes on (1,732 voxels unfound before)."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("ch2", True)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(120))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed, lost = np.asarray(res.mask, bool), np.asarray(res.lost, bool)
    assert found[15:58, 1:42, 8][changed[15:58, 1:42, 8]].all()
    assert not (found & ~lost)[:, :, 8].any()  # nothing around it


def test_every_rolls_miss_of_the_slices_beside_is_the_plain_sum_and_each_piece_is_judged():
    """The misses of every roll come from circular correlations (FFT), unknown voxels (NaN) left out;
    they equal the plain sums. The pieces are the parts a roll moves alike: a block rolled by 3 rows
    and 5 pixels moves most of itself by (3, 5), its last 5 columns a row further, and its last 3
    rows (and 5 pixels) to its top. A structure that moved between slices fits only where it is one:
    its wrapped pieces do not, and the least piece says so."""
    rng = np.random.default_rng(1)
    beside = rng.normal(size=(40, 50)).cumsum(0).cumsum(1)
    i0, i1, j0, j1 = 5, 25, 7, 31
    h, w = i1 - i0, j1 - j0
    plane = beside + rng.normal(scale=0.1, size=beside.shape)
    roll = 3 * w + 5
    plane[i0:i1, j0:j1] = np.roll(plane[i0:i1, j0:j1].ravel(), roll).reshape(h, w)
    expected = beside.copy()
    expected[i0 + 2, j0:j0 + 4] = np.nan  # unknown: found damaged in a slice beside
    gain, found_roll, least, _ = beside_costs(plane, (i0, i1, j0, j1), expected)
    stream, target = plane[i0:i1, j0:j1].ravel(), expected[i0:i1, j0:j1].ravel()
    known = np.isfinite(target)

    def miss(k):
        return np.sum((np.roll(stream, -k)[known] - target[known]) ** 2)

    assert found_roll == min(range(1, h * w), key=miss) == roll
    assert gain == pytest.approx(miss(0) / miss(roll))
    assert least > 10  # every piece comes back
    # the same rectangle where only the bulk moved, by (3, 5) rows and pixels, its edges from beside
    moved = beside + rng.normal(scale=0.1, size=beside.shape)
    moved[i0 + 3:i1, j0 + 5:j1] = beside[i0:i1 - 3, j0:j1 - 5]
    gain, found_roll, least, _ = beside_costs(moved, (i0, i1, j0, j1), beside)
    assert least <= 1.0


def test_a_shifted_block_in_a_textured_scan_is_proven_by_the_slices_beside():
    """The independent generator's seed 140 shifts a 32x24 block of dipy's b0 crop (slice 4) by 7
    rows and a pixel. The scan's texture jumps across any line as much as across the block's sides:
    undoing the true roll fitted the sides 2.1 times better, a chance roll 14.6 times, and the lines
    taken in came no nearer the slices beside (768 voxels unfound). The slices beside hold what the
    block held: its true roll undone brings it 17 times nearer them, and every piece nearer."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("dipy-s0", True)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(140))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed, lost = np.asarray(res.mask, bool), np.asarray(res.lost, bool)
    assert found[36:68, 52:76, 4][changed[36:68, 52:76, 4]].all()
    assert not (found & ~lost)[:, :, 4].any()


def test_garbage_found_elsewhere_leaves_the_floor_of_a_shifted_block_as_it_was():
    """The independent generator's seed 141 writes two blocks of random bytes into dipy's b0 crop
    (1.2% of its voxels) and shifts a 26x34 block of slice 4. The bytes widened the scan's range 26
    times and the floor of what the slices beside explain with it: the shifted block was explained
    (882 voxels unfound). The floor is taken over the voxels not found damaged."""
    from tests.generators.independent import damage
    from tests.repair.detection.scans import bench_view

    clean = bench_view("dipy-s0", True)
    res = damage(np.asarray(clean.array), "blocks", np.random.default_rng(141))
    found = detect(clean.with_array(np.asarray(res.damaged))).labels > 0
    changed, lost = np.asarray(res.mask, bool), np.asarray(res.lost, bool)
    assert found[44:70, 4:38, 4][changed[44:70, 4:38, 4]].all()
    assert not (found & ~lost).any()


def test_a_slice_warped_smoothly_holds_no_shifted_block():
    """A review's clean case: ch2's middle 128x128x16, its slice 8 alone warped by a smooth bump of
    7.8 pixels (sigma 9.5 pixels). A 30x24 rectangle there came 5.7 times nearer the slices beside
    with a roll of 25 rows undone, every piece 2.2 times: 720 voxels were called a block. A roll
    undone must also take the seams away from its sides; a smooth warp has none, and gains them."""
    from scipy import ndimage

    from medinpaint.data.sources import available_sources

    volume = next(s for s in available_sources() if s.name == "ch2").load()
    array = np.asarray(volume.array)
    c = array.shape[2] // 2
    crop = np.ascontiguousarray(array[array.shape[0] // 2 - 64:array.shape[0] // 2 + 64,
                                      array.shape[1] // 2 - 64:array.shape[1] // 2 + 64, c - 8:c + 8])
    ii, jj = np.mgrid[:128, :128].astype(float)
    bump = 7.8 * np.exp(-((ii - 86) ** 2 + (jj - 45) ** 2) / (2 * 9.5**2))
    angle = np.radians(279)
    warped = crop.copy()
    warped[:, :, 8] = ndimage.map_coordinates(crop[:, :, 8].astype(float),
                                              [ii - np.sin(angle) * bump, jj - np.cos(angle) * bump],
                                              order=1, mode="nearest").round().astype(crop.dtype)
    assert not detect(volume.with_array(warped)).labels.any()
