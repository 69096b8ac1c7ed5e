"""A frame of NaN around every slice (a resampler's outside of the field of view) is no part of the scan:
detection inside it is detection of the scan without it, and the scan's own background between the
frame and the anatomy is no lost packet."""

import numpy as np
import pytest

from medinpaint.io import Volume
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.generators.independent import damage
from tests.generators.storage import pad
from tests.repair.detection.clean_forms import physical
from tests.repair.detection.scans import bench_view


def _float_slice(name: str) -> np.ndarray:
    view = bench_view(name, volume_view=False)
    return np.ascontiguousarray(physical(view).astype(np.float32))


def test_a_clean_slice_padded_with_nan_gives_nothing():
    """ch2's middle slice, background 0, padded by 8 NaN pixels: 2,764 voxels of its background were
    called lost packets between the frame and the head."""
    padded = pad(_float_slice("ch2"), 8, value=np.nan)
    assert not detect(Volume(padded, np.eye(4))).labels.any()


@pytest.mark.parametrize("kind,seed", [("tiles", 3), ("lines", 4), ("bitflips", 5)])
def test_damage_inside_a_nan_frame_is_found_as_without_it(kind, seed):
    """The independent generator's damage in ch2's slice: the same voxels found with the frame as
    without it, and none in the frame."""
    damaged = damage(_float_slice("ch2"), kind, np.random.default_rng(seed), **(
        {"fill": 0.0, "on": "physical"} if kind != "bitflips" else {})).damaged
    alone = detect(Volume(np.ascontiguousarray(damaged), np.eye(4))).labels
    framed = detect(Volume(pad(damaged, 8, value=np.nan), np.eye(4))).labels
    assert alone.any()
    assert np.array_equal(framed[8:-8, 8:-8], alone)
    assert np.count_nonzero(framed) == np.count_nonzero(alone)


def test_a_cut_stream_breaks_the_frame_and_is_found_as_truncation():
    """ch2's bounded volume in a frame of 10 NaN pixels, the last 30% of its last slice's stream lost
    to 0: the fill overwrites the frame's last lines, so the frame is no frame, and the tail is a
    truncation (a helper's review: with a frame on one side counted, it was taken for lost packets)."""
    view = bench_view("ch2", volume_view=True)
    damaged = pad(np.ascontiguousarray(physical(view).astype(np.float32)), 10, value=np.nan)
    last = damaged[:, :, -1].reshape(-1, order="F").copy()
    cut = int(0.7 * last.size)
    last[cut:] = 0
    damaged[:, :, -1] = last.reshape(damaged.shape[:2], order="F")
    labels = detect(Volume(damaged, np.eye(4))).labels
    tail = np.zeros(last.size, dtype=bool)
    tail[cut:] = True
    tail = tail.reshape(damaged.shape[:2], order="F")
    assert (labels[:, :, -1][tail] == CODE["truncation"]).all()
