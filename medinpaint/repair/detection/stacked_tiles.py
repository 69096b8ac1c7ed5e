"""Lost tiles stacked across slices: a dense burst loses tiles at the same place in two or three slices
side by side, and the small-tile rule, which asks for content on both sides across the slices (in the
slice beside, or the one beyond it), sees only fill there. Once the slabs are judged, the fill left
beside the packets found is looked at again, looking past those packets to the slices that hold what
was there."""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.flat_patches import drop_flat_patches
from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
from medinpaint.repair.detection.near_fill import drop_background_beside
from medinpaint.repair.detection.packets import holes_by_value
from medinpaint.repair.detection.slabs import PLANE, fill_with_context, for_each_slab, is_fill_value
from medinpaint.repair.detection.small_tiles import find_small_tiles
from medinpaint.repair.detection.tiles import PACKET_LOSS

REACH = 4  # slices looked across either way, packets found skipped


def find_stacked_tiles(array: np.ndarray, fills: list[float], cut: np.ndarray, labels: np.ndarray,
                       stats: dict | None, slab: int) -> None:
    """Lost small tiles (:func:`find_small_tiles`) in the fill the slab pass left in slices with lost
    packets found within ``REACH`` slices: content holds their place across the slices where, looking
    past the voxels found lost (``labels``, as the slab pass left them), the first slice either way is
    content there, or fill with content past it (:func:`across_lost`). What the slab pass drops of its
    own packets (flat patches, background a hair off the fill) is dropped of these too. ``cut``: the
    slices where fill cuts into content. A scan with nothing found pays one count of its labels."""
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
        fill_context = functools.cache(lambda: fill_with_context(array, part, is_fill, fills))
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
        new &= backed[components]
        fresh = np.where(new, region, 0).astype(region.dtype)
        drop_flat_patches(block, fresh, stats)
        drop_background_beside(array, part, block, fresh, stats)
        region[(region != 0) & (before == 0) & ~(new & (fresh != 0))] = 0

    for_each_slab(nk, slab, look)


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
