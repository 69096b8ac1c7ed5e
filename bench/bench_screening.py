"""Screening a clean scan against reading it (issue 18): a clean 512x512x300 int16 CT (InVesalius'
cranium resampled onto that grid, HU stored with intercept -1024) through `detect()`, beside reading the
same scan from an uncompressed NIfTI file and from a folder of 300 DICOM files, in the same run. MB/s of
the scan's voxels (int16: 150 MiB); the best of ``--repeats`` runs of each.

    MEDINPAINT_DATA=data .venv/bin/python bench/bench_screening.py [--repeats 3] [--slices 300]

Prints JSON, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from medinpaint.data.sources import find_source
from medinpaint.io import Volume, read
from medinpaint.repair.detection import detect


def clean_ct(slices: int) -> Volume:
    """The cranium CT on a 512x512x``slices`` grid, stored as int16 with intercept -1024."""
    cranium = find_source("cranium").load()
    hu = np.asarray(cranium.array, np.float32)
    zoom = (512 / hu.shape[0], 512 / hu.shape[1], slices / hu.shape[2])
    hu = ndimage.zoom(hu, zoom, order=1)
    stored = np.rint(hu + 1024).astype(np.int16)
    return Volume(np.asfortranarray(stored), np.diag([0.5, 0.5, 0.75, 1.0]), 1.0, -1024.0,
                  meta={"format": "nifti", "modality": "CT"})


def write_nifti(volume: Volume, path: Path) -> None:
    import nibabel as nib

    image = nib.Nifti1Image(np.asarray(volume.array), volume.affine)
    image.header.set_slope_inter(1.0, -1024.0)
    image.to_filename(str(path))


def write_dicom_folder(volume: Volume, folder: Path) -> None:
    """One uncompressed CT file per slice, on pydicom's CT_small.dcm (positions along the slices)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    series = generate_uid(entropy_srcs=["bench_screening"])
    folder.mkdir()
    for k in range(volume.shape[2]):
        ds = template.copy()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
            entropy_srcs=["bench_screening", str(k)])
        ds.SeriesInstanceUID = series
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, 0.75 * k]
        ds.PixelSpacing = [0.5, 0.5]
        ds.SliceThickness = 0.75
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
        for keyword in ("PixelPaddingValue", "SmallestImagePixelValue", "LargestImagePixelValue"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.PixelData = np.ascontiguousarray(np.asarray(volume.array)[:, :, k].T).astype("<i2").tobytes()
        ds.save_as(str(folder / f"{k:04d}.dcm"), enforce_file_format=True)


def best(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slices", type=int, default=300)
    args = parser.parse_args()
    volume = clean_ct(args.slices)
    megabytes = volume.array.nbytes / 2**20
    with tempfile.TemporaryDirectory() as folder:
        nifti, dicom = Path(folder) / "ct.nii", Path(folder) / "ct"
        write_nifti(volume, nifti)
        write_dicom_folder(volume, dicom)
        found = detect(volume).counts()
        seconds = {
            "read NIfTI (.nii, voxels loaded)": best(lambda: np.asarray(read(nifti).array).sum(),
                                                     args.repeats),
            "read DICOM folder": best(lambda: read(dicom), args.repeats),
            "screen (detect) in memory": best(lambda: detect(volume), args.repeats),
            "read NIfTI + screen": best(lambda: detect(read(nifti)), args.repeats),
        }
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "shape": list(volume.shape),
              "megabytes": round(megabytes, 1),
              "load_average": os.getloadavg(), "cpus": os.cpu_count(), "detections_on_clean": found,
              "seconds": {k: round(v, 3) for k, v in seconds.items()},
              "mb_per_s": {k: round(megabytes / v, 1) for k, v in seconds.items()}}
    print(json.dumps(report, indent=1))
    print("\n| step | seconds | MB/s |\n| --- | ---: | ---: |")
    for step, value in seconds.items():
        print(f"| {step} | {value:.3f} | {megabytes / value:.0f} |")


if __name__ == "__main__":
    main()
