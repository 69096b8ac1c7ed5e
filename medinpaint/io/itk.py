"""Other ITK formats (NRRD, MetaImage .mha/.mhd, ...) through SimpleITK.

ITK images carry no rescale, so a volume with one (DICOM CT, a scaled NIfTI) is written in physical
units: in the smallest integer type that holds them exactly when they are whole numbers (CT in HU
stays int16), in float32 otherwise. The source's ITK metadata dictionary is copied back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from medinpaint.errors import InputError
from medinpaint.io.atomic import atomic_file, check_writable
from medinpaint.io.volume import Volume, affine_from_lps

ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
DETACHED = (".nhdr", ".mhd")  # header and voxels in two files


def _sitk():
    """SimpleITK, imported on first use: only ITK formats need it, and a DICOM or NIfTI job then
    neither pays its import nor needs it installed (the GPU machines lack it)."""
    import SimpleITK

    return SimpleITK


def read_itk(path: str | os.PathLike) -> Volume:
    """Read any single-file ITK scalar image."""
    sitk = _sitk()
    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise InputError(path, f"cannot be read by ITK ({first})") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, f"has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                               "only scalar images are supported")
    dim = image.GetDimension()
    if dim not in (2, 3):
        raise InputError(path, f"is {dim}D; medinpaint reads 2D and 3D ITK images")
    array = np.transpose(sitk.GetArrayFromImage(image))  # ITK arrays are (k, j, i)
    direction = np.asarray(image.GetDirection()).reshape(dim, dim)
    spacing, origin = list(image.GetSpacing()), list(image.GetOrigin())
    if dim == 2:
        array = array[..., np.newaxis]
        direction = np.pad(direction, (0, 1))
        direction[2, 2] = 1.0
        spacing, origin = spacing + [1.0], origin + [0.0]
    meta = {
        "format": "itk",
        "path": str(path),
        "modality": None,
        "itk_metadata": {k: image.GetMetaData(k) for k in image.GetMetaDataKeys()},
        "itk_dimension": dim,
    }
    return Volume(np.ascontiguousarray(array), affine_from_lps(direction, spacing, origin), 1.0, 0.0, meta)


def physical_for_export(volume: Volume) -> np.ndarray:
    """The voxels for a format without rescale: stored values when there is none, else physical values
    in the smallest exact type."""
    if not volume.has_rescale:
        return volume.array
    values = volume.physical(np.float64)
    if np.all(values == np.round(values)):
        low, high = values.min(), values.max()
        for dtype in (volume.dtype, np.int16, np.int32):
            info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
            if info is not None and info.min <= low and high <= info.max:
                return values.astype(dtype)
    return values.astype(np.float32)


def write_itk(volume: Volume, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``volume`` in the ITK format named by ``path``'s extension."""
    path = Path(path)
    if volume.array.ndim != 3:
        raise ValueError(f"{path}: ITK formats are written for 3D volumes; this one is {volume.array.ndim}D")
    array = physical_for_export(volume)
    two_d = volume.meta.get("itk_dimension") == 2 and array.shape[2] == 1
    sitk = _sitk()
    image = sitk.GetImageFromArray(np.transpose(array[..., 0] if two_d else array))
    spacing, origin, direction = volume.spacing, volume.origin_lps, volume.direction_lps
    if two_d:
        image.SetSpacing(spacing[:2])
        image.SetOrigin(origin[:2])
        image.SetDirection(direction[:2, :2].ravel().tolist())
    else:
        image.SetSpacing(spacing)
        image.SetOrigin(origin)
        image.SetDirection(direction.ravel().tolist())
    for key, value in volume.meta.get("itk_metadata", {}).items():
        if not key.startswith(("ITK_", "NRRD_space", "NRRD_kinds", "NRRD_type", "NRRD_dimension",
                               "NRRD_sizes")):
            image.SetMetaData(key, value)
    compress = path.suffix in (".nrrd", ".mha")
    if path.suffix in DETACHED:
        _write_detached(image, path, overwrite, compress)
    else:
        with atomic_file(path, overwrite) as tmp:
            sitk.WriteImage(image, str(tmp), useCompression=compress)
    return path


def _write_detached(image, path: Path, overwrite: bool, compress: bool) -> None:
    """A header naming its voxel file: both are written under their final names in a staging folder,
    then the voxel file is moved in first and the header last, so a complete header means a complete image."""
    sitk = _sitk()
    check_writable(path, overwrite)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        sitk.WriteImage(image, str(staging / path.name), useCompression=compress)
        for f in sorted(staging.iterdir(), key=lambda f: f.name == path.name):
            os.replace(f, path.parent / f.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
