"""The repair engine: a damaged volume in, the repaired volume, the mask of what changed and a report out.

Whole lost slices are re-created by motion-compensated interpolation between their nearest intact
neighbours (:mod:`medinpaint.repair.motion`; the network has nothing in-plane to work from there).
The partly damaged slices then go through the repair network (:mod:`medinpaint.repair.inferer`): on
the CPU as crops around the damage
(:mod:`medinpaint.repair.crops`), on a GPU as whole planes in large batches with every step on the
device (:mod:`medinpaint.repair.planes`). Every voxel outside the mask keeps its stored value bit for
bit; repaired voxels are cast back to the stored dtype, rounded and clipped to its range.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from medinpaint.data.normalise import denormalise, normalisation, normalise
from medinpaint.errors import InputError
from medinpaint.io import Volume
from medinpaint.nets import biharmonic_inpaint, pick_device, resolve_model
from medinpaint.nets.guard import CLAMP, EDGES, STRUCTURE, guard
from medinpaint.nets.single_slice import network_or_biharmonic, single_slice_trial
from medinpaint.repair.crops import CropInferer
from medinpaint.repair.detection import SLAB, detect
from medinpaint.repair.inferer import PRECISIONS, Progress, RepairInferer, autocast, uses_bfloat16
from medinpaint.repair.motion import recreate_slices
from medinpaint.repair.planes import PlaneInferer
from medinpaint.version import __version__

log = logging.getLogger(__name__)


@dataclass
class RepairResult:
    """The repaired volume (same geometry, metadata and stored dtype), the mask of repaired voxels
    (uint8, 1 = repaired) and a JSON-ready report (no patient data)."""

    volume: Volume
    mask: np.ndarray
    report: dict = field(default_factory=dict)


def _normalisation(volume: Volume, damaged_slices: list[int], mask: np.ndarray | None = None) -> dict:
    """The scale the network sees the scan in, from a sample of its intact slices; where every slice is
    damaged (a single slice), from their voxels outside ``mask``: garbage to 1e300 in the holes had set
    an MR slice's percentiles, and the network's repair came back at 1.6e10 in a scan of 0..0.66."""
    k = volume.shape[2]
    intact = [i for i in range(k) if i not in set(damaged_slices)] or list(range(k))
    sample = intact[:: max(1, len(intact) // 16)]
    physical = np.stack([volume.physical_slice(i) for i in sample], axis=-1)
    if mask is not None:
        sound = ~np.asarray(mask[:, :, sample], dtype=bool)
        physical = physical[sound] if sound.any() else physical
    return normalisation(physical, volume.modality)


def repair_volume(volume: Volume, *, mask: np.ndarray | None = None, denoise: bool = False,
                  model: str | os.PathLike | torch.nn.Module | None = None,
                  denoise_model: str | os.PathLike | torch.nn.Module | None = None, device: str = "auto",
                  progress: Progress | None = None, in_place: bool = False, precision: str = "auto",
                  whole_planes: bool | None = None) -> RepairResult:
    """Detect (or take) the damage of ``volume`` and repair it.

    Args:
        volume: the damaged scan, as read by :func:`medinpaint.io.read` (a DICOM series read with
            ``fill_gaps=True`` has its missing instances as slices to re-create).
        mask: voxels to repair (same shape as ``volume.array``, non-zero = damaged); None: detect them.
        denoise: also run the blind denoiser over every slice (all voxels may then change).
        model, denoise_model: safetensors files, or loaded modules; None: the models shipped with
            medinpaint (:func:`medinpaint.nets.resolve_model`).
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"`` (:func:`medinpaint.nets.pick_device`).
        precision: ``"auto"`` (bfloat16 where the device computes it natively), ``"float32"`` (the same
            result on every machine) or ``"bfloat16"``; for the networks' bodies only.
        whole_planes: send whole planes through the network with every step on the device
            (:mod:`medinpaint.repair.planes`) instead of crops around the damage; None: on a GPU only.
            Scans of 64-bit integers always take crops (float64 arithmetic on the device would not
            carry their values exactly).
        progress: called with (fraction done, stage) as work proceeds.
        in_place: write the repaired voxels into ``volume.array`` instead of a copy (for a scan read
            from an uncompressed NIfTI this is a private copy-on-write map: the file is never changed,
            and only the repaired slices take memory).
    """
    started = time.perf_counter()
    report_progress = progress or (lambda fraction, stage: None)
    report_progress(0.0, "detecting damage")
    label_map = None
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != volume.shape:
            raise InputError(None, f"the mask is {mask.shape} but the scan is {volume.shape}")
        repair_mask = np.not_equal(mask, 0)  # the user's array stays theirs: one bool copy
        kinds = {"user-mask": int(np.count_nonzero(repair_mask))}
    else:
        detection = detect(volume)
        kinds = detection.counts()
        label_map = detection.details.get("label_map")  # a segmentation: left as it is
        if label_map:
            log.info("the scan holds %d whole-number values only: a label map, not screened", label_map)
            if denoise:
                log.warning("a label map is not denoised: its labels are no measurement")
                denoise = False
        # the label volume becomes the 0/1 mask in place (kinds are counted above): no second full-size array
        repair_mask = labels_to_mask(detection.labels)
    torch_device = pick_device(device)
    bfloat16 = uses_bfloat16(torch_device, precision)
    planes = torch_device.type != "cpu" if whole_planes is None else bool(whole_planes)
    # the copy keeps the scan's memory order (a NIfTI's is Fortran): a C-ordered copy costs a transposing
    # pass, and every plane written into it afterwards is strided (on the GPU bench: 93 slices/s through
    # a C-ordered copy, 686 repairing the same volume in place)
    array = volume.array if in_place or not (repair_mask.any() or denoise) else volume.array.copy(order="K")
    volumes = [None] if volume.array.ndim == 3 else list(range(volume.shape[3]))
    model_meta = {}
    denoise_report: dict = {}
    damaged_slices: list[int] = []
    lost_slices: list[int] = []
    in_plane_choices: list[dict] = []
    if repair_mask.any():
        net, meta, name = resolve_model(model, default="repair", device=torch_device)
        model_meta["repair"] = {"path": name, "architecture": meta.get("architecture"),
                                "args": meta.get("args", {})}
        network = _Network(model=net, meta=meta, device=torch_device, bfloat16=bfloat16,
                           progress=report_progress, whole_planes=planes)
        for t in volumes:
            sub_mask = repair_mask if t is None else repair_mask[..., t]
            sub = volume if t is None else volume.with_array(volume.array[..., t])
            whole = [int(k) for k in np.nonzero(sub_mask.all(axis=(0, 1)))[0]]
            partial = [int(k) for k in np.nonzero(sub_mask.any(axis=(0, 1)))[0] if k not in set(whole)]
            damaged_slices += partial + whole
            lost_slices += whole
            target = array if t is None else array[..., t]
            choice = _repair_one(sub, sub_mask, target, whole=whole, partial=partial, network=network)
            if choice:
                in_plane_choices.append(choice if t is None else dict(choice, volume=t))
    if denoise:
        dnet, dmeta, dname = resolve_model(denoise_model, default="denoise", device=torch_device)
        model_meta["denoise"] = {"path": dname, "architecture": dmeta.get("architecture")}
        denoise_report = _denoise(volume.with_array(array), array, dnet, device=torch_device,
                                  bfloat16=bfloat16, progress=report_progress)
    report_progress(1.0, "done")
    out_mask = repair_mask.view(np.uint8) if not denoise else np.ones(volume.shape, dtype=np.uint8)
    report = {
        "medinpaint_version": __version__,
        "shape": list(volume.shape),
        "damaged_voxels": int(np.count_nonzero(repair_mask)),
        "kinds": kinds,
        "damaged_slices": sorted(set(damaged_slices)),
        "recreated_slices": sorted(set(lost_slices)),
        "mask_source": "user" if mask is not None else "detected",
        **({"label_map": label_map} if label_map else {}),
        "denoised": bool(denoise),
        **({"denoise": denoise_report} if denoise else {}),
        **({"single_slice_fill": in_plane_choices} if in_plane_choices else {}),
        "models": model_meta,
        "device": torch_device.type,
        "precision": "bfloat16" if bfloat16 else "float32",
        "seconds": round(time.perf_counter() - started, 3),
    }
    return RepairResult(volume.with_array(array), out_mask, report)


@dataclass(frozen=True, kw_only=True)
class _Network:
    """The repair network with how it runs, for the inferers each volume sets up."""

    model: torch.nn.Module
    meta: dict
    device: torch.device
    bfloat16: bool
    progress: Progress
    whole_planes: bool

    def inferer(self, kind: type[RepairInferer]) -> RepairInferer:
        return kind(self.model, self.meta, device=self.device, bfloat16=self.bfloat16, progress=self.progress)


def labels_to_mask(labels: np.ndarray, slab: int = SLAB) -> np.ndarray:
    """Detection's labels as a 0/1 mask, in place and a slab at a time: only the pages that hold damage
    are written (a pass over the whole label volume made every page of it resident: 1 GiB at
    512x512x4000)."""
    for k in range(0, labels.shape[2], slab):
        part = labels[:, :, k:k + slab]
        np.minimum(part, 1, out=part, where=part > 1)
    return labels.view(bool)


def _recreate(volume: Volume, mask: np.ndarray, whole: list[int], out: np.ndarray) -> dict[int, np.ndarray]:
    """Re-create the whole lost slices ``whole`` of ``volume`` into ``out`` by motion-compensated
    interpolation between their nearest intact neighbours (:mod:`medinpaint.repair.motion`; the other
    damaged voxels of ``mask`` are left out of the slices its weights are fitted on); returns their
    physical values."""
    if len(whole) == volume.shape[2]:
        raise InputError(volume.meta.get("path"), "every slice is damaged; there is nothing to repair from")
    recreated = recreate_slices(volume.physical_slice, volume.shape[2], whole,
                                damaged=lambda k: np.asarray(mask[:, :, k], dtype=bool))
    for k in whole:
        out[:, :, k] = volume.to_stored_slice(k, recreated[k])
    return recreated


def _repair_one(volume: Volume, mask: np.ndarray, out: np.ndarray, *, whole: list[int], partial: list[int],
                network: _Network) -> dict | None:
    """Repair every damaged slice of one 3D volume into ``out`` (its stored voxels, ``(H, W, K)``):
    whole lost slices first, by interpolation, then the partly damaged ones through the network; a 2D
    image then keeps the in-plane fill that does best on itself (:func:`_single_slice`), whose choice
    is returned."""
    recreated = _recreate(volume, mask, whole, out) if whole else {}
    if not partial:
        return None
    trial, mirrored = None, False
    if volume.shape[2] == 1:
        holes = np.asarray(mask[:, :, 0], dtype=bool)
        # its wide holes: trial holes beside them go through the same network pass
        has_wide, trial, mirrored = single_slice_trial(holes)
        if not has_wide:
            # a 2D image with thin holes only (lines, impulses): the network's repair there would be
            # biharmonic inpainting crop by crop; the whole image's is exact and needs no network pass
            filled = biharmonic_inpaint(volume.physical_slice(0, np.float64), holes)
            out[:, :, 0][holes] = volume.to_stored_slice(0, filled)[holes]
            return {"fill": "biharmonic", "trial_rms": {}}
    norm = _normalisation(volume, whole + partial, mask)
    seen, repaired = (mask, out) if trial is None else (mask | trial[:, :, np.newaxis], out.copy())

    def network_pass(target: np.ndarray, seen: np.ndarray) -> None:
        wide_integers = volume.dtype.kind in "iu" and volume.dtype.itemsize == 8  # beyond float64's range
        if network.whole_planes and not wide_integers:
            try:
                network.inferer(PlaneInferer)(volume, target, seen, partial, recreated=recreated, norm=norm)
                return
            except NotImplementedError as error:  # an operation torch lacks for this dtype on this device
                # planes already written hold repaired values under the mask only, which crops ignore
                log.warning("whole-plane repair is not available for %s on %s (%s); repairing crops instead",
                            volume.dtype, network.device, str(error).splitlines()[0])
        network.inferer(CropInferer)(volume, target, seen, partial, recreated=recreated, norm=norm)

    network_pass(repaired, seen)
    if volume.shape[2] > 1:
        return None
    if trial is None:  # too few trial pixels fit to tell: the network's repair stays
        return {"fill": "network", "trial_rms": {}}
    choice = _single_slice(volume, mask, trial, repaired, out)
    if choice["fill"] == "network" and mirrored:  # a mirrored band took context: repaired again without it
        network_pass(out, mask)
    return choice


def _single_slice(volume: Volume, mask: np.ndarray, trial: np.ndarray, repaired: np.ndarray,
                  out: np.ndarray) -> dict:
    """Fill the holes of a 2D image (``mask``) into ``out`` with the network's repair (``repaired``,
    made with the ``trial`` holes missing too) or by biharmonic inpainting, whichever misses less on
    the trial holes (:mod:`medinpaint.nets.single_slice`)."""
    holes = np.asarray(mask[:, :, 0], dtype=bool)
    image = volume.physical_slice(0, np.float64)
    network_filled = volume.with_array(repaired).physical_slice(0, np.float64)
    keep, misses = network_or_biharmonic(image, holes, trial, network_filled)
    chosen = repaired[:, :, 0] if keep else volume.to_stored_slice(0, biharmonic_inpaint(image, holes))
    out[:, :, 0][holes] = chosen[holes]
    return {"fill": "network" if keep else "biharmonic",
            "trial_rms": {key: round(value, 6) for key, value in misses.items()}}


def _denoise(volume: Volume, array: np.ndarray, net: torch.nn.Module, *, device: torch.device, bfloat16: bool,
             progress: Progress) -> dict:
    """Denoise every slice of ``volume`` into ``array`` under the guard
    (:mod:`medinpaint.nets.guard`): what it would remove must look like noise, else the slice
    keeps its values. Returns the report's part."""
    norm = _normalisation(volume, [])  # sampled slices, as for repair: no float copy of the whole scan
    nk = volume.shape[2]
    ct = norm["method"] == "ct-window"
    left_alone, sigmas = [], []
    for k in range(nk):
        plane = normalise(volume.physical_slice(k), norm)
        # CT outside the trained HU window (padding, metal) is not tissue: seen clipped, kept as stored
        inside = (plane >= 0) & (plane <= 1) if ct else np.isfinite(plane)
        seen = np.clip(plane, 0.0, 1.0) if ct else np.where(inside, plane, 0.0)
        x = torch.from_numpy(seen[np.newaxis, np.newaxis]).to(device)
        with torch.inference_mode(), autocast(device, bfloat16):
            y = net(x).float().cpu().numpy()[0, 0]
        verdict = guard(seen, y, inside)
        sigmas.append(verdict.sigma)
        if verdict.kept:
            out = np.where(inside, verdict.output, plane)
            array[:, :, k] = volume.to_stored_slice(k, denormalise(out, norm))
        else:
            left_alone.append(k)
        progress((k + 1) / nk, "denoising")
    if left_alone:
        log.warning("the denoiser left %d of %d slices alone: what it would remove there is not noise",
                    len(left_alone), nk)
    return {"slices_left_alone": left_alone, "noise_sigma": float(np.median(sigmas)) if sigmas else 0.0,
            "guard": {"clamp": CLAMP, "structure": STRUCTURE, "edges": EDGES}}


__all__ = ["PRECISIONS", "RepairResult", "repair_volume"]
