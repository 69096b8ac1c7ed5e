"""NaN, a converter's "no data": lost data written as NaN is a fill like any other, a clean scan's NaN
background or frame is not."""

import numpy as np
import pytest

from medinpaint.io import Volume
from medinpaint.repair.detection import detect
from tests.generators import storage
from tests.repair.detection.scans import independently_damaged


@pytest.mark.parametrize(("name", "hu_float"), [("dipy-piesno", False), ("cranium", True)])
@pytest.mark.parametrize("kind", ["tiles", "lines", "slices"])
def test_data_lost_as_nan_in_a_float_volume_is_found(name, hu_float, kind):
    """Tiles, lines and whole slices lost as NaN in dipy's float64 crop and cranium's HU float32 crop
    (the independent generator, seed 1): NaN equals nothing, itself included, so none was found."""
    clean, damaged, changed, lost, detection = independently_damaged(name, True, kind, seed=1,
                                                                     hu_float=hu_float, fill="nan")
    assert np.isnan(damaged[changed]).all()
    assert detection.mask[changed].all()
    assert not (detection.mask & ~lost).any()
    assert detect(clean).counts() == {}


def test_tiles_lost_as_nan_in_a_single_float_slice_are_found():
    """The same in ch2's middle slice stored as float32."""
    clean, damaged, changed, lost, detection = independently_damaged("ch2", False, "tiles", seed=1,
                                                                     hu_float=True, fill="nan")
    assert detection.mask[changed].all() and not (detection.mask & ~lost).any()


def test_a_nan_frame_is_no_loss_but_what_is_lost_inside_it_is():
    """ch2's crop padded with 8 pixels of NaN (a resampler's outside of the field of view), with tiles
    lost as NaN inside at seed 2: the frame is the scan's background, not tiles lost all round (as a
    fill below every value it was 2,280 voxels), and the tiles are found."""
    clean, damaged, changed, lost, _ = independently_damaged("ch2", True, "tiles", seed=2, hu_float=True,
                                                            fill="nan")
    padded = storage.pad(damaged, 8, value=np.nan)
    found = detect(Volume(padded, np.eye(4))).mask.astype(bool)
    frame = np.ones(padded.shape, bool)
    frame[8:-8, 8:-8] = False
    assert found[8:-8, 8:-8][changed].all() and not (found & frame).any()
    assert not (found[8:-8, 8:-8] & ~lost).any()
    assert detect(Volume(storage.pad(np.asarray(clean.array), 8, value=np.nan), np.eye(4))).counts() == {}
