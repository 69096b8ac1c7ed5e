"""Shifted blocks: a block whose own pixels moved along the stream (bytes lost or inserted inside it,
the rest moved up). Its values are its own, moved by ``k`` pixels in raster order, so undoing the
roll for the right ``k`` makes it continue the tissue around it on every side again: evidence no
anatomy gives, and it proves a rectangle that the slices beside flag but cannot prove (a block in
the slice beside, or anatomy that changes between slices, missing outside it too)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np


@dataclass(frozen=True)
class ShiftedBlockThresholds:
    """When a flagged rectangle is a shifted block, by the jumps across its sides in the plane.

    Args:
        gain: the mean squared jump as it stands over that with the best roll undone, at least (the
            seam the roll made goes). Of the rectangles that pass, the one with the most gain is the
            block (a side beyond the block's own cuts into tissue that continued, and stands on less
            of a seam) ...
        typical: ... where the typical jump goes too: the median squared jump across the sides as
            it stands over the median with the roll undone, at least this (a flipped bit on a side
            makes a mean seam that a roll moves away: mosaics with bit errors, 0.3-0.9, against
            7.9-576 for the generator's shifted blocks).
        reach: lines; each side of a rectangle the slices beside miss as a block inside is looked
            for this far beyond the flagged rectangle, toward the unexplained voxels' bounds (a
            shifted block's edge rows hold data like the tissue there and are trimmed off) ...
        weak_reach: ... and of one they miss less, this far: such rectangles are many more in clean
            scans (three in the clean 512x512x300 CT, whose search at ``reach`` took 2.6 s), the
            evidence weaker ...
        work: ... trying rectangles of this many voxels in all at most, the climb's first (then the
            sides nearest the flagged ones): each costs three FFTs of its size, and a large scan's
            flagged rectangle may be large (a climb around bounds of 340 x 400 voxels in the clean
            CT took 11 s before it was counted).
        most_flagged: a scan with more flagged rectangles than this is not searched: motion between
            slices flags hundreds (mr_head with its odd slices moved by 1-3 pixels: 713 searches,
            0.6 s -> 23.8 s to screen), a few blocks a handful.
        climb: lines; besides, each side of the bounds climbs to the line within this many that fits
            a roll best, one side after another ...
        climbs: ... this many rounds of the four sides at most ...
        least_side: ... keeping the rectangle this many lines across at least.
    """

    gain: float = 8.0
    typical: float = 4.0
    reach: int = 8
    weak_reach: int = 1
    work: int = 2_000_000
    most_flagged: int = 16
    climb: int = 16
    climbs: int = 4
    least_side: int = 4
    pair_step: int = 2
    piece_voxels: int = 16
    beside_gain: float = 4.0
    side: int = 8
    beside_piece: float = 1.0


SHIFTED_BLOCKS = ShiftedBlockThresholds()


def shifted_rectangle(plane: np.ndarray, flagged: list[int], bounds: list[int],
                      beside: tuple[np.ndarray, np.ndarray], reach: int,
                      pairs: bool = False) -> tuple[slice, slice] | None:
    """The shifted block around the ``flagged`` rectangle (i0, i1, j0, j1) of ``plane``, each side
    tried from a line inside it out to ``reach`` lines toward ``bounds`` and at ``bounds`` itself, and
    the rectangle the bounds' sides climb to (:func:`_climbed`), within ``work`` voxels of fits in all;
    None where no roll of any such rectangle's stream fits its surroundings. A line beyond the
    flagged rectangle counts only where the roll undone makes it nearer the slices ``beside`` (their
    mean) than it stands: a line of tissue taken in would be made wrong by it."""
    t = SHIFTED_BLOCKS
    ni, nj = plane.shape

    def positions(side: int) -> list[int]:
        outward = -1 if side in (0, 2) else 1
        beyond = max((bounds[side] - flagged[side]) * outward, 0)  # lines out to the bounds
        far = flagged[side] + outward * min(beyond, reach)
        near = list(range(flagged[side] - outward, far + outward, outward))
        # and the bounds themselves, however far: a block shifted far has them at its own edges
        return near + ([bounds[side]] if beyond > reach else [])

    best = None
    nearby = sorted(product(*(positions(side) for side in range(4))),
                    key=lambda e: sum(abs(a - b) for a, b in zip(e, flagged, strict=True)))
    # and, first, where the bounds' sides climb to (its fits spend from the same budget)
    climbed, fitted, work = _climbed(plane, tuple(bounds))
    if pairs and (climbed is None or fitted < t.gain):
        # two sides that must move together (each alone fits worse): moved in pairs, then climbed again
        paired, spent = _paired(plane, climbed or tuple(bounds))
        work += spent
        if paired is not None:
            again, _, spent = _climbed(plane, paired)
            work += spent
            climbed = again or paired
    # the slices beside prove a block where they can (its sides' jumps may be no larger than the
    # tissue's own); else the seams judge, each rectangle tried in turn
    proven = _fitting_beside(plane, [climbed, tuple(flagged), tuple(bounds)], beside)
    if proven is not None:
        return proven
    for n, edges in enumerate(([] if climbed is None else [climbed]) + nearby):
        i0, i1, j0, j1 = edges
        if not (0 <= i0 < i1 <= ni and 0 <= j0 < j1 <= nj) or min(i1 - i0, j1 - j0) < 2:
            continue
        work += (i1 - i0) * (j1 - j0)
        if work > t.work and (n or climbed is None):  # (the climbed one is judged whatever it spent)
            break
        costs = roll_costs(plane, edges)
        if costs is None:
            continue
        gain, roll, typical = costs
        if (gain >= t.gain and typical >= t.typical and (best is None or gain > best[0])
                and _added_lines_undone_nearer(plane, edges, roll, flagged, beside)):
            best = (gain, edges)
    if best is None:
        return None
    i0, i1, j0, j1 = best[1]
    return slice(i0, i1), slice(j0, j1)


def _fitting_beside(plane: np.ndarray, starts: list[tuple[int, int, int, int] | None],
                    beside: tuple[np.ndarray, np.ndarray]) -> tuple[slice, slice] | None:
    """The shifted block the ``starts`` climb to where the slices ``beside`` prove it: its best roll
    undone brings it ``beside_gain`` times nearer their mean at least, and every piece nearer
    (:func:`beside_costs`). In a textured scan the jumps across a block's sides are as large as those
    inside it, and among thousands of rolls one fits the sides by chance better than the true one
    (dipy's b0: 14.6 against 2.1); the slices beside still hold what the block held."""
    t = SHIFTED_BLOCKS
    expected = _beside_mean(beside)

    def fit(edges: tuple[int, int, int, int]) -> float:
        costs = beside_costs(plane, edges, expected) if _on_plane(plane, edges, t.side) else None
        return costs[3] if costs is not None and np.isfinite(costs[3]) else 0.0

    best, left = None, t.work  # (one budget for the climbs from every start)
    for start in dict.fromkeys(s for s in starts if s is not None):
        if left <= 0:
            break
        edges, _, spent = _climbed(plane, start, fit, left)
        left -= spent
        edges = edges or start
        costs = beside_costs(plane, edges, expected) if _on_plane(plane, edges, t.side) else None
        if (costs is not None and costs[0] >= t.beside_gain and t.beside_piece < costs[2] < np.inf
                and (best is None or costs[0] > best[0]) and _sides_fit_undone(plane, edges, costs[1])):
            best = (costs[0], edges)
    if best is None:
        return None
    i0, i1, j0, j1 = best[1]
    return slice(i0, i1), slice(j0, j1)


def _climbed(plane: np.ndarray, start: tuple[int, int, int, int], judge=None, budget: int | None = None
             ) -> tuple[tuple[int, int, int, int] | None, float, int]:
    """The rectangle the sides of ``start`` climb to, one side at a time, each to the line within
    ``climb`` lines that fits a roll best (:func:`_fit`, or ``judge``), while that betters it and
    ``budget`` (``work``) voxels of fits last; None where it does not move. And its fit, and the voxels
    its fits took. A block whose unexplained voxels reach only part of it (a stretch of it matches the
    tissue it covers by chance) has its true sides further out than any reach."""
    t = SHIFTED_BLOCKS
    budget = t.work if budget is None else budget
    spent = 0

    def fit(edges: tuple[int, int, int, int]) -> float:
        nonlocal spent
        spent += _cost(plane, edges)
        return _fit(plane, edges) if judge is None else judge(edges)

    edges, best = start, fit(start)
    steps = [d for d in range(-t.climb, t.climb + 1) if d]
    for _ in range(t.climbs):
        moved = False
        for side in range(4):
            chosen = edges
            for d in steps:
                if spent > budget:
                    break
                tried = edges[:side] + (edges[side] + d,) + edges[side + 1:]
                value = fit(tried)
                if value > best:
                    best, chosen = value, tried
            moved |= chosen != edges
            edges = chosen
        if not moved or spent > budget:
            break
    return (edges if edges != start else None), best, spent


def _fit(plane: np.ndarray, edges: tuple[int, int, int, int]) -> float:
    """How well a roll undone fits the rectangle ``edges``: its gain and twice its typical gain, the
    lesser (0 where either is not finite, or the rectangle is off the plane or under ``least_side``)."""
    t = SHIFTED_BLOCKS
    if not _on_plane(plane, edges):
        return 0.0
    costs = roll_costs(plane, edges)
    if costs is None or not (np.isfinite(costs[0]) and np.isfinite(costs[2])):
        return 0.0  # (an infinite gain is sides that match exactly with the roll undone: flat)
    return min(costs[0], costs[2] * t.gain / t.typical)


def _on_plane(plane: np.ndarray, edges: tuple[int, int, int, int], least: int | None = None) -> bool:
    """Whether the rectangle ``edges`` lies in the plane, ``least`` (``least_side``) lines across at
    least."""
    i0, i1, j0, j1 = edges
    least = SHIFTED_BLOCKS.least_side if least is None else least
    return (0 <= i0 and i1 <= plane.shape[0] and 0 <= j0 and j1 <= plane.shape[1]
            and min(i1 - i0, j1 - j0) >= least)


def _cost(plane: np.ndarray, edges: tuple[int, int, int, int]) -> int:
    """The voxels :func:`_fit` of ``edges`` spends of the ``work`` budget (none where it fits nothing)."""
    return (edges[1] - edges[0]) * (edges[3] - edges[2]) if _on_plane(plane, edges) else 0


def _paired(plane: np.ndarray,
            start: tuple[int, int, int, int]) -> tuple[tuple[int, int, int, int] | None, int]:
    """The rectangle that moving two sides meeting at a corner of ``start`` together, each within
    ``climb`` lines in steps of ``pair_step``, fits best, where it betters ``start``; and the voxels its
    fits took. A block whose bottom and right sides are both wrong fits worse with either moved
    alone (the roll that fits depends on its width), so a climb one side at a time stops short."""
    t = SHIFTED_BLOCKS
    best, chosen, spent = _fit(plane, start), None, 0
    moves = range(-t.climb, t.climb + 1, t.pair_step)
    for a, b in product((0, 1), (2, 3)):
        for da, db in product(moves, moves):
            if spent > t.work:
                return chosen, spent
            tried = list(start)
            tried[a] += da
            tried[b] += db
            tried = tuple(tried)
            spent += _cost(plane, tried)
            value = _fit(plane, tried)
            if value > best:
                best, chosen = value, tried
    return chosen, spent


def _added_lines_undone_nearer(plane: np.ndarray, edges: tuple[int, int, int, int], roll: int,
                               flagged: list[int], beside: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether every line of ``edges`` beyond ``flagged`` is nearer the mean of the slices beside
    (squares summed over the voxels where that mean is finite; where one of them is NaN, damage
    found there, the other) with the ``roll`` of the stream undone than as it stands."""
    i0, i1, j0, j1 = edges
    box = (slice(i0, i1), slice(j0, j1))
    standing = plane[box].astype(np.float64)
    undone = np.roll(standing.ravel(), -roll).reshape(standing.shape)
    expected = _beside_mean(beside, box)
    added = np.zeros(standing.shape, dtype=bool)
    added[:max(flagged[0] - i0, 0)] = True
    added[max(flagged[1] - i0, 0):] = True
    added[:, :max(flagged[2] - j0, 0)] = True
    added[:, max(flagged[3] - j0, 0):] = True
    lines = ([(r, slice(None)) for r in np.nonzero(added.all(axis=1))[0]]
             + [(slice(None), c) for c in np.nonzero(added.all(axis=0))[0]])
    for line in lines:
        known = np.isfinite(expected[line])
        if not known.any() or not (np.sum((undone[line][known] - expected[line][known]) ** 2)
                                   < np.sum((standing[line][known] - expected[line][known]) ** 2)):
            return False
    return True


def _beside_mean(beside: tuple[np.ndarray, np.ndarray],
                 box: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
    """The mean of the slices ``beside`` over ``box`` (float64), or the one known where the other is
    not (NaN: damage found there)."""
    before, after = (b[box].astype(np.float64) for b in beside)
    return np.where(np.isnan(before), after, np.where(np.isnan(after), before, 0.5 * (before + after)))


def roll_costs(plane: np.ndarray, edges: tuple[int, int, int, int]) -> tuple[float, int, float] | None:
    """The rectangle's gain from its best roll undone (k > 0): the mean squared jump across its sides
    in the plane as it stands over that with the roll undone; that roll; and the typical gain, the
    same with medians. None where fewer than two sides have a line outside in the plane, or a value
    is not finite (:func:`_side_terms`)."""
    terms = _side_terms(plane, edges)
    if terms is None:
        return None
    stream, places, outside, jumps = terms
    n = stream.size
    roll = int(np.argmin(jumps[1:])) + 1
    typical = (np.median((stream[places] - outside) ** 2),
               np.median((stream[(places + roll) % n] - outside) ** 2))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # (0 / 0: NaN, no gain)
        return float(jumps[0] / max(jumps[roll], 0.0)), roll, float(typical[0] / typical[1])


def _side_terms(plane: np.ndarray, edges: tuple[int, int, int, int]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The rectangle's stream, the places on its sides with the lines outside them (offset by their
    mean), and the side jumps of every roll undone. All rolls at once: the sum of roll ``k`` is a
    circular correlation of the stream with the sides' neighbours (FFT)."""
    i0, i1, j0, j1 = edges
    h, w = i1 - i0, j1 - j0
    ni, nj = plane.shape
    sides = []  # (places in the stream, the line outside)
    if i0 >= 1:
        sides.append((np.arange(w), plane[i0 - 1, j0:j1]))
    if i1 < ni:
        sides.append(((h - 1) * w + np.arange(w), plane[i1, j0:j1]))
    if j0 >= 1:
        sides.append((np.arange(h) * w, plane[i0:i1, j0 - 1]))
    if j1 < nj:
        sides.append((np.arange(h) * w + w - 1, plane[i0:i1, j1]))
    if len(sides) < 2:
        return None
    places = np.concatenate([side[0] for side in sides])
    outside = np.concatenate([side[1] for side in sides]).astype(np.float64)
    stream = plane[i0:i1, j0:j1].astype(np.float64).ravel()
    if not (np.isfinite(stream).all() and np.isfinite(outside).all()):
        return None
    offset = outside.mean()  # (the squares expanded below lose digits to a large common offset)
    stream, outside = stream - offset, outside - offset
    n = stream.size
    count = np.bincount(places, minlength=n).astype(np.float64)  # a corner is on two sides
    neighbours = np.bincount(places, weights=outside, minlength=n)
    # undone roll k: the block's place p held stream[p + k]; sum over places of (that - outside)^2
    spectrum = np.fft.rfft
    squares = np.fft.irfft(np.conj(spectrum(count)) * spectrum(stream * stream), n)
    cross = np.fft.irfft(np.conj(spectrum(neighbours)) * spectrum(stream), n)
    return stream, places, outside, squares - 2 * cross + np.sum(outside**2)


def _sides_fit_undone(plane: np.ndarray, edges: tuple[int, int, int, int], roll: int) -> bool:
    """Whether the jumps across the rectangle's sides in the plane fall with ``roll`` undone (or no
    side has a line outside): a shifted block's seams go, where tissue a smooth warp moved between
    slices (no seam at all) gains seams (a review's clean ch2 with one slice warped by 8 pixels: a
    rectangle 5.7 times nearer the slices beside, every piece 2.2 times, its sides 0.6 times)."""
    terms = _side_terms(plane, edges)
    return terms is None or terms[3][0] >= terms[3][roll]


def beside_costs(plane: np.ndarray, edges: tuple[int, int, int, int],
                 expected: np.ndarray) -> tuple[float, int, float, float] | None:
    """The rectangle's gain toward the slices beside from its best roll undone (k > 0): its squared
    miss of ``expected`` (their mean; NaN where unknown) as it stands over that with the roll undone;
    that roll; and the least such gain of its pieces, the parts of the block a roll moves alike (a
    roll moves most of a block by (a, b) lines, the columns it carries past the block's right side
    one line further, and the stream it carries past the end to the top): a block shifted along its
    stream fits in every piece, a structure that moved between slices only where it is one (inf
    where no piece holds ``piece_voxels`` known); and the squared miss the roll removes. None where a
    value is not finite or no voxel is known."""
    i0, i1, j0, j1 = edges
    w = j1 - j0
    stream = plane[i0:i1, j0:j1].astype(np.float64).ravel()
    target = expected[i0:i1, j0:j1].astype(np.float64).ravel()
    known = np.isfinite(target)
    if not known.any() or not np.isfinite(stream).all():
        return None
    offset = target[known].mean()  # (the squares expanded below lose digits to a large common offset)
    stream, target = stream - offset, np.where(known, target - offset, 0.0)
    n = stream.size
    weight = known.astype(np.float64)
    spectrum = np.fft.rfft
    # undone roll k: place p holds stream[p + k]; sum over known places of (that - target)^2
    squares = np.fft.irfft(np.conj(spectrum(weight)) * spectrum(stream * stream), n)
    cross = np.fft.irfft(np.conj(spectrum(target)) * spectrum(stream), n)
    misses = squares - 2 * cross + np.sum(target**2)
    roll = int(np.argmin(misses[1:])) + 1
    places = np.arange(n)
    pieces = 2 * (places + roll >= n) + (places % w + roll % w >= w)
    standing = (stream - target) ** 2 * weight
    undone = (stream[(places + roll) % n] - target) ** 2 * weight
    least = np.inf
    for piece in range(4):
        mine = (pieces == piece) & known
        if np.count_nonzero(mine) >= SHIFTED_BLOCKS.piece_voxels:
            with np.errstate(divide="ignore", invalid="ignore"):
                least = min(least, float(standing[mine].sum() / undone[mine].sum()))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(misses[0] / max(misses[roll], 0.0)), roll, least, float(misses[0] - misses[roll])
