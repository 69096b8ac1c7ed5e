"""Lost 4-pixel tiles in a band one tile high, in a single slice: the burst runs into the background, so
no region of it is whole tiles and no slice beside holds its place."""

import numpy as np
import pytest

from medinpaint.data.sources import available_sources
from medinpaint.io import read
from medinpaint.repair import detect
from tests.conftest import require_source
from tests.repair.detection.scans import independently_damaged

K = 24  # the sample MR head's middle slice


def test_a_burst_from_inside_the_head_into_the_background_is_found(sample_data):
    """The sample MR head's middle slice alone, with two bursts of 4-pixel tiles lost as 0: two tiles
    inside the head (rows 60-63, columns 80-87), found as they are, and rows 100-103 from column 120 to
    the plane's border, across the head's edge into its background of 0. The second one's fill joins
    the background, so its region is no union of tiles; its band ends square inside the head, on the
    first one's grid."""
    clean = read(sample_data / "mr_head.nii.gz")
    plane = np.asarray(clean.array)[:, :, K:K + 1].copy()
    damaged = plane.copy()
    damaged[60:64, 80:88, 0] = 0
    damaged[100:104, 120:, 0] = 0
    changed = damaged != plane
    found = detect(clean.with_array(damaged)).labels > 0
    assert changed[100:104].sum() > 300
    assert found[changed].mean() > 0.95
    outside = np.ones(found.shape, dtype=bool)
    outside[100:104, 120:] = outside[60:64, 80:88] = False
    assert not found[outside].any()


def test_a_band_off_the_grid_of_the_packets_found_is_left_alone(sample_data):
    """As above, with the band's rows 101-104: off the grid of the tiles found inside the head (rows
    60-63), so no burst of theirs. A gap of a brain mask that a nearest-neighbour zoom doubled to 4
    wide looks the same (ch2better's slice halved: 68 voxels, ch2bet's doubled: 144)."""
    clean = read(sample_data / "mr_head.nii.gz")
    plane = np.asarray(clean.array)[:, :, K:K + 1].copy()
    plane[60:64, 80:88, 0] = 0
    plane[101:105, 120:, 0] = 0
    found = detect(clean.with_array(plane)).labels > 0
    assert found[60:64, 80:88].all()
    assert not found[101:105].any()


def test_bursts_from_the_brain_into_the_background_of_a_template_slice_are_found():
    """mni152's middle slice with tiles lost at seed 211: among others, bursts one tile high from the
    brain into the background of 0 (rows 57-60 from column 34, rows 129-132 from column 58, whose start
    another burst below joins). Their bands inside the brain are found."""
    _, _, changed, lost, detection = independently_damaged("mni152", False, "tiles", 211, fill="stored_zero")
    found = detection.mask.astype(bool)[:, :, 0]
    assert changed.sum() == 1501
    assert found[57:61, 46:66].all() and found[129:133, 62:90].all()
    assert found[changed[:, :, 0]].sum() >= 1200  # 1,008 before
    assert not (found & ~lost[:, :, 0]).any()


def test_a_channel_of_a_mask_brought_to_a_finer_grid_is_left_alone(sample_data):
    """A channel 4 pixels wide cut 30 pixels into the head from the background, whose edges fall
    towards the fill as a linear resampling leaves them (the tissue beside it at a fifth of its value,
    as ch2bet's mask upsampled holds): anatomy, though it ends square."""
    clean = read(sample_data / "mr_head.nii.gz")
    plane = np.asarray(clean.array)[:, :, K:K + 1].astype(np.float32)
    plane[100:104, :40, 0] = 0  # the channel, open to the background at the plane's left
    plane[99, :40, 0] *= 0.2
    plane[104, :40, 0] *= 0.2
    found = detect(clean.with_array(plane)).labels > 0
    assert not found.any()


def test_the_grid_of_a_band_is_taken_from_packets_inside_the_plane():
    """pydicom's MR_small (64 x 64) with 4-pixel tiles lost at its minimum at seed 211: bursts one tile
    high, three of them from the plane's left border. A run of packets from the border says nothing of
    where tiles start (the border cut its first tile); counted as starting at column 0, those runs
    outvoted the bursts inside the plane, and the band from column 51 to the right border (56 voxels)
    went unfound."""
    _, _, changed, lost, detection = independently_damaged("pydicom-mr-small", False, "tiles", 211,
                                                           fill="minimum")
    found = detection.mask.astype(bool)[:, :, 0]
    assert found[21:25, 51:].all()
    assert found[changed[:, :, 0]].sum() >= 312  # 272 before
    assert not (found & ~lost[:, :, 0]).any()


def test_a_lone_tile_on_the_grid_of_a_burst_is_found(sample_data):
    """The sample MR head's middle slice with two tiles of a burst lost as 0 inside the head (rows
    60-63, columns 80-87) and two lone tiles: one on their grid (rows 72-75, columns 92-95), a tile of
    the same burst, and one off it (rows 85-88, columns 70-73). Alone, one tile is too small to tell
    from a square of the scan's own (pydicom's NM bone scan holds one), and the lone tile in a slice
    with no packet found stays."""
    clean = read(sample_data / "mr_head.nii.gz")
    plane = np.asarray(clean.array)[:, :, K:K + 1].copy()
    lone = plane.copy()
    lone[72:76, 92:96, 0] = 0
    assert detect(clean.with_array(lone)).counts() == {}
    damaged = lone.copy()
    damaged[60:64, 80:88, 0] = damaged[85:89, 70:74, 0] = 0
    found = detect(clean.with_array(damaged)).labels > 0
    assert found[60:64, 80:88].all() and found[72:76, 92:96].all()
    assert found.sum() == 3 * 16


def test_tiles_a_burst_left_at_the_border_are_found_on_its_grid():
    """pydicom's CT_small (128 x 128) with 4-pixel tiles lost at seed 211, on a grid 3 and 2 pixels off
    the corner: the border cuts tiles at both sides, and what bursts left there (4 x 6 regions at rows
    37-40 and 69-72, against the left and right sides) are whole tiles of the grid of the packets
    found inside the plane, 72 voxels that had passed unfound."""
    _, _, changed, lost, detection = independently_damaged("pydicom-ct-small", False, "tiles", 211,
                                                           fill="stored_zero")
    found = detection.mask.astype(bool)[:, :, 0]
    assert found[37:41, :6].all() and found[69:73, 122:].all()
    assert found[changed[:, :, 0]].sum() >= 1280  # 1,208 before
    assert not (found & ~lost[:, :, 0]).any()


@pytest.mark.parametrize("source, seed, before, least", [("nibabel-anatomical", 211, 80, 108),
                                                         ("nibabel-example4d", 212, 128, 200)])
def test_whole_tiles_and_short_bands_on_the_grid_are_found(source, seed, before, least):
    """The independent generator's 4-pixel tiles lost as stored 0 in small single slices. nibabel's
    anatomical (33 x 41) at seed 211: whole tiles of the burst's grid are taken before a band, whose
    far end may stop off that grid and leave the rest no whole tile (80 of 108 found). example4d's
    slice at seed 212: bands two tiles long from the anatomy's edge, on the grid of the packets found
    (128 of 279)."""
    _, _, changed, lost, detection = independently_damaged(source, False, "tiles", seed, fill="stored_zero")
    found = detection.mask.astype(bool)
    assert found[changed].sum() >= least > before
    assert not (found & ~lost).any()


def test_a_zoomed_slice_and_a_strip_at_the_border_are_no_tiles():
    """What a review found the 4-pixel rules took. ch2bet's coronal slice 100 (its first 128 x 128
    pixels), brought to a finer grid by repeating each pixel twice: its mask's straight channel 2
    pixels wide stands 4 wide from the plane's border (104 voxels called a box cut into one side), and
    a zoom by 4 makes every region whole cells of a 4-pixel grid. And ch2's crop with a burst of three
    tiles on the grid (1, 1) and a strip of 0 one pixel deep along its first row, whose cut cells
    passed for the burst's tiles at the border (16 voxels)."""
    from tests.repair.detection.clean_forms import middle

    for name in ("ch2bet", "ch2"):
        require_source(name)
    sources = {s.name: s for s in available_sources()}
    ch2bet = sources["ch2bet"].load()
    plane = np.asarray(ch2bet.array)[100, :128, :128]
    zoomed = np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1)[:, :, np.newaxis]
    assert detect(ch2bet.with_array(np.asfortranarray(zoomed))).counts() == {}
    ch2 = sources["ch2"].load()
    stored = np.asarray(ch2.array)
    crop = stored[middle(stored.shape[0], 96), middle(stored.shape[1], 96), 90:91].copy()
    crop[41:45, 53:65] = 0
    crop[0, 5:21] = 0
    found = detect(ch2.with_array(np.asfortranarray(crop))).labels[:, :, 0] > 0
    assert found[41:45, 53:65].all() and found.sum() == 48
