"""NaN, a converter's "no data". NaN equals nothing, itself included, so no rule saw a region of it as
one value: tiles, lines and whole slices lost as NaN went unfound, and NaN lost beside a slice passed
for content there. A float scan holding NaN side by side is judged with it at the scan's lowest
value, where a clean scan's NaN background (a statistics map's outside, a threshold's, an oblique
field of view's corner) is judged as a background of its minimum is; and the NaN islands inside the
plane that the rules find in part are lost whole."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.slabs import SCAN, for_each_slab


def beside_nan(nan: np.ndarray) -> np.ndarray:
    """Voxels with a NaN among their four neighbours in the plane."""
    beside = np.zeros_like(nan)
    beside[1:] |= nan[:-1]
    beside[:-1] |= nan[1:]
    beside[:, 1:] |= nan[:, :-1]
    beside[:, :-1] |= nan[:, 1:]
    return beside


def frames(nan: np.ndarray) -> np.ndarray:
    """The whole NaN lines from the plane's border inwards, along either axis."""
    edges = []
    for axis in (0, 1):
        full = nan.all(axis=1 - axis)  # (lines, slices)
        edges.append(np.cumprod(full, axis=0).astype(bool)
                     | np.cumprod(full[::-1], axis=0)[::-1].astype(bool))
    return edges[0][:, np.newaxis, :] | edges[1][np.newaxis, :, :]


def nan_as_fill(array: np.ndarray, slab: int) -> tuple[np.ndarray, np.generic] | None:
    """A copy of a float scan (Fortran order) with its NaN voxels that have a NaN beside them in the
    plane at its lowest value, and that value; None where no two NaN lie side by side (random bytes
    read as floats, garbage, hold a lone NaN here and there: it is left as it is). Where, in most
    slices, the NaN that reaches the plane's border is whole lines from it inwards and nothing more
    (a resampler's outside of the field of view), those lines are at the lowest value too where the
    lines inside them reach it somewhere (the scan's background runs on into the frame) and the plane
    inside is ``SCAN.min_plane`` wide at least, and are left NaN, unjudged, where not: a frame of a
    constant against tissue all round passed for tiles lost all round a slice, and a frame of a value
    of the tissue, varying from slice to slice, for corrupted blocks. The type's lowest value, a value
    of no scan, made a NaN background the rules found a piece of all lost (a foreign fill)."""
    framed, inner, together, lows, narrowest = [], [], [], [], []

    def survey(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        nan = np.isnan(block)
        together.append(bool((nan & beside_nan(nan)).any()))
        finite = block[np.isfinite(block)]
        if finite.size:
            lows.append(finite.min())
        frame = frames(nan)
        for k in range(block.shape[2]):
            plane, lines = nan[:, :, k], frame[:, :, k]
            if lines.all() or not (lines[[0, -1]].all() and lines[:, [0, -1]].all()):
                framed.append(False)
                continue
            regions, _ = ndimage.label(plane)
            border = np.unique(np.concatenate([regions[[0, -1]].ravel(), regions[:, [0, -1]].ravel()]))
            framed.append(not (np.isin(regions, border[border > 0]) & ~lines).any())
            if framed[-1]:
                rows, columns = np.nonzero(~lines.all(axis=1))[0], np.nonzero(~lines.all(axis=0))[0]
                inside = block[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1, k]
                inner.append(np.concatenate([inside[0], inside[-1], inside[:, 0], inside[:, -1]]))
                narrowest.append(min(inside.shape))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, survey)
    if not any(together):
        return None
    lowest = np.asarray(min(lows) if lows else 0, array.dtype)
    framed_scan = np.mean(framed) > 0.5  # (a slice where lost NaN runs into the frame leaves it one)
    background = None
    # (else the frame is left NaN; and around a plane too narrow for the pattern rules)
    if framed_scan and (np.concatenate(inner) == lowest).any() and min(narrowest) >= SCAN.min_plane:
        background = lowest
    copy = np.empty(array.shape, dtype=array.dtype, order="F")

    def look(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        nan = np.isnan(block)
        frame = frames(nan) if framed_scan else np.zeros_like(nan)
        filled = np.where(nan & beside_nan(nan) & ~frame, lowest, block)
        if background is not None:
            filled[nan & frame] = background
        copy[:, :, part] = filled
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)
    return copy, lowest


def nan_islands_lost(array: np.ndarray, labels: np.ndarray, slab: int) -> None:
    """Every voxel of an island of NaN (side by side in the plane, clear of the plane's border) that
    the rules found lost in part: at the scan's lowest value, the island joins the scan's own
    background where it touches it, and a burst is found only where it cuts tissue. Labelled with the
    kind most of the island's found voxels have. NaN that reaches the border may be the scan's own
    outside, and is left as found."""

    def look(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        found = labels[:, :, part]
        nan = np.isnan(block) & beside_nan(np.isnan(block))
        for k in np.nonzero((nan & (found > 0)).any(axis=(0, 1)))[0]:
            islands, _ = ndimage.label(nan[:, :, k])
            edge = np.unique(np.concatenate([islands[[0, -1]].ravel(), islands[:, [0, -1]].ravel()]))
            plane = found[:, :, k]
            for index in np.unique(islands[(plane > 0) & (islands > 0)]):
                if index in edge:
                    continue
                island = islands == index
                kinds = np.bincount(plane[island & (plane > 0)])
                plane[island & (plane == 0)] = int(np.argmax(kinds))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)
