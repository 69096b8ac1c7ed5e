"""``read`` and ``write``: one entry point for every format, chosen by the path."""

from __future__ import annotations

import os
from pathlib import Path

from medinpaint.errors import InputError, OutputError
from medinpaint.io.dicom_derived import write_dicom_series
from medinpaint.io.dicom_read import read_dicom
from medinpaint.io.itk import ITK_SUFFIXES, read_itk, write_itk
from medinpaint.io.nifti import NIFTI_SUFFIXES, read_nifti, write_nifti
from medinpaint.io.volume import Volume


def output_kind(path: str | os.PathLike) -> str:
    """``"nifti"``, ``"itk"`` or ``"dicom"`` (no extension, or an existing folder) for an output path."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir() or "." not in name.lstrip("."):
        return "dicom"
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(ITK_SUFFIXES):
        return "itk"
    if name.endswith(".dcm"):
        return "dicom-file"
    raise OutputError(path, "unknown output format; use .nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, "
                            "or a folder for DICOM")


def read(path: str | os.PathLike, series: str | int | None = None, fill_gaps: bool = False) -> Volume:
    """Read a scan: a DICOM file or series folder, a NIfTI file, or another ITK image."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist")
    name = path.name.lower()
    if path.is_dir():
        if not any(path.iterdir()):
            raise InputError(path, "is an empty folder")
        return read_dicom(path, series, fill_gaps)
    if name.endswith(NIFTI_SUFFIXES):
        return read_nifti(path)
    if name.endswith(ITK_SUFFIXES):
        return read_itk(path)
    if path.stat().st_size == 0:
        raise InputError(path, "is empty")
    return read_dicom(path)


def write(volume: Volume, path: str | os.PathLike, overwrite: bool = False,
          derivation: str = "Converted by medinpaint") -> Path:
    """Write a scan in the format ``path`` names; DICOM as a derived series. Returns ``path``."""
    path = Path(path)
    kind = output_kind(path)
    if kind == "nifti":
        return write_nifti(volume, path, overwrite)
    if kind == "itk":
        return write_itk(volume, path, overwrite)
    if kind == "dicom-file":
        raise OutputError(path, "DICOM is written as a series folder: give a folder path without extension")
    if path.exists() and not path.is_dir():
        raise OutputError(path, "exists and is not a folder")
    write_dicom_series(volume, path, derivation, overwrite)
    return path
