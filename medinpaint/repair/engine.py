"""The repair engine: a damaged volume in, the repaired volume, the mask of what changed and a report out.

Work follows the damage: only slices with damage are read into memory as floats, and within a slice only
the tiles that touch the mask go through the network, batched. Whole lost slices are re-created by
linear interpolation between their nearest intact neighbours (the network has nothing in-plane to work
from there). Every voxel outside the mask keeps its stored value bit for bit; repaired voxels are cast
back to the stored dtype, rounded and clipped to its range.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medinpaint import __version__
from medinpaint.errors import InputError
from medinpaint.io import Volume
from medinpaint.repair.detection import Detection, detect

log = logging.getLogger(__name__)

TILE = 64  # in-plane tile that goes through the network when it touches the mask
MARGIN = 32  # context around a tile: more than the network's reach into a hole
WHOLE_SLICE = 0.05  # above this damaged fraction a slice goes through whole, not tile by tile
BATCH = 32
PRECISIONS = ("auto", "float32", "bfloat16")

Progress = Callable[[float, str], None]


@dataclass
class RepairResult:
    """The repaired volume (same geometry, metadata and stored dtype), the mask of repaired voxels
    (uint8, 1 = repaired) and a JSON-ready report (no patient data)."""

    volume: Volume
    mask: np.ndarray
    report: dict = field(default_factory=dict)


def _device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _bfloat16(device, precision: str) -> bool:
    """Whether the networks' bodies run in bfloat16. ``"auto"``: on CUDA, and on CPUs with native bf16
    arithmetic (AVX512-BF16 or AMX), where it measured 1.8x faster than float32 for the repair net;
    elsewhere bf16 is emulated and slower. The fills and the composite stay float32 either way."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision == "bfloat16"
    if device.type == "cuda":
        return True
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private torch.cpu probes: guarded
    return device.type == "cpu" and any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _load(name_or_path, default: str, device):
    """A model from a path (None: the shipped one), or an already loaded ``torch.nn.Module``."""
    from torch import nn

    from medinpaint.nets import default_model_path, load_model

    if isinstance(name_or_path, nn.Module):
        module = name_or_path.to(device).eval()
        args = {"context": module.context} if hasattr(module, "context") else {}
        return module, {"architecture": type(module).__name__, "args": args}, Path(type(module).__name__)
    path = Path(name_or_path) if name_or_path else default_model_path(default)
    if not path.exists():
        raise InputError(path, "model file not found")
    model, meta = load_model(path, device=device)
    return model, meta, path


def _normalisation(volume: Volume, damaged_slices: list[int]) -> dict:
    from medinpaint.data.normalise import normalisation

    k = volume.shape[2]
    intact = [i for i in range(k) if i not in set(damaged_slices)] or list(range(k))
    sample = intact[:: max(1, len(intact) // 16)]
    physical = np.stack([volume.physical_slice(i) for i in sample], axis=-1)
    return normalisation(physical, volume.modality)


def _tiles(mask2d: np.ndarray) -> list[tuple[slice, slice]]:
    """Core tiles (TILE x TILE) of the plane that hold masked pixels."""
    ni, nj = mask2d.shape
    out = []
    for i0 in range(0, ni, TILE):
        for j0 in range(0, nj, TILE):
            core = (slice(i0, min(i0 + TILE, ni)), slice(j0, min(j0 + TILE, nj)))
            if mask2d[core].any():
                out.append(core)
    return out


def _crop(core: tuple[slice, slice], shape: tuple[int, int], multiple: int = 16) -> tuple[slice, slice]:
    """The core grown by MARGIN, kept inside the plane, with sides a multiple of ``multiple`` when possible."""
    result = []
    for s, n in zip(core, shape, strict=True):
        start, stop = max(s.start - MARGIN, 0), min(s.stop + MARGIN, n)
        size = -(-(stop - start) // multiple) * multiple
        if size <= n:
            start = max(0, min(start, n - size))
            stop = start + size
        result.append(slice(start, stop))
    return tuple(result)


class _Repairer:
    """Runs the repair network over the damaged tiles of one 3D volume (one time point)."""

    def __init__(self, model, meta: dict, device, norm: dict, progress: Progress | None, bfloat16: bool):
        import torch

        self.torch = torch
        # channels-last convolutions: ~30% faster on this CPU for the shipped RepairNet (bench/RESULTS.md)
        self.model, self.device, self.norm = model.to(memory_format=torch.channels_last), device, norm
        self.context = int(meta.get("args", {}).get("context", 0))
        self.progress = progress
        self.amp = bfloat16

    def _in_plane_fill(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from medinpaint.nets import classical_fill

        torch = self.torch
        with torch.inference_mode():
            filled = classical_fill(torch.from_numpy(image)[None, None], torch.from_numpy(mask)[None, None])
        return filled[0, 0].numpy()

    def run(self, physical_of: Callable[[int], np.ndarray], mask: np.ndarray, slices: list[int]) -> dict[int, np.ndarray]:
        from medinpaint.data.normalise import denormalise, normalise

        torch = self.torch
        nk = mask.shape[2]
        jobs = []  # (k, crop, core)
        for k in slices:
            plane_mask = mask[:, :, k]
            if plane_mask.mean() > WHOLE_SLICE:
                jobs.append((k, (slice(0, plane_mask.shape[0]), slice(0, plane_mask.shape[1])), None))
            else:
                jobs += [(k, _crop(core, plane_mask.shape), core) for core in _tiles(plane_mask)]
        cache: dict[int, np.ndarray] = {}

        def plane(k: int) -> np.ndarray:
            k = min(max(k, 0), nk - 1)
            if k not in cache:
                cache[k] = normalise(physical_of(k), self.norm)
            return cache[k]

        prefilled: dict[int, np.ndarray] = {}

        def neighbour(k: int) -> np.ndarray:
            """A neighbouring slice; where it is damaged too (damage often hits consecutive slices),
            its own in-plane fill stands in, so the network never copies a neighbour's hole."""
            if not mask[:, :, k].any():
                return plane(k)
            if k not in prefilled:
                prefilled[k] = self._in_plane_fill(plane(k), mask[:, :, k].astype(np.float32))
            return prefilled[k]

        results = {k: plane(k).copy() for k in slices}
        jobs.sort(key=lambda job: (job[1][0].stop - job[1][0].start, job[1][1].stop - job[1][1].start))
        done = 0
        for start in range(0, len(jobs), BATCH):
            group = jobs[start:start + BATCH]
            shapes = {(c[0].stop - c[0].start, c[1].stop - c[1].start) for _, c, _ in group}
            for shape in shapes:
                same = [job for job in group if (job[1][0].stop - job[1][0].start, job[1][1].stop - job[1][1].start) == shape]
                stacks = []
                for k, crop, _ in same:
                    centre_mask = mask[crop + (k,)].astype(np.float32)
                    layers = [(plane(k) if d == 0 else neighbour(k + d))[crop] if 0 <= k + d < nk else None
                              for d in range(-self.context, self.context + 1)]
                    if any(layer is None for layer in layers):  # the scan's edge, or a 2D image:
                        stand_in = self._in_plane_fill(plane(k)[crop], centre_mask)  # no slice to borrow from
                        layers = [stand_in if layer is None else layer for layer in layers]
                    stacks.append(np.stack(layers + [centre_mask]))
                x = torch.from_numpy(np.stack(stacks)).to(self.device).to(memory_format=torch.channels_last)
                with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    y = self.model(x).float().cpu().numpy()[:, 0]
                for (k, crop, core), out in zip(same, y, strict=True):
                    target = results[k]
                    if core is None:
                        target[crop] = out
                    else:
                        local = tuple(slice(c.start - r.start, c.stop - r.start) for c, r in zip(core, crop, strict=True))
                        target[core] = out[local]
            done += len(group)
            if self.progress:
                self.progress(done / max(len(jobs), 1), "repairing damaged tiles")
        return {k: denormalise(v, self.norm).astype(np.float32) for k, v in results.items()}


def repair_volume(volume: Volume, mask: np.ndarray | None = None, denoise: bool = False,
                  model: str | os.PathLike | None = None, denoise_model: str | os.PathLike | None = None,
                  device: str = "auto", progress: Progress | None = None, in_place: bool = False,
                  precision: str = "auto") -> RepairResult:
    """Detect (or take) the damage of ``volume`` and repair it.

    Args:
        volume: the damaged scan, as read by :func:`medinpaint.io.read` (a DICOM series read with
            ``fill_gaps=True`` has its missing instances as slices to re-create).
        mask: voxels to repair (same shape as ``volume.array``, non-zero = damaged); None: detect them.
        denoise: also run the blind denoiser over every slice (all voxels may then change).
        model, denoise_model: safetensors files, or loaded modules; None: the models shipped with medinpaint.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        precision: ``"auto"`` (bfloat16 where the device computes it natively), ``"float32"`` (the same
            result on every machine) or ``"bfloat16"``; for the networks' bodies only.
        progress: called with (fraction done, stage) as work proceeds.
        in_place: write the repaired voxels into ``volume.array`` instead of a copy (for a scan read
            from an uncompressed NIfTI this is a private copy-on-write map: the file is never changed,
            and only the repaired slices take memory).
    """
    started = time.perf_counter()
    report_progress = progress or (lambda fraction, stage: None)
    report_progress(0.0, "detecting damage")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != volume.shape:
            raise InputError(None, f"the mask is {mask.shape} but the scan is {volume.shape}")
        labels = (mask != 0).astype(np.uint8)
        detection = Detection(labels, {"source": "user mask"})
        kinds = {"user-mask": int(labels.sum())}
    else:
        detection = detect(volume)
        kinds = detection.counts()
    # the label volume becomes the 0/1 mask in place (kinds are counted above): no second full-size array
    repair_mask = np.minimum(detection.labels, 1, out=detection.labels).view(bool)
    torch_device = _device(device)
    bfloat16 = _bfloat16(torch_device, precision)
    array = volume.array if in_place or not (repair_mask.any() or denoise) else volume.array.copy()
    volumes = [None] if volume.array.ndim == 3 else list(range(volume.shape[3]))
    model_meta = {}
    damaged_slices: list[int] = []
    lost_slices: list[int] = []
    if repair_mask.any():
        net, meta, path = _load(model, "repair", torch_device)
        model_meta["repair"] = {"path": path.name, "architecture": meta.get("architecture"), "args": meta.get("args", {})}
        for t in volumes:
            sub_mask = repair_mask if t is None else repair_mask[..., t]
            sub = volume if t is None else volume.with_array(volume.array[..., t])
            whole = [int(k) for k in np.nonzero(sub_mask.all(axis=(0, 1)))[0]]
            partial = [int(k) for k in np.nonzero(sub_mask.any(axis=(0, 1)))[0] if k not in set(whole)]
            damaged_slices += partial + whole
            lost_slices += whole
            repaired = _repair_one(sub, sub_mask, whole, partial, net, meta, torch_device, report_progress, bfloat16)
            for k, physical in repaired.items():
                where = sub_mask[:, :, k]
                target = array[:, :, k] if t is None else array[:, :, k, t]
                target[where] = sub.to_stored_slice(k, physical)[where]
    if denoise:
        dnet, dmeta, dpath = _load(denoise_model, "denoise", torch_device)
        model_meta["denoise"] = {"path": dpath.name, "architecture": dmeta.get("architecture")}
        _denoise(volume.with_array(array), array, dnet, torch_device, report_progress, bfloat16)
    report_progress(1.0, "done")
    out_mask = repair_mask.view(np.uint8) if not denoise else np.ones(volume.shape, dtype=np.uint8)
    report = {
        "medinpaint_version": __version__,
        "shape": list(volume.shape),
        "damaged_voxels": int(repair_mask.sum()),
        "kinds": kinds,
        "damaged_slices": sorted(set(damaged_slices)),
        "recreated_slices": sorted(set(lost_slices)),
        "mask_source": "user" if mask is not None else "detected",
        "denoised": bool(denoise),
        "models": model_meta,
        "device": torch_device.type,
        "precision": "bfloat16" if bfloat16 else "float32",
        "seconds": round(time.perf_counter() - started, 3),
    }
    return RepairResult(volume.with_array(array), out_mask, report)


def _repair_one(volume: Volume, mask: np.ndarray, whole: list[int], partial: list[int], net, meta, device,
                progress: Progress, bfloat16: bool) -> dict[int, np.ndarray]:
    """Physical values of every damaged slice of one 3D volume, repaired."""
    from medinpaint.baselines import interpolate_slices

    results: dict[int, np.ndarray] = {}
    if whole:
        intact = [k for k in range(volume.shape[2]) if k not in set(whole)]
        if not intact:
            raise InputError(volume.meta.get("path"), "every slice is damaged; there is nothing to repair from")
        needed = sorted({n for k in whole for n in (max((i for i in intact if i < k), default=None),
                                                     min((i for i in intact if i > k), default=None)) if n is not None})
        planes = {k: volume.physical_slice(k) for k in needed}
        stack = np.zeros(volume.shape[:2] + (volume.shape[2],), dtype=np.float32)
        for k, p in planes.items():
            stack[:, :, k] = p
        filled = interpolate_slices(stack, whole, axis=2)
        for k in whole:
            results[k] = filled[:, :, k]
    if partial:
        norm = _normalisation(volume, whole + partial)

        def physical_of(k: int) -> np.ndarray:
            return results[k] if k in results else volume.physical_slice(k)

        repairer = _Repairer(net, meta, device, norm, progress, bfloat16)
        results.update(repairer.run(physical_of, mask, partial))
    return results


def _denoise(volume: Volume, array: np.ndarray, net, device, progress: Progress, bfloat16: bool) -> None:
    import torch

    from medinpaint.data.normalise import denormalise, normalise

    norm = _normalisation(volume, [])  # sampled slices, as for repair: no float copy of the whole scan
    nk = volume.shape[2]
    for k in range(nk):
        plane = normalise(volume.physical_slice(k), norm)
        x = torch.from_numpy(plane[np.newaxis, np.newaxis]).to(device)
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16):
            y = net(x).float().cpu().numpy()[0, 0]
        array[:, :, k] = volume.to_stored_slice(k, denormalise(y, norm))
        progress((k + 1) / nk, "denoising")


__all__ = ["RepairResult", "repair_volume"]
