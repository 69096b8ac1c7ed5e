"""Background beside, not content: a fill region whose place in the slices beside holds values next to
the fill is no lost packet. A slice resampled by a processing step (sinc or spline interpolation, a
Fourier shift) leaves its background a hair off 0, where the slices it was not applied to keep theirs
at exactly 0; the packet rules, which count any value but the fill as content, saw every tile of the
still slices' background cut out of content. A slice beside that moved is judged moved back
(:mod:`~medinpaint.repair.detection.moved_background`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
from medinpaint.repair.detection.moved_background import SliceBackgrounds, close_to
from medinpaint.repair.detection.slabs import SCAN, label_in_plane


@dataclass(frozen=True)
class NearFillThresholds:
    """When the place of a region found lost is background in the slices beside.

    Args:
        sigmas: a value within this many noise sigmas of the fill (or one step of an integer type,
            the more) is next to it: beside a slice Fourier-shifted by a pixel or two, 0.93-0.98 of
            such a region's place is (mr_head as float32 rings at 0.06-0.7 with a sigma of 3; mni152
            in 8 bits rounds it to 1-3 near the head); of the background noise of dipy's b0 (1-46,
            sigma 12), 0.28 is, and a burst lost there stays found ...
        share: ... and the region is background beside where this share of its place in each slice
            beside, in the scan, is next to the fill (0.9: ch2bet shifted by 2.5 pixels, at 0.79-0.83
            within a sigma of 1.5, kept 9,022 false voxels; 0.8 keeps 2,760).
    A slice beside that holds the fill itself all over that place lost the same tile, or is background
    at the fill: it proves nothing, and the region stays.
    """

    sigmas: float = 1.0
    share: float = 0.8


NEAR_FILL = NearFillThresholds()


def drop_background_beside(array: np.ndarray, part: slice, block: np.ndarray, labels: np.ndarray,
                           stats: dict | None) -> None:
    """Unlabel the lost packets of slab ``part`` of ``array`` (``block``: its values; ``labels``: its
    part, written in place) whose place in every slice beside, as it lies or moved back, is background a
    hair off the fill."""
    packets = labels == PACKET_LOSS_CODE
    if stats is None or not packets.any():
        return
    near = max(NEAR_FILL.sigmas * stats["sigma"], 1.0 if block.dtype.kind in "iu" else 0.0)
    regions, _ = label_in_plane(packets)
    nk = array.shape[2]
    beside: dict[int, np.ndarray] = {}
    backgrounds = SliceBackgrounds(near)
    for number, box in enumerate(ndimage.find_objects(regions), start=1):
        if box is None:
            continue
        k = box[2].start
        mine = regions[box[:2] + (k,)] == number
        value = block[box[:2] + (k,)][mine][0]
        if not np.isfinite(value):
            continue
        sides = [part.start + k + d for d in (-1, 1) if 0 <= part.start + k + d < nk]
        for side in sides:
            if side not in beside:
                beside[side] = np.asarray(array[:, :, side])
        plane = labels[box[:2] + (k,)]
        # (a slice beside's lost packets are known where it lies in the slab)
        known = {side: packets[:, :, side - part.start] if part.start <= side < part.stop else None
                 for side in sides}
        if sides and all(background_at(beside[side][box[:2]][mine], value, near,
                                       None if known[side] is None else known[side][box[:2]][mine])
                         for side in sides):
            plane[mine] = 0
        elif sides:
            others = [(side, beside[side], known[side]) for side in sides]
            explained = backgrounds.moved_over(part.start + k, block[:, :, k], packets[:, :, k], others, box,
                                               mine, value)
            drop_explained(plane, mine, explained)
    for side in beside:
        if not part.start <= side < part.stop:
            drop_mapped_pages(array, side, side + 1)


def background_at(there: np.ndarray, value: float, near: float, lost: np.ndarray | None = None) -> bool:
    """Whether a region's place ``there`` in a slice beside, as it lies, is background next to the fill
    (not the fill all over: the same tile lost, or background at the fill, proves nothing), judged off
    the voxels ``lost`` there (that slice's lost packets found, where known): the same burst lost in the
    slice beside a little apart is no background (cranium's last slice: 82% of the place lost there)."""
    if lost is not None:
        there = there[~lost]
    return bool(there.size and close_to(there, value, near).mean() >= NEAR_FILL.share
                and not (there == value).all())


def drop_explained(plane: np.ndarray, mine: np.ndarray, explained: tuple[np.ndarray, ...] | None) -> None:
    """Unlabel a region (``mine`` in its ``plane`` of labels) as far as ``explained`` says (per voxel of
    it: on background beside, moved back; a pixel clear of the content there; a pixel inside it): all of
    it where 80% is on background and none inside content (background the move uncovered); else the
    voxels clear of content (background uncovered beside tiles lost at the anatomy's edge, whose own
    voxels a move a pixel off would lay on background), and what is left of it smaller than a hole."""
    if explained is None:
        return
    on, clear, deep = explained
    if on.mean() >= NEAR_FILL.share and not deep.any():
        plane[mine] = 0
        return
    if not clear.any():
        return
    ii, jj = np.nonzero(mine)
    plane[ii[clear], jj[clear]] = 0
    pieces, _ = ndimage.label(mine & (plane == PACKET_LOSS_CODE))
    small = np.bincount(pieces.ravel()) < SCAN.min_hole
    small[0] = False
    plane[small[pieces]] = 0
