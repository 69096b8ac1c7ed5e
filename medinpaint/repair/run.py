"""``medinpaint repair`` as a function: read, repair, write the scan, its mask and its report atomically."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from medinpaint.errors import InputError, OutputError
from medinpaint.io import read, write
from medinpaint.io.atomic import atomic_file, check_writable
from medinpaint.io.readwrite import output_kind
from medinpaint.repair.engine import repair_volume


def _progress_printer(enabled: bool):
    """Progress as 'PROGRESS <percent> <stage>' lines on stderr (for the Slicer module and other callers)."""
    last = {"value": -1}

    def show(fraction: float, stage: str) -> None:
        percent = int(round(100 * min(max(fraction, 0.0), 1.0)))
        if enabled and percent != last["value"]:
            last["value"] = percent
            print(f"PROGRESS {percent} {stage}", file=sys.stderr, flush=True)

    return show


def _mask_volume(volume, mask: np.ndarray):
    """The mask as an image with the scan's geometry (uint8, no rescale) for NIfTI/ITK writers."""
    meta = {k: v for k, v in volume.meta.items() if k in ("format", "path", "nifti_shape", "itk_dimension")}
    meta["format"] = "mask"
    if "nifti_header" in volume.meta:
        header = volume.meta["nifti_header"].copy()
        header.set_data_dtype(np.uint8)
        header.set_slope_inter(1.0, 0.0)
        meta["nifti_header"] = header
    return type(volume)(mask.astype(np.uint8), volume.affine, 1.0, 0.0, meta)


def repair_file(input_path, output_path, *, mask=None, denoise: bool = False, report_path=None, mask_out=None,
                model=None, denoise_model=None, device: str = "auto", series=None, overwrite: bool = False,
                progress_lines: bool = False, precision: str = "auto") -> dict:
    """Repair the scan at ``input_path`` and write it to ``output_path`` (format from the path).

    Every output is checked before any work starts and written under a temporary name, so a failure
    leaves nothing half-written; the input is only read.
    """
    output_kind(output_path)  # an unknown extension fails here, before any work
    for path in (output_path, report_path, mask_out):
        if path is not None:
            check_writable(Path(path), overwrite)
    if mask_out is not None and output_kind(mask_out) != "nifti" and output_kind(mask_out) != "itk":
        raise OutputError(mask_out, "write the mask as NIfTI, NRRD or MHA")
    volume = read(input_path, series=series, fill_gaps=True)
    user_mask = None
    if mask is not None:
        mask_volume = read(mask)
        user_mask = mask_volume.array
        if user_mask.shape != volume.shape:
            raise InputError(mask, f"the mask is {user_mask.shape} but the scan is {volume.shape}")
    result = repair_volume(volume, mask=user_mask, denoise=denoise, model=model, denoise_model=denoise_model,
                           device=device, progress=_progress_printer(progress_lines), in_place=True,
                           precision=precision)
    report = dict(result.report, input=Path(input_path).name, output=Path(output_path).name)
    if mask_out is not None:
        write(_mask_volume(volume, result.mask), mask_out, overwrite=overwrite)
    result.mask = None  # the mask is written or not wanted: free it before the scan is written
    write(result.volume, output_path, overwrite=overwrite, derivation="Damage repaired by medinpaint")
    if report_path is not None:
        with atomic_file(report_path, overwrite) as tmp:
            tmp.write_text(json.dumps(report, indent=2))
    return report
