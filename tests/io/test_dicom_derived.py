"""The derived DICOM series: what a PACS expects, exact stored values, deterministic UIDs, dciodvfy."""

import subprocess

import numpy as np
import pydicom
import pytest

from medinpaint.io import read, write
from tests.conftest import require_tool

CT5N = "dicomdirtests/98892001/CT5N"


def _instances(folder):
    return [pydicom.dcmread(p) for p in sorted(folder.iterdir())]


def test_derived_series_modules_and_references(pydicom_files, tmp_path):
    volume = read(pydicom_files / CT5N)
    write(volume, tmp_path / "out", derivation="Repaired by test")
    out = _instances(tmp_path / "out")
    sources = volume.meta["dicom"]["slices"]
    assert len(out) == 5
    assert len({ds.SeriesInstanceUID for ds in out}) == 1
    assert out[0].SeriesInstanceUID != sources[0].SeriesInstanceUID
    for ds, src in zip(out, sources, strict=True):
        for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "FrameOfReferenceUID", "Modality",
                        "ImagePositionPatient", "ImageOrientationPatient", "RescaleIntercept"):
            assert ds.get(keyword) == src.get(keyword), keyword
        assert ds.SOPInstanceUID != src.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert list(ds.ImageType[:2]) == ["DERIVED", "SECONDARY"]
        assert ds.SeriesNumber == src.SeriesNumber + 1000
        assert ds.SeriesDescription.endswith("(medinpaint)")
        assert ds.DerivationDescription.startswith("Repaired by test")
        ref = ds.SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert ref.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    assert np.array_equal(read(tmp_path / "out").array, volume.array)


def test_uids_are_deterministic(pydicom_files, tmp_path):
    volume = read(pydicom_files / CT5N)
    write(volume, tmp_path / "a")
    write(volume, tmp_path / "b")
    a, b = _instances(tmp_path / "a"), _instances(tmp_path / "b")
    assert [x.SOPInstanceUID for x in a] == [y.SOPInstanceUID for y in b]
    write(volume, tmp_path / "c", derivation="something else")
    assert _instances(tmp_path / "c")[0].SeriesInstanceUID != a[0].SeriesInstanceUID


def test_changed_voxels_change_and_the_rest_stay_exact(pydicom_files, tmp_path):
    volume = read(pydicom_files / "CT_small.dcm")
    array = volume.array.copy()
    array[10:20, 30:40, 0] = 0
    write(volume.with_array(array), tmp_path / "out")
    back = read(tmp_path / "out")
    assert np.array_equal(back.array, array)
    assert (back.slope, back.intercept) == (volume.slope, volume.intercept)


def test_recreated_slice_gets_position_and_neighbour_references(pydicom_files, tmp_path):
    import shutil

    for f in (pydicom_files / CT5N).iterdir():
        shutil.copy(f, tmp_path / f.name)
    full = read(tmp_path)
    (tmp_path / full.meta["dicom"]["files"][2].rsplit("/", 1)[-1]).unlink()
    gapped = read(tmp_path, fill_gaps=True)
    write(gapped, tmp_path.parent / "filled")
    out = _instances(tmp_path.parent / "filled")
    assert len(out) == 5
    expected = full.meta["dicom"]["slices"][2].ImagePositionPatient
    assert [float(v) for v in out[2].ImagePositionPatient] == pytest.approx([float(v) for v in expected],
                                                                          abs=1e-3)
    assert {r.ReferencedSOPInstanceUID for r in out[2].SourceImageSequence} == {
        full.meta["dicom"]["slices"][1].SOPInstanceUID, full.meta["dicom"]["slices"][3].SOPInstanceUID}
    assert [ds.InstanceNumber for ds in out] == [1, 2, 3, 4, 5]


def test_lossy_history_carries_over(pydicom_files, tmp_path):
    write(read(pydicom_files / "JPEG2000.dcm"), tmp_path / "out")
    ds = _instances(tmp_path / "out")[0]
    assert ds.LossyImageCompression == "01"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian


def _dciodvfy_errors(path) -> set[str]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return {line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")}


@pytest.mark.parametrize("source", ["CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm",
                                    "MR_small_RLE.dcm", "JPEG2000.dcm", CT5N + "/2062"])
def test_derived_is_no_worse_under_dciodvfy(pydicom_files, tmp_path, source):
    require_tool("dciodvfy")
    write(read(pydicom_files / source), tmp_path / "out")
    new = _dciodvfy_errors(tmp_path / "out" / "IM00001.dcm") - _dciodvfy_errors(pydicom_files / source)
    assert new == set()


def test_enhanced_multiframe_derived_is_no_worse_under_dciodvfy(pydicom_data_files, tmp_path):
    require_tool("dciodvfy")
    source = pydicom_data_files / "emri_small.dcm"
    volume = read(source)
    write(volume, tmp_path / "out")
    assert _dciodvfy_errors(tmp_path / "out" / "IM00001.dcm") - _dciodvfy_errors(source) == set()
    back = read(tmp_path / "out")
    assert np.array_equal(back.array, volume.array)
    assert back.meta["dicom"]["frame_order"] == volume.meta["dicom"]["frame_order"]
