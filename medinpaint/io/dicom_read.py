"""Read DICOM: single files, series folders, folders with several series, enhanced multi-frame.

Files are grouped by SeriesInstanceUID read from their headers (never from paths), sorted along the
slice normal (ImageOrientationPatient x ImagePositionPatient), and checked for missing instances:
a step between neighbours much larger than the series' usual spacing is reported as a gap.
Pixel data is decoded by pydicom's plugins (pylibjpeg, openjpeg, libjpeg, pyjpegls), so JPEG baseline
and lossless, JPEG-LS, JPEG 2000 and RLE series read like uncompressed ones. Values stay stored values;
RescaleSlope/RescaleIntercept go to :class:`Volume` so that nothing is rounded on the way in or out.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from medinpaint.errors import InputError, SeriesError, UnsupportedError
from medinpaint.io.volume import Volume, affine_from_lps

log = logging.getLogger(__name__)

# Transfer syntaxes whose compression loses information (DICOM PS3.5 A.4): a derived series must
# carry the lossy-compression history of its source.
LOSSY_SYNTAXES = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1",  # JPEG baseline
    "1.2.840.10008.1.2.4.51": "ISO_10918_1",  # JPEG extended
    "1.2.840.10008.1.2.4.81": "ISO_14495_1",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91": "ISO_15444_1",  # JPEG 2000 (may be lossy)
    "1.2.840.10008.1.2.4.203": "ISO_15444_15",  # HTJ2K (may be lossy)
}


@dataclass
class SeriesInfo:
    """One series found in a folder: what ``medinpaint info`` lists and what ``series=`` picks."""

    uid: str
    number: int | None
    modality: str | None
    description: str
    files: list[Path] = field(default_factory=list)

    @property
    def short_uid(self) -> str:
        return "..." + self.uid[-12:] if len(self.uid) > 15 else self.uid


def read_header(path: Path) -> Dataset:
    """Read one file's header (no pixels), or raise :class:`InputError` naming what is wrong."""
    return _dcmread(path, stop_before_pixels=True)


def _dcmread(path: Path, stop_before_pixels: bool = False) -> Dataset:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as exc:
        raise InputError(path, "not a DICOM file, or its file meta header (DICM prefix) is missing") from exc
    except (EOFError, OSError, ValueError, KeyError, TypeError, NotImplementedError, AttributeError) as exc:
        raise InputError(path, f"cannot be parsed as DICOM ({type(exc).__name__}: {exc})") from exc
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", Dataset()):
        raise InputError(path, "the file meta header has no TransferSyntaxUID, so its encoding is unknown")
    try:  # element values are parsed lazily: force them now, so a bad VR shows here, not later
        for elem in ds.iterall():
            _ = elem.value
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a broken element
        raise InputError(path, f"has a malformed data element ({type(exc).__name__}: {exc})") from exc
    return ds


def _is_image(ds: Dataset) -> bool:
    return "Rows" in ds and "Columns" in ds


def _sop_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    return UID(uid).name if uid else "unknown SOP class"


def list_series(folder: str | os.PathLike) -> list[SeriesInfo]:
    """Every image series under ``folder`` (recursively), ordered by SeriesNumber then UID.

    Files that are not DICOM (a README, a DICOMDIR) and non-image objects (SR, RT plans) are skipped
    and counted in the log; a truncated or malformed DICOM file is an error naming it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "is not a folder")
    series: dict[str, SeriesInfo] = {}
    skipped = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if not has_dicm_prefix(path):
            skipped += 1
            continue
        ds = read_header(path)
        if ds.file_meta.get("MediaStorageSOPClassUID") == "1.2.840.10008.1.3.10" or not _is_image(ds):
            skipped += 1  # a DICOMDIR, or a non-image object
            continue
        uid = str(ds.get("SeriesInstanceUID", ""))
        if not uid:
            raise InputError(path, "has no SeriesInstanceUID")
        info = series.setdefault(
            uid,
            SeriesInfo(uid, _int_or_none(ds.get("SeriesNumber")), ds.get("Modality"),
                       str(ds.get("SeriesDescription", ""))),
        )
        info.files.append(path)
    if skipped:
        log.info("%s: skipped %d files that are not DICOM images", folder, skipped)
    if not series:
        raise SeriesError(folder, "holds no DICOM image series")
    return sorted(series.values(), key=lambda s: (s.number is None, s.number or 0, s.uid))


def has_dicm_prefix(path: str | os.PathLike) -> bool:
    """Whether the file starts as a DICOM Part 10 file: "DICM" after the 128-byte preamble."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def choose_series(folder: Path, series: str | int | None) -> SeriesInfo:
    """Pick one series of a folder by UID or SeriesNumber; with ``None`` the folder must hold one."""
    found = list_series(folder)
    if series is None:
        if len(found) > 1:
            listing = ", ".join(f"#{s.number} {s.modality} {s.short_uid} ({len(s.files)} files)"
                                for s in found)
            raise SeriesError(folder, f"holds {len(found)} series ({listing}); choose one with --series")
        return found[0]
    for info in found:
        if str(series) == info.uid or (info.number is not None and str(series) == str(info.number)):
            return info
    raise SeriesError(folder, f"has no series with UID or number {series}")


def read_dicom(path: str | os.PathLike, series: str | int | None = None, fill_gaps: bool = False) -> Volume:
    """Read a DICOM file or series folder into a :class:`Volume`.

    Args:
        path: a single DICOM file (single- or multi-frame) or a folder holding a series.
        series: which series of a folder holding several, by SeriesInstanceUID or SeriesNumber.
        fill_gaps: insert a slice for each missing instance (stored value 0 or the padding value),
            listed in ``meta["dicom"]["missing"]``, so that the geometry stays regular for repair.
    """
    path = Path(path)
    if path.is_dir():
        info = choose_series(path, series)
        if len(info.files) == 1:
            return _read_file(info.files[0])
        return _read_series(path, info, fill_gaps)
    if not path.exists():
        raise InputError(path, "does not exist")
    return _read_file(path)


def read_series_files(files: list[str | os.PathLike], fill_gaps: bool = False) -> Volume:
    """Read an explicit list of files that form one series (as a watcher has grouped them)."""
    files = [Path(f) for f in files]
    if not files:
        raise SeriesError(None, "no files given for the series")
    if len(files) == 1:
        return _read_file(files[0])
    first = read_header(files[0])
    info = SeriesInfo(str(first.get("SeriesInstanceUID", "")), _int_or_none(first.get("SeriesNumber")),
                      first.get("Modality"), str(first.get("SeriesDescription", "")), files)
    return _read_series(files[0].parent, info, fill_gaps)


def _decode(ds: Dataset, path: Path) -> np.ndarray:
    if "PixelData" not in ds:
        kind = ("float pixel data" if ("FloatPixelData" in ds or "DoubleFloatPixelData" in ds)
                else "no pixel data")
        raise UnsupportedError(path, f"is not an image this tool can repair ({_sop_name(ds)}, {kind})")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise UnsupportedError(path, f"has colour pixels ({ds.get('PhotometricInterpretation')}); "
                                     "only greyscale is supported")
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    _check_pixel_module(ds, path)
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        raise UnsupportedError(path, "has palette colour pixels (indices into a colour table); "
                                     "only greyscale is supported")
    if int(ds.get("BitsAllocated", 16)) == 1:
        raise UnsupportedError(path, f"has one-bit pixels ({_sop_name(ds)}: a bitmap, "
                                     "not an image to repair)")
    if syntax.is_compressed:
        from pydicom.pixels import get_decoder

        try:
            available = get_decoder(syntax).is_available
        except Exception:  # noqa: BLE001 - no decoder at all, or a plugin that fails to import
            available = False
        if not available:
            raise UnsupportedError(
                path, f"uses {syntax.name}, and no decoder for it is installed "
                "(pylibjpeg, pylibjpeg-openjpeg, pylibjpeg-libjpeg and pyjpegls cover the common ones)"
            )
    try:
        arr = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for a damaged stream
        raise InputError(path, "pixel data is truncated or cannot be decoded "
                               f"({str(exc).strip().splitlines()[-1]})") from exc
    arr = np.asarray(arr)
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)  # native byte order


def _check_pixel_module(ds: Dataset, path: Path) -> None:
    """The Image Pixel module's integers must be integers before any decoder sees them."""
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation",
                    "NumberOfFrames"):
        if keyword in ds:
            try:
                int(ds[keyword].value)
            except (TypeError, ValueError):
                raise InputError(path, f"has an invalid {keyword} value ({ds[keyword].value!r}): "
                                       "bad value representation") from None


def _stored_range(ds: Dataset) -> tuple[int, int]:
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _geometry_item(ds: Dataset, sequence: str, frame: int) -> Dataset | None:
    """An item of a functional-group macro for one frame: per-frame first, then shared."""
    for groups_name, index in (("PerFrameFunctionalGroupsSequence", frame),
                               ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(groups_name)
        items = groups[index].get(sequence) if groups and len(groups) > index else None
        if items:
            return items[0]
    return None


def _orientation(ds: Dataset, frame: int = 0) -> np.ndarray | None:
    item = _geometry_item(ds, "PlaneOrientationSequence", frame)
    iop = item.get("ImageOrientationPatient") if item is not None else ds.get("ImageOrientationPatient")
    return None if iop is None else np.asarray([float(v) for v in iop])


def _position(ds: Dataset, frame: int = 0) -> np.ndarray | None:
    item = _geometry_item(ds, "PlanePositionSequence", frame)
    ipp = item.get("ImagePositionPatient") if item is not None else ds.get("ImagePositionPatient")
    return None if ipp is None else np.asarray([float(v) for v in ipp])


def _pixel_spacing(ds: Dataset) -> tuple[float, float, float | None]:
    item = _geometry_item(ds, "PixelMeasuresSequence", 0)
    src = item if item is not None else ds
    ps = src.get("PixelSpacing") or ds.get("ImagerPixelSpacing") or [1.0, 1.0]
    thick = src.get("SpacingBetweenSlices") or src.get("SliceThickness")
    return float(ps[0]), float(ps[1]), (float(thick) if thick else None)


def _rescale(ds: Dataset, frame: int = 0) -> tuple[float, float]:
    item = _geometry_item(ds, "PixelValueTransformationSequence", frame)
    src = item if item is not None else ds
    return float(src.get("RescaleSlope", 1) or 1), float(src.get("RescaleIntercept", 0) or 0)


def _affine(iop: np.ndarray | None, row_spacing: float, col_spacing: float, normal_step: float,
            origin: np.ndarray | None, normal: np.ndarray | None = None) -> np.ndarray:
    if iop is None:
        iop = np.array([1.0, 0, 0, 0, 1, 0])
    row_dir, col_dir = iop[:3], iop[3:]  # i runs along a row (+column index), j down the columns
    if normal is None:
        normal = np.cross(row_dir, col_dir)
    direction = np.column_stack([row_dir, col_dir, normal])
    spacing = (col_spacing, row_spacing, normal_step)
    return affine_from_lps(direction, spacing, np.zeros(3) if origin is None else origin)


def _collapse(values: list[float]) -> float | np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr[0]) if np.all(arr == arr[0]) else arr


def _source_meta(ds: Dataset, path: Path) -> dict:
    syntax = str(ds.file_meta.TransferSyntaxUID)
    lossy = (syntax in LOSSY_SYNTAXES and syntax != "1.2.840.10008.1.2.4.91"
             or ds.get("LossyImageCompression") == "01")
    if syntax == "1.2.840.10008.1.2.4.91" and ds.get("LossyImageCompression") != "00":
        # JPEG 2000 (not the lossless-only syntax) counts as lossy unless the file says otherwise
        lossy = True
    return {
        "transfer_syntax": syntax,
        "lossy": bool(lossy),
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "sop_class_uid": str(ds.get("SOPClassUID", "")),
    }


def _header_only(ds: Dataset) -> Dataset:
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            delattr(ds, keyword)
    return ds


def _read_file(path: Path) -> Volume:
    ds = _dcmread(path)
    pixels = _decode(ds, path)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames == 1:
        pixels = pixels[np.newaxis]
    row_sp, col_sp, thickness = _pixel_spacing(ds)
    iop = _orientation(ds)
    order = list(range(frames))
    positions = [_position(ds, f) for f in range(frames)]
    normal = None if iop is None else np.cross(iop[:3], iop[3:])
    step = thickness or 1.0
    if frames > 1 and normal is not None and all(p is not None for p in positions):
        along = [float(np.dot(p, normal)) for p in positions]
        order = sorted(range(frames), key=lambda f: (along[f], f))
        diffs = np.diff(sorted(along))
        if len(diffs) and np.median(diffs) > 0:
            step = float(np.median(diffs))
    rescales = [_rescale(ds, f) for f in order]
    meta = {
        "format": "dicom",
        "path": str(path),
        "modality": ds.get("Modality"),
        "stored_range": _stored_range(ds),
        "dicom": {
            **_source_meta(ds, path),
            "multiframe": frames > 1,
            "frame_order": order,
            "slices": [_header_only(ds)],
            "files": [str(path)],
            "gaps": [],
            "missing": [],
        },
    }
    array = np.ascontiguousarray(np.transpose(pixels[order], (2, 1, 0)))
    return Volume(array, _affine(iop, row_sp, col_sp, step, positions[order[0]], normal),
                  _collapse([r[0] for r in rescales]), _collapse([r[1] for r in rescales]), meta)


def _read_series(folder: Path, info: SeriesInfo, fill_gaps: bool) -> Volume:
    datasets = [_dcmread(p) for p in info.files]
    for ds, p in zip(datasets, info.files, strict=True):
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise SeriesError(p, "is a multi-frame object inside a series of several files; "
                                 "read it on its own")
    iop = _orientation(datasets[0])
    normal = None if iop is None else np.cross(iop[:3], iop[3:])
    positions = [_position(ds) for ds in datasets]
    if normal is not None and all(p is not None for p in positions):
        along = np.array([float(np.dot(p, normal)) for p in positions])
        order = sorted(range(len(datasets)), key=lambda i: along[i])
        along = along[order]
        if np.any(np.diff(along) < 1e-3):
            dup = info.files[order[int(np.argmin(np.diff(along)))]]
            raise SeriesError(dup, "shares its slice position with another image of the series "
                              "(multi-echo or time series are not supported as one volume)")
    else:
        log.warning("%s: no ImagePositionPatient; slices ordered by InstanceNumber", folder)
        order = sorted(range(len(datasets)),
                       key=lambda i: (_int_or_none(datasets[i].get("InstanceNumber")) or 0, i))
        along = None
    datasets = [datasets[i] for i in order]
    files = [info.files[i] for i in order]

    shape = (int(datasets[0].Rows), int(datasets[0].Columns))
    for ds, p in zip(datasets, files, strict=True):
        if (int(ds.Rows), int(ds.Columns)) != shape:
            raise SeriesError(p, f"is {ds.Rows}x{ds.Columns} but the series' first image is "
                                 f"{shape[0]}x{shape[1]}")
    pixels = [_decode(ds, p) for ds, p in zip(datasets, files, strict=True)]
    dtypes = {a.dtype for a in pixels}
    if len(dtypes) > 1:
        raise SeriesError(folder, f"mixes stored pixel types {sorted(str(d) for d in dtypes)} in one series")

    row_sp, col_sp, thickness = _pixel_spacing(datasets[0])
    step, gaps = thickness or 1.0, []
    if along is not None and len(along) > 1:
        diffs = np.diff(along)
        step = float(np.median(diffs))
        for k, d in enumerate(diffs):
            missing = int(round(d / step)) - 1
            if d > 1.5 * step and missing >= 1:
                gaps.append({"after_slice": k, "missing": missing, "gap_mm": float(d)})
    slices: list[Dataset | None] = [_header_only(ds) for ds in datasets]
    rescales = [_rescale(ds) for ds in datasets]
    missing: list[int] = []
    if fill_gaps and gaps:
        fill = int(datasets[0].get("PixelPaddingValue", 0)) if "PixelPaddingValue" in datasets[0] else 0
        blank = np.full(shape, fill, dtype=pixels[0].dtype)
        for gap in reversed(gaps):
            at = gap["after_slice"] + 1
            for _ in range(gap["missing"]):
                pixels.insert(at, blank)
                slices.insert(at, None)
                files.insert(at, None)
                rescales.insert(at, rescales[at - 1])
        missing = [k for k, s in enumerate(slices) if s is None]
    array = np.ascontiguousarray(np.transpose(np.stack(pixels), (2, 1, 0)))
    meta = {
        "format": "dicom",
        "path": str(folder),
        "modality": datasets[0].get("Modality"),
        "stored_range": _stored_range(datasets[0]),
        "dicom": {
            **_source_meta(datasets[0], files[0]),
            "multiframe": False,
            "frame_order": None,
            "slices": slices,
            "files": [None if f is None else str(f) for f in files],
            "gaps": gaps,
            "missing": missing,
        },
    }
    origin = _position(datasets[0])
    return Volume(array, _affine(iop, row_sp, col_sp, step, origin, normal),
                  _collapse([r[0] for r in rescales]), _collapse([r[1] for r in rescales]), meta)
