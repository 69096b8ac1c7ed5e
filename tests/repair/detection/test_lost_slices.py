"""Lost slices (missing instances, constant slices) and a truncated pixel stream."""

import numpy as np

from medinpaint.damage.transmission import (
    Truncation,
)
from medinpaint.io import read
from medinpaint.repair import detect
from medinpaint.repair.detection import CODE
from tests.conftest import require_source
from tests.repair.detection.scans import (
    damage_copy,
)


def test_truncated_instance_is_found(pydicom_files):
    clean = read(pydicom_files / "CT_small.dcm")
    damaged, truth = damage_copy(clean, Truncation(kept=128 * 90 + 37, fill=0))
    detection = detect(damaged)
    assert detection.counts().get("truncation") == int(truth.sum())


def test_missing_instance_of_a_series_is_a_lost_slice(pydicom_files, tmp_path):
    import shutil

    for f in (pydicom_files / "dicomdirtests/98892001/CT5N").iterdir():
        shutil.copy(f, tmp_path / f.name)
    full = read(tmp_path)
    (tmp_path / full.meta["dicom"]["files"][2].rsplit("/", 1)[-1]).unlink()
    detection = detect(read(tmp_path, fill_gaps=True))
    assert detection.slices("lost-slices") == [2]


def test_a_noise_cut_off_that_zeroes_the_streams_last_voxels_is_no_truncation():
    """dipy's S0 ends each slice in a zero row; with its background below 6 set to 0 the voxel
    before that row is 0 too, and the stream ends in two fill voxels after content."""
    s0 = read(require_source("dipy-s0"))
    cut = np.where(s0.array < 6, 0, s0.array).astype(s0.array.dtype)
    assert cut[-3, -1, -1] != 0 and not cut[-2:, -1, -1].any()
    assert detect(s0.with_array(cut)).counts() == {}


def test_a_scan_padded_with_empty_slices_is_not_truncated(sample_data):
    """A field of view that ends in anatomy, padded with fill slices (as when a partial scan is
    resampled onto a larger grid), is no truncated stream: the two cannot be told apart."""
    clean = read(sample_data / "mr_head.nii.gz")
    padded = np.concatenate([clean.array, np.zeros(clean.shape[:2] + (10,), clean.array.dtype)], axis=2)
    assert detect(clean.with_array(padded)).counts() == {}


def test_a_truncated_stream_is_found_where_its_cut_row_is_mostly_background(sample_data):
    """A cut whose rows are mostly background is judged against the slice before: a quarter of its
    content lies beyond the cut (RandTruncation on nibabel's example4d had cut there unseen)."""
    clean = read(sample_data / "mr_head.nii.gz")
    ni, nj, nk = clean.shape
    damaged, lost = damage_copy(clean, Truncation(kept=(nk - 1) * ni * nj + 20 * ni + 90, fill=0))
    found = detect(damaged).labels

    assert (found[lost] == CODE["truncation"]).all()
    # before the cut only a run of background the tail joined (where the stream was cut in it is unknowable)
    assert (clean.array[(found == CODE["truncation"]) & ~lost] == 0).all()
