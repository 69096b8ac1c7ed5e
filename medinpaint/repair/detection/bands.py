"""The rest of a burst's band: a burst of lost tiles runs along a row of tiles, so the lost packets found
in a slice are a band between two straight edges. Where the burst ran on into the background or off the
plane's border, the rest of it joins a fill no rule can number (no union of tiles, not inside the
plane), and was left: a row of 32-pixel tiles cut off at a scan's border, tissue at a head's edge. The
band is taken on through fill as long as it stays whole across and content runs along it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
from medinpaint.repair.detection.slabs import PLANE, fill_beside


def continue_bands(block: np.ndarray, is_fill: np.ndarray, labels: np.ndarray,
                   fill_context: Callable[[], tuple] | None) -> None:
    """Lost packets of each slice of the slab ``block`` grown along the band they form, both ways
    along either in-plane axis: a line across the band (as long as the band is wide) at the lost
    packets' fill value all along it and not found yet, with content just outside the band on one side
    at least within one band width of the packets found, and on both sides beyond; in a scan of three
    slices or more (``fill_context``: gives :func:`fill_with_context` of the slab), with content in a
    slice beside at half of the line at least (a pocket of background beside a lost tile is fill in the
    slices beside too)."""
    lost = labels == PACKET_LOSS_CODE
    if not lost.any():
        return
    regions, _ = ndimage.label(lost, structure=PLANE)
    for index, box in enumerate(ndimage.find_objects(regions), start=1):
        if box is None:
            continue
        k = box[2].start
        region = regions[:, :, k] == index
        value = block[:, :, k][region][0]
        open_fill = (block[:, :, k] == value) & (labels[:, :, k] == 0)
        content = ~is_fill[:, :, k] & np.isfinite(block[:, :, k])  # (NaN is no content)
        beside = None
        if fill_context is not None:
            beside = np.zeros_like(content)
            for fill in fill_beside(fill_context, k):
                beside |= ~fill
        for axis in (0, 1):
            _continue(region, box[:2], axis, open_fill, content, beside, labels[:, :, k])


def _continue(region: np.ndarray, box: tuple[slice, slice], axis: int, open_fill: np.ndarray,
              content: np.ndarray, beside: np.ndarray | None, labels: np.ndarray) -> None:
    """``region`` (a slice's lost packets, bounding ``box``) grown along ``axis`` both ways, where its
    first and last line across ``axis`` are lost the band's whole width (``beside``: content in a slice
    beside, or None)."""
    # moved so that the band runs along axis 1 and is as wide as ``across`` along axis 0
    region, open_fill, content, beside, labels = (np.moveaxis(a, axis, 1) if axis == 0 and a is not None
                                                  else a
                                                  for a in (region, open_fill, content, beside, labels))
    across, along = (box[1], box[0]) if axis == 0 else box
    width = across.stop - across.start
    n_across, n_along = region.shape
    if across.start == 0 or across.stop == n_across:  # a band between two edges, not along the border
        return
    for end, step in ((along.start, -1), (along.stop - 1, 1)):
        if not region[across, end].all():
            continue
        at, walked = end + step, 0
        while 0 <= at < n_along and open_fill[across, at].all():
            outside = [content[across.start - 1, at], content[across.stop, at]]
            walked += 1
            if not (any(outside) if walked <= width else all(outside)):
                break
            if beside is not None and beside[across, at].mean() < 0.5:
                break
            labels[across, at] = PACKET_LOSS_CODE
            at += step
