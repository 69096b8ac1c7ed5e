"""Lost tiles stacked across slices (a dense burst of the independent generator's), judged looking past
the packets found in the slices beside."""

from tests.repair.detection.scans import independently_damaged


def test_tiles_lost_at_one_place_in_slices_side_by_side_are_found():
    """cranium's middle 96 x 96 x 16 (HU) with bursts of 4-pixel tiles lost to -1024 (seed 212): at four
    places slices side by side lost tiles at the same place, where the small-tile rule saw fill across
    the slices (a 4 x 32 strip in slice 6 with tiles lost in slices 7 and 8 beside it; strips at the
    border in slices 12-14; a tile in slice 3 with one voxel of 0 HU, a fill value, in slice 4 and
    a tile lost in slice 5), and 272 voxels went unfound. Looking past the packets found beside, the
    slices beyond hold content there."""
    _, _, changed, lost, detection = independently_damaged("cranium", True, "tiles", 212, fill=-1024)
    found = detection.mask.astype(bool)
    assert changed.sum() == 11808
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_the_scans_own_background_between_lost_tiles_is_no_tile():
    """nibabel's example4d middle 96 x 96 x 16 with tiles lost to -1024 (seed 213): in slice 6 a 4 x 16
    strip of the scan's own background (0) lies between tiles lost above and below it, and tiles were
    lost at its place in slices 5 and 7. Looking past them, slices 4 and 8 hold background there too:
    no content holds its place (taking the packets found beside for content took its 64 voxels)."""
    _, _, changed, lost, detection = independently_damaged("nibabel-example4d", True, "tiles", 213,
                                                           fill=-1024)
    found = detection.mask.astype(bool)
    assert found[changed].all()
    assert not (found & ~lost).any()


def test_a_remnant_at_the_border_with_tiles_lost_two_slices_away_is_found():
    """cranium at seed 211 (-1024): a crop left 4 x 2 remnants of tiles at the plane's border in slices 2
    and 9, and tiles were lost at their places two slices away. The remnant rule takes fill two slices
    away for an interleaved move's edge value; the packets found there are no such value."""
    _, _, changed, lost, detection = independently_damaged("cranium", True, "tiles", 211, fill=-1024)
    found = detection.mask.astype(bool)
    for remnant in ((slice(13, 17), slice(0, 2), 9), (slice(77, 81), slice(0, 2), 9),
                    (slice(29, 33), slice(94, 96), 2)):
        assert changed[remnant].all() and found[remnant].all()
    assert not (found & ~lost).any()


def test_tiles_found_again_are_judged_beside_the_packets_found_already():
    """dipy's S0 at seed 164 (a fill drawn at random): tiles found only by the second look lie beside
    tiles lost at their place in the slices around. Judged alone, as background a hair off the fill,
    96 of their voxels were dropped; judged with the packets found already, as the slab pass judges its
    own, they stand."""
    _, _, changed, lost, detection = independently_damaged("dipy-s0", True, "tiles", 164)
    found = detection.mask.astype(bool)
    assert changed.sum() == 7364 and found[changed].sum() >= 7128
    assert not (found & ~lost).any()
