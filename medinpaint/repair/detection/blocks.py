"""Corrupted blocks: rectangles of garbage, far rougher than the image and alike along no direction."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.intensity import full_range_of_sound
from medinpaint.repair.detection.kinds import BIT_ERRORS_CODE, CORRUPTED_BLOCKS_CODE
from medinpaint.repair.detection.slabs import (
    AROUND,
    PLANE,
    SCAN,
    cells_count,
    for_each_slab,
    in_plane_neighbours,
    is_fill_value,
    nonzero,
    regions_in_plane,
    to_volume_indices,
)

_ALL, _HEAD, _TAIL = slice(None), slice(1, None), slice(None, -1)
# the voxel pairs one step apart along i, j and the two diagonals, as (first, second) slices of a plane
PAIRS = (((_HEAD, _ALL), (_TAIL, _ALL)), ((_ALL, _HEAD), (_ALL, _TAIL)),
         ((_HEAD, _HEAD), (_TAIL, _TAIL)), ((_HEAD, _TAIL), (_TAIL, _HEAD)))


@dataclass(frozen=True)
class CorruptedBlockThresholds:
    """When a busy region is a block of garbage.

    Args:
        step_range: a busy voxel's mean step to its neighbours exceeds this share of the full range ...
        step_sigmas: ... and this many noise sigmas.
        steep_cells: a slice is searched where a 4x4 cell holds this many steep voxels of 16.
        rough_range: a voxel of garbage differs from its 3x3 median by this share of the full range.
        garbage_share: rows and columns of a block hold at least this share of rough voxels.
        max_fill: a block with more than this share of fill is a jagged edge against the background.
        min_width: a block narrower than this (in rows or columns) is a line of bright voxels.
        garbage_along: neighbours along the direction where they match best differ by at least this
            share of what any two voxels of the block differ.
        max_blocks: rectangles trimmed out of one busy region at most.
        sound_range_share: blocks are looked for again where the full range of what was not found
            damaged is below this share of the scan's full range (flips stretched it), or of a slice's
            own (the garbage found in it stretched it).
        garbled_share: in a slice more than this share of whose content is rough, the noise sigma (a
            median) may have measured garbage: it is measured again away from the busy voxels.
        stretched_range: a full range this many times the tissue's was stretched by garbage (float
            bytes): garbage is judged against the range of the values within this many tissue ranges
            of the tissue.
        notch_rough: a corner of a garbage rectangle each of whose rows and columns holds this share of
            rough voxels at most is no garbage, and is left out (:func:`tissue_notches`; a weakly
            rough block's own lines hold some 0.2).
        clipped: a block whose voxels of content sit this often at the slab's lowest or highest value
            is anatomy a display window clipped (a CT's skull base through a subdural window: bone at
            255 beside air at 0), no garbage: random bytes land there once in 128 (uint8), uniform
            noise over a scan's own range 0..40 once in 20.
        edge_left: the range of what is left once garbage is found in a slice is taken this many pixels
            clear of it: the edge lines of a block of float bytes left unfound (a few voxels to 1e5)
            had stretched it, and a block of noise beside, to 4,000 in a CT in HU, went unseen.
    """

    step_range: float = 0.2
    step_sigmas: float = 6.0
    steep_cells: int = 8
    rough_range: float = 0.1
    garbage_share: float = 0.3
    max_fill: float = 0.2
    min_width: int = 2
    garbage_along: float = 0.6
    max_blocks: int = 4
    sound_range_share: float = 0.8
    garbled_share: float = 0.5
    stretched_range: float = 1024.0
    notch_rough: float = 0.1
    clipped: float = 0.1
    edge_left: int = 2


CORRUPTED_BLOCKS = CorruptedBlockThresholds()


def slab_extremes(values: np.ndarray) -> tuple[float, float]:
    """The lowest and highest of a slab's ``values``, NaN left out (NaN, NaN where all are), with no
    copy of the slab."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (all NaN: NaN)
        return float(np.nanmin(values)), float(np.nanmax(values))


def trim_to_garbage(rough: np.ndarray, box: tuple[slice, slice, slice]) -> tuple[slice, slice, slice]:
    """Shrink a candidate box (grown past the block on purpose) to the rows and columns that are
    mostly garbage."""
    si, sj, sk = box
    i0, i1, j0, j1 = 0, rough.shape[0], 0, rough.shape[1]
    while i1 - i0 > 1 and rough[i0, j0:j1].mean() < CORRUPTED_BLOCKS.garbage_share:
        i0 += 1
    while i1 - i0 > 1 and rough[i1 - 1, j0:j1].mean() < CORRUPTED_BLOCKS.garbage_share:
        i1 -= 1
    while j1 - j0 > 1 and rough[i0:i1, j0].mean() < CORRUPTED_BLOCKS.garbage_share:
        j0 += 1
    while j1 - j0 > 1 and rough[i0:i1, j1 - 1].mean() < CORRUPTED_BLOCKS.garbage_share:
        j1 -= 1
    # rows went first, measured over columns not yet trimmed: take back an edge row that is garbage
    # over the block's own columns (a thin block's rows are short, the margins weighed too much)
    while i0 > 0 and rough[i0 - 1, j0:j1].mean() >= CORRUPTED_BLOCKS.garbage_share:
        i0 -= 1
    while i1 < rough.shape[0] and rough[i1, j0:j1].mean() >= CORRUPTED_BLOCKS.garbage_share:
        i1 += 1
    return slice(si.start + i0, si.start + i1), slice(sj.start + j0, sj.start + j1), sk


def grown_in_plane(box: tuple[slice, ...], by: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """``box`` grown by ``by`` pixels in-plane, within ``shape``."""
    return tuple(slice(max(s.start - by, 0), min(s.stop + by, n))
                 for s, n in zip(box[:2], shape, strict=False)) + box[2:]


def roughness_along_best_direction(block: np.ndarray, content: np.ndarray) -> float:
    """How much neighbours along the direction where they match best differ, against any two voxels
    of ``block``: near 1 for garbage (no direction is special), small along a line of anatomy. Only
    ``content`` voxels count: a strip of scalp left by a brain mask is rough against the fill around
    it, smooth along itself."""
    flat = np.sort(block[content].astype(np.float64))
    n = len(flat)
    any_two = 2 * np.dot(2 * np.arange(1, n + 1) - n - 1, flat) / (n * (n - 1)) if n > 1 else 0.0
    along = np.inf
    for a, b in PAIRS:
        both = content[a] & content[b]
        if both.any():
            along = min(along, float(np.abs(block[a][both].astype(np.float64) - block[b][both]).mean()))
    return along / any_two if any_two > 0 and np.isfinite(along) else 0.0


def busiest_between_content(values: np.ndarray, is_fill: np.ndarray, block: tuple[slice, ...]) -> float:
    """The largest mean step over a 5x5 window (the busy map's) centred in ``block`` (of one plane of
    ``values``), counting only steps along i and j between two voxels of content (not ``is_fill``):
    how busy the block is on its own voxels, not against the fill beside them."""
    around = grown_in_plane(block, 2, values.shape)
    part = values[around][:, :, 0].astype(np.float64)
    inside = ~is_fill[around][:, :, 0] & ~np.isnan(part)
    total, count = np.zeros_like(part), np.zeros_like(part)
    for axis in (0, 1):
        both = np.logical_and(np.delete(inside, 0, axis=axis), np.delete(inside, -1, axis=axis))
        step = np.where(both, np.abs(np.diff(part, axis=axis)), 0.0)
        at = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        total[at] += step
        count[at] += both
    total = ndimage.uniform_filter(total, size=5, mode="constant")
    count = ndimage.uniform_filter(count, size=5, mode="constant")
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0.5 / 25)
    return float(mean[tuple(slice(b.start - a.start, b.stop - a.start)
                            for b, a in zip(block[:2], around[:2], strict=True))].max())


def label_garbage_rectangles(values: np.ndarray, busy: np.ndarray, box: tuple[slice, ...],
                             is_fill: np.ndarray, labels: np.ndarray, full_range: float,
                             step_limit: float, extremes: tuple[float, float]) -> None:
    """Label the garbage rectangles of one busy region (``busy`` inside ``box`` of one plane).

    Overlapping blocks make a region that no single rectangle fits: the largest is trimmed out first,
    then what stays busy beyond its reach is trimmed again (at most four times). ``step_limit``: the
    mean step that made the region busy; a block must pass it between its own voxels of content too.
    ``extremes``: the slab's lowest and highest value (before any clip to the range)."""
    for _ in range(CORRUPTED_BLOCKS.max_blocks):
        inside = ndimage.find_objects(busy.astype(np.uint8))
        if not inside or busy.sum() < SCAN.min_hole:
            return
        part = tuple(slice(b.start + s.start, b.start + s.stop)
                     for b, s in zip(box, inside[0], strict=True))
        # the 5x5 window can fall short of a block's edge where garbage happens to match its neighbour:
        # grow by its reach, then trim back to the rows and columns that are garbage
        part = grown_in_plane(part, 2, values.shape)
        local = values[part]
        # the median over one more voxel of context, mirrored at the plane's border: reflected there,
        # the edge row would fill six ninths of an edge voxel's window, and it was often its own median
        wider = grown_in_plane(part, 1, values.shape)
        inner = tuple(slice(p.start - w.start, p.stop - w.start)
                      for p, w in zip(part, wider, strict=True))
        median = ndimage.median_filter(values[wider], size=(3, 3, 1), mode="mirror")[inner]
        rough = np.abs(local - median) > CORRUPTED_BLOCKS.rough_range * full_range
        # a lone NaN amid the busy voxels is garbage too (random bytes read as float hold NaN, one in some
        # 250 voxels); not a NaN beside another (a statistics map's outside: ch2bet masked with NaN, under
        # blocks, gave 1,010 such voxels to blocks grown into it), nor one a second look made of garbage
        # already found
        nan = np.isnan(local)
        if nan.any():
            rough |= nan & (ndimage.convolve(nan.astype(np.uint8), AROUND, mode="constant") == 0) \
                & (labels[part] == 0)
        block = trim_to_garbage(rough[:, :, 0], part)
        # a jagged edge against the background, not garbage
        if is_fill[block].mean() > CORRUPTED_BLOCKS.max_fill:
            return
        # a line of bright voxels, no rectangle
        if min(s.stop - s.start for s in block[:2]) < CORRUPTED_BLOCKS.min_width:
            return
        # busy only against the fill between its voxels: ragged islands a threshold left, not garbage
        if busiest_between_content(values, is_fill, block) <= step_limit:
            return
        measured = values[block][:, :, 0]
        roughness = roughness_along_best_direction(measured, ~is_fill[block][:, :, 0] & ~np.isnan(measured))
        if roughness < CORRUPTED_BLOCKS.garbage_along:  # a vessel, not garbage
            return
        content = measured[~is_fill[block][:, :, 0]]
        if np.isin(content, extremes).mean() >= CORRUPTED_BLOCKS.clipped:  # clipped anatomy
            return
        own = tuple(slice(b.start - p.start, b.stop - p.start) for b, p in zip(block, part, strict=True))
        kept = ~tissue_notches(rough[own][:, :, 0])[:, :, np.newaxis]
        region = labels[block]
        region[(region == 0) & kept] = CORRUPTED_BLOCKS_CODE
        # an edge row or column of a block the trim took off (measured over the rows or columns of a
        # union of blocks, it can fall below the garbage fraction): rough voxels beside the block, up
        # to two steps out and within the busy box grown by 2, are garbage too (this also takes 1-13
        # sound voxels beside a block, rough from the garbage in their own window)
        taken = np.zeros(rough.shape, dtype=bool)
        taken[own] = kept
        for _ in range(2):
            taken |= ndimage.binary_dilation(taken, structure=PLANE) & rough
        around = labels[part]
        around[taken & (around == 0)] = CORRUPTED_BLOCKS_CODE
        reach = grown_in_plane(block, 2, values.shape)  # the busy halo the 5x5 window put around the block
        cleared = tuple(slice(max(r.start - b.start, 0), max(r.stop - b.start, 0))
                        for r, b in zip(reach, box, strict=True))
        busy[cleared] = False  # the caller's comparison made ``busy``: this region's own array


def tissue_notches(rough: np.ndarray) -> np.ndarray:
    """The corners of a garbage rectangle (``rough``: its rough voxels, one plane) that are no
    garbage: at each corner, the largest rectangle short of the whole in both ways, ``SCAN.min_hole``
    voxels at least and ``min_width`` + 1 either way, each of whose rows and columns holds
    ``notch_rough`` rough voxels at most. Two blocks overlapping in one slice make an L of garbage,
    and the rectangle trimmed out of it keeps such a notch (130 voxels of tissue at the independent
    generator's seed 112 in cranium)."""
    t = CORRUPTED_BLOCKS
    h, w = rough.shape
    notches = np.zeros((h, w), dtype=bool)
    a, b = np.meshgrid(np.arange(1, h + 1), np.arange(1, w + 1), indexing="ij")
    shaped = (a * b >= SCAN.min_hole) & (a > t.min_width) & (b > t.min_width) & (a < h) & (b < w)
    for down, right in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        corner = rough[::down, ::right]
        # every row and every column of the corner rectangle (on its average alone, tissue let it
        # reach into a block's edge lines)
        rows = np.logical_and.accumulate(corner.cumsum(axis=1) <= t.notch_rough * b, axis=0)
        columns = np.logical_and.accumulate(corner.cumsum(axis=0) <= t.notch_rough * a, axis=1)
        fits = shaped & rows & columns
        if not fits.any():
            continue
        at = np.argmax(np.where(fits, a * b, 0))
        na, nb = int(a.flat[at]), int(b.flat[at])
        notches[::down, ::right][:na, :nb] = True
    return notches


def limits_where_noise_was_garbage(values: np.ndarray, is_fill: np.ndarray, steps: np.ndarray,
                                   limits: np.ndarray, range_limit: float, full_range: float,
                                   sigma: float) -> None:
    """Lower ``limits`` (the busy limit, slice by slice) where the noise sigma measured garbage. The
    sigma is a median (of the residual to the 3x3 median, over the sampled slices); where more than half
    (``CORRUPTED_BLOCKS.garbled_share``) of a slice's content is rough by
    ``CORRUPTED_BLOCKS.rough_range`` of the full range, that median may be garbage's, past the median's
    breakdown point (a 33x34 block of int16 noise in nibabel's 33x41 slice: sigma 18,283, six of it
    above any step the garbage takes). The noise is measured again there, on the slice's content away
    from where it is busy against the range's share alone (2 voxels, the 5x5 window's reach): 595 in
    nibabel's slice. A slice busy all over keeps its sigma: no sound content to measure against (a
    16x16 CT under k-space spikes). Only slices with a 4x4 cell steep against the range's share."""
    steep = cells_count(steps > range_limit, 4)
    for k in np.nonzero((steep >= CORRUPTED_BLOCKS.steep_cells).any(axis=(0, 1)))[0]:
        plane, content = values[:, :, k], ~is_fill[:, :, k]
        median = ndimage.median_filter(plane, size=3, mode="mirror")
        residual = np.abs(plane - median)
        if not content.any() or (residual[content] > CORRUPTED_BLOCKS.rough_range * full_range).mean() \
                <= CORRUPTED_BLOCKS.garbled_share:
            continue
        busy = ndimage.uniform_filter(steps[:, :, k], size=5) > range_limit
        sound = content & ~ndimage.binary_dilation(busy, iterations=2)
        moved = residual[sound & (residual > 0)]
        if moved.size < SCAN.min_hole:
            continue
        sound_sigma = float(1.4826 * np.median(moved))
        if sound_sigma < sigma:
            limits[k] = min(limits[k], max(range_limit, CORRUPTED_BLOCKS.step_sigmas * sound_sigma))


def range_for_garbage(values: np.ndarray, stats: dict) -> float:
    """The range garbage in ``values`` (a slab) is judged against: the scan's full range, but where
    that is not finite or is stretched beyond ``CORRUPTED_BLOCKS.stretched_range`` times the tissue's
    (the 0.5..99.5 percentiles once single voxels are smoothed away), the full range of the slab's
    values within that many tissue ranges of the tissue. Random bytes read as float32 hold values to
    3e38 (and inf, NaN): the full range overflows or is ~1e38, and a share of it is a limit no step
    passes (pydicom's CT_small in HU: tissue -858..791; the clean forms' full range is at most 7.1 times
    their tissue's, nipy's functional run padded)."""
    full_range = stats["full_range"]
    tissue = stats["tissue_high"] - stats["tissue_low"]
    reach = CORRUPTED_BLOCKS.stretched_range * tissue
    if not tissue > 0 or full_range <= reach:
        return full_range
    with np.errstate(invalid="ignore", over="ignore"):
        kept = values[np.abs(values - (stats["tissue_high"] + stats["tissue_low"]) / 2) <= reach]
    return float(kept.max()) - float(kept.min()) if kept.size else tissue


def blocks_in_slab(values: np.ndarray, is_fill: np.ndarray, not_constant: np.ndarray, labels: np.ndarray,
                   stats: dict) -> np.ndarray:
    """:func:`find_corrupted_blocks` in a slab, against :func:`range_for_garbage`; where random bytes
    stretched the scan's range, slice by slice against each slice's own (no less than the tissue's
    range): one slice's float garbage (to 1e6 within the reach) had stretched the range of the slab,
    and a block of noise over twice the tissue's range in another slice was judged against it, unseen
    (cranium's HU float crop); and again against what is left once garbage is found in a slice (a block
    of noise beside a block of float garbage). Returns the absolute steps along i."""
    full_range = range_for_garbage(values, stats)
    if not full_range < stats["full_range"]:  # no bytes stretched it
        return find_corrupted_blocks(values, is_fill, not_constant, labels, stats["sigma"], full_range)
    tissue = stats["tissue_high"] - stats["tissue_low"]
    step_i = np.empty_like(values[1:])
    for k in range(values.shape[2]):
        at = slice(k, k + 1)
        own = max(range_for_garbage(values[:, :, at], stats), tissue)
        step_i[:, :, at] = find_corrupted_blocks(values[:, :, at], is_fill[:, :, at], not_constant[at],
                                                 labels[:, :, at], stats["sigma"], min(own, full_range))
        # the garbage found stretched the slice's own range: what is left is judged against its own,
        # with the garbage found no measurement (NaN: no step to it counts)
        found = labels[:, :, at] != 0
        if not found.any():  # (what is left is the whole slice: its range is ``own`` already)
            continue
        # (the voxels beside it too: a block's edge line left unfound holds its garbage)
        left = values[:, :, at][~ndimage.binary_dilation(found, iterations=CORRUPTED_BLOCKS.edge_left)]
        sound = max(range_for_garbage(left, stats), tissue) if left.size else own
        if sound < CORRUPTED_BLOCKS.sound_range_share * min(own, full_range):
            rest = np.where(found, np.float32(np.nan), values[:, :, at])
            find_corrupted_blocks(rest, is_fill[:, :, at], not_constant[at], labels[:, :, at], stats["sigma"],
                                  sound)
            # the scan's background beside a block (its border column of 0, rough in the block's window)
            # is no garbage: 17 voxels of dipy's PIESNO crop at seed 1
            labels[:, :, at][~found & is_fill[:, :, at]] = 0
    return step_i


def find_corrupted_blocks(values: np.ndarray, is_fill: np.ndarray, not_constant: np.ndarray,
                          labels: np.ndarray, sigma: float, full_range: float) -> np.ndarray:
    """Label rectangles of garbage. Garbage has no spatial correlation, so neighbouring voxels differ
    by about a third of the range everywhere in the block; an edge of anatomy is steep along a line
    only. Returns the absolute steps along i (the bit-error screen uses them too)."""
    # (in place, a slice at a time: its steps stay in the cache between the passes)
    step_i = np.empty_like(values[1:])
    steps = np.empty_like(values)
    for k in range(values.shape[2]):
        value, along_i, both = values[:, :, k], step_i[:, :, k], steps[:, :, k]
        np.subtract(value[1:], value[:-1], out=along_i)
        np.abs(along_i, out=along_i)
        both[:, 0] = 0
        np.subtract(value[:, 1:], value[:, :-1], out=both[:, 1:])
        np.abs(both[:, 1:], out=both[:, 1:])
        both[1:] += along_i
        both *= 0.5
    # a step beyond the range tells no more than one across it: float garbage (random bytes) steps by
    # up to 3e38 and inf; a step to or from NaN (no measurement) is none. The window's running sum
    # carried inf - inf and NaN to the end of its row: busy nowhere after it
    judged = values
    if not steps.max() <= full_range:  # (one pass: the max is NaN where a step is)
        np.minimum(steps, full_range, out=steps)
        steps[np.isnan(steps)] = 0
        # and the values beyond it, for the garbage tests: within the range of the scan's median
        centre = float(np.nanmedian(values))
        judged = np.clip(values, centre - full_range, centre + full_range)
    range_limit = CORRUPTED_BLOCKS.step_range * full_range
    step_limit = max(range_limit, CORRUPTED_BLOCKS.step_sigmas * sigma)
    limits = np.full(values.shape[2], step_limit, dtype=np.float64)
    ni4, nj4 = values.shape[0] // 4 * 4, values.shape[1] // 4 * 4
    if ni4 and nj4:
        steep = cells_count(steps > step_limit, 4)
        # slices with a 4x4 cell mostly steep
        searched = (steep >= CORRUPTED_BLOCKS.steep_cells).any(axis=(0, 1)) & not_constant
        if step_limit > range_limit:
            limits_where_noise_was_garbage(values, is_fill, steps, limits, range_limit, full_range, sigma)
            searched |= (limits < step_limit) & not_constant
        candidates = np.nonzero(searched)[0]
    else:
        candidates = []
    if len(candidates):
        busy = np.zeros_like(values, dtype=bool)
        busy[:, :, candidates] = (ndimage.uniform_filter(steps[:, :, candidates], size=(5, 5, 1))
                                  > limits[candidates])
        blocks, boxes, _ = regions_in_plane(busy, SCAN.min_hole)
        extremes = slab_extremes(values) if boxes else (np.nan, np.nan)
        for index, box in enumerate(boxes, start=1):
            label_garbage_rectangles(judged, blocks[box] == index, box, is_fill, labels, full_range,
                                     float(limits[box[2].start]), extremes)
    return step_i


def blocks_against_sound_range(array: np.ndarray, fills: list[float], not_constant: np.ndarray,
                               labels: np.ndarray, stats: dict, slab: int) -> list[tuple[np.ndarray, ...]]:
    """Corrupted blocks looked for again in a scan with flips: flips stretch the full range (one bit-15
    flip made it 16x a CT's), and garbage is judged against it; now against the range of what was not
    found damaged. Returns where blocks were found, slab by slab."""
    full_range = full_range_of_sound(array, not_constant, labels)
    found = []
    if not 0 < full_range < CORRUPTED_BLOCKS.sound_range_share * stats["full_range"]:
        return found

    def look_in_slab(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        values = block.astype(np.float32)
        region = labels[:, :, part]
        flips = nonzero(region == BIT_ERRORS_CODE)  # their steps are not garbage
        neighbours = in_plane_neighbours(flips, values.shape)
        values[flips] = np.median([values[i, j, flips[2]] for i, j, _ in neighbours], axis=0)
        before = region == CORRUPTED_BLOCKS_CODE
        find_corrupted_blocks(values, is_fill_value(block, fills), not_constant[part], region, stats["sigma"],
                              full_range)
        new = nonzero((region == CORRUPTED_BLOCKS_CODE) & ~before)
        found.append(to_volume_indices(new, part.start))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look_in_slab)
    return found
