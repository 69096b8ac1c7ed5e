"""Shifted blocks in a single slice: a block whose own pixels moved along the stream, with no slice
beside it to show what it held. Its sides are straight seams: across them the values jump, along them
and on either side they do not. Rectangles are tried between the ends of such seams, and one stands
where undoing a roll of its stream makes it continue the tissue around it (:mod:`.shifted`) and makes
it smoother inside too (the roll's own seams, where the stream wrapped, go): a rectangle of anatomy
that a roll happens to fit at its sides gains seams inside when it is undone."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.kinds import CORRUPTED_BLOCKS_CODE
from medinpaint.repair.detection.shifted import SHIFTED_BLOCKS, _climbed, _on_plane, roll_costs


@dataclass(frozen=True)
class ShiftedInPlaneThresholds:
    """Seams, and the rectangles between them.

    Args:
        jump_range: across a seam the values jump by this share of the tissue's range at least ...
        jump_ratio: ... and by this many times the jumps one line before and after it.
        seam: a seam runs along this many pixels at least, ...
        seam_share: ... of which this share jump (a block's side over even background does not).
        least_side: a rectangle is this many lines across at least.
        most_seams: rectangles are tried between the ends of this many seams at most, the longest ...
        largest: ... of this many voxels at most.
        tried: the rectangles with the most seam along their sides that are fitted, at most, and
            while their voxels sum to ``work`` (each fit is FFTs of its size: a large radiograph's
            rectangles had taken minutes); then the ``climbed`` best fitting are climbed
            (:func:`~.shifted._climbed`, ``climb_work`` voxels of fits per climb) ...
        work: see ``tried``.
        climbed: see ``tried``.
        climb_work: see ``tried``.
        fit: ... where they fit a roll this well (:func:`fit`).
        smoother: undone, the block's steps inside sum to this share of those as it stands, at most
            (the generator's shifted blocks: 0.18-0.75; rectangles of clean anatomy that a roll fits at
            the sides: 0.93-1.9).
        moved: ... and where the roll moves this share of its voxels to another value at least: a
            rectangle of one value (air a display window clipped to 0), a few pixels of which a roll
            moves, fits its sides by those few alone (such a rectangle of clean CT: 0.07; shifted blocks
            over the background: 0.23 and more).
        most_blocks: blocks found in one slice at most.
        inside_damage: no rectangle has damage found along this share of the line just inside a side
            (a band of lines or tiles found lost along it: the rows between two bands of lines lost in
            CT_small's slice at seed 210, with the lower band, 9,088 voxels; the tissue between two
            bursts of tiles in ch2better's at seed 212, with the upper one along 24 of 28 voxels, 576).
    """

    jump_range: float = 0.05
    jump_ratio: float = 2.0
    seam: int = 8
    seam_share: float = 0.75
    least_side: int = 8
    most_seams: int = 48
    largest: int = 65_536
    tried: int = 96
    work: int = 2_000_000
    climbed: int = 4
    climb_work: int = 200_000
    fit: float = 2.0
    smoother: float = 0.8
    moved: float = 0.15
    most_blocks: int = 4
    inside_damage: float = 0.8


SHIFTED_IN_PLANE = ShiftedInPlaneThresholds()


def find_shifted_in_plane(plane: np.ndarray, labels: np.ndarray, tissue_range: float) -> None:
    """Label the shifted blocks of one ``plane`` (a slice with no slice beside it) in ``labels`` (its
    plane of them; voxels already labelled keep their kind)."""
    t = SHIFTED_IN_PLANE
    values = plane.astype(np.float64)
    if min(values.shape) < 2 * t.least_side or not tissue_range > 0:
        return
    across_rows, across_columns = seams(values, t.jump_range * tissue_range)
    scored = ranked(values, across_rows, across_columns)
    found: list[tuple[int, int, int, int]] = []
    # (a value that is not finite is no measurement: NaN outside a field of view, an infinite flip)
    for edges in proven(values, scored, (labels != 0) | ~np.isfinite(values)):
        if len(found) == t.most_blocks:
            break
        if any(_overlap(edges, other) for other in found):
            continue
        found.append(edges)
        i0, i1, j0, j1 = edges
        region = labels[i0:i1, j0:j1]
        region[region == 0] = CORRUPTED_BLOCKS_CODE


def seams(values: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Where a seam runs between two lines: across rows (``[i, j]``: between rows i and i + 1, at column
    j) and across columns (``[i, j]``: between columns j and j + 1, at row i)."""
    t = SHIFTED_IN_PLANE
    found = []
    for axis in (0, 1):
        lines = values if axis == 0 else values.T
        jump = np.abs(np.diff(lines, axis=0))
        beside = np.zeros_like(jump)
        beside[1:] = jump[:-1]
        np.maximum(beside[:-1], jump[1:], out=beside[:-1])
        seam = (jump > floor) & (jump > t.jump_ratio * beside)
        # runs along the line: seam_share of every ``seam`` pixels in a row, and the seam pixels there
        count = ndimage.uniform_filter1d(seam.astype(np.float32), t.seam, axis=1, mode="constant") * t.seam
        dense = count >= t.seam_share * t.seam - 1e-3
        runs = ndimage.maximum_filter1d(dense, t.seam, axis=1, mode="constant") & seam
        found.append(runs if axis == 0 else runs.T)
    return found[0], found[1]


def ranked(values: np.ndarray, across_rows: np.ndarray,
           across_columns: np.ndarray) -> list[tuple[float, tuple[int, int, int, int]]]:
    """Rectangles between the ends of seams (each pair of ends as opposite corners), with the share of
    their sides (those inside the plane) that the seams run along, the most first."""
    t = SHIFTED_IN_PLANE
    ni, nj = values.shape
    runs = []  # (length, its two ends)
    for seam, axis in ((across_rows, 1), (across_columns, 0)):  # (the axis the seams run along)
        along = np.zeros((3, 3), dtype=bool)
        along[(1, slice(None)) if axis == 1 else (slice(None), 1)] = True
        # a seam's gaps of a pixel or two joined (a step of the tissue that matches by chance)
        joined = ndimage.binary_closing(seam, structure=along) | seam
        for box in ndimage.find_objects(ndimage.label(joined, structure=along)[0]):
            run = box[axis]
            if run.stop - run.start < t.seam:
                continue
            line = box[1 - axis].start + 1  # the side is the line after the seam
            runs.append((run.stop - run.start, [(line, run.start), (line, run.stop)] if axis == 1
                         else [(run.start, line), (run.stop, line)]))
    runs.sort(key=lambda r: -r[0])  # a large image's many short seams: the longest only
    ends = {end for _, pair in runs[:t.most_seams] for end in pair}
    # seam pixels along each line, summed (a side's count is a difference of two)
    rows = np.zeros((ni + 1, nj + 1))
    rows[1:ni, 1:] = np.cumsum(across_rows, axis=1)
    columns = np.zeros((ni + 1, nj + 1))
    columns[1:, 1:nj] = np.cumsum(across_columns, axis=0)
    scored, seen = [], set()
    for (a, b), (c, d) in combinations(sorted(ends), 2):
        i0, i1, j0, j1 = min(a, c), max(a, c), min(b, d), max(b, d)
        if (min(i1 - i0, j1 - j0) < t.least_side or (i1 - i0) * (j1 - j0) > t.largest
                or (i0, i1, j0, j1) in seen):
            continue
        seen.add((i0, i1, j0, j1))  # (a rectangle with seams at all four corners comes twice)
        on, length = 0.0, 0
        for i in (i0, i1):
            if 0 < i < ni:
                on += rows[i, j1] - rows[i, j0]
                length += j1 - j0
        for j in (j0, j1):
            if 0 < j < nj:
                on += columns[i1, j] - columns[i0, j]
                length += i1 - i0
        if length:
            scored.append((on / length, (i0, i1, j0, j1)))
    scored.sort(key=lambda s: -s[0])
    return scored[:t.tried]


def proven(values: np.ndarray, scored: list, damaged: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The rectangles of ``scored`` that, climbed to their best fit, are shifted blocks: a roll undone
    fits their sides (``SHIFTED_BLOCKS.gain``, ``typical``) and smooths them inside; the best first.
    None with a voxel found ``damaged`` across a side (:func:`across_damage`): lost lines make seams of
    their own, and a rectangle between two of them fits a roll by a line (4,758 voxels of mni152's slice
    with lines lost at seed 151)."""
    t = SHIFTED_IN_PLANE
    fitting, left = [], t.work
    for _, edges in scored:
        left -= (edges[1] - edges[0]) * (edges[3] - edges[2])
        if left < 0:
            break
        fitting.append((fit(values, edges), edges))
    fitting.sort(key=lambda f: -f[0])
    blocks = {}
    for fitted, edges in fitting[:t.climbed]:
        if fitted < t.fit:
            break
        # (the sides found by the seams may sit a line or two off; a fit that betters by rounding only,
        # a side moved out into even background, is no better)
        edges = _climbed(values, edges, lambda e: float(f"{fit(values, e):.6g}"), t.climb_work)[0] or edges
        if across_damage(damaged, edges):
            continue
        gain = passes(values, edges)
        if gain:
            blocks[edges] = gain
    return sorted(blocks, key=lambda e: -blocks[e])


def across_damage(damaged: np.ndarray, edges: tuple[int, int, int, int]) -> bool:
    """Whether damage found already lies in the line just outside a side of the rectangle ``edges``, or
    along ``SHIFTED_IN_PLANE.inside_damage`` of the line just inside it: damage that runs across its
    sides (a lost line) makes seams of its own, and a band of lost lines or tiles at a side gives the
    rectangle its outer edge for a side. Damage inside a block may be its own doing (a roll carries
    background in over tissue, and the packet rules take it)."""
    i0, i1, j0, j1 = edges
    ni, nj = damaged.shape
    rows, columns = slice(i0, i1), slice(j0, j1)
    outside = [damaged[i, columns] for i in (i0 - 1, i1) if 0 <= i < ni]
    outside += [damaged[rows, j] for j in (j0 - 1, j1) if 0 <= j < nj]
    inside = [damaged[i, columns] for i in (i0, i1 - 1)] + [damaged[rows, j] for j in (j0, j1 - 1)]
    return (any(line.any() for line in outside)
            or any(line.mean() >= SHIFTED_IN_PLANE.inside_damage for line in inside))


def fit(values: np.ndarray, edges: tuple[int, int, int, int]) -> float:
    """How well a roll undone fits the rectangle ``edges`` at its sides (as ``shifted._fit``): its gain
    and twice its typical gain, the lesser; but its gain alone where the typical gain is not finite
    (the typical jump is 0 with the roll undone: most of its sides run through even background, a
    block over the scan's edge). 0 off the plane or under ``least_side``."""
    t = SHIFTED_BLOCKS
    costs = _roll_costs(values, edges)
    if costs is None:
        return 0.0
    gain, _, typical = costs
    return gain if not np.isfinite(typical) else min(gain, typical * t.gain / t.typical)


def passes(values: np.ndarray, edges: tuple[int, int, int, int]) -> float:
    """The gain of the rectangle ``edges`` where it is a shifted block (:func:`proven`), else 0."""
    costs = _roll_costs(values, edges)
    if costs is None:
        return 0.0
    gain, roll, typical = costs
    sides = gain >= SHIFTED_BLOCKS.gain and not typical < SHIFTED_BLOCKS.typical  # (NaN: 0 / 0, even sides)
    return gain if sides and smoother_undone(values, edges, roll) else 0.0


def _roll_costs(values: np.ndarray, edges: tuple[int, int, int, int]) -> tuple[float, int, float] | None:
    """:func:`~.shifted.roll_costs` of a rectangle on the plane, ``least_side`` across, with a finite
    gain; else None."""
    if not _on_plane(values, edges, SHIFTED_IN_PLANE.least_side):
        return None
    costs = roll_costs(values, edges)
    return costs if costs is not None and np.isfinite(costs[0]) else None


def smoother_undone(values: np.ndarray, edges: tuple[int, int, int, int], roll: int) -> bool:
    """Whether the rectangle's squared steps between neighbours inside it, with its stream's ``roll``
    undone, fall to ``smoother`` of what they are as it stands, where the roll moves ``moved`` of its
    voxels to another value at least."""
    i0, i1, j0, j1 = edges
    standing = values[i0:i1, j0:j1]
    undone = np.roll(standing.ravel(), -roll).reshape(standing.shape)
    if np.mean(undone != standing) < SHIFTED_IN_PLANE.moved:
        return False

    def steps(block: np.ndarray) -> float:
        return float(np.sum(np.diff(block, axis=0) ** 2) + np.sum(np.diff(block, axis=1) ** 2))

    return steps(undone) <= SHIFTED_IN_PLANE.smoother * steps(standing)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]
