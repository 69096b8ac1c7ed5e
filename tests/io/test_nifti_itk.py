"""NIfTI keeps its header byte for byte; ITK formats keep geometry; conversions keep physical values."""

import nibabel as nib
import numpy as np
import pytest

from medinpaint.errors import OutputError
from medinpaint.io import read, write


@pytest.fixture
def scaled_nifti(mr_head, tmp_path):
    """A real MR slab stored by nibabel as int16 with scl_slope/scl_inter (as scanners' converters do)."""
    img = nib.load(mr_head)
    data = img.get_fdata()[:, :, 80:90] * 0.37 - 12.5
    out = nib.Nifti1Image(data, img.affine, img.header.copy())
    out.set_data_dtype(np.int16)
    nib.save(out, tmp_path / "scaled.nii")
    return tmp_path / "scaled.nii"


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz",
                                  "scaled.nii"])
def test_nifti_round_trip_is_exact(nibabel_files, scaled_nifti, tmp_path, name):
    source = scaled_nifti if name == "scaled.nii" else nibabel_files / name
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    out = tmp_path / name
    write(read(source), out)
    a, b = nib.load(source), nib.load(out)
    # qform/sform codes, pixdim, scl_*, descrip, intent ...
    assert a.header.binaryblock == b.header.binaryblock
    raw_a, raw_b = np.asanyarray(a.dataobj.get_unscaled()), np.asanyarray(b.dataobj.get_unscaled())
    assert raw_a.dtype == raw_b.dtype and np.array_equal(raw_a, raw_b)


def test_scaled_nifti_keeps_slope_and_stored_values(scaled_nifti):
    volume = read(scaled_nifti)
    img = nib.load(scaled_nifti)
    assert img.dataobj.slope != 1.0
    assert (volume.slope, volume.intercept) == (pytest.approx(img.dataobj.slope),
                                                pytest.approx(img.dataobj.inter))
    assert np.array_equal(volume.array, np.asanyarray(img.dataobj.get_unscaled()))
    assert np.allclose(volume.physical(np.float64), img.get_fdata(), atol=1e-4)


def test_form_codes_survive_a_changed_image(mr_head, tmp_path):
    volume = read(mr_head)
    changed = volume.with_array(np.ascontiguousarray(volume.array[::-1]).copy())
    write(changed, tmp_path / "changed.nii.gz")
    a, b = nib.load(mr_head).header, nib.load(tmp_path / "changed.nii.gz").header
    for field in ("qform_code", "sform_code", "pixdim", "xyzt_units", "descrip", "intent_code", "srow_x"):
        assert np.array_equal(a[field], b[field]), field


def test_two_d_nifti_keeps_its_shape(tmp_path):
    img = nib.Nifti1Image(np.arange(12, dtype=np.int16).reshape(3, 4, 1), np.diag([0.5, 0.5, 2, 1]))
    nib.save(img, tmp_path / "slice.nii")
    write(read(tmp_path / "slice.nii"), tmp_path / "out.nii")
    back = nib.load(tmp_path / "out.nii")
    assert back.shape == (3, 4, 1) and back.get_data_dtype() == np.int16


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".mhd", ".nhdr"])
def test_itk_formats_keep_geometry_and_values(pydicom_files, tmp_path, suffix):
    volume = read(pydicom_files / "dicomdirtests/98892001/CT5N")
    out = tmp_path / f"ct{suffix}"
    write(volume, out)
    back = read(out)
    assert np.allclose(back.affine, volume.affine, atol=1e-4)
    assert back.dtype == np.int16  # HU are whole numbers: exact in int16
    assert np.array_equal(back.array, volume.physical())
    write(back, tmp_path / f"again{suffix}")
    assert np.array_equal(read(tmp_path / f"again{suffix}").array, back.array)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_dicom_to_nifti_keeps_stored_values_and_rescale(pydicom_files, tmp_path):
    volume = read(pydicom_files / "dicomdirtests/98892001/CT5N")
    write(volume, tmp_path / "ct.nii.gz")
    img = nib.load(tmp_path / "ct.nii.gz")
    assert np.array_equal(np.asanyarray(img.dataobj.get_unscaled()), volume.array)
    assert (img.dataobj.slope, img.dataobj.inter) == (1.0, -1024.0)
    assert np.allclose(img.affine, volume.affine, atol=1e-5)
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1


def test_existing_output_is_refused_and_kept(mr_head, tmp_path):
    out = tmp_path / "out.nii.gz"
    out.write_bytes(b"precious")
    with pytest.raises(OutputError, match="exists already"):
        write(read(mr_head), out)
    assert out.read_bytes() == b"precious"
    write(read(mr_head), out, overwrite=True)
    assert nib.load(out).shape == (181, 217, 181)


def test_unknown_extension_is_a_clear_error(mr_head, tmp_path):
    with pytest.raises(OutputError, match="unknown output format"):
        write(read(mr_head), tmp_path / "out.xyz")
