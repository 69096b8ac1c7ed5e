"""Lost tiles stacked across slices: a dense burst loses tiles at the same place in two or three slices
side by side, and the small-tile rule, which asks for content on both sides across the slices (in the
slice beside, or the one beyond it), sees only fill there. Once the slabs are judged, the fill left
beside the packets found is looked at again, looking past those packets to the slices that hold what
was there."""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.flat_patches import drop_flat_patches
from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
from medinpaint.repair.detection.near_fill import drop_background_beside
from medinpaint.repair.detection.packets import holes_by_value
from medinpaint.repair.detection.slabs import CONTEXT, PLANE, fill_with_context, for_each_slab, is_fill_value
from medinpaint.repair.detection.small_tiles import find_small_tiles
from medinpaint.repair.detection.tiles import PACKET_LOSS

REACH = 4  # slices looked across either way, packets found skipped


def find_stacked_tiles(array: np.ndarray, fills: list[float], cut: np.ndarray, labels: np.ndarray,
                       stats: dict | None, slab: int) -> None:
    """Lost small tiles (:func:`find_small_tiles`) in the fill the slab pass left in slices with lost
    packets found within ``REACH`` slices: content holds their place across the slices where, looking
    past the voxels found lost (``labels``, as the slab pass left them), the first slice either way is
    content there, or fill with content past it (:func:`across_lost`); its other looks (tiles over the
    background, remnants at the border) see the slices around less the voxels found lost too (a
    remnant's place lost two slices away is no edge value an interleaved move holds there). What the
    slab pass drops of its own packets (flat patches, background a hair off the fill) is dropped of
    these too, judged beside the packets found already. ``cut``: the slices where fill cuts into
    content. A scan with nothing found pays one count of its labels."""
    nk = array.shape[2]
    if nk < 3 or not np.count_nonzero(labels):  # (counted: far quicker than a comparison)
        return
    lost = labels == PACKET_LOSS_CODE  # every slab reads the same: as the slab pass left them
    per_slice = lost.any(axis=(0, 1))
    near = np.zeros(nk, dtype=bool)
    for d in range(1, REACH + 1):
        near[d:] |= per_slice[:-d]
        near[:-d] |= per_slice[d:]
    if not near.any():
        return
    contrast = PACKET_LOSS.rectangle_contrast * (stats["value_range"] if stats else 0.0)

    def look(part: slice) -> None:
        if not near[part].any():
            return
        block = np.asarray(array[:, :, part])
        is_fill = is_fill_value(block, fills)
        region = labels[:, :, part]
        holes = is_fill & cut[part][np.newaxis, np.newaxis, :] & (region == 0) & near[part]
        if not holes.any():
            return
        between = holes & across_lost(array, fills, lost, part)
        fill_context = functools.cache(lambda: fill_past_lost(array, part, is_fill, fills, lost))
        before = region.copy()
        for same_holes, _ in holes_by_value(block, holes, is_fill, fills):
            find_small_tiles(block, same_holes, region, contrast, fill_context, between & same_holes)
        new = (region != 0) & (before == 0)
        if not new.any():
            return
        # only what the packets found beside speak for: a region the slab pass's later rules cut out of
        # a larger one is not new evidence
        components, n = ndimage.label(new, structure=PLANE)
        backed = np.bincount(components[new & lost_near(lost, part)], minlength=n + 1) > 0
        region[new & ~backed[components]] = 0
        new &= backed[components]
        # judged beside the packets found already, as the slab pass judges its own: lost tiles at the
        # place in a slice beside are no background a hair off the fill
        judged = region.copy()
        drop_flat_patches(block, judged, stats)
        drop_background_beside(array, part, block, judged, stats)
        region[new & (judged == 0)] = 0

    def look_and_drop(part: slice) -> None:
        try:
            look(part)
        finally:  # (every slice it read: the slab, and REACH slices either side)
            drop_mapped_pages(array, max(part.start - REACH, 0), min(part.stop + REACH, nk))

    for_each_slab(nk, slab, look_and_drop)


def fill_past_lost(array: np.ndarray, part: slice, is_fill: np.ndarray, fills: list[float],
                   lost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fill_with_context` of slices ``part``, less the voxels found ``lost``."""
    context, in_scan = fill_with_context(array, part, is_fill, fills)
    start = part.start - CONTEXT
    for at in range(context.shape[2]):
        if 0 <= start + at < array.shape[2]:
            context[:, :, at] &= ~lost[:, :, start + at]
    return context, in_scan


def lost_near(lost: np.ndarray, part: slice) -> np.ndarray:
    """Whether a voxel found ``lost`` lies within ``REACH`` slices of each voxel of slices ``part``, at
    its place (in another slice)."""
    nk = lost.shape[2]
    near = np.zeros(lost.shape[:2] + (part.stop - part.start,), dtype=bool, order="F")
    for k in range(part.start, part.stop):
        for at in range(max(k - REACH, 0), min(k + REACH + 1, nk)):
            if at != k:
                near[:, :, k - part.start] |= lost[:, :, at]
    return near


def across_lost(array: np.ndarray, fills: list[float], lost: np.ndarray, part: slice) -> np.ndarray:
    """For each voxel of slices ``part``: whether content holds its place across the slices on both
    sides (or on one, where the scan ends within ``REACH`` slices on the other), looking past voxels
    found ``lost``: the first slice not lost there either way is content, or fill with content in the
    next slice not lost (a tile lost there too, unfound: as :func:`~.small_tiles.between_content`)."""
    nk = array.shape[2]
    lo, hi = max(part.start - REACH, 0), min(part.stop + REACH, nk)
    fill = is_fill_value(np.asarray(array[:, :, lo:hi]), fills)
    seen = lost[:, :, lo:hi]
    shape = fill.shape[:2]
    result = np.empty(shape + (part.stop - part.start,), dtype=bool, order="F")
    for k in range(part.start, part.stop):
        content, open_ = [], []
        for step in (-1, 1):
            decided, found, filled, ends = (np.zeros(shape, dtype=bool) for _ in range(4))
            for d in range(1, REACH + 1):
                at = k + step * d
                if not 0 <= at < nk:
                    ends |= ~decided  # the scan ends: this side has no say
                    break
                looked = ~decided & ~seen[:, :, at - lo]
                here = fill[:, :, at - lo]
                found |= looked & ~here
                decided |= (looked & ~here) | (looked & here & filled)
                filled |= looked & here
            content.append(found)
            open_.append(ends)
        (before, after), (open_before, open_after) = content, open_
        result[:, :, k - part.start] = (before | after) & (before | open_before) & (after | open_after)
    return result
