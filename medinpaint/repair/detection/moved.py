"""Motion between slices, told from a misplaced block. A patient who moves between the slices of an
acquisition (between the two passes of an interleaved one, most often) leaves a slice translated or
turned against its neighbours: where it crosses an edge, neither slice beside explains it, as with a
block from elsewhere. But moved back by a pixel or two, that piece of the slice is explained, and so is
the frame around it; a block is not, or its frame stops being."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class MotionThresholds:
    """How far a slice is looked for having moved, and when that explains a rectangle.

    Args:
        reach: pixels; the largest move looked for along each in-plane axis ...
        step: ... in steps of this many pixels (half pixels: sub-pixel motion, and a turn, which moves
            each piece of a slice by its own amount).
        frame: pixels; the frame around the rectangle that must be explained as well with the move as
            without it (the block's own pixels rolled along its raster are a translation too, but the
            tissue around it has not moved).
        explained: the ratio (as the misplaced-block rule's) the moved rectangle must fall below ...
        drop: ... and this share of its ratio unmoved, with the frame explained no worse moved; or,
            where the frame is explained ``frame_drop`` times as well moved (the tissue around has
            moved too), ``explained`` alone. Blocks of the independent generator that a move of a
            pixel or two explains somewhat kept 0.39 of their ratio and more, and their frame 0.7 of
            its ratio and more (where not rolled by so little); pieces of moved slices 0.12 of their
            ratio and less, 19 in 20 of them.
        frame_drop: see ``drop``.
    """

    reach: float = 3.0
    step: float = 0.5
    frame: int = 8
    explained: float = 4.0
    drop: float = 0.25
    frame_drop: float = 0.5


MOTION = MotionThresholds()


def explained_by_motion(before: np.ndarray, centre: np.ndarray, after: np.ndarray, judged: np.ndarray,
                        rectangle: tuple[slice, slice], floor: float, outside: float) -> bool:
    """Whether ``rectangle`` of ``centre`` (float planes; ``judged``: the voxels that are evidence in all
    three) is explained by the slices beside once ``centre`` is moved by up to ``reach`` pixels, with its
    frame explained as well as unmoved (or to ``outside``, the ratio the misplaced rule asks of the
    lines outside a block)."""
    t = MOTION
    ni, nj = centre.shape
    i0, i1 = max(rectangle[0].start - t.frame, 0), min(rectangle[0].stop + t.frame, ni)
    j0, j1 = max(rectangle[1].start - t.frame, 0), min(rectangle[1].stop + t.frame, nj)
    window = (slice(i0, i1), slice(j0, j1))
    expected = 0.5 * (before[window] + after[window])
    spread = (0.5 * (after[window] - before[window])) ** 2 + floor**2
    inside = np.zeros(expected.shape, dtype=bool)
    inside[rectangle[0].start - i0:rectangle[0].stop - i0,
           rectangle[1].start - j0:rectangle[1].stop - j0] = True
    everywhere = judged[window]
    rect, ring = everywhere & inside, everywhere & ~inside
    if np.count_nonzero(rect) < 4:
        return False
    pad = int(np.ceil(t.reach)) + 1
    source = np.pad(centre, pad, mode="edge")[i0:i1 + 2 * pad, j0:j1 + 2 * pad].astype(np.float64)

    def moved(di: float, dj: float) -> np.ndarray:
        """The window of ``centre`` moved by (di, dj), linearly interpolated."""
        (i, fi), (j, fj) = ((pad + int(np.floor(d)), d - np.floor(d)) for d in (di, dj))
        rows = [source[i + n:i + n + expected.shape[0]] for n in (0, 1)]
        rows = [(1 - fj) * r[:, j:j + expected.shape[1]] + fj * r[:, j + 1:j + 1 + expected.shape[1]]
                for r in rows]
        return (1 - fi) * rows[0] + fi * rows[1]

    def ratios(plane: np.ndarray, wanted: np.ndarray) -> tuple[float, float | None]:
        miss = (plane - wanted) ** 2
        around = float(miss[ring].sum() / spread[ring].sum()) if ring.any() else None
        return float(miss[rect].sum() / spread[rect].sum()), around

    moves = np.arange(-t.reach, t.reach + t.step / 2, t.step)
    best = min(((di, dj) for di in moves for dj in moves if di or dj),
               key=lambda d: float(((moved(*d) - expected)[everywhere] ** 2).sum()))
    inner_unmoved, frame_unmoved = ratios(moved(0.0, 0.0), expected)
    plane = moved(*best)
    # the slices' sharpness may differ (a slice resampled where it moved): each side also smoothed
    for mine, wanted in ((plane, expected), (_smoothed(plane), expected), (plane, _smoothed(expected))):
        inner, frame = ratios(mine, wanted)
        frame_kept = frame is None or frame <= max(outside, frame_unmoved)
        frame_moved = frame is not None and frame <= t.frame_drop * frame_unmoved
        if inner < t.explained and ((inner <= t.drop * inner_unmoved and frame_kept) or frame_moved):
            return True
    return False


def _smoothed(plane: np.ndarray) -> np.ndarray:
    """``plane`` under a 3x3 binomial kernel."""
    kernel = np.array([0.25, 0.5, 0.25])
    rows = ndimage.convolve1d(plane, kernel, axis=0, mode="nearest")
    return ndimage.convolve1d(rows, kernel, axis=1, mode="nearest")
