"""NIfTI-1/2 (.nii, .nii.gz) through nibabel, with the header kept byte for byte.

nibabel's image writer recomputes scl_slope/scl_inter, and MONAI's writers reset the qform/sform
codes (MONAI#3881), so medinpaint writes the header block and the raw stored voxels itself: an
unchanged image comes back with the same header bytes (dtype, affine, qform/sform and their codes,
pixdim, xyzt_units, scl_slope/scl_inter, descrip, intent, extensions) and the same stored values.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.openers import ImageOpener
from nibabel.volumeutils import array_to_file

from medinpaint.errors import InputError
from medinpaint.io.atomic import atomic_file
from medinpaint.io.volume import Volume, drop_mapped_pages

NIFTI_SUFFIXES = (".nii", ".nii.gz")
SLAB_BYTES = 32 << 20  # the writer reads and writes the voxels this many bytes at a time


def read_nifti(path: str | os.PathLike) -> Volume:
    """Read a NIfTI file; ``array`` holds the unscaled stored values, the header goes to ``meta``."""
    path = Path(path)
    try:
        img = nib.load(path)
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise InputError(path, f"is a {type(img).__name__}, not a NIfTI-1/2 image")
        array = np.asanyarray(img.dataobj.get_unscaled())
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for broken files
        raise InputError(path, f"cannot be read as NIfTI ({type(exc).__name__}: {exc})") from exc
    if array.size == 0:
        raise InputError(path, f"holds no voxels (its shape is {tuple(img.shape)})")
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim > 4:
        raise InputError(path, f"has {array.ndim} dimensions; medinpaint handles 2D, 3D and 4D images")
    with ImageOpener(path) as f:  # nibabel's loaded header has scl_* cleared: keep the file's own
        header = type(img.header).from_fileobj(f)
    slope, inter = header.get_slope_inter()
    array = array.astype(array.dtype.newbyteorder("="), copy=False)
    meta = {"format": "nifti", "path": str(path), "modality": None, "nifti_header": header,
            "nifti_shape": img.shape}
    return Volume(np.asarray(array), img.affine, 1.0 if slope is None else float(slope),
                  0.0 if inter is None else float(inter), meta)


def _header_for(volume: Volume) -> nib.Nifti1Header | nib.Nifti2Header:
    header = volume.meta.get("nifti_header")
    if header is not None:
        header = header.copy()
        if np.allclose(header.get_best_affine(), volume.affine, atol=1e-5):
            pass  # the source's qform/sform and codes stay exactly as they were
        else:
            header.set_sform(volume.affine, code=int(header["sform_code"]) or 1)
            header.set_qform(volume.affine, code=int(header["qform_code"]) or 1)
    else:
        header = nib.Nifti1Header()
        header.set_sform(volume.affine, code=1)  # scanner-based coordinates, as DICOM/ITK sources are
        header.set_qform(volume.affine, code=1)
        header.set_xyzt_units("mm", "sec")
        header["descrip"] = b"medinpaint"
    if header["magic"] not in (b"n+1", b"n+2"):
        header["magic"] = b"n+2" if isinstance(header, nib.Nifti2Header) else b"n+1"
        header["vox_offset"] = 0
    return header


def write_nifti(volume: Volume, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``volume`` as a single-file NIfTI, keeping its source header where it has one."""
    path = Path(path)
    array = volume.array
    shape = volume.meta.get("nifti_shape")
    if shape is not None and int(np.prod(shape)) == array.size and len(shape) < array.ndim:
        array = array.reshape(shape)  # a 2D image read as (x, y, 1) goes back as (x, y)
    header = _header_for(volume)
    if tuple(header.get_data_shape()) != array.shape:
        header.set_data_shape(array.shape)  # (resets pixdim beyond the old dimensions, so only when needed)
    on_disk = header.get_data_dtype()
    if on_disk.newbyteorder("=") != array.dtype.newbyteorder("="):
        header.set_data_dtype(array.dtype)
        on_disk = header.get_data_dtype()
    slope, inter = np.asarray(volume.slope), np.asarray(volume.intercept)
    if slope.ndim or inter.ndim:
        raise ValueError(f"{path}: NIfTI holds one rescale for the whole image; "
                         "this volume has one per slice")
    source_slope, source_inter = header.get_slope_inter()
    if (source_slope, source_inter) != (None, None) or volume.has_rescale:
        if (source_slope or 1.0, source_inter or 0.0) != (float(slope), float(inter)):
            header.set_slope_inter(float(slope), float(inter))
    with atomic_file(path, overwrite) as tmp:
        with ImageOpener(tmp, "wb") as f:
            header.write_to(f)
            offset = int(header["vox_offset"])
            f.write(b"\x00" * (offset - f.tell()))
            for start, stop in _slabs(array):  # byte order as the header says
                array_to_file(array[..., start:stop], f, on_disk, offset=None, order="F")
                if array.ndim == 3:
                    drop_mapped_pages(array, start, stop)
    return path


def _slabs(array: np.ndarray) -> list[tuple[int, int]]:
    """Ranges along the last axis of about SLAB_BYTES each. In NIfTI's (Fortran) order the file holds
    them one after the other, so the voxels can be written slab by slab; for a scan read from an
    uncompressed NIfTI (a memory map) each slab's pages are then let go (:func:`drop_mapped_pages`), so
    writing holds one slab, not the scan (a 512x512x2000 int16 scan had read the whole 1 GB map)."""
    n = array.shape[-1] if array.ndim else 1
    per = max(1, array[..., :1].nbytes) if array.ndim else 1
    step = max(1, SLAB_BYTES // per)
    return [(start, min(start + step, n)) for start in range(0, n, step)] or [(0, n)]
