"""The rest of a burst's band: lost tiles found in a slice are taken on along their row of tiles where
the burst ran into the background or off the plane's border."""

import pytest

from medinpaint.repair.detection import CODE
from tests.repair.detection.scans import independently_damaged


@pytest.mark.parametrize(("name", "found_before"), [("ch2bet", 512), ("pydicom-ct-small", 512),
                                                    ("nibabel-example4d", 512)])
def test_a_row_of_tiles_cut_off_by_the_background_or_the_border_is_found(name, found_before):
    """The generator's burst of 32-pixel tiles on an offset grid at seed 2 (fill 0) in a single slice:
    one whole tile was found, and the rest of the row, joined to ch2bet's background or cut by the
    plane's border (CT_small, example4d), was not: 1,986, 832 and 711 voxels."""
    clean, damaged, changed, lost, detection = independently_damaged(name, False, "tiles", seed=2, fill=0)
    found = detection.labels == CODE["packet-loss"]
    assert (found & changed).sum() > found_before
    assert (found & changed).sum() >= 0.9 * changed.sum()
    assert not (found & ~lost).any()


def test_a_band_along_the_planes_border_is_not_taken_on():
    """A band must lie between two edges of content: ch2bet's sagittal volume upsampled 1.5 times holds
    a strip of fill 8 pixels wide along its border that passes for lost tiles (a known false finding),
    and its band had been taken on by a line into the background."""
    from medinpaint.repair.detection import detect
    from tests.repair.detection.clean_forms import clean_cases

    case = next(volume for name, volume in clean_cases() if name == "ch2bet/axis0-volume/upsampled")
    assert detect(case).counts() == {"packet-loss": 802}


def test_a_band_is_taken_on_in_a_volume_only_where_a_slice_beside_holds_content():
    """ch2better's crop with tiles lost at its minimum (seed 1): a tile found beside a dark pocket of
    background had been taken on three lines into it (24 voxels not lost), content running below; the
    pocket is background in the slices beside too."""
    _, _, changed, lost, detection = independently_damaged("ch2better", True, "tiles", seed=1, fill="minimum")
    found = detection.mask.astype(bool)
    assert not (found & ~lost).any()
    assert (found & changed).sum() >= 10042  # what was found before the bands
