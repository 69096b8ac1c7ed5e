"""A fill region whose place in the slices beside is background a hair off the fill is no lost packet:
slices resampled by a processing step (a Fourier shift, sinc or spline interpolation) ring faintly in
their background, where the slices left alone keep theirs at exactly 0; and a slice beside that moved
holds background there once moved back."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medinpaint.io import Volume, read
from medinpaint.repair.detection import detect
from medinpaint.repair.detection.moved_background import SliceBackgrounds, background_move
from tests.generators.independent import damage
from tests.generators.motion import moved
from tests.repair.detection.scans import bench_view, independently_damaged


def _fourier_shifted_odd_slices(sample_data) -> tuple[Volume, np.ndarray]:
    clean = read(sample_data / "mr_head.nii.gz")
    part = np.asarray(clean.array)[:, :, 8:40].astype(np.float32)
    for k in range(1, part.shape[2], 2):
        spectrum = ndimage.fourier_shift(np.fft.fftn(part[:, :, k].astype(np.float64)), (0.7, -1.3))
        part[:, :, k] = np.real(np.fft.ifftn(spectrum))
    return Volume(np.asfortranarray(part), clean.affine, meta={"format": "nifti", "modality": "MR"}), part


def test_a_background_ringing_beside_is_no_content(sample_data):
    """mr_head as float32 with its odd slices Fourier-shifted by (0.7, -1.3) pixels, a patient's motion
    corrected with sinc interpolation: 11,664 voxels of the still slices' background were called lost
    packets (found by the review)."""
    volume, _ = _fourier_shifted_odd_slices(sample_data)
    assert detect(volume).counts() == {}


def test_a_background_ringing_beside_rounded_to_integers_is_no_content(sample_data):
    """The same scan stored as int16: the shifted slices' background rounds to exactly 0 away from the
    head and to small values near it. Judged without every voxel at the fill (rather than without the
    lost packets found in the slice beside), the head's own tissue was most of what was left, and 832
    voxels of the still slices' background were called lost packets (found by the review)."""
    volume, part = _fourier_shifted_odd_slices(sample_data)
    stored = np.asfortranarray(np.rint(part).astype(np.int16))
    assert (stored[:, :, 1] == 0).any() and (np.abs(stored[:, :, 1]) == 1).any()
    assert detect(volume.with_array(stored)).counts() == {}


def test_a_packet_lost_in_such_a_scan_is_found(sample_data):
    """A burst of three 8x8 tiles lost at 0 inside the head of a still slice: tissue beside it."""
    volume, part = _fourier_shifted_odd_slices(sample_data)
    stored = part.copy()
    lost = np.zeros(stored.shape, dtype=bool)
    lost[64:72, 64:88, 12] = True
    stored[lost] = 0
    found = detect(volume.with_array(np.asfortranarray(stored))).labels > 0
    assert found[lost & (part != 0)].mean() >= 0.9
    assert not (found & ~lost).any()


def _odd_slices_moved(sample_data, amount) -> tuple[Volume, np.ndarray]:
    clean = read(sample_data / "mr_head.nii.gz")
    part = moved(np.asarray(clean.array)[:, :, 8:40], "odd", amount)
    return Volume(np.asfortranarray(part), clean.affine, meta={"format": "nifti", "modality": "MR"}), part


@pytest.mark.parametrize("amount", [(4, 0), (5, -3)])
def test_background_beside_a_slice_that_moved_is_no_content(sample_data, amount):
    """mr_head with its odd slices moved by 4 or 5 rows, beyond the misplaced-block rule's reach: where
    the head touches the top of the plane, the tiles its move uncovered were called lost packets (384
    and 280 voxels), because the still slices beside hold the head there."""
    volume, _ = _odd_slices_moved(sample_data, amount)
    assert detect(volume).counts() == {}


def test_a_packet_lost_at_the_edge_of_a_moved_slice_is_found(sample_data):
    """Tiles lost at 0 across the head's edge in a slice moved by (5, -3), and in a still one: moved
    back, the slices beside hold the head in their place, and the background the move uncovered beside
    them (joined to them in one region) is dropped."""
    volume, part = _odd_slices_moved(sample_data, (5, -3))
    stored = part.copy()
    lost = np.zeros(stored.shape, dtype=bool)
    lost[8:24, 88:112, 11] = True  # the moved slice's top edge
    lost[8:24, 104:120, 12] = True  # the still slice's
    stored[lost] = 0
    found = detect(volume.with_array(np.asfortranarray(stored))).labels > 0
    for k in (11, 12):
        assert found[:, :, k][lost[:, :, k] & (part[:, :, k] != 0)].mean() >= 0.9
    # of the background the move uncovered beside the lost tiles (256 voxels called lost without the
    # moved-back test), a rim along the head's edge is left: a voxel is dropped only a pixel clear of the
    # head beside, as a move a pixel off would lay the tiles' own edge on background
    false = found & ~lost
    assert false.sum() < 32
    assert not (false & ~ndimage.binary_dilation(lost | (part != 0), np.ones((5, 5, 1), bool))).any()


def test_the_move_of_a_slice_beside_is_its_backgrounds():
    """A plane's background moved by (4, -3) is found moved by that much; an unmoved one, or one that
    changed without moving, is not moved."""
    rng = np.random.default_rng(0)
    plane = np.zeros((96, 80))
    plane[20:70, 15:60] = 1 + rng.random((50, 45))
    moved_plane = np.zeros_like(plane)
    moved_plane[24:74, 12:57] = plane[20:70, 15:60]
    background = plane == 0
    assert background_move(moved_plane == 0, background) == (4, -3)
    assert background_move(background, background) == (0, 0)
    grown = plane.copy()
    grown[70:76, 15:60] = 1
    assert background_move(grown == 0, background) == (0, 0)


def test_a_crop_inside_the_anatomy_gives_no_move(monkeypatch):
    """dipy's PIESNO b0 as the detection bench crops it (the middle 96 x 96 x 16, a brain with a thin
    frame of background), with the independent generator's tiles lost at its minimum (seed 20): a lost
    band of a slice beside, moved over a strip of the frame, was taken for the slice's move and 1,082
    lost voxels went unfound, until a move needed the slice's own background to hold a tenth of the
    plane. The moved-back test must drop none of them."""
    volume = bench_view("dipy-piesno", True)
    result = damage(np.asarray(volume.array), "tiles", np.random.default_rng(20), fill="minimum", on="stored",
                    slope=float(np.ravel(volume.slope)[0]), intercept=float(np.ravel(volume.intercept)[0]))
    damaged = volume.with_array(np.ascontiguousarray(result.damaged))
    found = detect(damaged).labels > 0
    monkeypatch.setattr(SliceBackgrounds, "moved_over", lambda *args: None)
    unmoved = detect(damaged).labels > 0
    assert unmoved.sum() > 1000
    assert (found == unmoved).all()


def test_the_same_burst_in_the_slice_beside_is_no_background():
    """cranium's middle 96 x 96 x 16 with tiles lost at -1024 (seed 151): its last slice lost a band 16
    rows tall that the slice before lost too, 16 columns shorter. The place there is 82% lost and 18%
    tissue, and the lost fill had counted as background next to the fill: the last slice's 1,440 lost
    voxels were unlabelled. The slice beside is judged without its own lost packets found."""
    _, _, changed, lost, detection = independently_damaged("cranium", True, "tiles", seed=151, fill=-1024)
    found = detection.labels > 0
    assert changed[:, :, -1].sum() >= 1440
    assert found[changed].all()
    assert not (found & ~lost).any()
