"""The one image type that crosses every boundary of medinpaint.

A :class:`Volume` holds the voxels exactly as the file stores them (``array``, in its stored dtype),
the rescale that turns them into physical units (``slope``/``intercept``: HU for CT, arbitrary units
for MR), the geometry (``affine``: voxel index to RAS+ millimetres, the convention of NIfTI, nibabel
and MONAI) and what the source said about itself (``meta``), so that a writer can put every
unchanged stored value and every header field back exactly.

Index order is ``(i, j, k[, t])``: column, row, slice, as in NIfTI, ITK and MONAI's loaders.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class Volume:
    """Stored voxels, their rescale, their geometry and the source's metadata.

    Args:
        array: stored values in the source's dtype, indexed ``(i, j, k)`` or ``(i, j, k, t)``.
        affine: 4x4 matrix from voxel index to RAS+ world coordinates in mm.
        slope: rescale slope; a scalar, or one value per slice (length ``array.shape[2]``).
        intercept: rescale intercept, as ``slope``.
        meta: the source's own metadata, keyed by format (see the readers); ``meta["format"]`` is
            ``"dicom"``, ``"nifti"`` or ``"itk"`` and ``meta["path"]`` where it came from.
    """

    array: np.ndarray
    affine: np.ndarray
    slope: float | np.ndarray = 1.0
    intercept: float | np.ndarray = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}")
        if self.array.ndim not in (3, 4):
            raise ValueError(f"array must be 3D (i, j, k) or 4D (i, j, k, t), got shape {self.array.shape}")
        for name in ("slope", "intercept"):
            value = getattr(self, name)
            if np.ndim(value) == 1 and len(value) != self.array.shape[2]:
                raise ValueError(f"{name} has {len(value)} values for {self.array.shape[2]} slices")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def format(self) -> str:
        return self.meta.get("format", "unknown")

    @property
    def modality(self) -> str | None:
        return self.meta.get("modality")

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along i, j, k."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def origin_lps(self) -> tuple[float, float, float]:
        """World position of voxel (0, 0, 0) in DICOM/ITK LPS mm."""
        return tuple(float(v) for v in (LPS_FROM_RAS @ self.affine)[:3, 3])

    @property
    def direction_lps(self) -> np.ndarray:
        """3x3 direction cosines (columns are the i, j, k axes) in DICOM/ITK LPS."""
        m = (LPS_FROM_RAS @ self.affine)[:3, :3]
        return m / np.asarray(self.spacing)

    @property
    def orientation(self) -> str:
        """Axis codes of i, j, k in RAS terms, e.g. ``"LPS"`` for a typical axial DICOM series."""
        import nibabel as nib

        return "".join(nib.orientations.aff2axcodes(self.affine))

    @property
    def has_rescale(self) -> bool:
        return not (np.all(np.asarray(self.slope) == 1) and np.all(np.asarray(self.intercept) == 0))

    def physical(self, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Voxels in physical units (stored * slope + intercept), as floats."""
        slope = np.asarray(self.slope, dtype=np.float64)
        intercept = np.asarray(self.intercept, dtype=np.float64)
        if slope.ndim == 1:
            shape = (1, 1, -1) + (1,) * (self.array.ndim - 3)
            slope, intercept = slope.reshape(shape), intercept.reshape(shape)
        return (self.array * slope + intercept).astype(dtype)

    def to_stored(self, physical: np.ndarray) -> np.ndarray:
        """Physical values back to the stored dtype: rounded for integers and clipped to its range."""
        slope = np.asarray(self.slope, dtype=np.float64)
        intercept = np.asarray(self.intercept, dtype=np.float64)
        if slope.ndim == 1:
            shape = (1, 1, -1) + (1,) * (physical.ndim - 3)
            slope, intercept = slope.reshape(shape), intercept.reshape(shape)
        stored = (np.asarray(physical, dtype=np.float64) - intercept) / slope
        return cast_to_dtype(stored, self.array.dtype, self.meta.get("stored_range"))

    def _slice_rescale(self, k: int) -> tuple[float, float]:
        slope = self.slope[k] if np.ndim(self.slope) else self.slope
        intercept = self.intercept[k] if np.ndim(self.intercept) else self.intercept
        return float(slope), float(intercept)

    def physical_slice(self, k: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Slice ``k`` along the third axis in physical units, as :meth:`physical` gives it, without
        converting the rest of the scan (the repair engine reads only the slices it needs)."""
        slope, intercept = self._slice_rescale(k)
        return (self.array[:, :, k] * np.float64(slope) + np.float64(intercept)).astype(dtype)

    def to_stored_slice(self, k: int, physical: np.ndarray) -> np.ndarray:
        """:meth:`to_stored` for slice ``k`` alone."""
        slope, intercept = self._slice_rescale(k)
        stored = (np.asarray(physical, dtype=np.float64) - intercept) / slope
        return cast_to_dtype(stored, self.array.dtype, self.meta.get("stored_range"))

    def with_array(self, array: np.ndarray, **changes: Any) -> Volume:
        """A copy with other stored voxels (same geometry and metadata), e.g. a repaired scan."""
        return replace(self, array=array, meta=dict(self.meta), **changes)


def cast_to_dtype(values: np.ndarray, dtype: np.dtype, stored_range: tuple[float, float] | None = None):
    """Cast float values to ``dtype``: rounded to the nearest integer and clipped to the range that the
    dtype (or ``stored_range``, e.g. DICOM BitsStored) can hold."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.asarray(values, dtype=dtype)
    info = np.iinfo(dtype)
    low, high = (info.min, info.max) if stored_range is None else stored_range
    return np.clip(np.rint(values), low, high).astype(dtype)


def affine_from_lps(direction: np.ndarray, spacing, origin) -> np.ndarray:
    """RAS affine from ITK/DICOM-style LPS direction cosines (columns), spacing and origin."""
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(direction, dtype=np.float64) * np.asarray(spacing, dtype=np.float64)
    lps[:3, 3] = origin
    return LPS_FROM_RAS @ lps


# Linux's MADV_PAGEOUT (5.4 and later; Python's mmap module does not name it): reclaim the pages now.
# Unlike MADV_DONTNEED it keeps pages written to in a private map (they would go to swap), where
# DONTNEED threw such changes away and read the file's values back.
MADV_PAGEOUT = 21


def release_freed_memory() -> None:
    """Hand back to the system the memory NumPy has freed: glibc keeps freed blocks in each thread's
    arena for reuse, and after a pass over a large scan on worker threads that is hundreds of MiB
    nothing uses. A no-op off Linux, and where the C library has no ``malloc_trim`` (musl)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):  # Windows' ctypes cannot open the running program
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return
    trim(0)


def drop_mapped_pages(array: np.ndarray, k0: int, k1: int) -> None:
    """Let the kernel drop the resident pages of slices ``k0:k1`` of a memory-mapped volume.

    For a scan read from an uncompressed NIfTI (a private copy-on-write map) this keeps a pass over the
    whole volume at the memory of one slab: the pages are read again from the file when needed. Pages
    written to stay as written. A no-op for in-memory arrays, and where the kernel cannot page out.
    """
    import mmap

    mapped = array
    while isinstance(mapped, np.ndarray) and not isinstance(mapped, np.memmap):
        mapped = mapped.base
    raw = getattr(mapped, "_mmap", None)
    if raw is None or not array.flags.f_contiguous or not hasattr(raw, "madvise"):
        return
    base = mapped.ctypes.data - mapped.offset % mmap.ALLOCATIONGRANULARITY
    plane = array.shape[0] * array.shape[1] * array.itemsize
    start = array.ctypes.data + k0 * plane - base
    stop = array.ctypes.data + k1 * plane - base
    start -= start % mmap.PAGESIZE
    if stop > start:
        try:
            raw.madvise(MADV_PAGEOUT, start, min(stop, len(raw)) - start)
        except OSError:  # a kernel older than 5.4: the pages stay until memory is short
            pass
