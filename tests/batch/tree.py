"""A small archive for the batch tests and benchmark, made from real scans.

Damaged series are real sample scans damaged by ``medinpaint.damage`` (the engine behind ``medinpaint
simulate``) and written as the simulate command writes them, so each has a UID of its own; the bad inputs
are the kinds an archive holds: a text file, a truncated DICOM, a colour image, a multi-echo series.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.uid import generate_uid

from medinpaint.damage.simulate import simulate_volume
from medinpaint.io import read, write

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"

GOOD = 8  # series that screen and repair
BAD = 4  # inputs that fail, each with its reason
DAMAGED = 5  # of the good ones


def _damaged(src: Path, dst: Path, seed: int) -> None:
    """``src`` damaged with the 'transmission' preset and ``seed``, written like ``medinpaint simulate``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    volume = read(src)
    damaged, mask = simulate_volume(volume, "transmission", seed)
    assert mask.any(), f"seed {seed} left {src.name} undamaged"
    write(damaged, dst, derivation=f"Damage simulated by medinpaint (transmission, seed {seed})")


def _cropped_mr(dst: Path, slices: slice = slice(18, 30)) -> None:
    image = nib.load(SAMPLE / "mr_head.nii.gz")
    data = np.asarray(image.dataobj)[:, :, slices]
    nib.save(nib.Nifti1Image(data, image.affine, image.header), dst)


def _with_new_series(src: Path, dst: Path) -> pydicom.Dataset:
    ds = pydicom.dcmread(src)
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(dst, enforce_file_format=True)
    return ds


def make_archive(root: Path, copies: int = 0) -> Path:
    """Build the archive under ``root``: :data:`GOOD` usable series (:data:`DAMAGED` of them damaged),
    :data:`BAD` bad inputs, and ``copies`` more damaged MR volumes (for the benchmark). Returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    ct = SAMPLE / "ct_head_series"
    # DICOM series: two damaged, one clean; one damaged series split over two folders
    _damaged(ct, root / "site_a" / "ct_seed0", 0)
    _damaged(ct, root / "site_a" / "ct_seed2", 2)
    shutil.copytree(ct, root / "site_a" / "ct_clean")
    _damaged(ct, root / "tmp_split", 5)
    files = sorted((root / "tmp_split").iterdir())
    for n, f in enumerate(files):
        part = root / ("site_b" if n % 2 else "site_c") / "split"
        part.mkdir(parents=True, exist_ok=True)
        shutil.move(f, part / f.name)
    (root / "tmp_split").rmdir()
    # two single-file series in one folder: a damaged CT slice and a clean MR slice
    mixed = root / "site_b" / "mixed"
    _damaged(SAMPLE / "ct_slice.dcm", root / "tmp_slice", 0)
    mixed.mkdir(parents=True, exist_ok=True)
    shutil.move(next((root / "tmp_slice").iterdir()), mixed / "ct.dcm")
    (root / "tmp_slice").rmdir()
    shutil.copyfile(SAMPLE / "mr_slice.dcm", mixed / "mr.dcm")
    # NIfTI: a cropped MR head, damaged and clean
    nifti = root / "site_d"
    nifti.mkdir()
    _cropped_mr(nifti / "mr_clean.nii.gz")
    _damaged(nifti / "mr_clean.nii.gz", nifti / "mr_damaged.nii.gz", 0)
    for n in range(copies):
        _damaged(nifti / "mr_clean.nii.gz", nifti / f"mr_extra{n}.nii.gz", 0 if n % 2 == 0 else 3)
    # bad inputs
    bad = root / "bad"
    bad.mkdir()
    (bad / "notes.txt").write_text("scanned at 14:02, see the paper request form\n")
    _with_new_series(SAMPLE / "ct_slice.dcm", bad / "truncated.dcm")
    data = (bad / "truncated.dcm").read_bytes()
    (bad / "truncated.dcm").write_bytes(data[: len(data) - 20000])
    shutil.copyfile(TEST_FILES / "SC_rgb_small_odd.dcm", bad / "colour.dcm")
    echo = _with_new_series(ct / "CT001.dcm", bad / "echo1.dcm")
    echo.SOPInstanceUID = generate_uid()
    echo.file_meta.MediaStorageSOPInstanceUID = echo.SOPInstanceUID
    echo.EchoNumbers = 2
    echo.save_as(bad / "echo2.dcm", enforce_file_format=True)
    return root
