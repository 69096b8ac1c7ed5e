"""What a batch job works on: the series of a folder tree or of a CSV manifest of paths.

A DICOM series is found by its SeriesInstanceUID across every file that carries it, wherever those files
lie (one folder, several folders, several series mixed in one folder); a NIfTI or ITK image is a series of
its own. Every series is named by an opaque ``key``, a hash of its UID (DICOM) or of its absolute path
(other files), never by a tag value or a path, which may hold a patient's name: the key names the series
in logs, in the result manifest and in OUT.

A file that is none of these (a text file, a truncated DICOM header) becomes an item of its own with the
reason it cannot be read, so that the job records it as failed instead of dropping it silently. Non-image
DICOM objects (structured reports, a DICOMDIR) are items that the job records as skipped.

Header reading is split into :func:`scan_files` (a list of paths in, one small record per file out), which
the Ray job runs as tasks over chunks of the tree, and :func:`group` (records in, items out) on the driver.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from medinpaint.errors import InputError
from medinpaint.io.dicom_read import has_dicm_prefix

DICOM, NIFTI, ITK, UNKNOWN, NON_IMAGE = "dicom", "nifti", "itk", "unknown", "non-image"
NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_HEADERS = (".nrrd", ".nhdr", ".mha", ".mhd")
# data files that belong to a header above (.raw/.zraw of MetaImage, .raw.gz of detached NRRD)
COMPANIONS = (".raw", ".zraw", ".raw.gz", ".img", ".img.gz")
IGNORED_NAMES = ("DICOMDIR",)
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


def series_key(kind: str, identity: str) -> str:
    """The opaque name of a series: 16 hex digits of a hash of its UID (DICOM) or absolute path."""
    return hashlib.sha256(f"medinpaint-batch\x1f{kind}\x1f{identity}".encode()).hexdigest()[:16]


@dataclass
class Item:
    """One unit of work: a series with its input files, or an input that cannot be one, with why."""

    key: str
    kind: str
    inputs: list[str] = field(default_factory=list)
    reason: str | None = None  # set for UNKNOWN and NON_IMAGE items: why the job will not repair it


def _suffix_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(NIFTI_SUFFIXES):
        return NIFTI
    if lower.endswith(ITK_HEADERS):
        return ITK
    return None


def list_files(roots: list[str | os.PathLike]) -> list[str]:
    """Every file under ``roots`` (folders walked recursively, files taken as given), absolute and sorted,
    without hidden files, data files of a header (``.raw``...) and DICOMDIRs."""
    found: set[str] = set()
    for root in roots:
        root = Path(root).absolute()
        if root.is_file():
            found.add(str(root))
            continue
        if not root.is_dir():  # a path of a CSV manifest that is gone: recorded as failed, not fatal
            found.add(str(root))
            continue
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                if name.startswith(".") or name.lower().endswith(COMPANIONS) or name in IGNORED_NAMES:
                    continue
                found.add(os.path.join(folder, name))
    return sorted(found)


def scan_files(paths: list[str]) -> list[tuple[str, str, str | None, str | None]]:
    """One ``(path, kind, uid, reason)`` per file: its kind by name or DICM prefix, the SeriesInstanceUID
    of a DICOM image, and for a file that cannot be used the reason (without its path)."""
    records: list[tuple[str, str, str | None, str | None]] = []
    for path in paths:
        kind = _suffix_kind(os.path.basename(path))
        if not os.path.exists(path):
            records.append((path, UNKNOWN, None, "does not exist"))
        elif kind is not None:
            records.append((path, kind, None, None))
        elif not has_dicm_prefix(path):
            records.append((path, UNKNOWN, None, "not a DICOM, NIfTI or ITK image (no DICM prefix, "
                                                  "no .nii/.nrrd/.mha name)"))
        else:
            records.extend(_dicom_record(path))
    return records


def _dicom_record(path: str) -> list[tuple[str, str, str | None, str | None]]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SeriesInstanceUID", "SOPClassUID", "Rows", "Columns"])
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return [(path, UNKNOWN, None, f"DICOM header cannot be read ({type(exc).__name__})")]
    sop_class = str(ds.file_meta.get("MediaStorageSOPClassUID", "")) if hasattr(ds, "file_meta") else ""
    uid = str(ds.get("SeriesInstanceUID", "") or "")
    if sop_class == DICOMDIR_CLASS:
        return []
    if not uid:
        return [(path, UNKNOWN, None, "DICOM file without a SeriesInstanceUID")]
    if "Rows" not in ds or "Columns" not in ds:
        return [(path, NON_IMAGE, uid, "a DICOM object without an image (report, plan, ...)")]
    return [(path, DICOM, uid, None)]


def group(records: list[tuple[str, str, str | None, str | None]]) -> list[Item]:
    """Items from :func:`scan_files` records: DICOM files joined by SeriesInstanceUID, one item per other
    file; sorted by key, so the same tree always gives the same list."""
    series: dict[str, Item] = {}
    items: list[Item] = []
    for path, kind, uid, reason in records:
        if kind in (DICOM, NON_IMAGE):
            key = series_key(DICOM, uid)
            item = series.get(key)
            if item is None:
                item = series[key] = Item(key, kind, [], reason)
            elif item.kind != kind:  # images and non-image objects under one UID: the images count
                item.kind, item.reason = DICOM, None
            item.inputs.append(path)
        else:
            items.append(Item(series_key(kind, path), kind, [path], reason))
    items.extend(series.values())
    for item in items:
        item.inputs.sort()
    unique = {item.key: item for item in items}  # the same file listed twice in a CSV is one item
    return sorted(unique.values(), key=lambda item: item.key)


def read_source_list(csv_path: str | os.PathLike) -> list[str]:
    """The paths of a CSV manifest: the column ``path`` (or the first column), relative paths taken from
    the CSV's folder."""
    csv_path = Path(csv_path)
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise InputError(csv_path, "is an empty manifest")
    header = [cell.strip().lower() for cell in rows[0]]
    column = header.index("path") if "path" in header else 0
    body = rows[1:] if "path" in header else rows
    paths = [row[column].strip() for row in body if len(row) > column and row[column].strip()]
    if not paths:
        raise InputError(csv_path, "lists no paths")
    return [str(p if Path(p).is_absolute() else csv_path.parent / p) for p in paths]


def source_roots(source: str | os.PathLike) -> list[str]:
    """The folders and files a SOURCE names: itself, or the paths listed in it when it is a CSV file."""
    source = Path(source)
    if not source.exists():
        raise InputError(source, "does not exist")
    if source.is_file() and source.name.lower().endswith(".csv"):
        return read_source_list(source)
    return [str(source)]


def discover(source: str | os.PathLike) -> list[Item]:
    """Every item of SOURCE in one process (the Ray job spreads :func:`scan_files` over tasks instead)."""
    return group(scan_files(list_files(source_roots(source))))
