"""Lost scan lines: runs of whole rows or columns at a fill value with content on both sides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from medinpaint.repair.detection.kinds import LOST_LINES_CODE
from medinpaint.repair.detection.slabs import content_across


@dataclass(frozen=True)
class LostLineThresholds:
    """When a run of whole fill-valued lines is lost.

    Args:
        content_beside: the lines on each side of the run hold at least this share of content.
        content_across: the slice before or after (or two on) holds this share of content along them.
    """

    content_beside: float = 0.3
    content_across: float = 0.3


LOST_LINES = LostLineThresholds()


def runs_along_lines(full: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True along axis 0 of a (lines, slices) array: (slice, first line, line after the run)."""
    edges = np.diff(np.pad(full, ((1, 1), (0, 0))).astype(np.int8), axis=0)
    start_k, start = np.nonzero(edges.T == 1)  # ordered by slice, then line: starts and stops pair up
    _, stop = np.nonzero(edges.T == -1)
    return start_k, start, stop


def share_along(content: np.ndarray, axis: int, lines: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """The share of content along each line ``lines`` (of ``axis``) of slice ``ks``: counted only
    where asked, not for every line of the slab."""
    along = content[lines, :, ks] if axis == 0 else content[:, lines, ks].T
    return np.count_nonzero(along, axis=1) / content.shape[1 - axis]


def find_lost_lines(is_fill: np.ndarray, content: np.ndarray, content_slices: np.ndarray, labels: np.ndarray,
                    fill_context: Callable[[], tuple] | None) -> np.ndarray:
    """Runs of whole lines at a fill value with content on both sides, and, in a scan of three slices
    or more, content along them in the slice before or after (or two slices on, where the slice beside
    lost the same lines; :func:`content_across`): the midline of a symmetric template cut off below
    its CSF is a line of 0 between two hemispheres, empty in the slices beside it too.
    ``content_slices``: the slab's slices with content for fill to cut into; ``fill_context`` as for
    :func:`find_packet_loss`. Returns how many voxels were labelled in lines across axis 0 and 1."""
    labelled = np.zeros(2, dtype=np.int64)
    for axis in (1, 0):  # rows (j) first: a scan line runs along i; then whole columns (i)
        full = is_fill.all(axis=1 - axis)  # (lines, slices)
        ks, starts, stops = runs_along_lines(full & content_slices[np.newaxis, :])
        inside = (starts > 0) & (stops < full.shape[0])  # the scan's own edge is not a lost line
        ks, starts, stops = ks[inside], starts[inside], stops[inside]
        content_both_sides = ((share_along(content, axis, starts - 1, ks) >= LOST_LINES.content_beside)
                              & (share_along(content, axis, stops, ks) >= LOST_LINES.content_beside))
        for k, a, b in zip(ks[content_both_sides], starts[content_both_sides], stops[content_both_sides],
                           strict=True):
            lines = (slice(None), slice(a, b)) if axis == 1 else (slice(a, b), slice(None))
            if fill_context is not None and not content_across(*fill_context(), lines, k,
                                                               LOST_LINES.content_across):
                continue
            labels[lines + (k,)] = LOST_LINES_CODE
            labelled[axis] += labels[lines + (k,)].size
    return labelled

