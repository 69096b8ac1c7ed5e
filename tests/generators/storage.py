"""Storage forms: a clean scan as users have it, in memory and on disk.

A scan is held as *stored* values plus a rescale (``physical = stored * slope + intercept``): DICOM's Rescale
Slope/Intercept, NIfTI's ``scl_slope``/``scl_inter``. ``Stored`` carries the three together. The forms:

- CT: HU as float32 / float64 (a converted or processed NIfTI), HU in int16 with intercept -1024 (stored 0
  is -1024 HU, as scanners and dcm2niix write it), HU in int16 with no rescale;
- MR: uint8 (an 8-bit export, rescaled to 0..255), uint16 (12 bits used, 0..4095), float32;
- geometry and background: ``crop`` in-plane, ``pad`` with the scanner's background value, ``masked``
  (skull-stripped-like: a constant outside a body mask that cuts into tissue), ``thresholded`` (everything
  under a level set to a constant);
- 8-bit exports: ``windowed`` through a display window (``CT_WINDOWS``' presets, or ``auto_window``),
  ``jpeg_lossy`` and ``j2k_lossy`` through a lossy codec;
- files: ``write_nifti`` saves stored values with their dtype and ``scl_slope``/``scl_inter``, so that a test
  can hand a real file to ``medinpaint repair``; ``read_nifti`` reads one back; ``write_dicom`` saves a 2D
  slice as a CT DICOM file built on pydicom's CT_small.dcm.

Arrays are 2D (H, W) or 3D (H, W, D), slices on the last axis; nothing here modifies its input.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage


class Stored(NamedTuple):
    """Stored values and their rescale: ``physical = array * slope + intercept``."""

    array: np.ndarray
    slope: float = 1.0
    intercept: float = 0.0

    def physical(self, dtype=np.float64) -> np.ndarray:
        return (self.array.astype(np.float64) * self.slope + self.intercept).astype(dtype)


def physical_values(stored: np.ndarray, slope: float = 1.0, intercept: float = 0.0, dtype=np.float32):
    """The physical values (HU for CT) of a stored array, as ``dtype`` (float32 or float64)."""
    return Stored(np.asarray(stored), slope, intercept).physical(dtype)


def as_float(physical: np.ndarray, dtype=np.float32) -> Stored:
    """Physical values stored as float (float32 or float64), no rescale."""
    return Stored(np.asarray(physical).astype(dtype), 1.0, 0.0)


def rescaled_integer(physical: np.ndarray, dtype=np.int16, *, slope: float = 1.0, intercept: float = -1024.0):
    """Physical values stored as integers with a given rescale; an error if any value does not fit."""
    stored = np.rint((np.asarray(physical, np.float64) - intercept) / slope)
    info = np.iinfo(dtype)
    if stored.min() < info.min or stored.max() > info.max:
        raise ValueError(f"values {stored.min()}..{stored.max()} do not fit {np.dtype(dtype)}")
    return Stored(stored.astype(dtype), float(slope), float(intercept))


def scaled_integer(physical: np.ndarray, dtype=np.uint16, *, top: int | None = None) -> Stored:
    """Physical values scaled linearly onto ``0..top`` of an integer dtype (``top``: 255 for uint8, 4095
    for 16-bit types, i.e. 12 bits stored), with the rescale that maps them back (to within slope / 2)."""
    physical = np.asarray(physical, np.float64)
    top = (255 if np.dtype(dtype).itemsize == 1 else 4095) if top is None else top
    lo, hi = float(physical.min()), float(physical.max())
    # float32, as NIfTI's scl_slope and scl_inter are
    slope, lo = float(np.float32((hi - lo) / top if hi > lo else 1.0)), float(np.float32(lo))
    stored = np.clip(np.rint((physical - lo) / slope), 0, np.iinfo(dtype).max).astype(dtype)
    return Stored(stored, slope, lo)


def ct_forms(hu: np.ndarray) -> dict[str, Stored]:
    """A CT in HU (integers, as CT is) in the forms users have it."""
    return {
        "hu_float32": as_float(hu, np.float32),
        "hu_float64": as_float(hu, np.float64),
        "int16_rescaled": rescaled_integer(hu, np.int16, slope=1.0, intercept=-1024.0),
        "int16_hu": rescaled_integer(hu, np.int16, slope=1.0, intercept=0.0),
    }


def mr_forms(values: np.ndarray) -> dict[str, Stored]:
    """An MR (non-negative, arbitrary units) in the forms users have it."""
    return {
        "uint8": scaled_integer(values, np.uint8),
        "uint16": scaled_integer(values, np.uint16),
        "float32": as_float(values, np.float32),
    }


def _in_plane(array: np.ndarray, pairs):
    return list(pairs) + [(0, 0)] * (array.ndim - 2)


def crop(array: np.ndarray, rng: np.random.Generator | None = None, *, margins=None, most: float = 0.2):
    """The array cropped in-plane by ``margins`` = (top, bottom, left, right) pixels, or by margins drawn
    with ``rng`` up to ``most`` of each side's length."""
    array = np.asarray(array)
    height, width = array.shape[:2]
    if margins is None:
        limits = (height, height, width, width)
        margins = tuple(int(rng.integers(0, max(1, int(most * n)) + 1)) for n in limits)
    top, bottom, left, right = margins
    return array[top:height - bottom, left:width - right].copy()


def background_value(array: np.ndarray):
    """The scanner's background: the most common value on the outer frame of the slices."""
    array = np.asarray(array)
    frame = np.concatenate([array[0].ravel(), array[-1].ravel(), array[:, 0].ravel(), array[:, -1].ravel()])
    values, counts = np.unique(frame, return_counts=True)
    return values[np.argmax(counts)]


def pad(array: np.ndarray, width: int, value=None) -> np.ndarray:
    """The array padded in-plane by ``width`` pixels of ``value`` (the scanner's background when None)."""
    array = np.asarray(array)
    value = background_value(array) if value is None else value
    return np.pad(array, _in_plane(array, [(width, width)] * 2), constant_values=value)


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of the finite values."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mean = np.cumsum(counts * centres)
    total, total_mean = weight[-1], mean[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mean * weight - mean * total) ** 2 / (weight * (total - weight))
    return float(centres[np.nanargmax(between[:-1])])


def body_mask(array: np.ndarray, *, level=None, erode: int = 3) -> np.ndarray:
    """A skull-stripping-like mask: above Otsu's level (or ``level``), holes filled per slice, the largest
    connected part, eroded by ``erode`` voxels in-plane so that its edge cuts through tissue."""
    array = np.asarray(array)
    level = otsu(array) if level is None else level
    inside = array > level
    planes = inside[..., None] if inside.ndim == 2 else inside
    planes = np.stack([ndimage.binary_fill_holes(planes[..., z]) for z in range(planes.shape[2])], axis=-1)
    labels, n = ndimage.label(planes)
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        planes = labels == 1 + int(np.argmax(sizes))
    if erode:
        structure = np.zeros((3, 3, 3), bool)
        structure[:, :, 1] = ndimage.generate_binary_structure(2, 1)
        planes = ndimage.binary_erosion(planes, structure, iterations=erode)
    return planes[..., 0] if inside.ndim == 2 else planes


def masked(array: np.ndarray, mask=None, value=0) -> np.ndarray:
    """The array with ``value`` outside ``mask`` (``body_mask`` when None): a skull-stripped-like scan."""
    array = np.asarray(array)
    mask = body_mask(array) if mask is None else mask
    return np.where(mask, array, np.asarray(value, array.dtype)).astype(array.dtype)


def thresholded(array: np.ndarray, level=None, value=0) -> np.ndarray:
    """The array with ``value`` wherever it is below ``level`` (half Otsu's level when None)."""
    array = np.asarray(array)
    level = otsu(array) / 2 if level is None else level
    return np.where(array < level, np.asarray(value, array.dtype), array).astype(array.dtype)


def upsampled(array: np.ndarray, factor: float = 1.5) -> np.ndarray:
    """The array resampled in-plane ``factor`` times finer, linearly (a scan brought to a finer grid or
    a template's), in float32."""
    from scipy import ndimage

    array = np.asarray(array, dtype=np.float64)
    zoom = (factor, factor) + (1.0,) * (array.ndim - 2)
    return ndimage.zoom(array, zoom, order=1).astype(np.float32)


def turned(array: np.ndarray, degrees: float = 5.0) -> np.ndarray:
    """A volume turned by ``degrees`` about its first axis (the slices tilted), resampled linearly with
    the edges held (a scan registered to another), in float32."""
    from scipy import ndimage

    array = np.asarray(array, dtype=np.float64)
    turned = ndimage.rotate(array, degrees, axes=(1, 2), reshape=False, order=1, mode="nearest")
    return turned.astype(np.float32)


# a viewer's window presets (centre, width) for CT, HU: what an 8-bit export of a CT keeps
CT_WINDOWS = {"brain": (40.0, 80.0), "subdural": (75.0, 215.0), "soft": (50.0, 400.0),
              "bone": (600.0, 2800.0)}


def windowed(array: np.ndarray, centre: float, width: float) -> np.ndarray:
    """``array`` through a display window, as an 8-bit export (PNG, a secondary capture, a teaching or
    AI dataset) stores it: ``centre - width / 2`` and below to 0, ``centre + width / 2`` and above to
    255, linear between. uint8."""
    scaled = (np.asarray(array, dtype=np.float64) - (centre - width / 2)) / width * 255
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def auto_window(array: np.ndarray) -> tuple[float, float]:
    """(centre, width) from the 1st to the 99th percentile of ``array``: a viewer's automatic window."""
    low, high = np.percentile(np.asarray(array, dtype=np.float64), [1, 99])
    return (low + high) / 2, max(high - low, 1e-6)


def jpeg_lossy(array: np.ndarray, quality: int = 90) -> np.ndarray:
    """The array brought to 8 bits over its own range and each slice coded as lossy JPEG (baseline, at
    ``quality``) and decoded: a secondary capture, a teleradiology or web viewer's export. uint8."""
    import cv2

    def code(plane: np.ndarray) -> np.ndarray:
        ok, coded = cv2.imencode(".jpg", plane, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("OpenCV could not code the slice as JPEG")
        return cv2.imdecode(coded, cv2.IMREAD_GRAYSCALE)

    return _through_codec(array, 8, np.uint8, code)


def j2k_lossy(array: np.ndarray, ratio: float = 10.0) -> np.ndarray:
    """The array brought to 12 bits over its own range and each slice coded as lossy JPEG 2000 at a
    compression ``ratio`` and decoded (OpenJPEG: the lossy transfer syntax of DICOM archives). uint16.
    Slices under 32 pixels a side are too small for the codec's levels (ValueError)."""
    import openjpeg

    if min(np.shape(array)[:2]) < 32:
        raise ValueError(f"a plane of {np.shape(array)[:2]} is too small for JPEG 2000's levels")
    return _through_codec(array, 12, np.uint16,
                          lambda plane: openjpeg.decode(openjpeg.encode(plane, bits_stored=12,
                                                                        compression_ratios=[ratio])))


def _through_codec(array: np.ndarray, bits: int, dtype, code) -> np.ndarray:
    """``array`` (2D, or slices on the last axis) scaled to ``bits`` over its own range as ``dtype``, each
    slice passed through ``code`` (encode, then decode)."""
    array = np.asarray(array, dtype=np.float64)
    top = 2**bits - 1
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    scaled = np.clip(np.rint((array - low) / max(high - low, 1e-12) * top), 0, top).astype(dtype)
    planes = scaled[..., np.newaxis] if scaled.ndim == 2 else scaled
    out = np.empty_like(planes)
    for k in range(planes.shape[2]):
        out[:, :, k] = code(np.ascontiguousarray(planes[:, :, k]))
    return out[..., 0] if scaled.ndim == 2 else out


def write_nifti(path, stored, affine=None, *, slope: float = 1.0, intercept: float = 0.0) -> Path:
    """Save stored values as NIfTI-1 with their own dtype (native byte order) and ``scl_slope``/``scl_inter``.

    ``stored`` may be a ``Stored`` (its slope and intercept are used). The file is read back and checked: an
    error if nibabel did not keep the dtype, the stored values or the rescale (held as float32 by NIfTI).
    """
    import nibabel as nib

    if isinstance(stored, Stored):
        stored, slope, intercept = stored
    stored = np.asarray(stored)
    stored = stored.astype(stored.dtype.newbyteorder("="))
    affine = np.eye(4) if affine is None else np.asarray(affine, np.float64)
    header = nib.Nifti1Header()
    header.set_data_dtype(stored.dtype)
    image = nib.Nifti1Image(stored, affine, header)
    image.header.set_slope_inter(float(slope), float(intercept))
    path = Path(path)
    image.to_filename(str(path))
    back, back_slope, back_intercept = read_nifti(path)
    if back.dtype != stored.dtype or not np.array_equal(back, stored, equal_nan=stored.dtype.kind == "f"):
        raise RuntimeError(f"{path}: nibabel did not keep the stored values ({back.dtype})")
    if (back_slope, back_intercept) != (float(np.float32(slope)), float(np.float32(intercept))):
        raise RuntimeError(f"{path}: rescale {(back_slope, back_intercept)} instead of {(slope, intercept)}")
    return path


def write_physical_nifti(path, physical, affine=None, dtype=np.float32) -> Path:
    """Save physical values as a float32 or float64 NIfTI with no rescale."""
    return write_nifti(path, as_float(physical, dtype), affine)


def read_nifti(path) -> Stored:
    """``Stored(array, slope, intercept)`` of a NIfTI file: the unscaled data in its on-disk dtype."""
    import nibabel as nib

    image = nib.load(str(path))
    proxy = image.dataobj
    array = np.asarray(proxy.get_unscaled())
    array = array.astype(array.dtype.newbyteorder("="))
    slope = 1.0 if proxy.slope is None or np.isnan(proxy.slope) else float(proxy.slope)
    intercept = 0.0 if proxy.inter is None or np.isnan(proxy.inter) else float(proxy.inter)
    return Stored(array, slope, intercept)


def write_dicom(path, stored, *, slope: float = 1.0, intercept: float = -1024.0, padding=None) -> Path:
    """Save a 2D int16 or uint16 slice as an uncompressed CT DICOM file (pydicom's CT_small.dcm as the
    template for everything but the pixels, the rescale and the padding value)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    if isinstance(stored, Stored):
        stored, slope, intercept = stored
    stored = np.asarray(stored)
    if stored.ndim != 2 or stored.dtype.kind not in "iu" or stored.dtype.itemsize != 2:
        raise ValueError(f"write_dicom takes a 2D int16 or uint16 array, not {stored.dtype} {stored.shape}")
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    path = Path(path)
    uid = generate_uid(entropy_srcs=[str(path), stored.tobytes()[:4096].hex()])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    for keyword in ("PixelPaddingValue", "SmallestImagePixelValue", "LargestImagePixelValue"):
        if keyword in ds:
            delattr(ds, keyword)
    if padding is not None:
        ds.add_new(0x00280120, "SS" if stored.dtype.kind == "i" else "US", int(padding))
    ds.PixelData = stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path
