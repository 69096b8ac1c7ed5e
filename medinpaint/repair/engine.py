"""The repair engine: a damaged volume in, the repaired volume, the mask of what changed and a report out.

Work follows the damage: only slices with damage are read into memory as floats, and within a slice only
crops around the damage go through the network, batched. On a GPU, whole damaged planes go through in
large batches instead, every step on the device (:mod:`medinpaint.repair.planes`). Whole lost slices are re-created by
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
from medinpaint.repair.detection import detect

log = logging.getLogger(__name__)

GRID = 16  # damage is grouped into crops on this in-plane grid
MARGIN = 16  # context around the damage in a crop: repaired values within 1 stored unit of the whole plane's
CROP_COST = 32 * 32  # a crop's fixed cost (a network call), in pixels of area, when choosing crops
WHOLE_PLANE = 1.0  # crops covering more than the plane itself: the plane goes through whole (small crops
# stay in cache: on this CPU crops covering 90% of a 512x512 plane ran faster than the plane)
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


def channels_last(model):
    """``model`` with its convolution weights channels-last, converted only once (a conversion walks
    every parameter: 1.4 ms per call for the shipped net, when a whole slice takes ~55 ms)."""
    import torch

    weights = [p for p in model.parameters() if p.dim() == 4]
    if weights and not all(w.is_contiguous(memory_format=torch.channels_last) for w in weights):
        model.to(memory_format=torch.channels_last)
    return model


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


def _crop_size(start, stop, n: int):
    """Pixel extent of a crop along one axis for cores from block ``start`` to ``stop`` (arrays too):
    grown by MARGIN, clipped to the plane's ``n`` pixels, rounded up to a multiple of 32 within it."""
    low, high = np.maximum(np.multiply(start, GRID) - MARGIN, 0), np.minimum(np.multiply(stop, GRID) + MARGIN, n)
    return np.minimum(-(-(high - low) // 32) * 32, n), low


def _grown(core: tuple[slice, slice], shape: tuple[int, int]) -> tuple[slice, slice]:
    """A core box (in GRID blocks) as a crop in pixels (:func:`_crop_size`): equal shapes batch together."""
    crop = []
    for s, n in zip(core, shape, strict=True):
        size, low = (int(v) for v in _crop_size(s.start, s.stop, n))
        start = max(0, min(low, n - size))
        crop.append(slice(start, start + size))
    return tuple(crop)


def _split(blocks: np.ndarray, origin: tuple[int, int], shape: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Core boxes (in blocks) that together hold every damaged block of ``blocks``: its bounding box,
    cut in two where that saves crop area (the cut that saves most, along either axis), recursively.
    Each crop also costs CROP_COST, so cuts stop where a network call would cost more than it saves."""
    rows, cols = np.nonzero(blocks.any(axis=1))[0], np.nonzero(blocks.any(axis=0))[0]
    if not len(rows):
        return []
    blocks = blocks[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    origin = (origin[0] + int(rows[0]), origin[1] + int(cols[0]))
    core = (slice(origin[0], origin[0] + blocks.shape[0]), slice(origin[1], origin[1] + blocks.shape[1]))
    sizes = [_crop_size(s.start, s.stop, n)[0] for s, n in zip(core, shape, strict=True)]
    best, best_area = None, int(sizes[0] * sizes[1]) + CROP_COST
    for axis in (0, 1):
        along = blocks if axis == 0 else blocks.T  # cut between lines of ``along``
        length, width = along.shape
        if length < 2:
            continue
        line_at, across_at = origin[axis], origin[1 - axis]
        n_along, n_across = shape[axis], shape[1 - axis]
        occupied = along.any(axis=1)
        index = np.arange(length)
        # each side of a cut at 1..length-1: its last/first occupied line, its extent across (running ORs)
        last_before = np.maximum.accumulate(np.where(occupied, index, -1))[:-1]
        first_after = np.minimum.accumulate(np.where(occupied, index, length)[::-1])[::-1][1:]
        before = np.logical_or.accumulate(along, axis=0)[:-1]
        after = np.logical_or.accumulate(along[::-1], axis=0)[::-1][1:]
        areas = np.zeros(length - 1, dtype=np.int64)
        for lines, across in (((0, last_before + 1), before), ((first_after, length), after)):
            low = np.argmax(across, axis=1)
            high = width - np.argmax(across[:, ::-1], axis=1)
            size_along = _crop_size(line_at + np.asarray(lines[0]), line_at + lines[1], n_along)[0]
            size_across = _crop_size(across_at + low, across_at + high, n_across)[0]
            areas += size_along * size_across + CROP_COST
        cut = int(np.argmin(areas))
        if areas[cut] < best_area:
            best, best_area = (axis, cut + 1), int(areas[cut])
    if best is None:
        return [core]
    axis, cut = best
    first, second = np.split(blocks, [cut], axis=axis)
    second_origin = (origin[0] + cut, origin[1]) if axis == 0 else (origin[0], origin[1] + cut)
    return _split(first, origin, shape) + _split(second, second_origin, shape)


def _regions(mask2d: np.ndarray) -> tuple[list[tuple[slice, slice]], np.ndarray]:
    """The crops of a plane that go through the network, and which crop repairs which pixel.

    The damage is marked on a grid of GRID-pixel blocks and covered by boxes (:func:`_split`); each
    box becomes a crop with MARGIN pixels of context. Returns the crops and a label map (0: not
    repaired, i: the i-th crop writes this pixel). When the crops would cover more than WHOLE_PLANE of
    the plane, the plane goes through whole: one crop, no seams.
    """
    ni, nj = mask2d.shape
    gi, gj = -(-ni // GRID), -(-nj // GRID)
    padded = np.zeros((gi * GRID, gj * GRID), dtype=bool)
    padded[:ni, :nj] = mask2d
    blocks = padded.reshape(gi, GRID, gj, GRID).any(axis=(1, 3))
    cores = _split(blocks, (0, 0), (ni, nj))
    crops = [_grown(core, (ni, nj)) for core in cores]
    if sum((a.stop - a.start) * (b.stop - b.start) + CROP_COST for a, b in crops) > WHOLE_PLANE * ni * nj:
        return [(slice(0, ni), slice(0, nj))], mask2d.astype(np.int32)
    owner = np.zeros((gi, gj), dtype=np.int32)
    for index, core in enumerate(cores):
        owner[core] = np.where(blocks[core], index + 1, owner[core])
    return crops, np.where(mask2d, owner.repeat(GRID, axis=0).repeat(GRID, axis=1)[:ni, :nj], 0)


class _Repairer:
    """Runs the repair network over the damaged crops of one 3D volume (one time point)."""

    def __init__(self, model, meta: dict, device, norm: dict, progress: Progress | None, bfloat16: bool):
        import torch

        from medinpaint.nets import RepairNet, classical_fill

        self.torch = torch
        # channels-last convolutions: ~30% faster on this CPU for the shipped RepairNet (bench/RESULTS.md)
        self.model, self.device, self.norm = channels_last(model), device, norm
        self.context = int(meta.get("args", {}).get("context", 0))
        self.progress = progress
        self.amp = bfloat16
        # a RepairNet takes the centre's in-plane fill from the engine, which computes it anyway as the
        # stand-in for missing neighbours: computed once per crop, not twice
        self.takes_fill = isinstance(model, RepairNet)
        self.fill = model.in_plane_fill if self.takes_fill else classical_fill

    def _in_plane_fill(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """In-plane fill of a batch of crops ``(B, H, W)``."""
        torch = self.torch
        with torch.inference_mode():
            filled = self.fill(torch.from_numpy(image)[:, None].to(self.device), torch.from_numpy(mask)[:, None].to(self.device))
        return filled[:, 0].float().cpu().numpy()

    def run(self, physical_of: Callable[[int], np.ndarray], mask: np.ndarray, slices: list[int],
            lost: set[int]) -> dict[int, np.ndarray]:
        """Physical values of ``slices``, repaired where ``mask`` is set. ``lost``: whole slices
        re-created already (``physical_of`` gives them); as neighbours they count as intact."""
        from medinpaint.data.normalise import denormalise, normalise

        torch = self.torch
        nk = mask.shape[2]
        jobs = []  # (k, crop, label map of the plane, label of this crop)
        for k in slices:
            crops, labels = _regions(mask[:, :, k])
            jobs += [(k, crop, labels, index + 1) for index, crop in enumerate(crops)]
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
            if k in lost or not mask[:, :, k].any():
                return plane(k)
            if k not in prefilled:
                prefilled[k] = self._in_plane_fill(plane(k)[None], mask[:, :, k][None].astype(np.float32))[0]
            return prefilled[k]

        def shape_of(job) -> tuple[int, int]:
            return job[1][0].stop - job[1][0].start, job[1][1].stop - job[1][1].start

        results = {k: plane(k).copy() for k in slices}
        jobs.sort(key=shape_of)
        done = 0
        for start in range(0, len(jobs), BATCH):
            group = jobs[start:start + BATCH]
            for shape in sorted({shape_of(job) for job in group}):
                same = [job for job in group if shape_of(job) == shape]
                centres = np.stack([plane(k)[crop] for k, crop, _, _ in same])
                masks = np.stack([mask[crop + (k,)] for k, crop, _, _ in same]).astype(np.float32)
                fills = self._in_plane_fill(centres, masks)
                stacks = []
                for (k, crop, _, _), centre, centre_mask, fill in zip(same, centres, masks, fills, strict=True):
                    # at the scan's edge, or in a 2D image, the in-plane fill stands in for a missing neighbour
                    layers = [centre if d == 0 else neighbour(k + d)[crop] if 0 <= k + d < nk else fill
                              for d in range(-self.context, self.context + 1)]
                    stacks.append(np.stack(layers + [centre_mask]))
                x = torch.from_numpy(np.stack(stacks)).to(self.device).to(memory_format=torch.channels_last)
                extra = {"fill": torch.from_numpy(fills)[:, None].to(self.device)} if self.takes_fill else {}
                with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    y = self.model(x, **extra).float().cpu().numpy()[:, 0]
                for (k, crop, labels, label), out in zip(same, y, strict=True):
                    mine = labels[crop] == label
                    results[k][crop][mine] = out[mine]
            done += len(group)
            if self.progress:
                self.progress(done / max(len(jobs), 1), "repairing damaged crops")
        return {k: denormalise(v, self.norm).astype(np.float32) for k, v in results.items()}


def repair_volume(volume: Volume, mask: np.ndarray | None = None, denoise: bool = False,
                  model: str | os.PathLike | None = None, denoise_model: str | os.PathLike | None = None,
                  device: str = "auto", progress: Progress | None = None, in_place: bool = False,
                  precision: str = "auto", whole_planes: bool | None = None) -> RepairResult:
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
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != volume.shape:
            raise InputError(None, f"the mask is {mask.shape} but the scan is {volume.shape}")
        repair_mask = np.not_equal(mask, 0)  # the user's array stays theirs: one bool copy
        kinds = {"user-mask": int(np.count_nonzero(repair_mask))}
    else:
        detection = detect(volume)
        kinds = detection.counts()
        # the label volume becomes the 0/1 mask in place (kinds are counted above): no second full-size array
        repair_mask = np.minimum(detection.labels, 1, out=detection.labels).view(bool)
    torch_device = _device(device)
    bfloat16 = _bfloat16(torch_device, precision)
    planes = torch_device.type != "cpu" if whole_planes is None else bool(whole_planes)
    # the copy keeps the scan's memory order (a NIfTI's is Fortran): a C-ordered copy costs a transposing
    # pass, and every plane written into it afterwards is strided (on the GPU bench: 93 slices/s through a C-ordered copy, 686 repairing the same volume in place)
    array = volume.array if in_place or not (repair_mask.any() or denoise) else volume.array.copy(order="K")
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
            target = array if t is None else array[..., t]
            _repair_one(sub, sub_mask, whole, partial, net, meta, torch_device, report_progress, bfloat16, target,
                        planes)
    if denoise:
        dnet, dmeta, dpath = _load(denoise_model, "denoise", torch_device)
        model_meta["denoise"] = {"path": dpath.name, "architecture": dmeta.get("architecture")}
        _denoise(volume.with_array(array), array, dnet, torch_device, report_progress, bfloat16)
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
        "denoised": bool(denoise),
        "models": model_meta,
        "device": torch_device.type,
        "precision": "bfloat16" if bfloat16 else "float32",
        "seconds": round(time.perf_counter() - started, 3),
    }
    return RepairResult(volume.with_array(array), out_mask, report)


def _repair_one(volume: Volume, mask: np.ndarray, whole: list[int], partial: list[int], net, meta, device,
                progress: Progress, bfloat16: bool, out: np.ndarray, planes: bool) -> None:
    """Repair every damaged slice of one 3D volume into ``out`` (its stored voxels, ``(H, W, K)``):
    whole lost slices first, by interpolation, then the partly damaged ones through the network."""
    from medinpaint.baselines import interpolate_slices

    results: dict[int, np.ndarray] = {}
    if whole:
        intact = [k for k in range(volume.shape[2]) if k not in set(whole)]
        if not intact:
            raise InputError(volume.meta.get("path"), "every slice is damaged; there is nothing to repair from")
        needed = sorted({n for k in whole for n in (max((i for i in intact if i < k), default=None),
                                                     min((i for i in intact if i > k), default=None)) if n is not None})
        stack = np.zeros(volume.shape[:2] + (volume.shape[2],), dtype=np.float32)
        for k in needed:
            stack[:, :, k] = volume.physical_slice(k)
        filled = interpolate_slices(stack, whole, axis=2)
        for k in whole:
            results[k] = filled[:, :, k]
            out[:, :, k] = volume.to_stored_slice(k, results[k])
    if not partial:
        return
    norm = _normalisation(volume, whole + partial)
    wide_integers = volume.dtype.kind in "iu" and volume.dtype.itemsize == 8  # beyond float64's exact range
    if planes and not wide_integers:
        from medinpaint.repair.planes import PlaneRepairer

        try:
            PlaneRepairer(net, meta, device, norm, bfloat16, progress).run(volume, out, mask, partial, set(whole))
            return
        except NotImplementedError as error:  # an operation torch lacks for this dtype on this device
            # planes already written hold repaired values under the mask only, which crops ignore
            log.warning("whole-plane repair is not available for %s on %s (%s); repairing crops instead",
                        volume.dtype, device, str(error).splitlines()[0])

    def physical_of(k: int) -> np.ndarray:
        return results[k] if k in results else volume.physical_slice(k)

    repairer = _Repairer(net, meta, device, norm, progress, bfloat16)
    for k, physical in repairer.run(physical_of, mask, partial, set(whole)).items():
        where = mask[:, :, k]
        out[:, :, k][where] = volume.to_stored_slice(k, physical)[where]


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
