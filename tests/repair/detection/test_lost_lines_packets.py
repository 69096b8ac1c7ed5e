"""Lost scan lines and lost packets: fill-valued lines, tiles and rectangles cut into content."""

import numpy as np
import pytest

from medinpaint.damage.transmission import (
    PacketLoss,
)
from medinpaint.io import read
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.conftest import require_source
from tests.repair.detection.scans import (
    ch2_skull_stripped,
    damage_copy,
)


def test_a_packet_burst_that_spans_whole_lines_is_found_whole(pydicom_files):
    """The whole lines of a long burst are found as lost lines first; the burst's last tiles, beside
    them at the plane's border, are judged on the content around them that is not already damage."""
    clean = read(pydicom_files / "CT_small.dcm")
    damaged, truth = damage_copy(clean, PacketLoss(tile_size=16, first_tile=3, num_tiles=23, fill="min"))
    found = detect(damaged).labels > 0
    assert found[truth].all()
    assert not (found & ~truth).any()


def test_lost_packets_that_join_the_scans_own_padding_are_found(pydicom_files):
    """Zero lines at the plane's edge (dipy's S0 has them) join a burst's last tiles into one region
    that is no union of tiles; without them the rest is, and it is the burst."""
    clean = read(pydicom_files / "CT_small.dcm")
    padded = clean.array.copy()
    padded[126:], padded[:, 126:] = 0, 0
    clean = clean.with_array(padded)
    assert detect(clean).counts() == {}
    damaged, truth = damage_copy(clean, PacketLoss(tile_size=16, first_tile=60, num_tiles=4, fill=0))
    visible = truth & (damaged.array != clean.array)
    found = detect(damaged).labels > 0
    assert found[visible].all() and not (found & ~truth).any()


def test_a_lost_rectangle_off_the_tile_grid_is_found_in_tissue(pydicom_files):
    """A fill rectangle off the 8 and 16 pixel grids counts as lost where its surroundings stand out
    from the fill (the NM bone scan's own zero block, in a background of 1s, does not)."""
    clean = read(pydicom_files / "CT_small.dcm")
    damaged = clean.array.copy()
    damaged[61:71, 43:55, 0] = 0  # 10x12 pixels, starting off both grids, inside the head
    found = detect(clean.with_array(damaged))

    assert (found.labels[61:71, 43:55, 0] == CODE["packet-loss"]).all()
    assert found.counts() == {"packet-loss": 120}


@pytest.mark.parametrize("slices", [slice(None), slice(115, 118)])
def test_the_midline_of_a_template_cut_off_below_its_csf_is_no_lost_line(slices):
    """The MNI template is symmetric: with its values below the 20th percentile set to 0, its
    midline is a line of 0 between two hemispheres, in the slices beside it too (in a crop of three
    slices, all three)."""
    from medinpaint.data.sources import SOURCES

    require_source("mni152")
    template = SOURCES["mni152"].load()
    floor = np.percentile(template.array[template.array > 0], 20)
    cut = np.where(template.array < floor, 0, template.array).astype(template.array.dtype)
    assert not cut[97:100, :, 115:118].any()
    assert detect(template.with_array(np.ascontiguousarray(cut[:, :, slices]))).counts() == {}


@pytest.mark.parametrize("slab", [1, 32])
def test_lines_lost_at_the_same_place_in_the_last_two_slices_are_found(sample_data, slab):
    """The last slice's only neighbour lost the same lines: tissue one slice further counts."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged = clean.array.copy()
    damaged[:, 100:102, 46:] = 0
    found = detect(clean.with_array(damaged), slab=slab)
    assert found.counts() == {"lost-lines": 2 * 2 * 181}
    assert (found.labels[:, 100:102, 46:] == CODE["lost-lines"]).all()


def test_a_packet_lost_in_both_slices_of_a_two_slice_scan_is_found(sample_data):
    """A scan of two slices is judged in-plane only, as one of a single slice: with the same tile lost
    in both, no slice is left to tell a lost tile from a notch of a mask."""
    clean = read(sample_data / "mr_head.nii.gz")
    two = np.ascontiguousarray(clean.array[:, :, 40:42])
    two[64:80, 16:32] = 0
    assert detect(clean.with_array(two)).counts() == {"packet-loss": 512}


@pytest.mark.parametrize("hit", [(0, 1), (1, 2)])
def test_a_burst_in_two_slices_of_a_three_slice_scan_is_found_in_both(sample_data, hit):
    """The third slice holds tissue at the tile's place, beside one of them and beyond the other."""
    clean = read(sample_data / "mr_head.nii.gz")
    three = np.ascontiguousarray(clean.array[:, :, 40:43])
    three[64:80, 16:32, hit[0]:hit[1] + 1] = 0
    found = detect(clean.with_array(three))
    assert found.counts() == {"packet-loss": 512}
    assert (found.labels[64:80, 16:32, hit[0]:hit[1] + 1] == CODE["packet-loss"]).all()


def test_a_masks_notch_through_a_three_slice_scan_is_no_lost_packet():
    """ch2 under ch2bet's brain mask grown by 2, slices 35-37: the notch one tile wide is empty in
    slices 35 and 36 and holds 28% tissue in 37."""
    head = ch2_skull_stripped(2)
    three = np.ascontiguousarray(head.array[:, :, 35:38])
    assert not three[56:64, 96:104, :2].any()
    assert detect(head.with_array(three)).counts() == {}


def test_a_burst_at_the_rim_of_the_head_in_the_last_two_slices_is_found():
    """The MNI template's first 30 slices, the presets' packet loss at seed 10: the same tiles lost in
    the last two slices, at the rim of the head, where the slice before holds tissue in 41% of one."""
    from medinpaint.damage.presets import TRANSMISSION
    from medinpaint.damage.transmission import RandPacketLoss
    from medinpaint.data.sources import SOURCES

    require_source("mni152")
    template = SOURCES["mni152"].load()
    crop = template.with_array(np.ascontiguousarray(template.array[:, :, :30]))
    damage = RandPacketLoss(**TRANSMISSION[RandPacketLoss])
    damage.set_random_state(10)
    damaged, lost = (np.asarray(x)[0] for x in damage(crop.array[np.newaxis]))
    found = detect(crop.with_array(np.ascontiguousarray(damaged))).labels > 0
    visible = lost.astype(bool) & (damaged != crop.array)
    assert found[visible].mean() > 0.95


@pytest.mark.parametrize("slab", [1, 32])
def test_a_packet_lost_at_the_same_place_in_the_last_two_slices_is_found(sample_data, slab):
    """A tile at the edge of the head, joined to the background once lost. The last slice's only
    neighbour lost the same tile: that counts for it, as tissue there would (the damage presets hit
    the same tiles in each slice they pick)."""
    clean = read(sample_data / "mr_head.nii.gz")
    damaged = clean.array.copy()
    tile = (slice(64, 80), slice(16, 32), slice(46, 48))
    assert 0.9 < (damaged[tile] > 0).mean() < 1
    damaged[tile] = 0
    found = detect(clean.with_array(damaged), slab=slab)
    assert found.counts() == {"packet-loss": 512}
    assert (found.labels[tile] == CODE["packet-loss"]).all()
