"""The `medinpaint` command on real files: info, convert, help, privacy, exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from medinpaint.cli import main
from medinpaint.io import read


def test_help_reads_well():
    run = subprocess.run([sys.executable, "-m", "medinpaint.cli", "--help"], capture_output=True, text=True)
    assert run.returncode == 0
    for command in ("info", "convert"):
        assert command in run.stdout


def test_info_json_on_a_series_has_geometry_and_no_patient_data(sample_data, capsys):
    assert main(["info", "--json", str(sample_data / "ct_head_series")]) == 0
    out = capsys.readouterr().out
    info = json.loads(out)
    assert info["format"] == "dicom" and info["modality"] == "CT"
    assert info["shape"] == [16, 16, 5] and info["dtype"] == "int16"
    assert info["gaps"] == [] and info["series"][0]["files"] == 5
    header = read(sample_data / "ct_head_series").meta["dicom"]["slices"][0]
    for value in (str(header.PatientName), str(header.PatientID)):
        assert value and value not in out


def test_info_shows_patient_only_when_asked(sample_data, capsys):
    assert main(["info", "--json", "--show-patient", str(sample_data / "ct_slice.dcm")]) == 0
    info = json.loads(capsys.readouterr().out)
    header = read(sample_data / "ct_slice.dcm").meta["dicom"]["slices"][0]
    assert info["patient"]["PatientName"] == str(header.PatientName)


def test_info_text_on_nifti(sample_data, capsys):
    assert main(["info", str(sample_data / "mr_head.nii.gz")]) == 0
    out = capsys.readouterr().out
    assert "nifti" in out and "[181, 217, 48]" in out and "RAS" in out and "sform_code=4" in out


def test_info_lists_several_series(pydicom_files, capsys):
    assert main(["info", "--json", str(pydicom_files / "dicomdirtests" / "98892003")]) == 0
    assert len(json.loads(capsys.readouterr().out)["series"]) == 7


def test_convert_dicom_series_to_nifti_and_back_to_derived_dicom(sample_data, tmp_path):
    assert main(["convert", str(sample_data / "ct_head_series"), str(tmp_path / "ct.nii.gz")]) == 0
    source = read(sample_data / "ct_head_series")
    img = nib.load(tmp_path / "ct.nii.gz")
    assert np.allclose(img.get_fdata(), source.physical())
    tmp_dicom = tmp_path / "derived"
    assert main(["convert", str(sample_data / "ct_head_series"), str(tmp_dicom)]) == 0
    assert len(list(tmp_dicom.iterdir())) == 5
    assert np.array_equal(read(tmp_dicom).array, source.array)


def test_convert_into_an_existing_folder(sample_data, tmp_path):
    assert main(["convert", str(sample_data / "ct_slice.dcm"), str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["IM00001.dcm"]


def test_convert_refuses_existing_output(sample_data, tmp_path, capsys):
    out = tmp_path / "mr.nrrd"
    out.write_text("keep me")
    assert main(["convert", str(sample_data / "mr_head.nii.gz"), str(out)]) == 2
    assert "exists already" in capsys.readouterr().err and out.read_text() == "keep me"


def test_nifti_to_dicom_is_a_clear_error(sample_data, tmp_path, capsys):
    assert main(["convert", str(sample_data / "mr_head.nii.gz"), str(tmp_path / "dcm")]) == 2
    assert "needs a DICOM source" in capsys.readouterr().err
    assert not (tmp_path / "dcm").exists()


def test_read_only_output_folder(sample_data, tmp_path):
    """Run as an unprivileged user (root ignores permissions), into a folder it may not write."""
    import os
    import shutil
    import tempfile

    public = Path(tempfile.mkdtemp(prefix="medinpaint-ro-"))
    try:
        shutil.copy(sample_data / "mr_slice.dcm", public / "in.dcm")
        locked = public / "locked"
        locked.mkdir()
        for p in (public, public / "in.dcm", locked):
            p.chmod(0o755 if p.is_dir() else 0o644)
        locked.chmod(0o555)
        command = [sys.executable, "-m", "medinpaint.cli", "convert", str(public / "in.dcm"),
                   str(locked / "out.nii")]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        run = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
        assert run.returncode == 2, run.stderr
        assert "not writable" in run.stderr and run.stderr.count("\n") == 1
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(public, ignore_errors=True)
