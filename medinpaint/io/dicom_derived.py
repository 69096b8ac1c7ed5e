"""Write a volume as a derived DICOM series, the way a PACS expects it.

This module is the one place that decides what a derived instance contains. Starting from the source
instance it was made from, every attribute is **copied**, so the patient, study, frame-of-reference,
equipment and modality-specific modules (and every private tag) stay as the scanner wrote them, except:

NEW (set here, and why)
  SOPInstanceUID, SeriesInstanceUID   a new object in a new series; deterministic (hash of the source
                                      UIDs and the derivation), so writing the same result twice gives
                                      the same UIDs and a PACS sees a redo as the same objects
  SeriesNumber                        source + 1000, so the derived series sorts beside its source
  SeriesDescription                   source description + " (medinpaint)" (64 characters at most)
  ImageType                           DERIVED\\SECONDARY, the source's further values kept (AXIAL, ...);
                                      enhanced multi-frame IODs keep value 2 (they allow only PRIMARY)
  FrameType (enhanced multi-frame)    DERIVED likewise, in every frame-type functional group
  DerivationDescription               what was done, in words
  SourceImageSequence                 each source instance, purpose (DCM 121322) "Source image for image
                                      processing operation"; a re-created slice references its neighbours
  InstanceNumber                      1..N in slice order (a re-created slice needs a number of its own)
  ImagePositionPatient, SliceLocation for re-created slices only, from the series geometry
  LossyImageCompression (+Method)     "01" when the source was ever lossy-compressed: the history carries over
  PixelData, file meta                the voxels, uncompressed Explicit VR Little Endian
REMOVED (no longer true of the new pixels, or not allowed in a derived image)
  Smallest/LargestImagePixelValue, Smallest/LargestPixelValueInSeries, ExtendedOffsetTable(+Lengths),
  DataSetTrailingPadding, IconImageSequence; for enhanced MR the ORIGINAL-only pulse-sequence attributes
KEPT ON PURPOSE
  RescaleSlope/Intercept, BitsStored, PixelRepresentation: unchanged voxels keep their exact stored value.
  Content/Acquisition dates and times: they describe the data, and a fixed output keeps a redo byte-identical.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

from medinpaint.errors import OutputError
from medinpaint.io.atomic import atomic_folder
from medinpaint.io.dicom_read import LOSSY_SYNTAXES
from medinpaint.io.volume import LPS_FROM_RAS, Volume
from medinpaint.version import __version__

SERIES_NUMBER_OFFSET = 1000
REMOVED = (
    "SmallestImagePixelValue", "LargestImagePixelValue", "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries", "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    "DataSetTrailingPadding", "IconImageSequence",
)
# Enhanced MR: MR Pulse Sequence and Bulk Motion attributes required only when ImageType value 1 is
# ORIGINAL or MIXED, and not allowed otherwise (PS3.3 C.8.13.4, C.7.6.16.2.6)
ORIGINAL_ONLY = (
    "PulseSequenceName", "MRAcquisitionType", "EchoPulseSequence", "MultiPlanarExcitation",
    "PhaseContrast", "TimeOfFlightContrast", "SteadyStatePulseSequence", "EchoPlanarPulseSequence",
    "SaturationRecovery", "SpectrallySelectedSuppression", "OversamplingPhase", "GeometryOfKSpaceTraversal",
    "RectilinearPhaseEncodeReordering", "SegmentedKSpaceTraversal", "CoverageOfKSpace",
    "NumberOfKSpaceTrajectories", "BulkMotionCompensationTechnique",
)
SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")


def deterministic_uid(*parts: str) -> str:
    """A UID under the 2.25 root (ISO/IEC 9834-8 UUID form) made from a hash of ``parts``, so the same
    inputs always give the same UID. (pydicom's generate_uid ignores its entropy with the 2.25 prefix.)"""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def derived_series_uid(source_series_uid: str, derivation: str) -> str:
    """The new SeriesInstanceUID: a deterministic function of the source series and the derivation."""
    return deterministic_uid("medinpaint-series", source_series_uid, derivation)


def write_dicom_series(volume: Volume, folder: str | os.PathLike, derivation: str = "Converted by medinpaint",
                       overwrite: bool = False) -> list[Path]:
    """Write ``volume`` (read from DICOM) as a derived series into ``folder``, one file per instance.

    Args:
        volume: a volume read by :func:`medinpaint.io.read_dicom`, its voxels possibly changed and,
            for a series read with ``fill_gaps``, missing slices re-created.
        folder: a new folder, or an existing one to add the instances to.
        derivation: what was done to the source, written to DerivationDescription.
    Returns:
        the written files, in slice order.
    """
    folder = Path(folder)
    source = volume.meta.get("dicom")
    if volume.format != "dicom" or source is None:
        raise OutputError(folder, "a derived DICOM series needs a DICOM source; write NIfTI or NRRD instead")
    if volume.array.ndim != 3:
        raise OutputError(folder, "only 3D volumes can be written as a DICOM series")
    low, high = volume.meta["stored_range"]
    if volume.array.size and (volume.array.min() < low or volume.array.max() > high):
        raise OutputError(folder, f"voxels outside the stored range [{low}, {high}] of the source")
    series_uid = derived_series_uid(source["series_uid"], derivation)
    if source["multiframe"]:
        datasets = [_multiframe_instance(volume, source, series_uid, derivation)]
    else:
        datasets = [_single_instance(volume, source, k, series_uid, derivation)
                    for k in range(volume.shape[2])]
    written = []
    with atomic_folder(folder, overwrite) as staging:
        for n, ds in enumerate(datasets, start=1):
            name = f"IM{n:05d}.dcm"
            pydicom.dcmwrite(staging / name, ds, enforce_file_format=True)
            written.append(folder / name)
    return written


def _derive(template: Dataset, series_uid: str, sop_entropy: list[str], derivation: str, lossy: bool,
            syntax: str) -> Dataset:
    ds = copy.deepcopy(template)
    for keyword in REMOVED:
        if keyword in ds:
            delattr(ds, keyword)
    ds.SOPInstanceUID = deterministic_uid("medinpaint-sop", series_uid, *sop_entropy)
    ds.SeriesInstanceUID = series_uid
    number = ds.get("SeriesNumber")
    ds.SeriesNumber = (int(number) if number not in (None, "") else 0) + SERIES_NUMBER_OFFSET
    ds.SeriesDescription = (str(ds.get("SeriesDescription", "")).strip() + " (medinpaint)").strip()[:64]
    image_type = list(ds.get("ImageType", []))
    enhanced = "SharedFunctionalGroupsSequence" in ds or "Enhanced" in UID(ds.SOPClassUID).name
    # enhanced IODs keep value 2 (PRIMARY) and drop what only an ORIGINAL acquisition may state
    ds.ImageType = ["DERIVED", image_type[1] if enhanced and len(image_type) > 1 else "SECONDARY",
                    *image_type[2:]]
    if enhanced:
        _mark_frame_types(ds)
        for keyword in ORIGINAL_ONLY:
            if keyword in ds:
                delattr(ds, keyword)
    ds.DerivationDescription = f"{derivation} (medinpaint {__version__})"[:1024]
    if lossy or ds.get("LossyImageCompression") == "01":
        ds.LossyImageCompression = "01"
        if "LossyImageCompressionMethod" not in ds and syntax in LOSSY_SYNTAXES:
            ds.LossyImageCompressionMethod = LOSSY_SYNTAXES[syntax]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"MEDINPAINT_{__version__}"[:16]
    ds.file_meta = meta
    return ds


def _mark_frame_types(ds: Dataset) -> None:
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in ds.get(groups, []):
            for elem in item:
                if elem.keyword.endswith("FrameTypeSequence"):
                    for frame_type in elem.value:
                        values = list(frame_type.get("FrameType", []))
                        frame_type.FrameType = ["DERIVED", *values[1:]]


def _reference(ds: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = SOURCE_PURPOSE
    item.PurposeOfReferenceCodeSequence = Sequence([code])
    return item


def _set_pixels(ds: Dataset, planes: np.ndarray, template: Dataset) -> None:
    bits = int(template.BitsAllocated)
    signed = int(template.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    ds.add_new(0x7FE00010, "OW" if bits > 8 else "OB", np.ascontiguousarray(planes, dtype=dtype).tobytes())


def _single_instance(volume: Volume, source: dict, k: int, series_uid: str, derivation: str) -> Dataset:
    slices = source["slices"]
    present = [i for i, s in enumerate(slices) if s is not None]
    if slices[k] is not None:
        template, references, entropy = slices[k], [slices[k]], [str(slices[k].SOPInstanceUID)]
    else:
        nearest = min(present, key=lambda i: (abs(i - k), i))
        template = slices[nearest]
        neighbours = [i for i in (max([i for i in present if i < k], default=None),
                                  min([i for i in present if i > k], default=None)) if i is not None]
        references = [slices[i] for i in neighbours]
        entropy = ["recreated", str(k), *[str(slices[i].SOPInstanceUID) for i in neighbours]]
    ds = _derive(template, series_uid, entropy, derivation, source["lossy"], source["transfer_syntax"])
    ds.SourceImageSequence = Sequence([_reference(r) for r in references])
    ds.InstanceNumber = k + 1
    if slices[k] is None:
        position = (LPS_FROM_RAS @ volume.affine @ np.array([0.0, 0.0, k, 1.0]))[:3]
        ds.ImagePositionPatient = [f"{v:.6g}" for v in position]
        if "SliceLocation" in template:
            normal = volume.direction_lps[:, 2]
            ds.SliceLocation = f"{float(np.dot(position, normal)):.6g}"
    _set_pixels(ds, volume.array[:, :, k].T, template)
    return ds


def _multiframe_instance(volume: Volume, source: dict, series_uid: str, derivation: str) -> Dataset:
    template = source["slices"][0]
    ds = _derive(template, series_uid, [str(template.SOPInstanceUID)], derivation, source["lossy"],
                 source["transfer_syntax"])
    ds.SourceImageSequence = Sequence([_reference(template)])
    frames = np.empty((volume.shape[2], volume.shape[1], volume.shape[0]), dtype=volume.dtype)
    for k, frame in enumerate(source["frame_order"]):
        frames[frame] = volume.array[:, :, k].T
    _set_pixels(ds, frames, template)
    return ds
