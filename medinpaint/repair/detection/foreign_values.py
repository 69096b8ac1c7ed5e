"""Voxels at a value foreign to the scan, which no tissue of it explains: a negative fill in a scan of
magnitudes, wherever it lies once some of it is found lost (:func:`foreign_fill_everywhere`), and
short runs of such a value, too short for the fill rules (:func:`short_runs_below`). In a small image
(pydicom's 16x16 CT thumbnail) every lost line is such a run: 5 or 6 voxels of -1024 among values of
358-1099, which no rule took."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.intensity import percentiles
from medinpaint.repair.detection.kinds import KINDS, LOST_LINES_CODE, PACKET_LOSS_CODE, TRUNCATION_CODE
from medinpaint.repair.detection.packets import edge_padding
from medinpaint.repair.detection.slabs import (
    SCAN,
    for_each_slab,
    is_fill_value,
    spread_slices,
    to_volume_indices,
)

# how far below the scan's values (their 0.5-99.5 percentiles), in value ranges, a negative fill is
# foreign to it (a background of -1 under values from 0 is the scan's own)
FOREIGN_BELOW = 0.1


def foreign_fill_everywhere(array: np.ndarray, fills: list[float], labels: np.ndarray, slab: int) -> None:
    """Every voxel at a negative fill value in a scan whose other values never reach halfway down to it
    from 0 (never negative but for a resampling's ringing), ``FOREIGN_BELOW`` value ranges below them
    (their 0.5-99.5 percentiles, in a sample of slices), once some are found lost (lines, packets, a
    cut stream): the scan holds no such value of its own (-1024 written into an MR of magnitudes), so
    its short pieces the shape rules leave (a line's ends, a tile's corner, a few voxels) are lost too,
    with the in-plane kind (lost lines, packets, truncation) most of the value's voxels were given. But
    for a frame of it around the slices (whole lines from the border inwards in most of a slab's
    slices): the scan's own padding, which lost lines cross."""
    if not labels.any():
        return
    # the range of the values that are no fill (lost lines by the hundred widen the scan's own range)
    sample = sample_less_fills(array, fills)
    if sample.size == 0:
        return
    with np.errstate(invalid="ignore"):  # (NaN among them)
        low, high = percentiles(sample, [0.5, 99.5])
    # negative, FOREIGN_BELOW ranges below values that are never negative (an MR's magnitudes; -1024
    # lies 0.69 ranges below pydicom's MR_small, 0.12 below nibabel's anatomical), or only a little, as
    # a resampling rings below 0 (nibabel's anatomical: -136 and -120), never halfway down to it: 0, or
    # any value inside the range, may be the scan's own background or dark tissue
    foreign = [f for f in fills if f < 0 and f / 2 <= sample.min() and f < low - FOREIGN_BELOW * (high - low)]
    in_plane = (LOST_LINES_CODE, PACKET_LOSS_CODE, TRUNCATION_CODE)
    for value in foreign:
        parts: list[tuple[np.ndarray, tuple[np.ndarray, ...], bool]] = []  # per slab

        def look(part: slice, value: float = value, parts: list = parts) -> None:
            block = np.asarray(array[:, :, part])
            at_value = block == value
            # any other value halfway down to it, in every slice (the sample saw a sixteenth of them)
            held_below = bool(((block < value / 2) & ~is_fill_value(block, fills)).any())
            at = np.nonzero(at_value & ~edge_padding(at_value))
            parts.append((labels[:, :, part][at], to_volume_indices(at, part.start), held_below))
            drop_mapped_pages(array, part.start, part.stop)

        for_each_slab(array.shape[2], slab, look)
        if any(held_below for _, _, held_below in parts):
            continue
        counts = sum(np.bincount(found, minlength=len(KINDS) + 1) for found, _, _ in parts)
        if not isinstance(counts, np.ndarray) or not counts[list(in_plane)].any():
            continue  # (a whole lost slice tells nothing of a value's other voxels)
        kind = in_plane[int(np.argmax(counts[list(in_plane)]))]
        for found, where, _ in parts:
            labels[tuple(w[found == 0] for w in where)] = kind


# the most lines a run is across (the generator loses runs of 1-3 lines; a tile is the packet rules')
ACROSS = 3
# the most voxels of a value in short runs in one slice (a value the scan holds in more is its own:
# cranium's clipped air is its minimum in every slice)
MOST_IN_SLICE = 4 * ACROSS * SCAN.min_hole
# the least gap, in noise sigmas, between such a value and the scan's next value above it (in a flat
# crop of air, values within 2 of each other, one step is half its range)
GAP_SIGMAS = 10.0


def short_runs_below(array: np.ndarray, labels: np.ndarray, fills: list[float], lowest: np.ndarray,
                     own: list[float], sigma: float, stream: bool) -> None:
    """Label a negative value's voxels as lost where the scan holds no other negative value, the value
    lies half a value range below the scan's others (the 0.5-99.5 percentiles of
    :func:`typical_range`) and ``GAP_SIGMAS`` noise sigmas (``sigma``) below the next, is no value of
    its own (``own``: its padding, its background), and every unlabelled voxel at it lies in a run it
    fills: a rectangle two voxels or more, up to ``ACROSS`` lines across and shorter than
    ``SCAN.min_hole``, whose in-plane neighbours all lie within the scan's range (it cuts through
    content); or, where the voxels are the pixel ``stream``, in its tail (Fortran order) in the last
    slice. Such a value is a slice's lowest (``lowest``, per slice; NaN where a slice holds NaN: such a
    slice may hold it too). -1024 written into a scan of magnitudes or stored values that are never
    negative is none of its own (as for :func:`foreign_fill_everywhere`), however few its voxels. Not
    any value far below the rest: small crops of clean scans hold such values in such runs (ch2better's
    own 0 voxels inside its brain, six in a column 58 below the tissue; mni152's background at a crop's
    border; 272 clean crops of 16-96 pixels in a helper's review); nor a value above (dipy's S0 holds a
    vessel saturated at 4095, two voxels in a column); a lone voxel is an impulse (the bit-error looks);
    a value the scan also holds as a lone voxel or in any other shape is its own."""
    candidates = [value for value in np.unique(lowest[np.isfinite(lowest)])
                  if value < 0 and value not in own
                  and few_in_a_slice(array, labels, value, int(np.argmax(lowest == value)))]
    typical = typical_range(array, fills) if candidates else None  # (a pass over 16 slices)
    if typical is None:
        return
    reach = (typical[1] - typical[0]) / 2
    bounds = typical[0] - reach, typical[1] + reach
    may_hold = np.isnan(lowest)  # (a slice holding NaN has NaN for its lowest)
    for value in [value for value in candidates if value < bounds[0]]:
        above = lowest_above(array, value, lowest)
        if above < 0 or above - value < GAP_SIGMAS * sigma:
            continue
        at = voxels_in_runs(array, labels, value, np.nonzero((lowest <= value) | may_hold)[0], bounds,
                            stream)
        if at is not None:
            labels[at[0]] = LOST_LINES_CODE
            labels[at[1]] = TRUNCATION_CODE


def few_in_a_slice(array: np.ndarray, labels: np.ndarray, value: float, k: int) -> bool:
    """Whether slice ``k`` holds ``MOST_IN_SLICE`` unlabelled voxels at ``value`` at most (a screen: a
    scan's own lowest value, its air or background, fills most of every slice)."""
    return np.count_nonzero((np.asarray(array[:, :, k]) == value) & (labels[:, :, k] == 0)) <= MOST_IN_SLICE


def typical_range(array: np.ndarray, fills: list[float]) -> tuple[float, float] | None:
    """The 0.5-99.5 percentiles of a sample of slices, less its fill values and its lowest and highest
    value (a lost line's fill held by 4% of a small image is its 0.5 percentile)."""
    sample = sample_less_fills(array, fills)
    sample = sample[np.isfinite(sample)]
    if sample.size:
        sample = sample[(sample > sample.min()) & (sample < sample.max())]
    if sample.size == 0:
        return None
    low, high = percentiles(sample, [0.5, 99.5])
    return low, high


def sample_less_fills(array: np.ndarray, fills: list[float]) -> np.ndarray:
    """The values of 16 slices spread over the scan that are no fill value, as float64."""
    sample = spread_slices(array)
    with np.errstate(invalid="ignore"):  # random bytes read as floats hold signalling NaNs
        return sample[~is_fill_value(sample, fills)].astype(np.float64)


def lowest_above(array: np.ndarray, value: float, lowest: np.ndarray) -> float:
    """The lowest value of the scan above ``value`` (NaN left out): a slice whose ``lowest`` lies above
    it gives that; only the others (it, or below it, or NaN there) are read."""
    above = lowest[lowest > value]
    found = float(above.min()) if above.size else np.inf
    for k in np.nonzero(~(lowest > value))[0]:
        plane = np.asarray(array[:, :, k])
        rest = plane[plane > value]
        if rest.size:
            found = min(found, float(rest.min()))
    return found


def voxels_in_runs(array: np.ndarray, labels: np.ndarray, value: float, slices: np.ndarray,
                   bounds: tuple[float, float], stream: bool) -> tuple[tuple[np.ndarray, ...], ...] | None:
    """The unlabelled voxels at ``value`` (in ``slices``, those that may hold it) where each lies in a
    run (:func:`short_runs_below`), two at least: those in runs and those of the stream's tail (where
    ``stream``); None where one does not (looked at slice by slice, to the first that fails)."""
    ni, nj, nk = array.shape
    runs: list[tuple[np.ndarray, ...]] = []
    tail = stream_tail(array, value) if stream else ni * nj
    in_tail = np.zeros(ni * nj, dtype=bool)
    in_tail[tail:] = True
    in_tail = in_tail.reshape((ni, nj), order="F")
    for k in slices:
        plane = (np.asarray(array[:, :, k]) == value) & (labels[:, :, k] == 0)
        if k == nk - 1:
            plane &= ~in_tail
        if plane.sum() > MOST_IN_SLICE:
            return None
        found, _ = ndimage.label(plane, structure=np.ones((3, 3), dtype=bool))
        for box in ndimage.find_objects(found):
            rows, columns = box[0].stop - box[0].start, box[1].stop - box[1].start
            if (rows * columns < 2 or min(rows, columns) > ACROSS or max(rows, columns) >= SCAN.min_hole
                    or not plane[box].all()):
                return None
            grown = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
            around = np.asarray(array[grown + (k,)], dtype=np.float64)[~plane[grown]]
            if not (np.isfinite(around).all() and bounds[0] <= around.min() and around.max() <= bounds[1]):
                return None
        i, j = np.nonzero(plane)
        runs.append((i, j, np.full(len(i), k)))
    i, j = np.nonzero(in_tail)
    tail_voxels = (i, j, np.full(len(i), nk - 1))
    tail_voxels = tuple(w[labels[tail_voxels] == 0] for w in tail_voxels)
    in_runs = tuple(np.concatenate([r[axis] for r in runs] + [np.zeros(0, int)]) for axis in range(3))
    if len(in_runs[0]) + len(tail_voxels[0]) < 2:
        return None
    return in_runs, tail_voxels


def stream_tail(array: np.ndarray, value: float) -> int:
    """Where in the last slice (Fortran order) the stream's tail at ``value`` starts: two voxels and
    fewer than ``SCAN.min_hole``; else the slice's size (no tail)."""
    last = np.asarray(array[:, :, -1]).reshape(-1, order="F")
    differs = np.nonzero(last != value)[0]
    start = int(differs[-1]) + 1 if len(differs) else 0
    return start if 2 <= last.size - start < SCAN.min_hole else last.size
