"""Real DICOM series for the watcher's tests and benchmark, and checks of what the watcher leaves behind.

Series are built from real slices (pydicom's CT and MR test files, the sample CT series): each instance
is a copy of a real slice with its own SOP instance UID, instance number and position, so the watcher
and the repair engine see an ordinary series. Damage is a block of rows set to 0 in the stored values,
as a transmission that lost a run of packets would leave it.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CT_SERIES = ROOT / "sample_data" / "ct_head_series"
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
CT_SLICE = TEST_FILES / "CT_small.dcm"
MR_SLICE = TEST_FILES / "MR_small.dcm"
TEMP_NAME = re.compile(r"(^\.|\.part$|\.tmp$|\.partial$)")


def damage_rows(path: Path, rows: slice = slice(40, 56)) -> None:
    """Set a block of rows of one instance to stored value 0 (a lost run of packets)."""
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.copy()
    pixels[rows, :] = 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def sample_series(folder: Path, damaged: int | None = 2, rows: slice = slice(5, 9)) -> list[Path]:
    """The real 5-instance CT series of sample_data, copied; instance ``damaged`` gets lost rows."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for src in sorted(SAMPLE_CT_SERIES.glob("*.dcm")):
        dst = folder / src.name
        shutil.copyfile(src, dst)
        files.append(dst)
    if damaged is not None:
        damage_rows(files[damaged], rows)
    return files


def built_series(folder: Path, slices: int, source: Path = CT_SLICE, damaged: list[int] | None = None,
                 rows: slice = slice(40, 56), prefix: str = "IM",
                 series_uid: str | None = None) -> list[Path]:
    """A series of ``slices`` instances made from one real slice, with new UIDs and positions."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(source)
    series_uid = series_uid or generate_uid()
    step = float(template.get("SliceThickness", 1) or 1)
    iop = [float(v) for v in template.ImageOrientationPatient]
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array([float(v) for v in template.ImagePositionPatient])
    files = []
    for k in range(slices):
        ds = copy.deepcopy(template)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.4f}" for v in origin + k * step * normal]
        if "SliceLocation" in ds:
            ds.SliceLocation = f"{float(np.dot(origin + k * step * normal, normal)):.4f}"
        if damaged and k in damaged:
            pixels = ds.pixel_array.copy()
            pixels[rows, :] = 0
            ds.PixelData = pixels.tobytes()
        path = folder / f"{prefix}{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path (to prove inputs were not changed)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def temp_names(folder: Path) -> list[str]:
    """Anything under ``folder`` with a temporary or hidden name."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if TEMP_NAME.search(p.name)]


def out_series(out: Path) -> dict[str, list[pydicom.Dataset]]:
    """The result folders in OUT and their instances (headers only)."""
    return {d.name: [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(d.iterdir())]
            for d in sorted(out.iterdir()) if d.is_dir()}


def env_without_failpoint() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MEDINPAINT_WATCH_FAILPOINT", None)
    return env
