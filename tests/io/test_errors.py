"""Every broken input gives its named error, naming the file, and nothing is written."""

import shutil

import pytest

from medinpaint.cli import main
from medinpaint.errors import InputError, SeriesError, UnsupportedError
from medinpaint.io import read

BROKEN = [
    ("MR_truncated.dcm", InputError, "truncated"),
    ("badVR.dcm", InputError, "bad value representation"),
    ("no_meta.dcm", InputError, "file meta header"),
    ("meta_missing_tsyntax.dcm", InputError, "TransferSyntaxUID"),
    ("rtplan_truncated.dcm", UnsupportedError, "not an image"),
    ("rtplan.dcm", UnsupportedError, "RT Plan"),
    ("test-SR.dcm", UnsupportedError, "SR Storage"),
    ("SC_rgb_jpeg.dcm", UnsupportedError, "colour"),
    # ultrasound: its values index a colour table
    ("examples_palette.dcm", UnsupportedError, "palette colour"),
    # a segmentation (SEG); writing it back had raised a TypeError
    ("liver_1frame.dcm", UnsupportedError, "one-bit"),
    ("JPEG-lossy.dcm", InputError, "cannot be decoded"),
]


@pytest.mark.parametrize("name, error, words", BROKEN)
def test_broken_file_named_error(pydicom_files, name, error, words):
    with pytest.raises(error, match=words) as info:
        read(pydicom_files / name)
    assert name in str(info.value)


@pytest.mark.parametrize("name, error, words", BROKEN)
def test_cli_prints_one_line_and_writes_nothing(pydicom_files, tmp_path, capsys, name, error, words):
    source = tmp_path / name
    shutil.copy(pydicom_files / name, source)
    before = source.read_bytes()
    assert main(["convert", str(source), str(tmp_path / "out.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert source.read_bytes() == before


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="empty folder"):
        read(tmp_path)


def test_a_nifti_without_voxels_is_a_named_error(tmp_path, capsys):
    """A NIfTI whose shape holds a 0 (a converter's empty output) is an input error naming the file,
    not a traceback from deep in the repair (the helper's review found detect's NumPy error)."""
    import nibabel as nib
    import numpy as np

    path = tmp_path / "empty.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((0, 4, 5), np.int16), np.eye(4)), path)
    with pytest.raises(InputError, match="holds no voxels"):
        read(path)
    assert main(["repair", str(path), str(tmp_path / "out.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert "empty.nii.gz" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.nii.gz"]


def test_folder_without_images(pydicom_files, tmp_path):
    shutil.copy(pydicom_files / "rtplan.dcm", tmp_path)
    with pytest.raises(SeriesError, match="no DICOM image series"):
        read(tmp_path)


def test_mixed_shapes_in_one_series(pydicom_files, tmp_path):
    import pydicom

    for f in sorted((pydicom_files / "dicomdirtests/98892001/CT5N").iterdir()):
        shutil.copy(f, tmp_path / f.name)
    odd = sorted(tmp_path.iterdir())[2]
    ds = pydicom.dcmread(odd)
    ds.Rows, ds.PixelData = 8, ds.PixelData[: 8 * 16 * 2]
    ds.save_as(odd)
    with pytest.raises(SeriesError, match="8x16") as info:
        read(tmp_path)
    assert odd.name in str(info.value)


def test_truncated_file_inside_a_series_is_named(pydicom_files, tmp_path):
    for f in sorted((pydicom_files / "dicomdirtests/98892001/CT5N").iterdir()):
        shutil.copy(f, tmp_path / f.name)
    victim = sorted(tmp_path.iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:-200])
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert victim.name in str(info.value)


def test_syntax_without_decoder_is_unsupported_not_a_crash(pydicom_files, tmp_path):
    """An MPEG2-compressed file (pydicom has no decoder for it): the error names the syntax."""
    import pydicom
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(pydicom_files / "MR_small.dcm")
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video
    ds.PixelData = encapsulate([b"\xff\x0a" + bytes(30)])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "mpeg2.dcm")
    with pytest.raises(UnsupportedError, match="MPEG2 Main Profile / Main Level, and no decoder") as info:
        read(tmp_path / "mpeg2.dcm")
    assert "mpeg2.dcm" in str(info.value)


def test_an_empty_pixel_module_value_is_a_named_error(pydicom_files, tmp_path):
    """An empty BitsAllocated is a bad value, named as such, before any check that reads it as a number."""
    import pydicom

    ds = pydicom.dcmread(pydicom_files / "MR_small.dcm")
    ds.BitsAllocated = None
    path = tmp_path / "empty_bits.dcm"
    ds.save_as(path)
    with pytest.raises(InputError, match="invalid BitsAllocated") as info:
        read(path)
    assert "empty_bits.dcm" in str(info.value)
