"""Crops around the damage through the repair network, computed on the host (the CPU path).

Work follows the damage: only slices with damage are read into memory as floats, and within a slice
only crops around the damage go through the network, batched by shape. Each crop carries MARGIN pixels
of context; where the crops would cover more than the plane itself, the plane goes through whole.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from medinpaint.data.normalise import denormalise, normalise
from medinpaint.io import Volume
from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.inferer import RepairInferer, sane_context

GRID = 16  # damage is grouped into crops on this in-plane grid
MARGIN = 16  # context around the damage in a crop: repaired values within 1 stored unit of the whole plane's
CROP_COST = 32 * 32  # a crop's fixed cost (a network call), in pixels of area, when choosing crops
WHOLE_PLANE = 1.0  # crops covering more than the plane itself: the plane goes through whole (small crops
# stay in cache: on this CPU crops covering 90% of a 512x512 plane ran faster than the plane)
BATCH = 32
# crop sides are rounded up to a multiple of this (the U-Net needs 8): fewer distinct shapes batch better,
# but every pixel of rounding goes through the network (the bench slice: 37% of its area with 32, 28% with 16)
ROUND = 16
CHUNK = 16  # damaged slices repaired, then written, at a time: memory held is bounded by the chunk


def _crop_size(start, stop, n: int):
    """Pixel extent of a crop along one axis for cores from block ``start`` to ``stop`` (arrays too):
    grown by MARGIN, clipped to the plane's ``n`` pixels, rounded up to a multiple of ROUND within it."""
    low = np.maximum(np.multiply(start, GRID) - MARGIN, 0)
    high = np.minimum(np.multiply(stop, GRID) + MARGIN, n)
    return np.minimum(-(-(high - low) // ROUND) * ROUND, n), low


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


class CropInferer(RepairInferer):
    """Repairs the damaged crops of one 3D volume (see the module): the planes are read, normalised and
    cut on the host, and only the network's input and output cross to the device."""

    def __call__(self, volume: Volume, out: np.ndarray, mask: np.ndarray, slices: list[int], *,
                 recreated: dict[int, np.ndarray], norm: dict) -> None:
        def physical_of(k: int) -> np.ndarray:
            return recreated[k] if k in recreated else volume.physical_slice(k)

        # CHUNK slices at a time, each chunk written before the next is read: what is held (planes,
        # neighbours, results) is bounded by the chunk, not by the number of damaged slices. With
        # ``out`` the scan itself (a repair in place) a later chunk may read a neighbour repaired
        # already: a damaged neighbour enters only as its in-plane fill, which its repaired pixels
        # (those under its mask) do not change, so the output is that of one pass over every slice.
        ordered = sorted(slices)
        # each plane's crops and label map (int32, as large as the plane): kept for all the slices when
        # they are one chunk, else found per chunk (and once before, for the count of crops)
        regions = {k: _regions(mask[:, :, k]) for k in ordered} if len(ordered) <= CHUNK else {}
        total = sum(len(regions[k][0]) if regions else len(_regions(mask[:, :, k])[0]) for k in ordered)
        progress = _Progress(self, total)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start:start + CHUNK]
            found = regions or {k: _regions(mask[:, :, k]) for k in chunk}
            for k, physical in self._repair(physical_of, mask, found, set(recreated), norm, progress).items():
                where = mask[:, :, k]
                out[:, :, k][where] = volume.to_stored_slice(k, physical)[where]
            # the pages of a mapped scan read for this chunk go (those written to stay as written)
            drop_mapped_pages(volume.array, max(chunk[0] - self.context, 0),
                              min(chunk[-1] + self.context + 1, mask.shape[2]))

    def _host_fill(self, image: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """:meth:`in_plane_fill` of a batch of crops ``(B, H, W)`` on the host."""
        planes, masks = torch.from_numpy(image).to(self.device), torch.from_numpy(holes).to(self.device)
        return self.in_plane_fill(planes, masks).float().cpu().numpy()

    def _repair(self, physical_of: Callable[[int], np.ndarray], mask: np.ndarray,
                regions: dict[int, tuple[list[tuple[slice, slice]], np.ndarray]], lost: set[int], norm: dict,
                progress: _Progress) -> dict[int, np.ndarray]:
        """Physical values of the slices of ``regions`` (each slice's :func:`_regions`), repaired where
        ``mask`` is set. ``lost``: whole slices re-created already (``physical_of`` gives them); as
        neighbours they count as intact."""
        nk = mask.shape[2]
        slices = list(regions)
        jobs = []  # (k, crop, which pixels of the crop this crop repairs)
        for k, (crops, labels) in regions.items():
            jobs += [(k, crop, labels[crop] == index + 1) for index, crop in enumerate(crops)]
        cache: dict[int, np.ndarray] = {}

        def plane(k: int) -> np.ndarray:
            k = min(max(k, 0), nk - 1)
            if k not in cache:
                cache[k] = sane_context(normalise(physical_of(k), norm))
            return cache[k]

        prefilled: dict[int, np.ndarray] = {}

        def neighbour(k: int) -> np.ndarray:
            """A neighbouring slice; where it is damaged too (damage often hits consecutive slices),
            its own in-plane fill stands in, so the network never copies a neighbour's hole."""
            if k in lost or not mask[:, :, k].any():
                return plane(k)
            if k not in prefilled:
                prefilled[k] = self._host_fill(plane(k)[None], mask[:, :, k][None].astype(np.float32))[0]
            return prefilled[k]

        def shape_of(job) -> tuple[int, int]:
            return job[1][0].stop - job[1][0].start, job[1][1].stop - job[1][1].start

        def on_device(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array).to(self.device)

        results = {k: plane(k).copy() for k in slices}
        jobs.sort(key=shape_of)
        for start in range(0, len(jobs), BATCH):
            group = jobs[start:start + BATCH]
            for shape in sorted({shape_of(job) for job in group}):
                same = [job for job in group if shape_of(job) == shape]
                centres = np.stack([plane(k)[crop] for k, crop, _ in same])
                masks = np.stack([mask[crop + (k,)] for k, crop, _ in same]).astype(np.float32)
                fills = self._host_fill(centres, masks)

                def neighbours(d: int, same=same, fills=fills) -> torch.Tensor:
                    return on_device(np.stack([neighbour(k + d)[crop] if 0 <= k + d < nk else fill
                                               for (k, crop, _), fill in zip(same, fills, strict=True)]))

                x = self.stack(on_device(centres), on_device(masks), on_device(fills),
                               [job[0] for job in same], depth=nk, neighbours=neighbours)
                y = self.predict(x, on_device(fills)).cpu().numpy()
                for (k, crop, mine), repaired in zip(same, y, strict=True):
                    results[k][crop][mine] = repaired[mine]
            progress.advance(len(group))
        return {k: denormalise(v, norm).astype(np.float32) for k, v in results.items()}


class _Progress:
    """Crops done out of all the crops of a volume, across its chunks, told to the inferer's caller."""

    def __init__(self, inferer: RepairInferer, total: int) -> None:
        self.inferer, self.total, self.done = inferer, total, 0

    def advance(self, crops: int) -> None:
        self.done += crops
        self.inferer.report(self.done / max(self.total, 1), "repairing damaged crops")


__all__ = ["BATCH", "CHUNK", "CROP_COST", "GRID", "MARGIN", "ROUND", "WHOLE_PLANE", "CropInferer"]
