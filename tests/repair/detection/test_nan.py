"""NaN, a converter's "no data": lost data written as NaN is a fill like any other, a clean scan's NaN
background or frame is not."""

import numpy as np
import pytest

from medinpaint.io import Volume
from medinpaint.repair.detection import detect
from tests.generators import storage
from tests.repair.detection.clean_forms import middle, physical
from tests.repair.detection.scans import independently_damaged


@pytest.mark.parametrize(("name", "hu_float"), [("dipy-piesno", False), ("cranium", True)])
@pytest.mark.parametrize("kind", ["tiles", "lines", "slices"])
def test_data_lost_as_nan_in_a_float_volume_is_found(name, hu_float, kind):
    """Tiles, lines and whole slices lost as NaN in dipy's float64 crop and cranium's HU float32 crop
    (the independent generator, seed 1): NaN equals nothing, itself included, so none was found. At
    the scan's lowest value, tiles and lines lost over dipy's background of that value are not."""
    clean, damaged, changed, lost, detection = independently_damaged(name, True, kind, seed=1,
                                                                     hu_float=hu_float, fill="nan")
    assert np.isnan(damaged[changed]).all()
    assert detection.mask[changed].mean() >= 0.93
    assert not (detection.mask & ~lost).any()
    assert detect(clean).counts() == {}


@pytest.mark.parametrize(("name", "recall"), [("cranium", 1.0), ("mni152", 1.0), ("ch2", 0.79)])
def test_tiles_lost_as_nan_in_a_single_float_slice_are_found(name, recall):
    """The same in single slices stored as float32 (seed 2); ch2's tiles over its background of 0 are
    left, as tiles lost at 0 there are."""
    _, _, changed, lost, detection = independently_damaged(name, False, "tiles", seed=2, hu_float=True,
                                                           fill="nan")
    assert detection.mask[changed].mean() >= recall and not (detection.mask & ~lost).any()


@pytest.mark.parametrize("name", ["ch2", "cranium"])
def test_a_nan_frame_is_no_loss_but_what_is_lost_inside_it_is(name):
    """A crop padded with 8 pixels of NaN (a resampler's outside of the field of view), with tiles lost
    as NaN inside at seed 2: the frame is no loss (at the type's lowest value, a frame against tissue
    all round had passed for tiles lost, 2,280 voxels in ch2's crop), and most tiles are found."""
    clean, damaged, changed, lost, _ = independently_damaged(name, True, "tiles", seed=2, hu_float=True,
                                                            fill="nan")
    padded = storage.pad(damaged, 8, value=np.nan)
    found = detect(Volume(padded, np.eye(4))).mask.astype(bool)
    frame = np.ones(padded.shape, bool)
    frame[8:-8, 8:-8] = False
    assert not (found & frame).any() and not (found[8:-8, 8:-8] & ~lost).any()
    assert found[8:-8, 8:-8][changed].mean() >= 0.75
    assert detect(Volume(storage.pad(np.asarray(clean.array), 8, value=np.nan), np.eye(4))).counts() == {}


def _ch2_float():
    from medinpaint.data.sources import find_source
    from tests.conftest import require_source

    require_source("ch2")
    values = physical(find_source("ch2").load())
    return np.ascontiguousarray(values[middle(values.shape[0], 96), middle(values.shape[1], 96),
                                       middle(values.shape[2], 16)].astype(np.float32))


def test_a_nan_background_of_any_shape_is_no_loss():
    """A review's clean cases: NaN in an oblique field of view's corner, below a threshold (as SPM
    writes a map), outside a mask the crop cuts, on one side only, and a NaN frame whose width changes
    from slice to slice around tissue. At the type's lowest value, NaN was a foreign fill, and every
    NaN voxel was lost once any was (8,448 in the corner, 4,961 under the threshold)."""
    values = _ch2_float()
    ii, jj = np.mgrid[:96, :96]
    corner = values.copy()
    corner[(ii + jj) < 32] = np.nan
    mask = storage.body_mask(values, erode=0)
    mask[:19] = False
    one_side = values.copy()
    one_side[:8] = np.nan
    frames = values.copy()
    for k in range(frames.shape[2]):
        w = 2 + 2 * (k % 4)
        frames[:w, :, k] = frames[-w:, :, k] = frames[:, :w, k] = frames[:, -w:, k] = np.nan
    for case in (corner, storage.thresholded(values, value=np.nan), np.where(mask, values, np.nan),
                 one_side, frames):
        assert detect(Volume(np.asarray(case, np.float32), np.eye(4))).counts() == {}


def test_a_nan_island_found_in_part_is_lost_whole():
    """ch2's slice as float32 with tiles lost as NaN (seed 3): at the scan's lowest value (0, its
    background) most of the burst joins the background and was found only where it cuts tissue
    (recall 0.13); a NaN region clear of the plane's border that is found in part is lost whole."""
    _, _, changed, lost, detection = independently_damaged("ch2", False, "tiles", seed=3, hu_float=True,
                                                           fill="nan")
    assert detection.mask[changed].all() and not (detection.mask & ~lost).any()


def test_a_lone_nan_in_garbage_is_no_fill():
    """Cranium's HU float32 crop with garbage blocks (seed 1): random bytes read as floats hold a NaN
    here and there; judged as a fill, they made 128 voxels beside a block pass for lost."""
    _, _, changed, lost, detection = independently_damaged("cranium", True, "blocks", seed=1, hu_float=True)
    assert not (detection.mask & ~lost).any()
