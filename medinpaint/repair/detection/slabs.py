"""The slab reader: a scan is read ``SLAB`` slices at a time, on ``WORKERS`` threads, so that a
memory-mapped scan is never loaded whole; and what every detector shares (fill values, neighbours,
the slices beside a slab)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.io import Volume
from medinpaint.io.volume import drop_mapped_pages

SLAB = 32  # slices read at a time
# slices either side of a slab that the rules for lost lines and tiles and background flips look at
CONTEXT = 2
# threads scanning slabs at once (each holds up to 9 slab-sized float32 temporaries)
WORKERS = min(4, os.cpu_count() or 1)

PLANE = np.zeros((3, 3, 3), dtype=bool)
PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)  # 4-connected within a slice, never across
# in-plane neighbours
EIGHT = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0))
# the same as a kernel: a voxel's eight neighbours in its plane, itself left out (counted by a convolution)
AROUND = np.ones((3, 3, 1), dtype=np.uint8)
AROUND[1, 1, 0] = 0


@dataclass(frozen=True)
class ScanThresholds:
    """Sizes below which the detectors leave a scan or a region alone.

    Args:
        min_hole: pixels; smaller fill specks are left alone (a single lost pixel is a bit error), a
            tail of fill shorter than this ends many a clean scan, and voxels at the minimum side by
            side in fewer pairs than a line of this many makes (one less) are bit errors, not a fill.
        min_plane: pixels along each in-plane axis for the pattern detectors (lost lines, tiles,
            truncation): in fewer, a pattern cannot be told from anatomy.
        run: pixels; a value held by this many voxels in a row (along either in-plane axis) is a fill
            candidate, whatever it is (lost data takes any constant a sender or converter writes: 0
            before or after rescaling, -1024, -2000, the dtype's minimum; a scan padded with a constant)
            ...
        max_run_fills: ... the most common of them by voxels in such runs, at most this many, where
            they hold ``min_hole`` voxels or more ...
        run_dominance: ... and ``run_dominance`` times as many as the most common value left out (a
            coarsely quantised scan holds runs at many values alike: none of them is taken).
        background_share: a value holding this share of the slices' outer frame is the scan's
            background, not a fill candidate; nor is a value outside the scan's ``written_inside`` to
            ``100 - written_inside`` percentiles (a floor or ceiling the values were clipped to).
        written_inside: see ``background_share``.
        ringing_share: voxels at negative values other than a negative minimum, fewer than this share
            of the scan (or than ``min_hole``), are a resampling's ringing: the scan's values cannot be
            negative, and the minimum is a constant written into it.
    """

    min_hole: int = 16
    min_plane: int = 16
    run: int = 16
    max_run_fills: int = 3
    run_dominance: int = 4
    background_share: float = 0.5
    written_inside: float = 1.0
    ringing_share: float = 0.001


SCAN = ScanThresholds()


def is_fill_value(values: np.ndarray, fills: list[float]) -> np.ndarray:
    """``np.isin(values, fills)`` for the two or three fill values, without isin's sorting."""
    result = values == fills[0]
    for f in fills[1:]:
        result |= values == f
    return result


def fill_values(volume: Volume, minimum: np.generic | None = None) -> list[float]:
    """The values a failure leaves: stored 0, the image ``minimum`` (where given), and DICOM's padding
    value."""
    values = {0} if minimum is None else {0, minimum.item()}
    source = volume.meta.get("dicom") or {}
    header = next((s for s in source.get("slices", []) if s is not None), None)
    if header is not None and "PixelPaddingValue" in header:
        values.add(int(header.PixelPaddingValue))
    return sorted(values)


def in_fortran_order(array: np.ndarray, tile: int = 64) -> np.ndarray:
    """``array`` with its slices contiguous (Fortran order), as a NIfTI file maps: a scan held in C
    order (as NumPy and MONAI pipelines give it) is copied once, ``tile`` x ``tile`` columns at a time
    (NumPy's own copy writes a voxel per page in turn, several times slower)."""
    if not isinstance(array, np.ndarray) or array.flags.f_contiguous or array.ndim != 3:
        return array
    copy = np.empty(array.shape, dtype=array.dtype, order="F")
    for i in range(0, array.shape[0], tile):
        for j in range(0, array.shape[1], tile):
            copy[i:i + tile, j:j + tile] = array[i:i + tile, j:j + tile]
    return copy


def minimum_and_frame(array: np.ndarray, slab: int) -> tuple[np.generic, np.ndarray]:
    """The scan's minimum, and the voxels of the outer frame (first and last row and column) of its
    slices, read slab by slab: a memory-mapped scan's pages are let go after each (its whole map
    read at once stays resident)."""
    minima, frames = [], []

    def look(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        minima.append(block.min())
        if min(array.shape[:2]) >= 3:
            frames.append(np.concatenate([block[0].ravel(), block[-1].ravel(),
                                          block[:, 0].ravel(), block[:, -1].ravel()]))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)
    frame = np.concatenate(frames) if frames else np.empty(0, dtype=array.dtype)
    return np.array(minima, dtype=array.dtype).min(), frame


def frame_value(frame: np.ndarray, share: float = 1.0) -> float | None:
    """The constant that fills the outer frame of the slices (``frame``: its voxels, from
    :func:`minimum_and_frame`), or None: with ``share`` 1, a scan padded in-plane with a constant,
    whose neighbours there are unseen; with less, the scan's background (most of the frame)."""
    if frame.size == 0:
        return None
    values, counts = np.unique(frame, return_counts=True)
    top = int(np.argmax(counts))
    return values[top].item() if counts[top] >= share * frame.size else None


def run_values(block: np.ndarray, known: list[float]) -> dict[float, int]:
    """Values other than ``known`` held by ``SCAN.run`` voxels or more in a row along axis 0 or 1 of
    the slices of ``block``, with how many voxels such runs hold (a run of n counts n - run + 1).
    NaN and infinite values hold no run (garbage read as floats, no fill a sender writes)."""
    found: dict[float, int] = {}
    if block.dtype.kind not in "iuf":
        return found
    step = SCAN.run // 4  # a run holds four voxels this far apart, the first at a multiple of it
    for axis in (0, 1):
        if block.shape[axis] < SCAN.run:
            continue
        lines = np.moveaxis(block, axis, 0)
        # screened on every step-th voxel: only lines with four equal samples in a row, at no known fill,
        # can hold such a run (NaN never equals itself)
        samples = lines[::step]
        equal = samples[1:] == samples[:-1]
        equal = equal[:-2] & equal[1:-1] & equal[2:]
        if known:  # left out before they are gathered: a background of a known fill holds most runs
            equal &= ~is_fill_value(samples[:equal.shape[0]], known)
        lines = lines[:, equal.any(axis=0)]
        same = np.diff(lines, axis=0) == 0  # (inf - inf is NaN: infinite values hold no run)
        starts = runs_of_true(same, SCAN.run - 1)
        if not starts.any():
            continue
        head = lines[:starts.shape[0]]
        if known:
            starts &= ~is_fill_value(head, known)
        values = head[starts]
        for value, n in zip(*np.unique(values, return_counts=True), strict=True):
            found[value.item()] = found.get(value.item(), 0) + int(n)
    return found


def runs_of_true(same: np.ndarray, length: int) -> np.ndarray:
    """Where ``length`` values in a row along axis 0 of ``same`` are all True (``len - length + 1``
    places): the window doubled, then the remainder joined, a few boolean passes in all."""
    window, covered = same, 1  # window[p]: same[p : p + covered] all True
    while 2 * covered <= length:
        window = window[:-covered] & window[covered:]
        covered *= 2
    if covered < length:  # join the window with its copy shifted by what is missing
        window = window[:len(window) - (length - covered)] & window[length - covered:]
    return window


def pick_run_fills(found: dict[float, int]) -> list[float]:
    """The fill candidates of :func:`run_values` summed over a scan: the most common, where they are
    common enough (``SCAN.max_run_fills``, ``SCAN.min_hole``)."""
    ranked = sorted(found.items(), key=lambda item: -item[1]) + [(None, 0)]
    for n in range(1, min(SCAN.max_run_fills, len(ranked) - 1) + 1):
        # the first n stand out from the rest: a coarsely quantised scan (a uint16 NM scan of counts
        # 0-40) holds runs at many values alike, none of them lost
        if ranked[n - 1][1] >= SCAN.run_dominance * ranked[n][1]:
            return [value for value, count in ranked[:n] if count >= SCAN.min_hole]
    return []


def fill_with_context(array: np.ndarray, part: slice, is_fill: np.ndarray,
                      fills: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """``is_fill`` of slices ``part`` with ``CONTEXT`` slices before and after them (beyond the scan's
    first and last slice, fill), and which of those slices lie in the scan: slice ``k`` of the slab is
    ``k + CONTEXT`` of what this returns."""
    ni, nj, n = is_fill.shape
    context = np.ones((ni, nj, n + 2 * CONTEXT), dtype=bool, order="F")
    context[:, :, CONTEXT:-CONTEXT] = is_fill
    in_scan = np.zeros(n + 2 * CONTEXT, dtype=bool)
    in_scan[CONTEXT:-CONTEXT] = True
    for d in range(1, CONTEXT + 1):
        for k, at in ((part.start - d, CONTEXT - d), (part.stop - 1 + d, CONTEXT + n - 1 + d)):
            if 0 <= k < array.shape[2]:
                context[:, :, at] = is_fill_value(np.asarray(array[:, :, k]), fills)
                in_scan[at] = True
                drop_mapped_pages(array, k, k + 1)  # its own slab's scan dropped it, or will
    return context, in_scan


def fill_beside(fill_context: Callable[[], tuple], k: int, distance: int = 1) -> list[np.ndarray]:
    """The fill planes (from :func:`fill_with_context`, given by ``fill_context``) of the slices
    ``distance`` before and after slab slice ``k``, those of them that lie in the scan."""
    context, in_scan = fill_context()
    return [context[:, :, at] for at in (k + CONTEXT - distance, k + CONTEXT + distance) if in_scan[at]]


def label_in_plane(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """``ndimage.label(mask, structure=PLANE)`` (4-connected within a slice, never across), slice by
    slice and only where a slice holds any: several times faster than one labelling of the slab.
    Numbered slice by slice; Fortran order."""
    found = np.zeros(mask.shape, dtype=np.int32, order="F")
    n = 0
    for k in np.nonzero(mask.any(axis=(0, 1)))[0]:
        plane, count = ndimage.label(mask[:, :, k], structure=PLANE[:, :, 1])
        plane[plane > 0] += n
        found[:, :, k] = plane
        n += count
    return found, n


def regions_in_plane(mask: np.ndarray,
                     min_size: int) -> tuple[np.ndarray, list[tuple[slice, ...]], np.ndarray]:
    """The regions of ``mask`` (4-connected within a slice) of ``min_size`` voxels or more: their
    numbers (1, 2, ... slice by slice; 0 elsewhere; Fortran order), bounding boxes and sizes. Most
    regions of a fill mask are specks (voxels that happen to hold a fill value); only the large are
    numbered, a slice at a time, where its arrays stay in the cache."""
    found = np.zeros(mask.shape, dtype=np.int32, order="F")
    boxes: list[tuple[slice, ...]] = []
    sizes = []
    for k in np.nonzero(mask.any(axis=(0, 1)))[0]:
        plane, n = ndimage.label(mask[:, :, k], structure=PLANE[:, :, 1])
        size = np.bincount(plane.ravel(), minlength=n + 1)
        size[0] = 0
        large = size >= min_size
        count = int(large.sum())
        if not count:
            continue
        renumber = np.zeros(n + 1, dtype=np.int32)
        renumber[large] = np.arange(len(boxes) + 1, len(boxes) + count + 1, dtype=np.int32)
        plane = renumber[plane]
        found[:, :, k] = plane
        boxes += [box + (slice(k, k + 1),) for box in ndimage.find_objects(plane)[len(boxes):]]
        sizes.append(size[large])
    return found, boxes, np.concatenate(sizes) if sizes else np.empty(0, dtype=np.intp)


def nonzero(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """``np.nonzero(mask)``, in its order, without walking a Fortran-ordered slab in C order (one
    voxel per slice in turn, a page apart)."""
    if mask.ndim != 3 or mask.flags.c_contiguous or not mask.flags.f_contiguous:
        return np.nonzero(mask)
    i, j, k = np.unravel_index(np.flatnonzero(mask.ravel(order="F")), mask.shape, order="F")
    order = np.lexsort((k, j, i))
    return i[order], j[order], k[order]


def cells_all(mask: np.ndarray, t: int) -> np.ndarray:
    """``mask.reshape(ni // t, t, nj // t, t, nk).all(axis=(1, 3))``: which whole t x t cells of each
    slice are all True. In a Fortran-ordered mask with 8 | t and 8 | ni, eight voxels along i are read
    as one 64-bit word."""
    ni, nj, nk = mask.shape
    ci, cj = ni // t, nj // t
    if t % 8 or ni % 8 or not mask.flags.f_contiguous or mask.dtype != np.bool_:
        return mask[:ci * t, :cj * t].reshape(ci, t, cj, t, nk).all(axis=(1, 3))
    whole_words = mask.T.view(np.uint64) == np.uint64(0x0101010101010101)  # (nk, nj, ni // 8)
    words = t // 8
    along_i = whole_words[:, :, :ci * words].reshape(nk, nj, ci, words).all(axis=3)  # (nk, nj, ci)
    return along_i[:, :cj * t].reshape(nk, cj, t, ci).all(axis=2).T


def cells_count(mask: np.ndarray, t: int) -> np.ndarray:
    """``mask.reshape(ni // t, t, nj // t, t, nk).sum(axis=(1, 3))`` for t = 4 (how many of each 4 x 4
    cell's voxels are True), four voxels along i read as one 32-bit word where the mask allows."""
    ni, nj, nk = mask.shape
    ci, cj = ni // t, nj // t
    if t != 4 or ni % 4 or not mask.flags.f_contiguous or mask.dtype != np.bool_:
        return mask[:ci * t, :cj * t].reshape(ci, t, cj, t, nk).sum(axis=(1, 3))
    words = mask.T.view(np.uint32)  # (nk, nj, ni // 4): four 0/1 bytes each
    along_i = (words * np.uint32(0x01010101)) >> np.uint32(24)  # their sum, in the top byte
    return along_i[:, :cj * t].reshape(nk, cj, t, ci).sum(axis=2, dtype=np.int64).T


def to_volume_indices(where: tuple[np.ndarray, ...], start: int) -> tuple[np.ndarray, ...]:
    """Voxel indices of a slab starting at slice ``start``, as indices of the whole volume."""
    return where[0], where[1], where[2] + start


def in_plane_neighbours(where: tuple[np.ndarray, ...],
                        shape: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The eight in-plane neighbours (in the order of EIGHT) of the voxels ``where`` in planes of
    ``shape``: their i and j, clipped into the plane (a border voxel then stands in for a neighbour
    beyond it), and whether the neighbour lies inside the plane."""
    ni, nj = shape[:2]
    found = []
    for di, dj in EIGHT:
        i, j = where[0] + di, where[1] + dj
        inside = (i >= 0) & (i < ni) & (j >= 0) & (j < nj)
        found.append((np.clip(i, 0, ni - 1), np.clip(j, 0, nj - 1), inside))
    return found


def spread_slices(array: np.ndarray) -> np.ndarray:
    """About 16 slices of ``array`` spread over the scan (every n-th), read into memory: a sample for a
    scan-wide statistic that need not read every slice."""
    return np.asarray(array[:, :, ::max(1, array.shape[2] // 16)])


def for_each_slab(nk: int, slab: int, work: Callable[[slice], None]) -> None:
    """Run ``work(slice)`` on every slab of ``slab`` slices, on WORKERS threads (NumPy and SciPy release
    the GIL in their loops). Slabs are disjoint, so the order they finish in does not matter; the later
    bit-error looks also read the labels of one slice either side, where a neighbour may be writing, and
    so treat a voxel labelled a bit error and an unlabelled one alike there."""
    parts = [slice(k0, min(k0 + slab, nk)) for k0 in range(0, nk, slab)]

    def quietly(part: slice) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # NaN, or a flipped NaN's 3e38, in a float scan
            work(part)

    if WORKERS < 2 or len(parts) < 2:
        for part in parts:
            quietly(part)
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(parts))) as pool:
        for _ in pool.map(quietly, parts):  # re-raises the first error
            pass


def in_threads(work: Callable, items: list) -> list:
    """``[work(item) for item in items]``, on WORKERS threads (for a few large NumPy calls that do not
    split into slabs, such as percentiles of a sample)."""
    if WORKERS < 2 or len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(work, items))


def content_across(context: np.ndarray, in_scan: np.ndarray, region: tuple[slice, slice], k: int,
                   share: float, by_voxel: bool = False) -> bool:
    """Whether ``share`` of ``region`` (of slab slice ``k``) holds content in the slice before
    or after, or, where that slice is all fill there (lost too), in the slice beyond it. In a scan of
    three slices or more, a burst that hit the same place in two slices always has such a slice on
    one side. ``context``, ``in_scan``: from :func:`fill_with_context`. ``by_voxel``: the slice
    beyond judges each voxel the slice beside holds fill at (:func:`share_across`)."""
    at = k + CONTEXT
    return any(share_across(context, in_scan, region, at, step, by_voxel) >= share
               for step in (-1, 1) if in_scan[at + step])


def share_across(context: np.ndarray, in_scan: np.ndarray, region: tuple[slice, slice], at: int,
                 step: int, by_voxel: bool = False) -> float:
    """The share of ``region`` that holds content in the slice ``step`` from context slice ``at`` (in
    the scan), or, where that slice is all fill there (lost too), in the slice beyond it; with
    ``by_voxel``, in the slice beyond wherever the slice beside holds fill (in a scan known to have
    lost whole lines, the slice beside may have lost part of the same ones)."""
    there = ~context[region + (at + step,)]
    if in_scan[at + 2 * step] and (by_voxel or not there.any()):
        there = there | ~context[region + (at + 2 * step,)]
    return float(there.mean())

