"""Bit errors, the later looks: in a scan already found to carry flips, smaller jumps that texture hid;
and impulses saturated at a fill value (looked for in every scan, as evidence of its impulses; they
stand only in a scan that carries impulses in abundance)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.bit_errors import (
    BIT_ERRORS,
    content_bounds,
    flips_beyond_neighbour_range,
    impulse_bounds,
    one_flip_restorations,
    outside_bounds,
)
from medinpaint.repair.detection.kinds import BIT_ERRORS_CODE, CORRUPTED_BLOCKS_CODE
from medinpaint.repair.detection.slabs import EIGHT, for_each_slab, in_plane_neighbours, is_fill_value


@dataclass(frozen=True)
class LaterLookThresholds:
    """When the later looks run, and what they take for a flip.

    Args:
        after_flips: they run once the first look found this many flips ...
        after_share: ... and this share of the voxels ...
        odds: ... and its flips outnumber the outliers no flip explains by this much.
        median_spreads: the median look takes a voxel this many neighbour spreads from their median ...
        along_spreads: ... and this many from the mean of the two neighbours along every direction ...
        gain: ... that one flip brings this many times closer to the median.
        min_spread_sigmas: the neighbours' spread counts as at least this many noise sigmas.
        min_neighbours: the median look judges only voxels with at least this many in-plane neighbours.
        near_share: a restored value within this share of the jump (or a spread) is beside the median.
        predicted_errors: the predicted look takes a voxel this many local errors from a linear
            prediction, where one flip of at least that size brings it within ``predicted_within``.
        predicted_within: see ``predicted_errors``, in local errors.
        fitted: voxels of a slab the prediction's weights are fitted to, about.
        min_fitted: a slab with fewer sound voxels sampled gets no predicted look.
        refit_mads: the weights are fitted again without residuals beyond this many MADs.
        strip_lines: impulses beside a corrupted block found are looked for this many lines into a
            strip of them (a strip a block's trimming left; one as wide is a block of its own).
        enclosed: a voxel with this many of its eight neighbours found damaged, joined to a block
            found, is the block's.
        alike_share: ... but none of a strip within this share of the tissue's range of a neighbour
            also beyond the bounds: a structure of the scan's own (a metal implant), not garbage.
    """

    after_flips: int = 10
    after_share: float = 2e-5
    odds: int = 100
    median_spreads: float = 3.0
    along_spreads: float = 2.0
    gain: float = 3.0
    min_spread_sigmas: int = 2
    min_neighbours: int = 5
    near_share: int = 10
    predicted_errors: float = 5.0
    predicted_within: int = 2
    fitted: int = 200_000
    min_fitted: int = 100
    refit_mads: int = 3
    strip_lines: int = 8
    enclosed: int = 6
    alike_share: float = 0.1


LATER_LOOKS = LaterLookThresholds()


def find_smaller_flips(array: np.ndarray, fills: list[float], not_constant: np.ndarray, labels: np.ndarray,
                       sigma: float, slab: int) -> None:
    """The median and the predicted look, slab by slab, each slab with one slice of context either side."""
    nk = array.shape[2]

    def look_in_slab(part: slice) -> None:
        start, stop = max(part.start - 1, 0), min(part.stop + 1, nk)
        block = np.asarray(array[:, :, start:stop])
        is_fill = is_fill_value(block, fills)
        own = slice(part.start - start, part.stop - start)
        flips_against_neighbour_median(block, is_fill, not_constant[start:stop], labels[:, :, start:stop],
                                       own, sigma)
        flips_against_linear_prediction(block[:, :, own], is_fill[:, :, own], not_constant[part],
                                        labels[:, :, part], sigma)
        drop_mapped_pages(array, start, stop)

    for_each_slab(nk, slab, look_in_slab)


def flips_against_neighbour_median(block: np.ndarray, is_fill: np.ndarray, not_constant: np.ndarray,
                                   labels: np.ndarray, own: slice, sigma: float) -> None:
    """Bit errors that texture hid from the first look, in the slices ``own`` of ``block`` (the others
    are context). Run only on scans already found to carry bit errors: on a clean scan the looser
    rule of :func:`restored_beside_median` would take texture for flips. Labels are written in ``own``
    only; the context slices are only read, so slabs can run at once."""
    ni, nj = block.shape[:2]
    if ni < 3 or nj < 3:
        return
    values = block.astype(np.float32)
    ours = values[:, :, own]
    # screen: far from the median of the four nearest neighbours (reflected at the border: never
    # itself);
    # in place where it can be, as the slab-sized arrays add up (this runs on several slabs at once)
    padded = np.pad(ours, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    four = (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:])
    highest, lowest = np.maximum(four[0], four[1]), np.minimum(four[0], four[1])
    median4 = four[0] + four[1]
    for other in four[2:]:
        np.maximum(highest, other, out=highest)
        np.minimum(lowest, other, out=lowest)
        median4 += other
    median4 -= highest
    median4 -= lowest
    median4 /= 2
    far = np.abs(np.subtract(ours, median4, out=median4), out=median4) > LATER_LOOKS.median_spreads * sigma
    flat = highest == lowest
    del highest, lowest, median4
    intact = labels[:, :, own] == 0
    # a fill value counts only alone among content: a flip to 0 inside tissue (64 -> 0)
    fill = is_fill[:, :, own]
    fill_around = ndimage.convolve(fill.view(np.uint8), np.ones((3, 3, 1), np.uint8), mode="constant")
    alone = fill & (fill_around == 1)
    del fill_around
    screen = far & intact & (~fill | alone) & not_constant[own][np.newaxis, np.newaxis, :]
    del alone
    # and the directional test of restored_beside_median, against the least spread there can be (2
    # sigma; none where the neighbours are all alike), so that its per-voxel work is for few voxels
    along = np.full(ours.shape, np.inf, dtype=np.float32)
    pair = np.empty_like(along)
    for (a, b), (c, d) in (((0, 1), (2, 1)), ((1, 0), (1, 2)), ((0, 0), (2, 2)), ((0, 2), (2, 0))):
        np.add(padded[a:a + ni, b:b + nj], padded[c:c + ni, d:d + nj], out=pair)
        pair /= 2
        np.minimum(along, np.abs(np.subtract(ours, pair, out=pair), out=pair), out=along)
    del padded, pair
    along[[0, -1]] = np.inf  # the plane's border (reflected pairs there): left to restored_beside_median
    along[:, [0, -1]] = np.inf
    loose = screen.copy()
    screen &= (along > LATER_LOOKS.along_spreads * LATER_LOOKS.min_spread_sigmas * sigma) | flat
    del along
    sound = (labels == 0) | (labels == BIT_ERRORS_CODE)  # not lost to another kind of damage
    for _ in range(2):  # two flips side by side: the second is judged again without the first
        where = np.nonzero(screen)
        if len(where[0]) == 0:
            return
        hit = restored_beside_median(block, values, intact, sound, not_constant, where, own.start, sigma)
        if not hit.any():
            return
        found = tuple(w[hit] for w in where)
        labels[found[0], found[1], found[2] + own.start] = BIT_ERRORS_CODE
        intact[found] = False
        screen[found] = False
        # a flip found spoilt its neighbours' directional screen
        for i, j, _ in in_plane_neighbours(found, (ni, nj)):
            screen[i, j, found[2]] |= loose[i, j, found[2]] & intact[i, j, found[2]]


def restored_beside_median(block: np.ndarray, values: np.ndarray, intact: np.ndarray, sound: np.ndarray,
                           not_constant: np.ndarray, where: tuple[np.ndarray, ...], offset: int,
                           sigma: float) -> np.ndarray:
    """Which voxels of ``where`` (slice indices ``offset`` short of ``block``'s) are more than
    ``median_spreads`` spreads (``BIT_ERRORS.border_factor`` times that on the plane's border) from the
    median of their eight in-plane and two through-plane neighbours, and ``along_spreads`` spreads from
    the mean of the two neighbours along every in-plane direction (a thin vessel or an edge matches its
    neighbours along its length), where one flipped bit brings them back beside that median, or into
    the in-plane neighbours' range without its extremes widened by a spread (a voxel darker than all
    its neighbours), ``gain`` times closer to the median (:data:`LATER_LOOKS`).

    The spread is the in-plane neighbours' range without its extremes, at least twice the scan's noise;
    where they all hold one value (a masked background) it is zero."""
    nk = block.shape[2]
    k = where[2] + offset
    beside = in_plane_neighbours(where, block.shape)
    plane = [np.where(inside & intact[i, j, where[2]], values[i, j, k], np.nan) for i, j, inside in beside]
    # on the plane's border what lies beyond is unseen: twice as far, as in the first look (a crop's edge
    # cuts anatomy: 23 of the 36 voxels mni152's crop lost to this look at seed 71 lay on it)
    on_border = ~np.logical_and.reduce([inside for _, _, inside in beside])
    reach = np.where(on_border, BIT_ERRORS.border_factor, 1)
    through = []
    for dk in (-1, 1):
        kk = np.clip(k + dk, 0, nk - 1)
        usable = (kk == k + dk) & not_constant[kk] & sound[where[0], where[1], kk]
        through.append(np.where(usable, values[where[0], where[1], kk], np.nan))
    centre = values[where[0], where[1], k]
    plane = np.stack(plane)  # rows: (-1,-1) (-1,0) (-1,1) (0,-1) (0,1) (1,-1) (1,0) (1,1)
    directional = np.fmin.reduce([np.abs(centre - (plane[a] + plane[b]) / 2)
                                  for a, b in ((1, 6), (3, 4), (0, 7), (2, 5))])
    hit = np.zeros(len(centre), dtype=bool)
    # the directional test first, against the least spread there can be (2 sigma, or 0 where the
    # neighbours are all alike): the sorts below are for the few voxels left
    flat = np.fmax.reduce(plane) == np.fmin.reduce(plane)
    left = np.nonzero(~(directional <= LATER_LOOKS.along_spreads * LATER_LOOKS.min_spread_sigmas * sigma)
                      | flat)[0]
    if len(left) == 0:
        return hit
    plane, through = plane[:, left], np.stack(through)[:, left]
    centre, directional, reach = centre[left], directional[left], reach[left]
    plane = np.sort(plane, axis=0)  # NaN (no neighbour) sorts last
    count = np.isfinite(plane).sum(axis=0)
    every = np.sort(np.concatenate([plane, through]), axis=0)
    n = np.isfinite(every).sum(axis=0)
    column = np.arange(len(n))
    median = (every[np.maximum(n - 1, 0) // 2, column] + every[n // 2, column]) / 2
    last = np.maximum(count - 1, 0)
    flat = plane[0] == plane[last, column]
    spread = np.where(flat, 0.0, np.maximum((plane[np.maximum(last - 1, 0), column] - plane[1]) / 2,
                                            LATER_LOOKS.min_spread_sigmas * sigma))
    jump = np.abs(centre - median)
    keep = ((count >= LATER_LOOKS.min_neighbours) & (jump > LATER_LOOKS.median_spreads * reach * spread)
            & ~(directional <= LATER_LOOKS.along_spreads * spread))
    index = np.nonzero(keep)[0]
    if len(index) == 0:
        return hit
    at = left[index]
    jump, spread = jump[index], spread[index]
    lowest, highest = plane[1, index] - spread, plane[np.maximum(last[index] - 1, 0), index] + spread
    near = np.maximum(spread, jump / LATER_LOOKS.near_share)
    for restored in one_flip_restorations(block[where[0][at], where[1][at], k[at]], sign=True):
        off = np.abs(restored - median[index])
        within = (off <= near) | ((restored >= lowest) & (restored <= highest))
        hit[at] |= within & (LATER_LOOKS.gain * off <= jump)
    return hit


def flips_against_linear_prediction(block: np.ndarray, is_fill: np.ndarray, not_constant: np.ndarray,
                                    labels: np.ndarray, sigma: float) -> None:
    """Bit errors in smooth tissue: a voxel far from the linear prediction from its eight in-plane
    neighbours (weights fitted by least squares to about ``LATER_LOOKS.fitted`` sound voxels of the
    slab), in units of the prediction's error on the ring two voxels out (which a flip does not reach,
    so it cannot hide itself), where one flip at least that large brings it within twice that error of
    the prediction.

    Like :func:`flips_against_neighbour_median`, only for scans already found to carry bit errors.
    Voxels beside damage found earlier, beside a fill value (the edge of a masked background) or beside
    a value that is not finite are left alone: their prediction leans on values that are not tissue.
    Slab-sized arrays are reused where they can be: about six are alive at once."""
    ni, nj = block.shape[:2]
    if ni < 5 or nj < 5:
        return
    values = block.astype(np.float32)
    # a border voxel is never its own neighbour
    padded = np.pad(values, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    shifted = [padded[1 + di:1 + di + ni, 1 + dj:1 + dj + nj] for di, dj in EIGHT]
    unsound = (labels != 0) | is_fill | ~np.isfinite(values)
    near = ndimage.maximum_filter(unsound.view(np.uint8), size=(3, 3, 1)) > 0
    del unsound
    sound = ~near & not_constant[np.newaxis, np.newaxis, :]
    step = max(1, sound.size // (4 * LATER_LOOKS.fitted))  # every step-th voxel, the sound ones among them
    sample = np.unravel_index(np.flatnonzero(sound.reshape(-1)[::step]) * step, sound.shape)
    if len(sample[0]) < LATER_LOOKS.min_fitted:
        return
    features = np.stack([s[sample] for s in shifted] + [np.ones(len(sample[0]), dtype=np.float32)], axis=1)
    target = values[sample]
    weights = np.linalg.lstsq(features, target, rcond=None)[0]
    # fitted again without the first fit's outliers (flips, edges)
    error = np.abs(target - features @ weights)
    typical = error <= LATER_LOOKS.refit_mads * 1.4826 * np.median(error) + 1e-6
    weights = np.linalg.lstsq(features[typical], target[typical], rcond=None)[0]
    predicted = np.full(values.shape, weights[-1], dtype=np.float32)
    term = np.empty_like(predicted)
    for w, s in zip(weights[:-1], shifted, strict=True):
        predicted += np.multiply(s, np.float32(w), out=term)
    del padded, shifted
    residual = np.subtract(values, predicted, out=values)
    floor = max(1.4826 * float(np.median(np.abs(residual[sample]))), sigma / 2, 1e-6)
    squared = np.square(residual, out=term)
    squared[near] = floor**2
    scale = ndimage.uniform_filter(squared, size=(5, 5, 1))  # the ring's mean square: 5x5 less 3x3
    scale *= np.float32(25 / 16)
    inner = ndimage.uniform_filter(squared, size=(3, 3, 1), output=squared)
    scale -= np.multiply(inner, np.float32(9 / 16), out=inner)
    np.sqrt(np.maximum(scale, floor**2, out=scale), out=scale)
    far = np.abs(residual, out=term) > np.float32(LATER_LOOKS.predicted_errors) * scale
    where = np.nonzero(far & sound & (labels == 0))
    if len(where[0]) == 0:
        return
    stored, scale, jump, predicted = block[where], scale[where], term[where], predicted[where]
    closest = np.full(len(stored), np.inf)
    for restored in one_flip_restorations(stored):
        large = np.abs(restored - stored) >= LATER_LOOKS.predicted_errors * scale
        closest = np.where(large, np.fmin(closest, np.abs(restored - predicted)), closest)
    hit = (closest <= LATER_LOOKS.predicted_within * scale) & (LATER_LOOKS.gain * closest <= jump)
    labels[tuple(w[hit] for w in where)] = BIT_ERRORS_CODE


def impulses_at_fill(array: np.ndarray, fills: list[float], not_constant: np.ndarray, labels: np.ndarray,
                     stats: dict, slab: int) -> list[tuple[tuple[np.ndarray, ...], np.ndarray]]:
    """Impulses stored at a fill value, per slab: where, and which count towards the scan's impulses.
    None is labelled here: they stand only where the scan carries impulses in abundance. An impulse
    beyond an unsigned type's floor saturates at 0, which the first look, taking 0 for a fill, never
    judges (ch2's uint8 tissue starts at 28; in an MNI crop with no background half of the impulses
    are 0).

    A voxel holding a fill value outside the impulse bounds (:func:`impulse_bounds`), with content all
    around it in its plane but for one voxel (another impulse beside it), and in the slices before and
    after but on one side for such a voxel (another impulse above it; a hole of a mask or a template
    runs through the slices); or the middle of a chain of three (touching two) with content before and
    after it; that lies beyond its neighbours' range, or beyond their median and both voxels before
    and after it, by the first look's tolerance (twice that on the plane's border, where every in-plane
    neighbour but one must be content; in a corner, all three). It counts where it lies beyond by the
    threshold and the voxels before and after it are content beyond it by the threshold too (a
    thresholded scan's pockets of 0 inside tissue are such voxels, but have no slice beside them at a
    volume's first slice)."""
    fills = [f for f in fills if outside_bounds(np.array([f]), impulse_bounds(stats, array.dtype))[0]]
    found: list[tuple[tuple[np.ndarray, ...], np.ndarray]] = []
    if not fills or min(array.shape[:2]) < 3:
        return found
    threshold = max(BIT_ERRORS.sigmas * stats["sigma"], BIT_ERRORS.range_share * stats["value_range"])
    tolerance = max(BIT_ERRORS.tolerance_sigmas * stats["sigma"],
                    BIT_ERRORS.tolerance_range * stats["value_range"])
    nk = array.shape[2]

    def look(part: slice) -> None:
        start, stop = max(part.start - 1, 0), min(part.stop + 1, nk)
        block = np.asarray(array[:, :, start:stop])
        is_fill = is_fill_value(block, fills)
        own = slice(part.start - start, part.stop - start)
        fill_around = ndimage.convolve(is_fill.view(np.uint8), np.ones((3, 3, 1), np.uint8), mode="constant")
        alone = is_fill & (fill_around <= 2)
        lone = is_fill & (fill_around <= 3)
        if nk > 1:  # content in the slices before and after, or on one side an impulse alone in its plane
            before, after = np.zeros_like(is_fill), np.zeros_like(is_fill)
            before[:, :, 1:], after[:, :, :-1] = is_fill[:, :, :-1], is_fill[:, :, 1:]
            lone &= ~(before & after)
            lone[:, :, 1:] &= ~before[:, :, 1:] | alone[:, :, :-1]
            lone[:, :, :-1] &= ~after[:, :, :-1] | alone[:, :, 1:]
            lone &= alone | ~(before | after)  # the middle of a chain of three: content on both sides
        lone = lone[:, :, own] & (labels[:, :, part] == 0) & not_constant[part][np.newaxis, np.newaxis, :]
        where = np.nonzero(lone)
        if len(where[0]) == 0:
            return
        k = where[2] + own.start
        beside = in_plane_neighbours(where, block.shape)
        around = np.stack([block[i, j, k].astype(np.float64) for i, j, _ in beside])
        inside = np.stack([inside for _, _, inside in beside])
        seen = inside & ~np.stack([is_fill[i, j, k] for i, j, _ in beside])
        centre = block[where[0], where[1], k].astype(np.float64)
        excess = np.maximum(np.where(seen, around, np.inf).min(axis=0) - centre,
                            centre - np.where(seen, around, -np.inf).max(axis=0))
        # or beyond its neighbours' middle (dark tissue may border it) and both voxels before and after
        # it, content (a single slice has no such evidence)
        valid = seen & ~np.isnan(around)  # (none: the middle is the voxel itself)
        middle = np.where(valid, around, np.nan)
        middle[:, ~valid.any(axis=0)] = centre[~valid.any(axis=0)]
        middle = np.abs(np.nanmedian(middle, axis=0) - centre)
        sides = np.ones(len(centre), dtype=bool)  # the voxels before and after: content, beyond it
        for step in (-1, 1):
            across = np.clip(k + step, 0, block.shape[2] - 1)
            content = (k + step == across) & ~is_fill[where[0], where[1], across]
            gap = np.abs(block[where[0], where[1], across].astype(np.float64) - centre)
            middle = np.where(content, np.minimum(middle, gap), 0.0)
            sides &= content & (gap > threshold)
        excess = np.maximum(excess, middle)
        factor = np.where(~inside.all(axis=0), BIT_ERRORS.border_factor, 1)
        judged = seen.sum(axis=0) >= np.clip(inside.sum(axis=0) - 1, 3, LATER_LOOKS.min_neighbours)
        strong = judged & (excess > factor * threshold)
        # in a scan carrying impulses, one at a value its tissue does not reach need only stand out by
        # the tolerance (as at the type's ceiling: :func:`impulse_clusters`)
        hit = judged & (excess > factor * tolerance)
        found.append(((where[0][hit], where[1][hit], where[2][hit] + part.start), (strong & sides)[hit]))
        drop_mapped_pages(array, start, stop)

    for_each_slab(nk, slab, look)
    return found


def impulse_look(stats: dict, dtype: np.dtype) -> tuple[float, float, tuple[tuple[float, float], ...]]:
    """What an impulse look judges by (:func:`flips_beyond_neighbour_range`'s ``threshold``,
    ``tolerance`` and ``bounds``): the first look's threshold and tolerance; the content's bounds (for a
    voxel with few neighbours of content) and the impulse bounds (:func:`impulse_bounds`)."""
    sigma, value_range = stats["sigma"], stats["value_range"]
    threshold = max(BIT_ERRORS.sigmas * sigma, BIT_ERRORS.range_share * value_range)
    tolerance = max(BIT_ERRORS.tolerance_sigmas * sigma, BIT_ERRORS.tolerance_range * value_range)
    return threshold, tolerance, (content_bounds(stats, BIT_ERRORS.few_neighbours_ranges),
                                  impulse_bounds(stats, dtype))


def impulse_clusters(array: np.ndarray, fills: list[float], not_constant: np.ndarray, labels: np.ndarray,
                     stats: dict, slab: int) -> None:
    """Impulses side by side, in a scan already found to carry impulses in abundance: voxels beyond the
    impulse bounds (:func:`impulse_bounds`) with fewer than ``BIT_ERRORS.impulse_cluster`` neighbours as
    far beyond, judged with every such voxel left out of their neighbours (the first look's pairs
    cover two; at a 1% share, clusters of three are 1 in 10,000 voxels). And lone ones at an integer
    type's limit (:func:`at_limit`), which need only stand out by the first look's tolerance: an impulse
    saturated at 255 among tissue up to 232 stands out by less than its threshold (MNI's bright white
    matter)."""
    threshold, tolerance, bounds = impulse_look(stats, array.dtype)

    def look(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        values = block.astype(np.float32)
        is_fill = is_fill_value(block, fills)
        region = labels[:, :, part]
        beyond = (values < bounds[1][0]) | (values > bounds[1][1])
        where = np.nonzero(beyond & ~is_fill & (region == 0) & not_constant[part][np.newaxis, np.newaxis, :])
        partners = sum((beyond[i, j, where[2]] & inside).astype(np.int8)
                       for i, j, inside in in_plane_neighbours(where, block.shape))
        saturated = at_limit(block[where], array.dtype)
        kept = ((partners >= 1) | saturated) & (partners < BIT_ERRORS.impulse_cluster)
        where, saturated = tuple(w[kept] for w in where), saturated[kept]
        left_out = beyond | (region == BIT_ERRORS_CODE)
        # at the type's limit, which the tissue does not reach, standing out at all (by the tolerance)
        for among, margin in ((~saturated, threshold), (saturated, tolerance)):
            these = tuple(w[among] for w in where)
            if len(these[0]):
                _, _, impulse, _ = flips_beyond_neighbour_range(block, values, these, is_fill, left_out,
                                                                margin, tolerance, bounds)
                region[tuple(w[impulse] for w in these)] = BIT_ERRORS_CODE
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)


def impulses_beside_blocks(array: np.ndarray, fills: list[float], labels: np.ndarray, stats: dict,
                           slab: int) -> None:
    """Voxels beyond the impulse bounds (:func:`impulse_bounds`) beside a corrupted block found, judged
    with the damage found left out of their neighbours: garbage beside an impulse hides it, and a
    block's edge line that its trimming left holds such voxels (random bytes read as float32: one of
    -60,700 among tissue at 13-38 HU, beside a block found, was 42 value ranges off)."""
    threshold, tolerance, bounds = impulse_look(stats, array.dtype)

    def look(part: slice) -> None:
        region = labels[:, :, part]
        if not (region == CORRUPTED_BLOCKS_CODE).any():
            return
        block = np.asarray(array[:, :, part])
        values = block.astype(np.float32)
        is_fill = is_fill_value(block, fills)
        with np.errstate(invalid="ignore"):
            beyond = (values < bounds[1][0]) | (values > bounds[1][1])
        beyond &= ~is_fill
        # line by line into a strip of garbage a block's trimming left (random bytes 3 columns wide
        # beside a block found in cranium's crop: 27 voxels up to -27,600 HU unfound), each judged
        # with the strip's other voxels beyond the bounds left out of its neighbours; one with no
        # neighbour left (garbage and damage found all around) is garbage too
        # (alike: within a share of the tissue's range, which garbage does not widen)
        alike = LATER_LOOKS.alike_share * (stats["tissue_high"] - stats["tissue_low"])
        square = np.ones((3, 3, 1), bool)
        ring = np.ones((3, 3, 1), np.uint8)  # (the eight in-plane neighbours, counted)
        ring[1, 1] = 0
        for _ in range(LATER_LOOKS.strip_lines):
            # (from the block through damage of any kind found beside it: a strip's impulses found)
            found = ndimage.binary_propagation(region == CORRUPTED_BLOCKS_CODE, structure=square,
                                               mask=region > 0)
            where = np.nonzero(ndimage.binary_dilation(found, structure=ring) & (region == 0)
                               & beyond)
            if not len(where[0]):
                break
            left_out = (region > 0) | beyond
            _, _, impulse, _ = flips_beyond_neighbour_range(block, values, where, is_fill, left_out,
                                                            threshold, tolerance, bounds)
            alone = ndimage.convolve((~left_out & ~is_fill).view(np.uint8), ring, mode="constant")[where] == 0
            # garbage is unlike its neighbours; a structure of the scan's own beyond the bounds (a metal
            # implant, a marker at the type's top) is like them: a review's implant at 8000 HU beside a
            # block had 96 of its voxels taken
            taken = (impulse | alone) & ~_like_a_neighbour(values, where, (region == 0) & beyond, alike)
            if not taken.any():
                break
            region[tuple(w[taken] for w in where)] = CORRUPTED_BLOCKS_CODE
        # and a voxel of such a strip whose value happens to lie within the bounds, enclosed by the
        # damage found (a block's straight edge has three neighbours found, a corner of two five)
        found = ndimage.binary_propagation(region == CORRUPTED_BLOCKS_CODE, structure=square, mask=region > 0)
        enclosed = ndimage.convolve(found.view(np.uint8), ring, mode="constant") >= LATER_LOOKS.enclosed
        region[enclosed & (region == 0) & ~is_fill] = CORRUPTED_BLOCKS_CODE
        drop_mapped_pages(array, part.start, part.stop)

    if (labels == CORRUPTED_BLOCKS_CODE).any():
        for_each_slab(array.shape[2], slab, look)


def _like_a_neighbour(values: np.ndarray, where: tuple[np.ndarray, ...], among: np.ndarray,
                      threshold: float) -> np.ndarray:
    """Which voxels of ``where`` have two in-plane neighbours in ``among`` within ``threshold`` of them
    (a structure's corner has three; two voxels of random garbage are alike by chance, and the strip
    of cranium's int16 crop at seed 142 then kept three of -27,000 HU: 31 dB)."""
    like = np.zeros(len(where[0]), dtype=np.uint8)
    centre = values[where]
    for i, j, inside in in_plane_neighbours(where, values.shape):
        neighbour = (i, j, where[2])
        like += inside & among[neighbour] & (np.abs(values[neighbour] - centre) <= threshold)
    return like >= 2


def at_limit(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Which ``values`` lie at an integer type's limit, where an impulse beyond its range is stored."""
    if dtype.kind not in "iu":
        return np.zeros(values.shape, dtype=bool)
    info = np.iinfo(dtype)
    return (values == info.max) | (values == info.min)
