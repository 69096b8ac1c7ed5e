"""Reading DICOM: series order and spacing, gaps, several series, multi-frame, compressed syntaxes."""

import shutil

import numpy as np
import pydicom
import pytest

from medinpaint.errors import SeriesError
from medinpaint.io import list_series, read

CT5N = "dicomdirtests/98892001/CT5N"


def test_ct_series_sorted_along_normal_with_spacing(pydicom_files):
    volume = read(pydicom_files / CT5N)
    assert volume.shape == (16, 16, 5)
    assert volume.dtype == np.int16
    headers = volume.meta["dicom"]["slices"]
    normal = np.cross(*np.reshape([float(v) for v in headers[0].ImageOrientationPatient], (2, 3)))
    along = [float(np.dot([float(v) for v in h.ImagePositionPatient], normal)) for h in headers]
    assert along == sorted(along)
    assert volume.spacing == pytest.approx((0.488281, 0.488281, 2.5), abs=1e-5)
    assert volume.meta["dicom"]["gaps"] == []
    # voxel (i, j, k) is column i, row j of the k-th slice, in stored values; rescale kept apart
    first = pydicom.dcmread(volume.meta["dicom"]["files"][0])
    assert np.array_equal(volume.array[:, :, 0], first.pixel_array.T)
    assert (volume.slope, volume.intercept) == (1.0, -1024.0)
    assert np.allclose(volume.physical()[:, :, 0], first.pixel_array.T - 1024.0)


def test_affine_maps_first_voxel_to_image_position(pydicom_files):
    volume = read(pydicom_files / CT5N)
    ipp = [float(v) for v in volume.meta["dicom"]["slices"][0].ImagePositionPatient]
    assert volume.origin_lps == pytest.approx(ipp)
    last = volume.affine @ [0, 0, 4, 1]
    ipp_last = [float(v) for v in volume.meta["dicom"]["slices"][4].ImagePositionPatient]
    assert [-last[0], -last[1], last[2]] == pytest.approx(ipp_last, abs=1e-3)


def test_missing_instance_reported_as_gap(pydicom_files, tmp_path):
    files = sorted((pydicom_files / CT5N).iterdir())
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    volume = read(tmp_path)
    middle = volume.meta["dicom"]["files"][2]
    (tmp_path / middle.rsplit("/", 1)[-1]).unlink()
    gapped = read(tmp_path)
    assert gapped.shape[2] == 4
    assert gapped.meta["dicom"]["gaps"] == [{"after_slice": 1, "missing": 1, "gap_mm": pytest.approx(5.0)}]
    filled = read(tmp_path, fill_gaps=True)
    assert filled.shape[2] == 5 and filled.meta["dicom"]["missing"] == [2]
    assert np.array_equal(filled.array[:, :, [0, 1, 3, 4]], volume.array[:, :, [0, 1, 3, 4]])


def test_folder_with_several_series_lists_and_picks(pydicom_files):
    folder = pydicom_files / "dicomdirtests" / "98892003"
    found = list_series(folder)
    assert len(found) == 7
    with pytest.raises(SeriesError, match="choose one with --series"):
        read(folder)
    biggest = max(found, key=lambda s: len(s.files))
    volume = read(folder, series=biggest.uid)
    assert volume.shape[2] == len(biggest.files)
    assert read(folder, series=700).shape == volume.shape


def test_enhanced_multiframe_frames_become_slices(pydicom_data_files):
    volume = read(pydicom_data_files / "emri_small.dcm")
    ds = pydicom.dcmread(pydicom_data_files / "emri_small.dcm")
    assert volume.shape == (64, 64, 10)
    assert volume.meta["dicom"]["multiframe"]
    frames = ds.pixel_array
    for k, f in enumerate(volume.meta["dicom"]["frame_order"]):
        assert np.array_equal(volume.array[:, :, k], frames[f].T)


@pytest.mark.parametrize("compressed, uncompressed", [
    ("MR_small_RLE.dcm", "MR_small.dcm"),
    ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
    ("MR_small_bigendian.dcm", "MR_small.dcm"),
    ("MR_small_implicit.dcm", "MR_small.dcm"),
])
def test_compressed_syntaxes_decode_like_their_twin(pydicom_files, compressed, uncompressed):
    a, b = read(pydicom_files / compressed), read(pydicom_files / uncompressed)
    assert a.dtype == b.dtype and np.array_equal(a.array, b.array)


@pytest.mark.parametrize("compressed, uncompressed", [
    ("emri_small_RLE.dcm", "emri_small.dcm"),
    ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"),
    ("emri_small_jpeg_ls_lossless.dcm", "emri_small.dcm"),
    ("MR2_J2KR.dcm", "MR2_UNCR.dcm"),
    ("JPEG2000.dcm", "JPEG2000_UNC.dcm"),
])
def test_compressed_multiframe_and_j2k_decode_like_their_twin(pydicom_data_files, pydicom_files, compressed,
                                                              uncompressed):
    path_a = (pydicom_files / compressed if (pydicom_files / compressed).exists()
              else pydicom_data_files / compressed)
    a, b = read(path_a), read(pydicom_data_files / uncompressed)
    assert np.array_equal(a.array, b.array)


def test_jpeg_baseline_and_lossless_match_dcmtk(tmp_path, pydicom_files):
    """JPEG lossless (process 14) and baseline (process 1) made by dcmtk from a real CT slice."""
    import subprocess

    from tests.conftest import require_tool

    require_tool("dcmcjpeg")
    require_tool("dcmdjpeg")
    source = pydicom_files / "CT_small.dcm"
    lossless, baseline, decoded = tmp_path / "ll.dcm", tmp_path / "bl.dcm", tmp_path / "bl_dec.dcm"
    subprocess.run(["dcmcjpeg", "+e1", str(source), str(lossless)], check=True)
    assert read(lossless).meta["dicom"]["transfer_syntax"] == "1.2.840.10008.1.2.4.70"
    assert np.array_equal(read(lossless).array, read(source).array)
    # baseline JPEG is 8-bit: dcmtk windows the CT into 8 bits (min-max), and its own decoder is the twin
    subprocess.run(["dcmcjpeg", "+eb", "+Wm", str(source), str(baseline)], check=True)
    subprocess.run(["dcmdjpeg", str(baseline), str(decoded)], check=True)
    volume = read(baseline)
    assert volume.meta["dicom"]["lossy"]
    assert np.abs(volume.array.astype(int) - read(decoded).array.astype(int)).max() <= 1
