"""A slice beside that moved. A patient who moves between the two passes of an interleaved acquisition
leaves every other slice moved against its neighbours; where the head's edge moved, the background a
slice uncovered lies between content of the slices beside, as a lost packet's tiles do. Moved back as
its background moved, the slices beside hold background there too; a packet lost in a still or a moved
slice keeps content beside it, moved back or not."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    """The background of slices (voxels within ``near`` of a fill value) and the moves between them,
    each worked out once."""

    def __init__(self, near: float) -> None:
        self.near = near
        self._masks: dict[tuple, np.ndarray] = {}
        self._moves: dict[tuple, tuple[int, int]] = {}

    def mask(self, n: int, plane: np.ndarray, value: float) -> np.ndarray:
        """The background of slice ``n`` (``plane``: its values) at fill ``value``."""
        if (n, float(value)) not in self._masks:
            self._masks[n, float(value)] = close_to(plane, value, self.near)
        return self._masks[n, float(value)]

    def moved_over(self, centre: np.ndarray, lost: np.ndarray, k: int, sides: list[tuple[int, np.ndarray]],
                   box: tuple, mine: np.ndarray, value: float) -> np.ndarray | None:
        """Per voxel of a region (``mine`` in ``box`` of slice ``k``, whose values are ``centre`` and
        lost packets ``lost``), whether it lies on background next to the fill in each of ``sides``
        ((slice, values): two, or one at the scan's end), each moved back as its background moved;
        None unless each moved, and both alike."""
        own = self.mask(k, centre, value)
        reach = MOVED_BACKGROUND.reach
        near_box = tuple(slice(max(b.start - reach, 0), b.stop + reach) for b in box[:2])
        if not all(self.mask(n, plane, value)[near_box].any() for n, plane in sides):
            return None  # no background within reach of the region (a tile lost inside the anatomy)
        moves = []
        for n, plane in sides:
            if (k, n, float(value)) not in self._moves:
                self._moves[k, n, float(value)] = background_move(own, self.mask(n, plane, value), lost)
            moves.append(self._moves[k, n, float(value)])
        (a, b) = moves[0], moves[-1]
        if (0, 0) in moves or max(abs(a[0] - b[0]), abs(a[1] - b[1])) > MOVED_BACKGROUND.agree:
            return None
        explained = np.ones(int(mine.sum()), dtype=bool)
        for (_, plane), move in zip(sides, moves, strict=True):
            explained &= lies_on_background(plane, box, mine, move, value, self.near)
        return explained


def lies_on_background(side: np.ndarray, box: tuple, mine: np.ndarray, move: tuple[int, int], value: float,
                       near: float) -> np.ndarray:
    """Which voxels of a region (``mine`` in ``box``) lie within ``near`` of the fill in slice ``side``
    moved by ``move`` (voxel (i, j) on the side's (i - di, j - dj)), or beyond the plane; none unless a
    quarter of them at least fall inside it (a slice moved away from the plane's border brings in rows
    from beyond it: mr_head moved by 5 rows, 0.43 of an 11-row region at the border)."""
    ii, jj = np.nonzero(mine)
    ii, jj = ii + box[0].start - move[0], jj + box[1].start - move[1]
    inside = (ii >= 0) & (ii < side.shape[0]) & (jj >= 0) & (jj < side.shape[1])
    if inside.mean() < 0.25:
        return np.zeros(len(ii), dtype=bool)
    background = ~inside
    background[inside] = close_to(side[ii[inside], jj[inside]], value, near)
    return background


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
