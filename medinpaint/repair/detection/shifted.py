"""Shifted blocks: a rectangle whose own pixels moved along the stream (bytes lost or inserted inside
it, the rest moved up). No twin of it exists, but rolled back along its rows by the right number of
pixels it is the tissue again: the slices beside, which miss it as a block, explain it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medinpaint.repair.detection.kinds import CORRUPTED_BLOCKS_CODE


@dataclass(frozen=True)
class ShiftedBlockThresholds:
    """When a rectangle the slices beside flag (:mod:`misplaced`) is a shifted block. Its ratio is
    :mod:`misplaced`'s (mean squared miss of the interpolation between the slices beside, over their
    mean squared half difference plus the noise floor squared), before and after the roll that
    brings it closest to that interpolation (found for all rolls at once, by FFT).

    Args:
        reach: lines; each side of a flagged rectangle may move this far either way, one side at a
            time while the ratio after the roll falls (a roll only brings the tissue back over the
            block's own bounds, and the rectangle the slices beside flag lacks lines like the tissue).
        explained: the ratio after the roll at most ...
        gain: ... and this many times less than before: the best of a few hundred rolls of a small
            rectangle of noise gains by chance (up to 6.4 in the clean scans and corpus, 8x12 of
            cranium; 5.2 under low-dose noise), shifted blocks 7-360 ...
        missed: ... where it missed this much at least before (bounds drawn over flat padding miss
            nothing before or after).
        side: pixels; the smallest block side.
    """

    reach: int = 3
    explained: float = 1.5
    gain: float = 8.0
    missed: float = 4.0
    side: int = 8


SHIFTED_BLOCKS = ShiftedBlockThresholds()


def find_shifted_blocks(array: np.ndarray, labels: np.ndarray, floor: float,
                        flagged: list[tuple[int, tuple[slice, slice]]]) -> None:
    """Label the shifted blocks among the ``flagged`` rectangles (slice, rectangle) of ``array``
    (H, W, K); ``floor``: the scan's noise floor of the ratios."""
    for k, rectangle in flagged:
        if not 0 < k < array.shape[2] - 1 or labels[rectangle + (k,)].all():
            continue
        bounds = rolled_back(np.asarray(array[:, :, k - 1:k + 2]).astype(np.float64), rectangle, floor)
        if bounds is not None:
            region = labels[bounds + (k,)]
            region[region == 0] = CORRUPTED_BLOCKS_CODE


def rolled_back(three: np.ndarray, rectangle: tuple[slice, slice],
                floor: float) -> tuple[slice, slice] | None:
    """The bounds of a shifted block in the middle slice of ``three`` (H, W, 3), from ``rectangle``'s:
    where one roll of its raster brings its ratio to ``explained`` and ``gain`` times lower (each side
    within ``reach`` lines of its first place), less the edge lines the roll explains worse than no
    roll (tissue outside the block); None where no bounds do."""
    t = SHIFTED_BLOCKS
    ni, nj = three.shape[:2]
    before, centre, after = three[:, :, 0], three[:, :, 1], three[:, :, 2]
    interpolated, spread = 0.5 * (before + after), (0.5 * (after - before)) ** 2

    def judged(edges: list[int]):
        i0, i1, j0, j1 = edges
        if not (0 <= i0 and i1 <= ni and 0 <= j0 and j1 <= nj and i1 - i0 >= t.side and j1 - j0 >= t.side):
            return None
        box = (slice(i0, i1), slice(j0, j1))
        scale = float(spread[box].mean()) + floor**2
        return _best_roll(centre[box].ravel(), interpolated[box].ravel(), scale)

    start = [rectangle[0].start, rectangle[0].stop, rectangle[1].start, rectangle[1].stop]
    edges, best = start, judged(start)
    if best is None:
        return None
    moved = True
    while moved:
        moved = False
        for side in range(4):
            for place in range(start[side] - t.reach, start[side] + t.reach + 1):
                trial = list(edges)
                trial[side] = place
                found = judged(trial)
                if found is not None and found[0] < best[0]:
                    edges, best, moved = trial, found, True
    miss_after, miss_before, steps = best
    if not (miss_after <= t.explained and miss_before >= max(t.missed, t.gain * miss_after)):
        return None
    return _trimmed(centre, interpolated, edges, steps)


def _trimmed(centre: np.ndarray, interpolated: np.ndarray, edges: list[int],
             steps: int) -> tuple[slice, slice]:
    """The block ``edges`` less its edge lines that the roll by ``steps`` explains worse than no roll."""
    i0, i1, j0, j1 = edges
    box = (slice(i0, i1), slice(j0, j1))
    rolled = np.roll(interpolated[box].ravel(), steps).reshape(i1 - i0, j1 - j0)
    worse = (centre[box] - rolled) ** 2 > (centre[box] - interpolated[box]) ** 2
    a0, a1, b0, b1 = 0, i1 - i0, 0, j1 - j0
    side = SHIFTED_BLOCKS.side
    while a1 - a0 > side and worse[a0, b0:b1].mean() > 0.5:
        a0 += 1
    while a1 - a0 > side and worse[a1 - 1, b0:b1].mean() > 0.5:
        a1 -= 1
    while b1 - b0 > side and worse[a0:a1, b0].mean() > 0.5:
        b0 += 1
    while b1 - b0 > side and worse[a0:a1, b1 - 1].mean() > 0.5:
        b1 -= 1
    return slice(i0 + a0, i0 + a1), slice(j0 + b0, j0 + b1)


def _best_roll(block: np.ndarray, interpolated: np.ndarray, scale: float) -> tuple[float, float, int] | None:
    """The ratio of ``block`` (a raster) after the roll of ``interpolated`` that matches it best, before
    any roll, and that roll (its squared miss is least where their circular correlation is most)."""
    if not (np.isfinite(block).all() and np.isfinite(interpolated).all()) or not scale > 0:
        return None
    a, b = block - block.mean(), interpolated - interpolated.mean()
    steps = int(np.argmax(np.fft.irfft(np.fft.rfft(a) * np.conj(np.fft.rfft(b)), len(a))))
    return (float(np.mean((block - np.roll(interpolated, steps)) ** 2) / scale),
            float(np.mean((block - interpolated) ** 2) / scale), steps)
