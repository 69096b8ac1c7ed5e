"""What ``medinpaint info`` reports about a scan, as a plain dict (JSON-ready).

Patient name, ID and birth date are left out unless explicitly asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medinpaint.io import list_series, read

PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate")


def describe(path: str | os.PathLike, series: str | int | None = None, show_patient: bool = False) -> dict:
    """Format, modality, shape, dtype, spacing, orientation, the series in a folder and any gaps."""
    path = Path(path)
    if path.is_dir() and series is None:
        found = list_series(path)
        if len(found) > 1:  # a folder of several series: list them, read none
            return {"path": str(path), "format": "dicom", "series": _series_list(found)}
    volume = read(path, series=series)
    info: dict = {
        "path": str(path),
        "format": volume.format,
        "modality": volume.modality,
        "shape": list(volume.shape),
        "dtype": str(volume.dtype),
        "spacing_mm": [round(s, 6) for s in volume.spacing],
        "orientation": volume.orientation,
        "origin_lps_mm": [round(v, 4) for v in volume.origin_lps],
        "rescale": _rescale(volume.slope, volume.intercept),
    }
    if volume.format == "dicom":
        source = volume.meta["dicom"]
        info["transfer_syntax"] = source["transfer_syntax"]
        info["lossy_compressed"] = source["lossy"]
        info["multiframe"] = source["multiframe"]
        info["gaps"] = source["gaps"]
        if path.is_dir():
            info["series"] = _series_list(list_series(path))
        if show_patient:
            header = next(s for s in source["slices"] if s is not None)
            info["patient"] = {k: str(header.get(k, "")) for k in PATIENT_KEYWORDS}
    elif volume.format == "nifti":
        header = volume.meta["nifti_header"]
        info["nifti"] = {
            "version": 2 if header.sizeof_hdr == 540 else 1,
            "qform_code": int(header["qform_code"]),
            "sform_code": int(header["sform_code"]),
            "xyzt_units": list(header.get_xyzt_units()),
            "descrip": header["descrip"].item().decode("latin-1", "replace"),
        }
    return info


def _series_list(found) -> list[dict]:
    return [{"number": s.number, "uid": s.uid, "modality": s.modality, "description": s.description,
             "files": len(s.files)} for s in found]


def _rescale(slope, intercept) -> dict:
    if np.ndim(slope) or np.ndim(intercept):
        return {"per_slice": True}
    return {"slope": float(slope), "intercept": float(intercept)}


def format_text(info: dict) -> str:
    """The dict as aligned ``key: value`` lines for the terminal."""
    lines = []
    for key, value in info.items():
        if key == "series":
            lines.append(f"{'series':<18}{len(value)} in folder")
            for s in value:
                lines.append(f"  #{s['number']} {s['modality']} {s['files']} files "
                             f"{s['description']!r} uid {s['uid']}")
        elif key == "gaps":
            lines.append(f"{'gaps':<18}{'none' if not value else ''}")
            for g in value:
                lines.append(f"  {g['missing']} missing after slice {g['after_slice']} "
                             f"({g['gap_mm']:.2f} mm step)")
        elif isinstance(value, dict):
            lines.append(f"{key:<18}" + ", ".join(f"{k}={v}" for k, v in value.items()))
        else:
            lines.append(f"{key:<18}{value}")
    return "\n".join(lines)
