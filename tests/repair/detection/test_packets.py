"""Lost packets judged on the independent generator's bursts of tiles (tests/generators), in crops of
the training sources as the detection bench takes them (the middle 96 x 96 x 16 voxels)."""

import numpy as np
import pytest

from medinpaint.data.sources import available_sources
from medinpaint.io import Volume
from medinpaint.repair import detect
from tests.conftest import require_source
from tests.generators.lost import lost_tiles
from tests.repair.detection.scans import bench_view, independently_damaged


def middle_crop(name: str):
    """The middle 96 x 96 x 16 voxels of a training source, in its stored values."""
    return bench_view(name, True)


def lost_tiles_found(volume, fill, tile: int = 32, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Bursts of grid-aligned tiles lost to ``fill`` (the generator's units: stored values): the voxels
    changed, those lost (changed or not), and those detection found."""
    result = lost_tiles(np.asarray(volume.array), np.random.default_rng(seed), tile=tile, aligned=True,
                        fill=fill, on="stored", slope=float(np.ravel(volume.slope)[0]),
                        intercept=float(np.ravel(volume.intercept)[0]))
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels > 0
    return np.asarray(result.mask, bool), np.asarray(result.lost, bool), found


@pytest.mark.parametrize(("source", "fill"), [
    # tiles at the CT's minimum beside one voxel of tissue at stored 0, the other fill value
    ("cranium", "minimum"),
    # tiles at -1024 joined to the background's 0 around the head
    ("nibabel-example4d", -1024),
])
def test_tiles_lost_to_one_fill_beside_another_are_found_whole(source, fill):
    volume = middle_crop(source)
    changed, lost, found = lost_tiles_found(volume, fill)
    assert found[changed].mean() > 0.95
    assert not (found & ~lost).any()


def test_a_burst_along_the_rows_of_tiles_to_the_planes_border_is_found():
    """dipy's PIESNO scan: bursts that run along j to the plane's border and over whole rows of tiles
    at its bottom, whose sides are all lost tiles or the border: their places in the slices beside
    hold tissue."""
    volume = middle_crop("dipy-piesno")
    changed, lost, found = lost_tiles_found(volume, "minimum")
    assert found[changed].mean() > 0.95
    assert not (found & ~lost).any()


def test_a_burst_through_dark_tissue_with_one_straight_side_is_found():
    """ch2better holds 0 inside the head: a burst of 32-pixel tiles joins its dark pockets, so no tile
    has content along two sides; one side of content, and tissue at its place in the slices on both
    sides, tell it."""
    volume = middle_crop("ch2better")
    changed, lost, found = lost_tiles_found(volume, "minimum", seed=5)
    assert found[changed].mean() > 0.95
    assert not (found & ~lost).any()


@pytest.mark.parametrize("source", ["cranium", "nibabel-example4d", "dipy-piesno", "ch2better"])
def test_the_clean_crops_hold_no_lost_packets(source):
    assert detect(middle_crop(source)).counts() == {}


def test_a_burst_of_tiles_off_the_images_grid_is_found_inside_the_head(pydicom_files):
    """A burst of four 8-pixel tiles on a grid that starts 3 and 5 pixels from the image's corner,
    wrapping to the next row of tiles: no rectangle, and a union of tiles on that grid only."""
    from medinpaint.io import read

    clean = read(pydicom_files / "CT_small.dcm")
    damaged = clean.array.copy()
    lost = np.zeros(damaged.shape, dtype=bool)
    lost[51:59, 45:69, 0] = True  # three tiles along the stream ...
    lost[59:67, 45:53, 0] = True  # ... and the first of the next row
    damaged[lost] = damaged.min()
    found = detect(clean.with_array(damaged)).labels > 0
    assert found[lost].all()
    assert not (found & ~lost).any()


def middle_slice(name: str):
    """The middle slice of a training source, whole, in its stored values."""
    from medinpaint.data.sources import SOURCES

    require_source(name)
    volume = SOURCES[name].load()
    k = volume.array.shape[2] // 2
    return volume.with_array(np.ascontiguousarray(np.asarray(volume.array)[:, :, k:k + 1]))


def test_bursts_on_a_grid_off_the_images_corner_are_found_beside_the_background():
    """Cranium's middle slice, bursts of 8-pixel tiles on a grid 2 and 3 pixels off the corner: the
    bursts inside the head give the grid, and on it the tiles of the others that join the air around
    the head are whole tiles with content along two sides (0.23 of them found on the image's grid)."""
    volume = middle_slice("cranium")
    result = lost_tiles(np.asarray(volume.array), np.random.default_rng(0), tile=8, aligned=False,
                        fill="minimum", on="stored", slope=float(np.ravel(volume.slope)[0]),
                        intercept=float(np.ravel(volume.intercept)[0]))
    assert result.info["offset"] == (-2, -3)
    changed, lost = np.asarray(result.mask, bool), np.asarray(result.lost, bool)
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels > 0
    assert found[changed].mean() > 0.75
    assert not (found & ~lost).any()


def test_the_clean_middle_slice_holds_no_lost_packets():
    assert detect(middle_slice("cranium")).counts() == {}


def bench_slice(name: str):
    """The middle slice of a training source, its middle 256 x 256 pixels at most, in its stored
    values (the detection bench's 2D case)."""
    volume = middle_slice(name)
    array = np.asarray(volume.array)
    array = array[..., 0] if array.ndim == 4 else array  # a 4D scan: its first volume
    box = tuple(slice(max(0, (n - 256) // 2), max(0, (n - 256) // 2) + 256) for n in array.shape[:2])
    return volume.with_array(np.ascontiguousarray(array[box]))


@pytest.mark.parametrize(("source", "fill", "recall"), [
    # a burst two rows of tiles high: on the 16-pixel grid its tiles have content above and below only,
    # a gap closed at one end by the 8-pixel tiles found lost (1344 of 1344 voxels)
    ("dipy-s0", "stored_zero", 0.99),
    # a row of tiles from the plane's border, and tiles between lost tiles not found (their own sides
    # hold too little content): gaps that open into whole fill tiles or the border (4249 of 4934)
    ("cranium", "minimum", 0.86),
    # a gap that opens into lost tiles joined to dark pockets (no tile's shape) at one end, into
    # tiles found lost at the other (3937 of 4648)
    ("ch2better", "minimum", 0.84),
])
def test_a_burst_that_leaves_gaps_a_tile_wide_in_a_single_slice_is_found(source, fill, recall):
    """Judged in-plane only, a whole fill tile with content along two opposite sides only is a gap a
    tile wide, which a brain mask's notch also makes (ch2bet's clean slice): it is lost only where no
    fill of the scan's own runs through it. Bursts of 8-pixel tiles (the independent generator, seed
    1, as the detection bench draws them) whose tiles are such gaps are found as before that rule."""
    from tests.generators.independent import damage

    volume = bench_slice(source)
    result = damage(np.asarray(volume.array), "tiles", np.random.default_rng(1), fill=fill, on="stored",
                    slope=float(np.ravel(volume.slope)[0]), intercept=float(np.ravel(volume.intercept)[0]))
    changed, lost = np.asarray(result.mask, bool), np.asarray(result.lost, bool)
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels > 0
    assert found[changed].mean() > recall
    assert not (found & ~lost).any()


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_bursts_of_32_pixel_tiles_on_a_grid_off_the_corner_are_found_on_their_edges_grid(seed):
    """32-pixel tiles on a grid 5-29 pixels off the image's corner, bursts joined to one another and
    to the fill: no region of their own gives the grid, but the straight edges their sides cut into
    the anatomy do (0.26-0.33 of them found on the image's and the regions' grids alone; 0.65-0.74
    without the tiles the plane's border cuts, judged with the plane's edge repeated to whole tiles)."""
    volume = middle_crop("ch2")
    result = lost_tiles(np.asarray(volume.array), np.random.default_rng(seed), tile=32, aligned=False,
                        fill="minimum", on="stored", slope=float(np.ravel(volume.slope)[0]),
                        intercept=float(np.ravel(volume.intercept)[0]))
    changed, lost = np.asarray(result.mask, bool), np.asarray(result.lost, bool)
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels > 0
    assert found[changed].mean() > 0.8
    assert not (found & ~lost).any()


def test_tiles_at_a_negative_value_an_mr_holds_nowhere_else_are_found_whatever_their_grid():
    """An EPI (magnitudes, 0 outside the head) with bursts of 32-pixel tiles off the image's corner at
    -1024 (a stored 0 rescaled): no MR value is negative, so any region of it is lost."""
    volume = middle_crop("nibabel-example4d")
    result = lost_tiles(np.asarray(volume.array), np.random.default_rng(3), tile=32, aligned=False,
                        fill=-1024, on="stored", slope=float(np.ravel(volume.slope)[0]),
                        intercept=float(np.ravel(volume.intercept)[0]))
    changed, lost = np.asarray(result.mask, bool), np.asarray(result.lost, bool)
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels > 0
    assert found[changed].mean() > 0.95  # (0.33 before this rule)
    assert not (found & ~lost).any()


def test_a_negative_fill_is_foreign_beside_a_few_negative_voxels_of_the_scans_own():
    """nibabel's anatomical slice (33x41, magnitudes to 12,675) holds two voxels a resampling rang below 0
    (-136, -120); a burst of 4-pixel tiles lost at -1024 (seed 81) runs off both sides of the plane,
    where a single slice's border rectangles are as likely its own. Two voxels make no population of
    negatives: -1024 is still no value of the scan's own, and every region of it is lost (116 voxels,
    22 dB, none found before)."""
    clean, _, changed, lost, detection = independently_damaged("nibabel-anatomical", False, "tiles", 81,
                                                               fill=-1024)
    assert (np.asarray(clean.array) < 0).sum() == 2
    found = detection.mask.astype(bool)
    assert changed.sum() == 116 and found[changed].all()
    assert not (found & ~lost).any()


def test_a_negative_fill_is_foreign_beside_a_resamplings_ringing_of_a_few_per_mille():
    """nipy's anatomical middle 33 x 41 x 16 holds 19 voxels a resampling rang below 0 (-29 to -610), three
    more than a hole: as a count, a population of negatives, and -1024 had been taken as a value of the
    scan's own. 19 of 21,648 voxels are no population; the tiles lost at -1024 (seed 171), two of them
    rectangles at the plane's corner that no shape rule proves, are lost (1,542 of 1,882 found before)."""
    clean, _, changed, lost, detection = independently_damaged("nipy-anatomical", True, "tiles", 171,
                                                               fill=-1024)
    assert (np.asarray(clean.array) < 0).sum() == 19
    found = detection.mask.astype(bool)
    assert changed.sum() == 1882 and found[changed].all()
    assert not (found & ~lost).any()


def test_a_rectangle_cut_into_one_side_of_a_single_slice_is_found():
    """nipy's anatomical middle slice (33 x 41, all head) with a 9 x 16 rectangle lost at stored 0 (seed
    150) against its top border: content along its three other sides, cut straight, where the scan's
    own background curves or runs along a whole edge (none of it was found)."""
    _, _, changed, lost, detection = independently_damaged("nipy-anatomical", False, "tiles", 150, fill=0)
    found = detection.mask.astype(bool)
    assert changed.sum() == 144 and found[changed].all()
    assert not (found & ~lost).any()


def test_a_box_at_a_corner_along_a_whole_side_or_in_both_of_two_slices_is_no_cut():
    """ch2's middle slice cropped inside the head (96 x 96, no 0 in it) with a 12 x 32 box of 0 at a
    corner, along a whole side, or against one side in both slices of a two-slice scan: the first two
    are shapes a scan's own background and a smaller field of view take, and a box the other slice
    holds too is the scan's own (the review's two-slice box: 768 voxels)."""
    from tests.repair.detection.clean_forms import middle

    require_source("ch2")
    volume = next(source for source in available_sources() if source.name == "ch2").load()
    stored = np.asarray(volume.array)
    crop = stored[middle(stored.shape[0], 96), middle(stored.shape[1], 96), 90:92].copy()
    assert crop.min() > 0
    corner, whole, both = crop[:, :, :1].copy(), crop[:, :, :1].copy(), crop.copy()
    corner[:12, :32] = whole[:12, :] = both[:12, 30:62] = 0
    for boxed in (corner, whole, both):
        assert detect(volume.with_array(np.asfortranarray(boxed))).counts() == {}
    one = both[:, :, :1].copy()  # (the same box in a single slice is a cut: nothing tells them apart)
    assert detect(volume.with_array(np.asfortranarray(one))).counts() == {"packet-loss": 384}


def test_a_box_one_small_tile_high_cut_into_one_side_is_found():
    """ch2's cropped slice (no 0 in it) alone, with boxes of 0 one 4-pixel tile high cut into it from
    one side: 4 x 8 and 4 x 16 (two and four tiles) are a burst cut straight into the anatomy, as the
    8-pixel boxes are; a lone 4 x 4 square is left alone (pydicom's NM bone scan holds one of its own),
    and so is a 4 x 32 box at a corner (a blanked annotation's shape)."""
    from tests.repair.detection.clean_forms import middle

    require_source("ch2")
    volume = next(source for source in available_sources() if source.name == "ch2").load()
    stored = np.asarray(volume.array)
    plane = stored[middle(stored.shape[0], 96), middle(stored.shape[1], 96), 90:91].copy()
    assert plane.min() > 0
    plane[40:44, :8] = plane[60:64, :16] = plane[20:24, -4:] = plane[:4, :32] = 0
    found = detect(volume.with_array(np.asfortranarray(plane))).labels[:, :, 0] > 0
    assert found[40:44, :8].all() and found[60:64, :16].all()
    assert found.sum() == 4 * 8 + 4 * 16


@pytest.mark.parametrize("source, seed, fill, least", [("pydicom-ct5n", 213, "stored_zero", 32),
                                                       ("nibabel-anatomical", 213, "stored_zero", 96)])
def test_small_tiles_cut_into_one_side_of_a_small_slice_are_found(source, seed, fill, least):
    """The independent generator's 4-pixel tiles in small single slices: pydicom's 16 x 16 CT (a 4 x 8
    box of -1024 HU from its right side, 38 dB lost to detection) and nibabel's 33 x 41 MR (boxes of 0
    of 4 x 8 and 4 x 16 from its left side, 0 of 116 voxels found): each is cut straight into the
    anatomy from one side."""
    require_source(source)
    _, _, changed, lost, detection = independently_damaged(source, False, "tiles", seed, fill=fill)
    found = detection.mask.astype(bool)
    assert found[changed].sum() >= least
    assert not (found & ~lost).any()


def test_a_burst_off_the_grid_is_found_to_its_rims_and_along_the_plane_border():
    """The MNI template with the independent generator's bursts of 32-pixel tiles on a grid 26 and 24
    pixels off the image's corner (seed 3): the tiles found as their 8-pixel cells leave rims of 2 and 6
    rows, grown into now; one burst covers the whole last row of tiles, a band at the plane's border
    with no corner, found as a rectangle cut straight into the anatomy with tissue at its place in the
    slices on both sides."""
    from tests.generators.independent import damage

    volume = middle_crop("mni152")
    result = damage(np.asarray(volume.array), "tiles", np.random.default_rng(3), fill="stored_zero",
                    on="stored", slope=float(np.ravel(volume.slope)[0]),
                    intercept=float(np.ravel(volume.intercept)[0]))
    assert result.info["tile"] == 32 and not result.info["aligned"]
    changed, lost = np.asarray(result.mask, bool), np.asarray(result.lost, bool)
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels > 0
    assert found[changed].mean() > 0.99  # 0.79 with neither rule
    assert not (found & ~lost).any()


@pytest.mark.parametrize("source", ["ch2", "cranium", "dipy-s0"])
def test_bursts_of_4_pixel_tiles_with_tissue_across_the_slices_are_found(source):
    """Tiles of 4 pixels, on a grid off the image's corner, in bursts along j (rows of tiles a step
    apart), are too small for the in-plane rules: a 4 x 32 row of them and a 4 x 12 rectangle inside the
    head had passed unfound (the independent generator's seed 11: 0 of 11,806 voxels in ch2's crop). Their
    places hold tissue in the slices on both sides; the second burst lies in two slices in a row at the
    same place, each judged past the other. The clean crop gives nothing."""
    volume = middle_crop(source)
    stored = np.asarray(volume.array)
    fill = stored.min()
    damaged = stored.copy()
    lost = np.zeros(stored.shape, dtype=bool)
    lost[41:45, 23:55, 7] = True  # a row of eight tiles, on a grid offset by (1, 3)
    lost[45:49, 15:31, 7] = True  # the burst's next row of tiles, a step back along j
    lost[61:65, 35:47, 5:7] = True  # three tiles, lost in two slices in a row
    damaged[lost] = fill
    changed = damaged != stored
    assert changed.sum() > 0.9 * lost.sum()
    found = detect(volume.with_array(damaged)).labels
    assert (found[changed] > 0).all()
    assert not (found[~lost] > 0).any()
    assert detect(volume).counts() == {}


@pytest.mark.parametrize(("source", "fill"), [("ch2", 0), ("cranium", -1024)])
def test_a_burst_of_4_pixel_tiles_inside_a_single_slice_is_found(source, fill):
    """A single slice has no slices beside: a burst of 4-pixel tiles (two rows of tiles a step apart, on
    a grid off the image's corner) is lost where it lies inside the plane and its surroundings stand out
    from the fill; the same burst had passed unfound. The clean slice gives nothing."""
    volume = middle_crop(source)
    plane = volume.with_array(np.ascontiguousarray(np.asarray(volume.array)[:, :, 4:5]))
    stored = np.asarray(plane.array)
    damaged = stored.copy()
    lost = np.zeros(stored.shape, dtype=bool)
    lost[41:45, 23:55, 0] = True
    lost[45:49, 15:31, 0] = True
    damaged[lost] = fill
    found = detect(plane.with_array(damaged)).labels
    assert (found[lost] > 0).all()
    assert not (found[~lost] > 0).any()
    assert detect(plane).counts() == {}


def test_fill_through_three_slices_or_at_a_single_slices_corner_is_no_lost_tile():
    """What the 4-pixel rule must leave alone (review of its first version): a channel of fill through
    all three slices of a 3-slice scan (its middle slice had no slice two on either side, and passed
    for lost), and in a single slice a fill rectangle at the plane's corner (a field of view's edge, a
    blanked annotation), which is no burst inside the plane."""
    volume = middle_crop("ch2")
    stored = np.ascontiguousarray(np.asarray(volume.array)[:, :, 6:9])
    channel = stored.copy()
    channel[40:44, 20:28, :] = 0
    assert detect(volume.with_array(channel)).counts() == {}
    corner = stored[:, :, 1:2].copy()
    corner[:6, :10, 0] = 0
    assert detect(volume.with_array(corner)).counts() == {}


def test_a_burst_in_a_float_slice_is_found_beside_a_voxel_with_no_measurement():
    """A NaN among the voxels around a burst of 4-pixel tiles in a float slice made their median NaN
    and the burst passed unfound."""
    volume = middle_crop("ch2")
    plane = np.asarray(volume.array)[:, :, 8:9].astype(np.float32)
    lost = np.zeros(plane.shape, dtype=bool)
    lost[41:45, 23:55, 0] = True
    damaged = plane.copy()
    damaged[lost] = 0
    damaged[40, 30, 0] = np.nan
    found = detect(Volume(damaged, np.eye(4))).labels
    assert (found[lost] > 0).all()


def test_a_burst_of_4_pixel_tiles_at_a_single_slices_border_is_found():
    """A single slice of ch2's crop: two rows of 4-pixel tiles a step apart, reaching the plane's left
    border (as the independent generator's bursts in pydicom's 64x64 MR slice did, unfound). A rectangle
    there may be the image's own; a burst's steps of tiles are not."""
    volume = middle_crop("ch2")
    plane = volume.with_array(np.ascontiguousarray(np.asarray(volume.array)[:, :, 8:9]))
    damaged = np.asarray(plane.array).copy()
    lost = np.zeros(damaged.shape, dtype=bool)
    lost[27:31, 0:18, 0] = True
    lost[31:35, 10:22, 0] = True
    damaged[lost] = 0
    found = detect(plane.with_array(damaged)).labels
    assert (found[lost] > 0).all()
    assert not (found[~lost] > 0).any()


def test_bursts_of_4_pixel_tiles_that_run_into_the_background_are_found():
    """A burst of 4-pixel tiles that runs from tissue into the slice's own background joins the
    background's fill: the region is no union of tiles, and had passed unfound (the independent
    generator's seed 11 left 2,820 of 10,718 voxels of ch2better's crop so). What content holds across
    the slices is whole tiles once the background counts as spare, and tissue lies around most of it."""
    volume = middle_crop("ch2better")
    stored = np.asarray(volume.array)
    damaged = stored.copy()
    lost = np.zeros(stored.shape, dtype=bool)
    lost[59:63, 10:42, 7] = True  # a row of eight tiles on a grid offset by (3, 2), from the dark gap
    lost[63:67, 10:26, 7] = True  # the burst's next row of tiles
    lost[35:39, 18:46, 9] = True  # seven tiles from the background beside the head into it
    damaged[lost] = 0
    changed = damaged != stored
    assert changed.sum() > 0.6 * lost.sum()
    found = detect(volume.with_array(damaged)).labels
    # (all but the tissue at the background's edge whose place in a slice beside is background)
    assert (found[changed] > 0).mean() > 0.95
    assert not (found[~lost] > 0).any()
    assert detect(volume).counts() == {}


def independent_tiles_found(name: str, seed: int) -> tuple[np.ndarray, ...]:
    """The middle crop of ``name`` with the independent generator's tiles at ``seed`` (fill: the scan's
    minimum): the voxels changed, those lost (changed or not), and those detection found."""
    from tests.generators.independent import damage

    volume = middle_crop(name)
    result = damage(np.asarray(volume.array), "tiles", np.random.default_rng(seed), fill="minimum",
                    on="stored", slope=float(np.ravel(volume.slope)[0]),
                    intercept=float(np.ravel(volume.intercept)[0]), padding=None)
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels > 0
    return np.asarray(result.mask, bool), np.asarray(result.lost, bool), found


def test_a_small_plane_lost_but_for_a_corner_is_found_on_the_grid_its_cut_gives():
    """nibabel's 33 x 41 planes, all of a slice but a 4 x 10 corner lost to the tiles of a 32-pixel grid
    off the corner (the independent generator's seed 2: 1,313 of 2,212 voxels unfound, 18.1 dB lost):
    content lies around it, but its own sides are the plane's border, on no grid of its tiles. The
    lines where the corner's content meets it straight along a tile give the grid."""
    volume = middle_crop("nibabel-anatomical")
    stored = np.asarray(volume.array)
    lost = np.zeros(stored.shape, dtype=bool)
    lost[:, :, 1] = True
    lost[0:4, 0:10, 1] = False
    damaged = stored.copy()
    damaged[lost] = -1024
    changed = damaged != stored
    found = detect(volume.with_array(damaged)).labels > 0
    assert found[changed].mean() > 0.95
    assert not (found & ~lost).any()


def test_a_burst_across_the_head_between_two_cuts_is_found_and_a_smaller_field_of_view_is_not():
    """example4d's crop, a burst of 32-pixel tiles lost across most of a slice (the independent
    generator's seed 22: 4,375 voxels unfound, 18.6 dB): it joins the background, so content lies
    around too little of it, but its top and left sides are straight cuts, each on the region's side of
    the other. A field of view smaller in one slice of ch2better's crop cuts along two such lines too,
    but with the content between them: no finding (4,667 voxels without the sides' test)."""
    volume = middle_crop("nibabel-example4d")
    stored = np.asarray(volume.array)
    lost = np.zeros(stored.shape, dtype=bool)
    lost[21:53, 7:, 8] = True
    lost[53:85, :, 8] = True
    damaged = stored.copy()
    damaged[lost] = stored.min()
    changed = damaged != stored
    found = detect(volume.with_array(damaged)).labels > 0
    assert found[changed].mean() > 0.95
    assert not (found & ~lost).any()

    volume = middle_crop("ch2better")
    stored = np.asarray(volume.array)
    smaller = stored.copy()
    smaller[61:, :, 8] = stored.min()
    smaller[:, 65:, 8] = stored.min()
    assert (smaller != stored).sum() > 4000
    assert not detect(volume.with_array(smaller)).labels.any()


def test_cuts_enclose_a_region_only_each_on_the_others_region_side():
    """Two facing cuts, or two meeting in a corner the region fills, enclose it; the cuts of a smaller
    field of view (content between them) or one cut alone do not."""
    from medinpaint.repair.detection.small_tiles import cut_runs, encloses

    def judged(region_box, content_box):
        region = np.zeros((40, 40), dtype=bool)
        region[region_box] = True
        content = np.zeros_like(region)
        content[content_box] = True
        return encloses(cut_runs(region, content & ~region, 8))

    band = (slice(10, 20), slice(0, 40))
    assert judged(band, (slice(0, 40), slice(0, 40)))  # content above and below: two facing cuts
    assert not judged(band, (slice(20, 40), slice(0, 40)))  # content below only: one cut
    assert judged((slice(10, 40), slice(10, 40)), (slice(0, 40), slice(0, 40)))  # a corner it fills
    # a frame around a smaller field of view: every cut faces the content inside
    frame = np.ones((40, 40), dtype=bool)
    frame[10:30, 10:30] = False
    assert not encloses(cut_runs(frame, ~frame, 8))


def test_a_pocket_of_background_beyond_the_cuts_is_left_and_the_burst_taken():
    """ch2better's crop, the independent generator's seed 20: a burst of 32-pixel tiles held between
    two facing cuts joins a pocket of the slice's own background beyond a third cut, and the whole is
    no union of tiles (1,797 voxels unfound, 21.8 dB). Within its cuts it is."""
    changed, lost, found = independent_tiles_found("ch2better", 20)
    assert found[:, :, 7][changed[:, :, 7]].mean() > 0.95
    assert not (found & ~lost).any()


def test_a_burst_joined_by_a_few_voxels_of_the_anatomys_rim_is_found_and_the_rim_left():
    """ch2better's crop, the independent generator's seed 42: a burst of 4-pixel tiles across a slice
    joins its own background at the rim of the anatomy, where the slices beside hold content: four
    voxels of that rim sit outside the burst's whole tiles, so the region is no union of tiles (230
    voxels unfound in that slice, 1,998 in the crop, 19.4 dB). Its tiles are taken, the rim is not (nor
    the few voxels of a tile that lies mostly over the background)."""
    changed, lost, found = independent_tiles_found("ch2better", 42)
    assert found[36:44, 29:68, 13][changed[36:44, 29:68, 13]].mean() > 0.95
    assert not (found & ~lost).any()


def test_the_rim_in_a_cell_of_background_beside_a_burst_with_strays_is_left():
    """nibabel's EPI crop, the independent generator's seed 30: a burst of 4-pixel tiles along the head's
    rim in the scan's last slice, with strays; two voxels of the rim that the slice before holds lie in a
    cell of the grid that the background fills but for them. Only cells the burst fills half of at
    least are taken beside strays."""
    changed, lost, found = independent_tiles_found("nibabel-example4d", 30)
    assert found[changed].mean() > 0.8
    assert not (found & ~lost).any()


def test_a_smaller_field_of_view_along_the_planes_border_is_no_burst_with_strays():
    """MNI152 resliced along its first axis (a 96 x 96 x 16 crop) whose middle slice lost its first 12
    rows to a smaller field of view: a band of fill along the plane's border, ragged where the head's
    own background meets it, that the slices beside hold content across. Its strays would make it 4-pixel
    tiles (the review's three such clean volumes: 1,114 to 1,152 voxels each); along the border they do
    not."""
    require_source("mni152")
    volume = next(source for source in available_sources() if source.name == "mni152").load()
    view = np.moveaxis(np.asarray(volume.array), 0, 2)
    crop = np.ascontiguousarray(view[tuple(slice((n - keep) // 2, (n - keep) // 2 + keep)
                                           for n, keep in zip(view.shape, (96, 96, 16), strict=True))])
    smaller = crop.copy()
    smaller[:12, :, 8] = 0
    assert detect(volume.with_array(crop)).counts() == {}
    assert detect(volume.with_array(smaller)).counts() == {}


def test_within_cuts_reaches_along_each_cut_line_as_far_as_its_runs():
    """Beyond a cut line, only the stretch its runs span is cut away: a pocket between two runs of one
    straight side goes, a burst's step beyond a shorter cut stays."""
    from medinpaint.repair.detection.small_tiles import within_cuts

    step = within_cuts([(1, 1, 8, 20, 51)], (96, 96))  # content left of column 8, rows 20-51
    assert not step[20:52, :8].any() and step[52:, :8].all() and step[:20, :8].all()
    side = within_cuts([(1, -1, 78, 3, 15), (1, -1, 78, 22, 34)], (96, 96))  # two runs, one side
    assert not side[3:35, 79:].any() and side[35:, 79:].all() and side[:, :79].all()


@pytest.mark.parametrize("found_around", [False, True])
def test_only_content_not_damage_found_makes_a_cut(found_around):
    """A square of fill over background, content above and left of it: two cuts meeting in a corner it
    fills, so it is lost. Where that L is damage found instead (the frame of a smaller field of view,
    found lost, around its corner: the review's 138 such volumes gave 34,750 voxels more), no cut."""
    from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
    from medinpaint.repair.detection.small_tiles import tiles_over_background

    holes = np.ones((64, 64), dtype=bool)
    labels = np.zeros((64, 64), dtype=np.uint8)
    around = np.zeros_like(holes)
    around[:16, :40] = True
    around[:40, :16] = True
    holes[around] = False  # content, or damage found (no hole left to look at)
    if found_around:
        labels[around] = PACKET_LOSS_CODE
    square = np.zeros_like(holes)
    square[16:40, 16:40] = True
    tiles_over_background(holes, square, (np.array([20]), np.array([20])), labels, np.ones_like(holes), True)
    lost = labels[square] == PACKET_LOSS_CODE
    assert not lost.any() if found_around else lost.all()


def test_a_cut_in_the_scans_last_slice_gives_no_grid():
    """In the scan's last slice only the slice before judges, and the anatomy may end there: the
    background a burst's tiles joined, where the slice before still holds the head, is no part of a
    tile on the grid a cut would give (ch2better's crop, the independent generator's seed 22: 14 false
    voxels beside a burst of 32-pixel tiles)."""
    changed, lost, found = independent_tiles_found("ch2better", 22)
    assert found[changed].mean() > 0.8
    assert not (found & ~lost).any()


def test_what_a_crop_left_of_4_pixel_tiles_at_the_planes_border_is_found():
    """A crop cuts a tile of a grid off its corner to a strip one to three pixels thick at the plane's
    border: under the size of any tile rule, and the largest share of the volumes' dB lost to tiles at
    the independent generator's seed 11 (156 voxels of ch2's crop, 8.8 dB). An exact fill rectangle there,
    two or three pixels thick and whole tiles long along the border, with content along the lines outside
    it and across the slices, is lost; the clean crop gives nothing."""
    volume = middle_crop("ch2")
    stored = np.asarray(volume.array)
    damaged = stored.copy()
    lost = np.zeros(stored.shape, dtype=bool)
    lost[79:83, 0:2, 3] = True  # a 4x4 tile cut to two columns at the left border
    lost[94:96, 46:54, 4] = True  # two tiles cut to two rows at the bottom
    lost[75:79, 93:96, 9] = True  # three columns at the right border
    damaged[lost] = 0
    changed = damaged != stored
    assert changed.sum() == lost.sum()
    found = detect(volume.with_array(damaged)).labels
    assert (found[lost] > 0).all()
    assert not (found[~lost] > 0).any()
    assert detect(volume).counts() == {}


def test_a_tile_remnant_one_row_thick_is_found_where_four_tiles_long():
    """A crop that cuts a grid a row off leaves the burst's tiles one row thick at the border (cranium
    at the generator's seed 211: 32 and 24 voxels along row 0, 12.8 dB lost). Such a line four tiles long
    at least, with content along it and across the slices, is lost; two tiles long it is what a lossy
    codec's or a threshold's edge leaves there (runs of fill 4 or 8 pixels long), and stays."""
    volume = middle_crop("ch2")
    stored = np.asarray(volume.array)
    damaged = stored.copy()
    lost = np.zeros(stored.shape, dtype=bool)
    lost[0, 24:40, 5] = True  # four tiles along the top border
    lost[95, 60:80, 10] = True  # five along the bottom
    short = (slice(40, 48), 0, 7)  # two along the left border
    damaged[lost] = 0
    damaged[short] = 0
    assert (damaged != stored).sum() == lost.sum() + 8
    found = detect(volume.with_array(damaged)).labels > 0
    assert found[lost].all()
    assert not found[~lost].any()


def _stored_part(name: str, axis: int, box: tuple[slice, ...]) -> tuple[np.ndarray, object]:
    from medinpaint.data.sources import available_sources

    require_source(name)
    volume = next(source for source in available_sources() if source.name == name).load()
    stored = np.asarray(volume.array)
    return np.ascontiguousarray(np.moveaxis(stored, axis, 2)[box]), volume


@pytest.mark.parametrize(("name", "axis", "box", "how", "amount"), [
    # a channel of background 4 pixels wide beside a strip of tissue, fill in the slice before too
    ("ch2bet", 0, (slice(0, 217), slice(0, 181), slice(73, 89)), "odd", (-3, -3)),
    # a scan of three slices whose middle one moved: no slice two away to tell
    ("ch2bet", 2, (slice(0, 181), slice(0, 217), slice(49, 52)), "one", (4, 0)),
    # the border's edge value held by the move: a strip 3 pixels thick at the border
    ("cranium", 2, (slice(26, 122), slice(93, 189), slice(9, 25)), "odd", (7, 2)),
    ("ch2bet", 0, (slice(72, 168), slice(44, 140), slice(98, 114)), "odd", (7, 2)),
])
def test_fill_that_motion_leaves_is_no_small_tile(name, axis, box, how, amount):
    """What the review of the 4-pixel rules over the background and at the border found in clean scans
    with motion between slices, outside the motion corpus's crops (each gave 8-136 packet voxels): the
    region must lie on content in both slices beside, not recur two slices away, and a strip at the
    border must stand out from the fill."""
    from tests.generators.motion import moved

    part, volume = _stored_part(name, axis, box)
    array = np.asfortranarray(moved(part, how, amount))
    clean = Volume(array, np.eye(4), float(np.ravel(volume.slope)[0]), float(np.ravel(volume.intercept)[0]),
                   meta={"format": "nifti", "modality": volume.modality})
    assert detect(clean).counts() == {}


def test_the_clipped_air_of_a_ct_crop_is_no_tile_at_the_border():
    """A 4x2 run of -1024 in cranium's clipped air, cut by the crop's edge into a strip 2 pixels thick
    (the review: 8 packet voxels). Air stands within the contrast of the fill: no strip of a tile."""
    part, volume = _stored_part("cranium", 2, (slice(114, 210), slice(91, 152), slice(89, 93)))
    assert detect(volume.with_array(part)).counts() == {}


def test_nan_tiles_beside_are_no_content_for_a_tile_over_the_background():
    """dipy's PIESNO crop with the independent generator's tiles at NaN (seed 4): NaN is no fill value
    the rules match, so tiles lost beside passed for content, and a band of the scan's own 0 at the
    plane's edge passed for tiles over the background (240 false voxels); its content around is 0.615."""
    from tests.generators.independent import damage

    volume = bench_view("dipy-piesno", True)
    stored = np.asarray(volume.array)
    result = damage(stored, "tiles", np.random.default_rng(4), fill="nan", on="stored",
                    slope=float(np.ravel(volume.slope)[0]), intercept=float(np.ravel(volume.intercept)[0]),
                    padding=None)
    found = detect(volume.with_array(np.ascontiguousarray(result.damaged))).labels > 0
    assert not (found & ~np.asarray(result.lost, bool)).any()


@pytest.mark.parametrize(("volume_view", "kind", "seed"), [
    # the top 16 rows of zero background above a row lost to -1024: a band along the border
    (False, "lines", 111),
    # a 16 x 48 corner of zero background walled in by tiles lost to -1024
    (True, "tiles", 110),
])
def test_background_walled_off_by_data_lost_to_another_value_is_no_lost_packet(volume_view, kind, seed):
    _, _, changed, lost, detection = independently_damaged("nibabel-example4d", volume_view, kind, seed,
                                                           fill=-1024)
    found = np.asarray(detection.labels) > 0
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_a_tile_lost_to_a_value_foreign_to_the_scan_is_found_in_the_background_alone():
    """A tile at -1024 wholly in an MR's zero background cuts no content, but it is no background."""
    volume = middle_crop("nibabel-example4d")
    damaged = np.asarray(volume.array).copy()
    assert not damaged[:16, :16, 8].any()
    damaged[:16, :16, 8] = -1024
    found = np.asarray(detect(volume.with_array(damaged)).labels) > 0
    assert found[:16, :16, 8].all()
    assert found.sum() == 256


def test_a_burst_joined_to_the_background_is_found_on_the_grid_its_packets_show_in_another_slice():
    """The independent generator's seed 132 loses 32-pixel tiles on a grid off the image's corner
    (rows 5, columns 25, mod 32) in ch2better's 96x96x16 crop: in slices 1 and 2 a burst of them joins
    the zero background, and no corner of theirs lies on two straight edges of content, so no grid was
    put forward there (7,068 voxels unfound). Slice 8 shows the grid: a tile the border cuts. A sender
    tiles every slice alike, so its grid is tried in the other slices too."""
    _, _, changed, lost, found = independently_damaged("ch2better", True, "tiles", 132, fill="stored_zero")
    labels = found.labels
    for k in (1, 2):
        assert (labels[:, :, k][changed[:, :, k]] > 0).mean() > 0.99
    assert not ((labels > 0) & ~lost).any()


def test_packets_put_forward_by_another_slices_grid_are_dropped_where_the_fill_comes_back_slices_apart():
    """A scan whose odd slices have a smaller field of view holds the same fill band in every odd
    slice; the grid one such band (taken for packets) shows fits the next. Lost tiles do not come
    back at one place two slices apart, so a region found so that is fill there too is dropped; one
    whose place holds content in every other slice stays."""
    from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
    from medinpaint.repair.detection.tiles import drop_repeated

    stored = np.asarray(middle_crop("ch2better").array)
    content = stored > 0
    content[:16, :, 1::2] = False  # odd slices: a band of 16 rows of fill at the top
    content[40:56, 40:56, 6] = False  # one slice: a tile lost
    labels = np.zeros(stored.shape, dtype=np.uint8)
    new = np.zeros(stored.shape[:2], dtype=bool)
    new[:16, :32] = True  # the band's first tile, in slice 5
    labels[:, :, 5][new] = PACKET_LOSS_CODE
    drop_repeated(labels, content, 5, new)
    assert not labels.any()
    tile = np.zeros(stored.shape[:2], dtype=bool)
    tile[40:56, 40:56] = True
    labels[:, :, 6][tile] = PACKET_LOSS_CODE
    drop_repeated(labels, content, 6, tile)
    assert (labels[:, :, 6] == PACKET_LOSS_CODE).sum() == 256


def test_a_band_in_the_slice_beside_shows_no_grid():
    """cranium's crop with its bottom 20 rows at 0 in two adjacent slices, 7 and 8 (a field of view
    smaller there): slice 8's band is taken for lost packets, as before this rule, but its grid is no
    evidence for the slice beside, which may repeat its neighbour's own pattern (a helper's review:
    slice 7 had its band called lost too)."""
    volume = middle_crop("cranium")
    stored = np.asarray(volume.array).copy()
    stored[-20:, :, 7:9] = 0
    labels = detect(volume.with_array(np.ascontiguousarray(stored))).labels
    assert not labels[:, :, 7].any()
