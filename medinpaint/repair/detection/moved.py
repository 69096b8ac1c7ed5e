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
        reach: pixels; the largest move looked for along each in-plane axis, in whole pixels first ...
        step: ... then in steps of this many pixels around the best (sub-pixel motion, and a turn, which
            moves each piece of a slice by its own amount).
        frame: pixels; the frame around the rectangle whose move is looked for: the move is the
            tissue's around it, never the rectangle's own (a block copied from a pixel or two away is
            explained by its own move, and the tissue around it has not moved).
        explained: the ratio (as the misplaced-block rule's) the rectangle moved with its frame must
            fall below ...
        drop: ... and this share of its ratio unmoved, with the frame explained no worse moved; or,
            where the frame is explained ``frame_drop`` times as well moved (the tissue around moved
            too), ``explained`` alone. Blocks of the independent generator that a move of a pixel or
            two explains somewhat kept 0.39 of their ratio and more, and their frame 0.7 of its ratio
            and more; pieces of moved slices 0.12 of their ratio and less, 19 in 20 of them.
        frame_drop: see ``drop``.
    """

    reach: int = 3
    step: float = 0.5
    frame: int = 8
    explained: float = 4.0
    drop: float = 0.25
    frame_drop: float = 0.5


MOTION = MotionThresholds()


def explained_by_motion(before: np.ndarray, centre: np.ndarray, after: np.ndarray, judged: np.ndarray,
                        rectangle: tuple[slice, slice], floor: float) -> bool:
    """Whether ``rectangle`` of ``centre`` (float planes; ``judged``: the voxels that are evidence in all
    three) is explained by the slices beside once ``centre`` is moved as the frame around it moved (up
    to ``reach`` pixels); never where the frame holds no evidence."""
    t = MOTION
    ni, nj = centre.shape
    i0, i1 = max(rectangle[0].start - t.frame, 0), min(rectangle[0].stop + t.frame, ni)
    j0, j1 = max(rectangle[1].start - t.frame, 0), min(rectangle[1].stop + t.frame, nj)
    window = (slice(i0, i1), slice(j0, j1))
    # (values that are no evidence, NaN or infinite, are zeroed: an interpolation weight of 0 on NaN is NaN)
    before, after = (np.nan_to_num(plane[window].astype(np.float64), posinf=0.0, neginf=0.0)
                     for plane in (before, after))
    expected = 0.5 * (before + after)
    spread = (0.5 * (after - before)) ** 2 + floor**2
    inside = np.zeros(expected.shape, dtype=bool)
    inside[rectangle[0].start - i0:rectangle[0].stop - i0,
           rectangle[1].start - j0:rectangle[1].stop - j0] = True
    rect, ring = judged[window] & inside, judged[window] & ~inside
    if np.count_nonzero(rect) < 4 or np.count_nonzero(ring) < 4:
        return False
    pad = t.reach + 1
    source = np.pad(np.nan_to_num(centre.astype(np.float64), posinf=0.0, neginf=0.0), pad, mode="edge")
    source = source[i0:i1 + 2 * pad, j0:j1 + 2 * pad]
    h, w = expected.shape

    def moved(di: float, dj: float) -> np.ndarray:
        """The window of ``centre`` moved by (di, dj), linearly interpolated."""
        (i, fi), (j, fj) = ((pad + int(np.floor(d)), d - np.floor(d)) for d in (di, dj))
        rows = [source[i + n:i + n + h] for n in (0, 1)]
        rows = [(1 - fj) * r[:, j:j + w] + fj * r[:, j + 1:j + 1 + w] for r in rows]
        return (1 - fi) * rows[0] + fi * rows[1]

    def ratios(plane: np.ndarray, wanted: np.ndarray) -> tuple[float, float]:
        miss = (plane - wanted) ** 2
        return float(miss[rect].sum() / spread[rect].sum()), float(miss[ring].sum() / spread[ring].sum())

    def frame_miss(move: tuple[float, float]) -> float:
        return float(((moved(*move) - expected)[ring] ** 2).sum())

    steps = range(-t.reach, t.reach + 1)
    best = min(((float(di), float(dj)) for di in steps for dj in steps if di or dj), key=frame_miss)
    around = ((best[0] + di, best[1] + dj) for di in (-t.step, 0.0, t.step) for dj in (-t.step, 0.0, t.step))
    best = min((m for m in around if (m[0] or m[1]) and max(map(abs, m)) <= t.reach), key=frame_miss)
    inner_unmoved, frame_unmoved = ratios(moved(0.0, 0.0), expected)
    plane = moved(*best)
    # the slices' sharpness may differ (a slice resampled where it moved): each side also smoothed
    for mine, wanted in ((plane, expected), (_smoothed(plane), expected), (plane, _smoothed(expected))):
        inner, frame = ratios(mine, wanted)
        kept = inner <= t.drop * inner_unmoved and frame <= frame_unmoved
        if inner < t.explained and (kept or frame <= t.frame_drop * frame_unmoved):
            return True
    return False


def _smoothed(plane: np.ndarray) -> np.ndarray:
    """``plane`` under a 3x3 binomial kernel."""
    kernel = np.array([0.25, 0.5, 0.25])
    rows = ndimage.convolve1d(plane, kernel, axis=0, mode="nearest")
    return ndimage.convolve1d(rows, kernel, axis=1, mode="nearest")
