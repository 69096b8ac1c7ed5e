"""`medinpaint repair` on real DICOM and NIfTI files: outputs, report, mask, bad input."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pydicom

from medinpaint.cli import main
from medinpaint.io import read, write


def test_dicom_series_with_missing_instance_gets_it_back(pydicom_files, tmp_path, fill_model):
    source = tmp_path / "in"
    source.mkdir()
    for f in (pydicom_files / "dicomdirtests/98892001/CT5N").iterdir():
        shutil.copy(f, source / f.name)
    full = read(source)
    (source / full.meta["dicom"]["files"][2].rsplit("/", 1)[-1]).unlink()
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    assert main(["repair", str(source), str(tmp_path / "out"), "--model", str(fill_model),
                 "--report", str(tmp_path / "report.json"), "--mask-out", str(tmp_path / "mask.nii.gz")]) == 0
    out = sorted((tmp_path / "out").iterdir())
    assert len(out) == 5
    created = pydicom.dcmread(out[2])
    assert list(created.ImageType[:2]) == ["DERIVED", "SECONDARY"]
    assert len(created.SourceImageSequence) == 2
    repaired = read(tmp_path / "out")
    kept = [0, 1, 3, 4]
    assert np.array_equal(repaired.array[:, :, kept], full.array[:, :, kept])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["recreated_slices"] == [2] and report["kinds"] == {"lost-slices": 256}
    assert "Patient" not in json.dumps(report)
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before


def test_progress_lines_and_errors(sample_data, tmp_path, fill_model):
    volume = read(sample_data / "mr_head.nii.gz")
    damaged = volume.array.copy()
    damaged[:, 120:123, 30] = 0
    write(volume.with_array(damaged), tmp_path / "in.nii")  # uncompressed: read through a memory map
    before = (tmp_path / "in.nii").read_bytes()
    run = subprocess.run([sys.executable, "-m", "medinpaint.cli", "repair", str(tmp_path / "in.nii"),
                          str(tmp_path / "out.nii.gz"), "--model", str(fill_model), "--progress"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    progress = [line for line in run.stderr.splitlines() if line.startswith("PROGRESS ")]
    assert progress and progress[-1].split()[1] == "100"
    assert (tmp_path / "in.nii").read_bytes() == before  # repaired in a private copy-on-write map
    repaired = read(tmp_path / "out.nii.gz").array
    assert not np.array_equal(repaired, damaged) and np.array_equal(repaired[:, :119], damaged[:, :119])
    again = subprocess.run([sys.executable, "-m", "medinpaint.cli", "repair", str(tmp_path / "in.nii"),
                            str(tmp_path / "out.nii.gz"), "--model", str(fill_model)],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "exists already" in again.stderr and again.stderr.count("\n") == 1


def test_bad_inputs(sample_data, tmp_path, fill_model, capsys):
    write(read(sample_data / "mr_slice.dcm"), tmp_path / "small.nii")
    assert main(["repair", str(sample_data / "mr_head.nii.gz"), str(tmp_path / "o.nii.gz"),
                 "--mask", str(tmp_path / "small.nii"), "--model", str(fill_model)]) == 2
    assert "the mask is" in capsys.readouterr().err
    not_model = tmp_path / "model.safetensors"
    not_model.write_bytes(b"\x80\x04pickle")
    (tmp_path / "model.json").write_text(json.dumps({"format": "medinpaint-model",
                                                     "architecture": "RepairNet",
                                                     "args": {"context": 1}, "format_version": 1}))
    damaged = read(sample_data / "mr_head.nii.gz")
    array = damaged.array.copy()
    array[:, 50:52, 3] = 0
    write(damaged.with_array(array), tmp_path / "d.nii.gz")
    assert main(["repair", str(tmp_path / "d.nii.gz"), str(tmp_path / "o.nii.gz"),
                 "--model", str(not_model)]) == 2
    assert "not a safetensors file" in capsys.readouterr().err
    assert not (tmp_path / "o.nii.gz").exists()
