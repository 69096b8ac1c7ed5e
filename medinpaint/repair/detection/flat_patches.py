"""Flat patches of a scan's own, told from lost packets. A lossy codec (JPEG at a low quality) keeps
only the mean of a smooth 8x8 block: a tile of one value, on the codec's grid, between content, which
the packet rules take for a tile a sender filled. But lost data holds a value the sender wrote,
whatever the tissue was; a flat patch holds the tissue's own. Where the content around a region found
lost mostly lies within the noise of its value, nothing was cut. (Its voxels at other fill values count:
a codec's flat patches in a noisy background sit at 2 and 3 side by side, both taken for fills.)

Judged only where the slab shows the codec: whole cells of the 8x8 grid flat at more than one value.
Lost data is one value (the fill, beside a background of another): a burst of tiles lost at 0 in
a b0 scan's background noise is as close to its surroundings as a flat patch, and stays found."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
from medinpaint.repair.detection.slabs import label_in_plane


@dataclass(frozen=True)
class FlatPatchThresholds:
    """When a region found lost is a flat patch of the scan's own.

    Args:
        ring: pixels around the region whose voxels (not the region's value, not found damaged) are
            judged ...
        cut_share: ... a lost region has this share of them at least standing out from its value by
            ``sigmas`` noise sigmas (a packet lost at the head's edge has tissue along part of its sides
            and air along the rest; a CT's air, at -1000 HU, stands out from a fill at -1024 by 5 of
            cranium's sigmas) ...
        least: ... judged where the ring holds this many voxels (fewer: no evidence).
        sigmas: see ``cut_share``.
        codec_values: the slab shows a lossy codec where whole 8x8 grid cells are flat at this many
            values at least (JPEG'd clean scans: 2-17 in the slabs whose flat patches were taken for
            packets, 2 at quality 90, as 106 and 107; the independent generator's lost tiles, in slabs
            where the test would drop them: 0-1, their fill alone).
    """

    ring: int = 2
    cut_share: float = 0.5
    least: int = 8
    sigmas: float = 3.0
    codec_values: int = 2


FLAT_PATCHES = FlatPatchThresholds()


def drop_flat_patches(block: np.ndarray, labels: np.ndarray, stats: dict | None) -> None:
    """Unlabel the lost packets of a slab (``labels``: its part, written in place; ``block``: its values)
    whose surroundings mostly lie within the noise of their own value: flat patches a lossy codec left."""
    packets = labels == PACKET_LOSS_CODE
    if stats is None or not packets.any() or len(flat_cell_values(block)) < FLAT_PATCHES.codec_values:
        return
    t = FLAT_PATCHES
    apart = t.sigmas * stats["sigma"]
    regions, _ = label_in_plane(packets)
    ni, nj = block.shape[:2]
    for number, box in enumerate(ndimage.find_objects(regions), start=1):
        if box is None:
            continue
        k = box[2].start
        around = (slice(max(box[0].start - t.ring, 0), min(box[0].stop + t.ring, ni)),
                  slice(max(box[1].start - t.ring, 0), min(box[1].stop + t.ring, nj)))
        mine = regions[around + (k,)] == number
        value = float(block[around + (k,)][mine][0])
        if not np.isfinite(value):  # NaN or inf: no tissue holds it
            continue
        ring = ndimage.binary_dilation(mine, iterations=t.ring) & ~mine
        ring &= (block[around + (k,)] != block.dtype.type(value)) & (labels[around + (k,)] == 0)
        content = block[around + (k,)][ring].astype(np.float64)
        content = content[np.isfinite(content)]
        if len(content) >= t.least and np.mean(np.abs(content - value) > apart) < t.cut_share:
            plane = labels[around + (k,)]
            plane[mine] = 0


def flat_cell_values(block: np.ndarray, side: int = 8) -> np.ndarray:
    """The values of the whole ``side`` x ``side`` cells of the plane's grid that hold one value, in
    any slice of ``block``."""
    ci, cj = block.shape[0] // side, block.shape[1] // side
    if ci == 0 or cj == 0:
        return np.empty(0, dtype=block.dtype)
    cells = block[:ci * side, :cj * side].reshape(ci, side, cj, side, block.shape[2])
    low, high = cells.min(axis=(1, 3)), cells.max(axis=(1, 3))
    return np.unique(low[low == high])
