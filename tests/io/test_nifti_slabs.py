"""The NIfTI writer streams the voxels slab by slab: the same bytes as one write of the whole array, and
a scan read as a memory map is written without holding it all in memory (issue 23)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from medinpaint.io import Volume, read, write
from medinpaint.io import nifti as nifti_module


def _raw(path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()


@pytest.mark.parametrize("dtype, shape, order", [("<i2", (40, 30, 17), "F"), (">i2", (40, 30, 17), "F"),
                                                  ("<f4", (40, 30, 17), "C"), ("<u1", (20, 10, 5, 3), "F"),
                                                  ("<i2", (40, 30), "F")])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_slabs_give_the_bytes_of_one_write(dtype, shape, order, suffix, tmp_path, monkeypatch):
    monkeypatch.setattr(nifti_module, "SLAB_BYTES", 500)  # several slabs, the last one shorter
    calls = []
    write_part = nifti_module.array_to_file

    def spy(part, *args, **kwargs):
        calls.append(part.shape)
        return write_part(part, *args, **kwargs)

    monkeypatch.setattr(nifti_module, "array_to_file", spy)
    rng = np.random.default_rng(0)
    array = np.array(rng.integers(0, 200, shape), dtype=dtype, order=order)
    source = tmp_path / f"source{suffix}"
    nib.save(nib.Nifti1Image(array, np.eye(4)), source)
    out = write(read(source), tmp_path / f"out{suffix}")
    with monkeypatch.context() as whole:  # the writer as it was: the whole array in one call
        whole.setattr(nifti_module, "_slabs", lambda array: [(0, array.shape[-1])])
        one = write(read(source), tmp_path / f"one{suffix}")
    assert _raw(out) == _raw(one)
    assert len(calls) > 3 and calls[-1] == shape  # several slabs, then the one call of the writer as it was
    assert np.array_equal(np.asanyarray(nib.load(out).dataobj), np.asanyarray(nib.load(source).dataobj))


def test_a_new_volume_writes_through_slabs(tmp_path, monkeypatch):
    monkeypatch.setattr(nifti_module, "SLAB_BYTES", 1000)
    array = np.asfortranarray(np.arange(24 * 16 * 9, dtype=np.int16).reshape(24, 16, 9))
    out = write(Volume(array, np.eye(4), meta={"format": "array"}), tmp_path / "new.nii")
    assert np.array_equal(read(out).array, array)


PROBE = """
import json, resource, sys
from medinpaint.io import read, write
volume = read(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
write(volume, sys.argv[2])
print(json.dumps({"before_kib": before, "after_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def test_a_mapped_scan_is_written_holding_one_slab(tmp_path):
    """A 256 MiB int16 NIfTI (read as a map) written out: the peak grows by far less than the scan."""
    shape = (512, 512, 512)
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.int16)
    source = tmp_path / "big.nii"
    with open(source, "wb") as f:
        header.write_to(f)
        f.write(b"\0" * (int(header["vox_offset"]) - f.tell()))
        plane = np.arange(512 * 512, dtype=np.int16).tobytes()
        for _ in range(shape[2]):
            f.write(plane)
    run = subprocess.run([sys.executable, "-c", PROBE, str(source), str(tmp_path / "out.nii")],
                         capture_output=True, text=True, check=True)
    record = json.loads(run.stdout)
    assert (record["after_kib"] - record["before_kib"]) / 1024 < 96, record
    assert (tmp_path / "out.nii").read_bytes() == source.read_bytes()
