"""A slice beside that moved. A patient who moves between the two passes of an interleaved acquisition
leaves every other slice moved against its neighbours; where the head's edge moved, the background a
slice uncovered lies between content of the slices beside, as a lost packet's tiles do. Moved back as
its background moved, the slices beside hold background there too; a packet lost in a still or a moved
slice keeps content beside it, moved back or not."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.slabs import SCAN


@dataclass(frozen=True)
class MovedBackgroundThresholds:
    """When the slices beside a region moved, and by how much.

    Args:
        reach: pixels; the largest move looked for, each way, in whole pixels (a slice turned by 5
            degrees moves its edge 130 pixels from the centre by 11: beyond it).
        background: the least share of the voxels compared (all but the slice's lost packets) that
            its own background (voxels next to the fill) must hold: a head with background around it.
            A crop inside the anatomy has a frame of a few pixels at most, which a lost band of the
            slice beside, moved over it, made a chance move (the generator's tiles at seed 20: 1,082
            voxels unfound at 0) ...
        moved: ... a move must leave at most this share of the voxels only one of the two slices holds
            as background, and neither slice's own such voxels more: a head that moved uncovers
            background on one side and covers it on the other, and both must be there (16 voxels at
            least each). mni152 with its odd slices moved by (3.3, -1.7) is laid over its neighbours
            by (-3, 2) with 0.34-0.40 of them left (a slice's anatomy changes too). The move searched
            for best lays the two backgrounds over each other: the fewest voxels only one holds, of
            those either holds ...
        agree: pixels; ... and the two slices beside must have moved alike, within this much: a
            patient's move between passes moves both neighbours of a slice alike.
    """

    reach: int = 6
    background: float = 0.1
    moved: float = 0.5
    agree: int = 1


MOVED_BACKGROUND = MovedBackgroundThresholds()


def close_to(values: np.ndarray, value: float, near: float) -> np.ndarray:
    """Which ``values`` lie within ``near`` of the fill ``value`` (NaN does not)."""
    with np.errstate(invalid="ignore"):
        return np.abs(values.astype(np.float64) - float(value)) <= near


class SliceBackgrounds:
    """The background of slices and the moves between them, each worked out once. A slice's background is
    its voxels within ``near`` of a fill value, less its lost packets (a tile lost in the slice beside,
    at the fill itself, had passed for background); where those are not yet known (a slice beyond the
    slab), only such voxels joined to the plane's border (the scanner's background around the anatomy:
    no hole in it, no tile lost in it)."""

    def __init__(self, near: float) -> None:
        self.near = near
        self._masks: dict[tuple, np.ndarray] = {}
        self._moves: dict[tuple, tuple[int, int]] = {}

    def mask(self, n: int, plane: np.ndarray, value: float, lost: np.ndarray | None) -> np.ndarray:
        """The background of slice ``n`` (``plane``: its values; ``lost``: its lost packets, None where
        not yet known) at fill ``value``."""
        if (n, float(value)) not in self._masks:
            close = close_to(plane, value, self.near)
            self._masks[n, float(value)] = joined_to_border(close) if lost is None else close & ~lost
        return self._masks[n, float(value)]

    def moved_over(self, k: int, centre: np.ndarray, lost: np.ndarray, sides: list[tuple], box: tuple,
                   mine: np.ndarray, value: float) -> tuple[np.ndarray, ...] | None:
        """Per voxel of a region (``mine`` in ``box`` of slice ``k``, whose values are ``centre`` and
        lost packets ``lost``), whether it lies on background in each of ``sides`` ((slice, values, its
        lost packets or None): two, or one at the scan's end), each moved back as its background moved;
        whether it lies a pixel clear of their content; and whether it lies a pixel inside the content of
        either. None unless each moved, and both alike."""
        own = self.mask(k, centre, value, lost)
        theirs = [self.mask(n, plane, value, their_lost) for n, plane, their_lost in sides]
        reach = MOVED_BACKGROUND.reach
        near_box = tuple(slice(max(b.start - reach, 0), b.stop + reach) for b in box[:2])
        if not all(mask[near_box].any() for mask in theirs):
            return None  # no background within reach of the region (a tile lost inside the anatomy)
        moves = []
        for (n, _, _), mask in zip(sides, theirs, strict=True):
            if (k, n, float(value)) not in self._moves:
                self._moves[k, n, float(value)] = background_move(own, mask, lost)
            moves.append(self._moves[k, n, float(value)])
        (a, b) = moves[0], moves[-1]
        if (0, 0) in moves or max(abs(a[0] - b[0]), abs(a[1] - b[1])) > MOVED_BACKGROUND.agree:
            return None
        on, clear = np.ones((2, int(mine.sum())), dtype=bool)
        deep = np.zeros(int(mine.sum()), dtype=bool)
        for (n, _, _), mask, move in zip(sides, theirs, moves, strict=True):
            on &= lies_on_background(mask, box, mine, move)
            # a pixel off the content at least: a whole-pixel move lays an edge a pixel off here and there
            clear &= lies_on_background(self._grown(n, value, mask, -1), box, mine, move)
            deep |= ~lies_on_background(self._grown(n, value, mask, 2), box, mine, move)
        return on, clear, deep

    def _grown(self, n: int, value: float, mask: np.ndarray, pixels: int) -> np.ndarray:
        """A slice's background grown by ``pixels`` (shrunk where negative), worked out once."""
        if (n, float(value), pixels) not in self._masks:
            self._masks[n, float(value), pixels] = (
                ndimage.binary_dilation(mask, iterations=pixels) if pixels > 0
                else ndimage.binary_erosion(mask, iterations=-pixels, border_value=1))
        return self._masks[n, float(value), pixels]


def joined_to_border(mask: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` joined to the plane's border."""
    regions, _ = ndimage.label(mask)
    border = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
    return np.isin(regions, border[border > 0])


def lies_on_background(background: np.ndarray, box: tuple, mine: np.ndarray,
                       move: tuple[int, int]) -> np.ndarray:
    """Which voxels of a region (``mine`` in ``box``) lie on ``background`` (a slice beside's) moved by
    ``move``: voxel (i, j) on the side's (i - di, j - dj), or beyond the plane on the side's nearest
    voxel at its border (a slice moved away from the border brings in what lay beyond it: background
    where the border is, anatomy where a crop cuts through it)."""
    ii, jj = np.nonzero(mine)
    ii = np.clip(ii + box[0].start - move[0], 0, background.shape[0] - 1)
    jj = np.clip(jj + box[1].start - move[1], 0, background.shape[1] - 1)
    return background[ii, jj]


def background_move(centre: np.ndarray, side: np.ndarray,
                    unknown: np.ndarray | None = None) -> tuple[int, int]:
    """The whole-pixel move (up to ``reach`` each way) that best lays the background ``side`` of a
    slice beside onto the slice's own, ``centre``, judged where ``centre`` is not ``unknown`` (its lost
    packets): side's (i - di, j - dj) onto centre's (i, j); ``(0, 0)`` unless it explains enough
    (``background``, ``moved``). Every move is judged on the same voxels of ``centre``, those ``reach``
    from its border; searched on every other row and column, then refined."""
    t = MOVED_BACKGROUND
    i0, i1, j0, j1 = t.reach, centre.shape[0] - t.reach, t.reach, centre.shape[1] - t.reach
    if i1 <= i0 or j1 <= j0:
        return (0, 0)
    mine = centre[i0:i1, j0:j1]
    known = np.ones(mine.shape, dtype=bool) if unknown is None else ~unknown[i0:i1, j0:j1]

    def disagreement(di: int, dj: int, step: int = 1) -> tuple[float, int, int]:
        """(the share of the voxels either holds as background that only one does, how many only
        ``centre`` does, how many only ``side`` does)"""
        theirs = side[i0 - di:i1 - di:step, j0 - dj:j1 - dj:step]
        seen, ours = known[::step, ::step], mine[::step, ::step]
        only_ours = np.count_nonzero(ours & ~theirs & seen)
        only_theirs = np.count_nonzero(theirs & ~ours & seen)
        either = np.count_nonzero((ours | theirs) & seen)
        # (no background in sight: no evidence)
        return ((only_ours + only_theirs) / either if either else 1.0), only_ours, only_theirs

    unmoved = disagreement(0, 0)
    if min(unmoved[1:]) < SCAN.min_hole or np.count_nonzero(mine & known) < t.background * known.sum():
        return (0, 0)
    coarse = range(-t.reach, t.reach + 1, 2)
    _, di, dj = min((disagreement(di, dj, 2), di, dj) for di in coarse for dj in coarse)
    best, di, dj = min((disagreement(a, b), a, b) for a in range(di - 1, di + 2)
                       for b in range(dj - 1, dj + 2) if max(abs(a), abs(b)) <= t.reach)
    moved = ((di, dj) != (0, 0) and best[1] <= unmoved[1] and best[2] <= unmoved[2]
             and sum(best[1:]) <= t.moved * sum(unmoved[1:]))
    return (di, dj) if moved else (0, 0)
