"""Copied blocks: a rectangle of a slice that holds, bit for bit, the data of another place in the
scan (a run of the stream written at the wrong place). Tissue with noise never repeats itself exactly
over a textured patch, so a twin elsewhere is evidence no anatomy gives. Which of the two is the copy
the slices beside tell (they explain the data where it belongs, not the copy), or, in a single slice,
the seams around it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from medinpaint.repair.detection.kinds import CORRUPTED_BLOCKS_CODE
from medinpaint.repair.detection.slabs import SLAB, for_each_slab, is_fill_value


@dataclass(frozen=True)
class CopiedBlockThresholds:
    """When a rectangle is a copy of another place.

    Args:
        side: pixels; a patch this side square is what is searched for (the smallest block side).
        distinct: distinct values a patch needs to be evidence: flat background, a straight edge
            between two flat regions, a ramp or burned-in text repeat themselves exactly; tissue
            with noise does not.
        searched: voxels; a scan up to this size has every patch searched, a larger one only the
            rectangles the slices beside flag but do not prove (:mod:`misplaced`), to keep screening
            a clean scan cheap.
        seeds: patches searched for per flagged rectangle.
        ratio: in a volume, the copy misses the interpolation between its slices beside by this at
            least (mean squares over their half difference plus the floor, as :mod:`misplaced`) ...
        over_twin: ... and this many times its twin does (the twin is the data where it belongs).
        seam: in a single slice, a slice at the scan's end, or where the slices beside explain
            neither twin: the copy's seam ratio (the jump across its sides in the plane over the
            steps just inside and outside them, mean squares) at least this and ``over_twin`` times
            its twin's (where the two touch in one slice, also on the sides away from each other).
        seam_beside_twin: ... or this where the twin has slices beside that explain it (it is where it
            belongs: a copy into a scan's first or last slice has no slices beside to judge it by).
        codec_block: pixels; the block of a lossy codec's grid (:func:`codec_blocks`).
        largest_in_plane: voxels; a copy judged by its seams is this large at most:
            a larger repeat is the image's layout (a key image showing one view twice, one under a
            crosshair: 17,816 voxels of the annotated view were taken for a copy).
        most_flagged: a large scan with more flagged rectangles than this is not searched (motion
            between slices flags hundreds: 375 passes over a 7.5M-voxel scan took 52 s).
        tries: pairs verified per offset between twins (all of a copy's are at one offset).
    """

    side: int = 8
    distinct: int = 16
    searched: int = 1_000_000
    seeds: int = 1
    ratio: float = 0.5
    over_twin: float = 3.0
    seam: float = 2.0
    seam_beside_twin: float = 1.0
    codec_block: int = 8
    largest_in_plane: int = 64 * 64
    most_flagged: int = 16
    tries: int = 4


COPIED_BLOCKS = CopiedBlockThresholds()

# odd multipliers of the patch hash (fixed: a scan gives the same keys every run)
_MULTIPLIERS = np.random.default_rng(20261205).integers(1, 2**63, size=(2, COPIED_BLOCKS.side),
                                                         dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def find_copied_blocks(array: np.ndarray, fills: list[float], labels: np.ndarray, floor: float,
                       flagged: list[tuple[int, tuple[slice, slice]]]) -> None:
    """Label the copies among the exact twins of textured patches of ``array`` (H, W, K): all its
    patches in a scan of up to ``searched`` voxels, else those in the ``flagged`` rectangles
    (slice, rectangle). ``floor``: the floor of the ratios, the scan's noise."""
    t = COPIED_BLOCKS
    if min(array.shape[:2]) < t.side or not floor > 0 or array.dtype.itemsize not in (1, 2, 4, 8):
        return
    if array.size > t.searched and len(flagged) > t.most_flagged:
        return  # rectangles by the hundred are motion between slices, no copies: no pass for each
    pairs = twins_everywhere(np.asarray(array)) if array.size <= t.searched else twins_of(array, flagged)
    done: list[tuple[int, int, int, int, int, int, int, int]] = []
    for (k, i, j), (k2, i2, j2) in pairs:
        di, dj = i2 - i, j2 - j
        if any(_holds(d, k, k2, di, dj, i, j) or _holds(d, k2, k, -di, -dj, i2, j2) for d in done):
            continue
        i0, i1, j0, j1 = _grown(array, k, k2, di, dj, [i, i + t.side, j, j + t.side])
        done.append((k, k2, di, dj, i0, i1, j0, j1))
        if codec_blocks(di, dj, i1 - i0, j1 - j0):
            continue
        copy = _the_copy(array, fills, floor, (k, i0, i1, j0, j1), (k2, i0 + di, i1 + di, j0 + dj, j1 + dj),
                         labels)
        if copy is not None:
            kc, a0, a1, b0, b1 = copy
            region = labels[a0:a1, b0:b1, kc]
            region[region == 0] = CORRUPTED_BLOCKS_CODE


def twins_everywhere(values: np.ndarray) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """The pairs of equal textured patches of ``values`` (H, W, K): keys of every patch, and of the
    keys that occur exactly twice, the patches that are truly equal (a pattern repeated more often is
    no copy)."""
    keys = _patch_keys(values)
    flat = keys.ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(ordered)])
    twice = starts[counts == 2]
    first, second = (np.stack(np.unravel_index(order[at], keys.shape)) for at in (twice, twice + 1))
    # a copy's patches are twins all at one offset: a few of each offset are verified (a slice that is
    # its neighbour moved holds a pair for every patch, all at one offset)
    offsets = second - first
    _, of_offset = np.unique(offsets, axis=1, return_inverse=True)
    pairs, tried = [], np.zeros(of_offset.max() + 1 if len(of_offset) else 0, dtype=np.int64)
    for n, group in enumerate(of_offset.ravel()):
        if tried[group] >= COPIED_BLOCKS.tries:
            continue
        tried[group] += 1
        (i, j, k), (i2, j2, k2) = first[:, n].tolist(), second[:, n].tolist()
        pair = _twin_pair(values, (k, i, j), (k2, i2, j2))
        if pair is not None:
            pairs.append(pair)
            tried[group] = COPIED_BLOCKS.tries  # grown from this one, it is the whole copy
    return pairs


def twins_of(array: np.ndarray, flagged: list[tuple[int, tuple[slice, slice]]]
             ) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """The twins anywhere in ``array`` of textured patches inside the ``flagged`` rectangles (a few
    per rectangle), found in one pass over the scan for all of them."""
    t = COPIED_BLOCKS
    seeds = []
    for k, (si, sj) in flagged:
        plane = np.asarray(array[:, :, k])
        corners = [(i, j) for i in range(si.start, si.stop - t.side + 1, t.side)
                   for j in range(sj.start, sj.stop - t.side + 1, t.side)]
        inside = [(i, j) for i, j in corners if textured(plane[i:i + t.side, j:j + t.side])]
        seeds += [(k, i, j, plane[i:i + t.side, j:j + t.side].copy()) for i, j in inside[:t.seeds]]
    if not seeds:
        return []
    found: list[tuple[int, int, int, int]] = []  # (seed, k, i, j)

    def look(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        corner = block[:block.shape[0] - t.side + 1, :block.shape[1] - t.side + 1]
        for n, (_, _, _, patch) in enumerate(seeds):
            a, b, c = np.nonzero(corner == patch[0, 0])  # (np.isin is 100 times slower here)
            for di, dj in np.ndindex(t.side, t.side):
                if not len(a):
                    break
                same = block[a + di, b + dj, c] == patch[di, dj]
                a, b, c = a[same], b[same], c[same]
            found.extend((n, part.start + int(z), int(x), int(y)) for x, y, z in zip(a, b, c, strict=True))

    for_each_slab(array.shape[2], SLAB, look)
    pairs = []
    for n, k2, i2, j2 in found:
        k, i, j, _ = seeds[n]
        if (k2, i2, j2) != (k, i, j) and sum(f[0] == n for f in found) == 2:  # itself and one twin
            pair = _twin_pair(array, (k, i, j), (k2, i2, j2))
            if pair is not None:
                pairs.append(pair)
    return pairs


def codec_blocks(di: int, dj: int, height: int, width: int) -> bool:
    """Whether twins ``di``, ``dj`` apart, ``height`` x ``width``, are whole blocks of a block codec's
    grid a whole number of blocks apart: JPEG decodes equal coefficients to equal pixels, and a
    lossy image repeats its smooth blocks so (pydicom's JPGExtended holds 18 such pairs)."""
    block = COPIED_BLOCKS.codec_block
    return all(n % block == 0 for n in (di, dj, height, width))


def textured(patch: np.ndarray) -> bool:
    """Whether a patch holds ``distinct`` values, all finite: evidence when it has a twin."""
    return bool(np.isfinite(patch).all()) and len(np.unique(patch)) >= COPIED_BLOCKS.distinct


def _patch_keys(values: np.ndarray) -> np.ndarray:
    """A 64-bit key of each ``side`` x ``side`` patch (by its first voxel): equal patches, equal keys."""
    s = COPIED_BLOCKS.side
    bits = values.view(f"u{values.dtype.itemsize}").astype(np.uint64)
    ni, nj = values.shape[0] - s + 1, values.shape[1] - s + 1
    rows = np.zeros((values.shape[0], nj, values.shape[2]), dtype=np.uint64)
    for d in range(s):
        rows += bits[:, d:d + nj] * _MULTIPLIERS[0, d]
    keys = np.zeros((ni, nj, values.shape[2]), dtype=np.uint64)
    for e in range(s):
        keys += rows[e:e + ni] * _MULTIPLIERS[1, e]
    return keys


def _twin_pair(array, p: tuple[int, int, int], q: tuple[int, int, int]):
    """``(p, q)`` (slice, row, column of two patches) where they are twins: equal, textured, apart in
    the plane (a patch never overlaps its own twin) and not the same place of two slices (a scan
    resampled along its slices repeats parts of a slice exactly in the next: mni152 does); else
    None."""
    s = COPIED_BLOCKS.side
    (k, i, j), (k2, i2, j2) = p, q
    if (i, j) == (i2, j2) or (k == k2 and abs(i - i2) < s and abs(j - j2) < s):
        return None
    a = np.asarray(array[i:i + s, j:j + s, k])
    b = np.asarray(array[i2:i2 + s, j2:j2 + s, k2])
    return (p, q) if np.array_equal(a, b) and textured(a) else None


def _holds(done: tuple, k: int, k2: int, di: int, dj: int, i: int, j: int) -> bool:
    """Whether a rectangle judged already (``done``) holds the patch at (k, i, j) with that twin."""
    dk, dk2, ddi, ddj, i0, i1, j0, j1 = done
    return (dk, dk2, ddi, ddj) == (k, k2, di, dj) and i0 <= i < i1 and j0 <= j < j1


def _grown(array, k: int, k2: int, di: int, dj: int, edges: list[int]) -> list[int]:
    """The rectangle ``edges`` (i0, i1, j0, j1) of slice ``k`` grown by every line outside it that
    equals its twin's (``di``, ``dj`` apart, in slice ``k2``), less edge lines at one value that
    tissue walls off at neither place (flat background beside both: nothing changed there)."""
    ni, nj = array.shape[:2]
    i0, i1, j0, j1 = edges

    def same(rows: slice, cols: slice) -> bool:
        twin = (slice(rows.start + di, rows.stop + di), slice(cols.start + dj, cols.stop + dj))
        return np.array_equal(np.asarray(array[rows, cols, k]), np.asarray(array[twin[0], twin[1], k2]))

    grown = True
    while grown:
        grown = False
        if min(i0, i0 + di) > 0 and same(slice(i0 - 1, i0), slice(j0, j1)):
            i0, grown = i0 - 1, True
        if max(i1, i1 + di) < ni and same(slice(i1, i1 + 1), slice(j0, j1)):
            i1, grown = i1 + 1, True
        if min(j0, j0 + dj) > 0 and same(slice(i0, i1), slice(j0 - 1, j0)):
            j0, grown = j0 - 1, True
        if max(j1, j1 + dj) < nj and same(slice(i0, i1), slice(j1, j1 + 1)):
            j1, grown = j1 + 1, True

    def flat(line: tuple[slice, slice], outside: tuple[slice, slice]) -> bool:
        """The edge ``line`` is at one value, and at neither place is it walled off by tissue: the
        line just ``outside`` it (inside the plane) holding none of the value, and the line itself
        not going on at the value past both its ends. A flat band walled off at one place is data
        written there (background copied over tissue); else it may be background beside both twins,
        or a band of the scan's own (padding along a straight edge of content) that the growth took
        in."""
        values = np.asarray(array[line + (k,)])
        value = values.flat[0]
        if not (values == value).all():
            return False
        (r, c), (lr, lc) = outside, line
        along_i = lr.stop - lr.start > 1
        ends = ([(lr.start - 1, lc.start), (lr.stop, lc.start)] if along_i
                else [(lr.start, lc.start - 1), (lr.start, lc.stop)])
        for plane, a, b in ((k, 0, 0), (k2, di, dj)):
            if not (0 <= r.start + a and r.stop + a <= ni and 0 <= c.start + b and c.stop + b <= nj):
                continue
            beyond = np.asarray(array[r.start + a:r.stop + a, c.start + b:c.stop + b, plane])
            tips = [array[i + a, j + b, plane] == value for i, j in ends
                    if 0 <= i + a < ni and 0 <= j + b < nj]
            if not (beyond == value).any() and not (len(tips) == 2 and all(tips)):
                return False
        return True

    def row(i: int) -> tuple[slice, slice]:
        return slice(i, i + 1), slice(j0, j1)

    def column(j: int) -> tuple[slice, slice]:
        return slice(i0, i1), slice(j, j + 1)

    side = COPIED_BLOCKS.side
    while i1 - i0 > side and flat(row(i0), row(i0 - 1)):
        i0 += 1
    while i1 - i0 > side and flat(row(i1 - 1), row(i1)):
        i1 -= 1
    while j1 - j0 > side and flat(column(j0), column(j0 - 1)):
        j0 += 1
    while j1 - j0 > side and flat(column(j1 - 1), column(j1)):
        j1 -= 1
    return [i0, i1, j0, j1]


def _the_copy(array, fills: list[float], floor: float, one: tuple, other: tuple, labels: np.ndarray):
    """Which of two equal rectangles (slice, i0, i1, j0, j1) is the copy: the one the slices beside
    explain far less (both with slices beside), else the one with far stronger seams (all sides,
    then, where the two touch in one slice, the sides away from each other; each read with and
    without the damage found in ``labels``, the stronger kept); None where neither stands out."""
    t = COPIED_BLOCKS
    ratios = [_miss_ratio(array, fills, floor, r) for r in (one, other)]
    if None not in ratios:
        copy = _standing_out(ratios, [t.ratio, t.ratio], one, other)
        if copy is not None:
            return copy
        # the slices beside explain neither (a noisy scan whose slices differ as much as a copy from
        # its place): the seams judge, as in one plane
    # in one plane, a repeat larger than a block of the stream is the image's layout (a key image
    # showing one view twice, one of them under a crosshair or an outline), no copy
    if (one[2] - one[1]) * (one[4] - one[3]) > t.largest_in_plane:
        return None
    # where the twin's slices beside explain it (it is where it belongs), the other, in the scan's
    # end slice, needs the lesser seam (not where fill in the slices beside left it unjudged: that
    # is no evidence)
    least = [t.seam_beside_twin if (twin is not None and twin < t.ratio
                                    and r[0] in (0, array.shape[2] - 1)) else t.seam
             for r, twin in zip((one, other), ratios[::-1], strict=True)]

    def by_seams(apart: bool):
        # read with and without the damage found: garbage found along a side hides its seam, and
        # the copy itself found (in part, by the slices beside) hides its own
        test = [max((seam for seam in (seam_ratio(array, floor, r, twin if apart else None, found)
                                        for found in (None, labels)) if seam is not None), default=None)
                for r, twin in ((one, other), (other, one))]
        return None if None in test else _standing_out(test, least, one, other)

    # all sides, then, where the two touch in one slice (a copy over part of its own source), the
    # sides away from each other: the jump where they meet is the copy's, but counts for both
    copy = by_seams(False)
    if copy is None and _touching(one, other):
        copy = by_seams(True)
    return copy


def _touching(one: tuple, other: tuple) -> bool:
    """Whether two rectangles (slice, i0, i1, j0, j1) of one slice overlap or share a side."""
    return (one[0] == other[0] and one[1] <= other[2] and other[1] <= one[2]
            and one[3] <= other[4] and other[3] <= one[4])


def _standing_out(test: list[float], least: list[float], one: tuple, other: tuple):
    """The rectangle whose measure reaches its ``least`` and ``over_twin`` times the other's; or None."""
    for n, (mine, theirs) in enumerate((test, test[::-1])):
        if mine >= least[n] and mine >= COPIED_BLOCKS.over_twin * theirs:
            return (one, other)[n]
    return None


def _miss_ratio(array, fills: list[float], floor: float, rectangle: tuple) -> float | None:
    """How far the slices beside miss the rectangle (slice, i0, i1, j0, j1): its mean squared miss of
    their interpolation over their mean squared half difference plus the floor squared, on voxels
    that are no fill in any of the three; None at the scan's end or with fewer than 4 such voxels."""
    k, i0, i1, j0, j1 = rectangle
    if not 0 < k < array.shape[2] - 1:
        return None
    three = np.asarray(array[i0:i1, j0:j1, k - 1:k + 2]).astype(np.float64)
    judged = ~is_fill_value(three, fills).any(axis=2) & np.isfinite(three).all(axis=2)
    if judged.sum() < 4:
        return None
    before, centre, after = (three[:, :, n][judged] for n in range(3))
    miss = np.mean((centre - 0.5 * (before + after)) ** 2)
    return float(miss / (np.mean((0.5 * (after - before)) ** 2) + floor**2))


def seam_ratio(array, floor: float, rectangle: tuple, apart: tuple | None = None,
               found: np.ndarray | None = None) -> float | None:
    """The rectangle's seams: the mean squared jump between its edge lines and the lines outside
    them, over the mean squared step between those and the next line in (inside and outside), with
    the floor; None where no side has two lines inside and outside in the plane. A side whose line
    outside crosses the rectangle ``apart`` (its twin, in the same slice) is left out: a copy that
    overlaps its own source ends where its twin begins, and that jump is the copy's, not the twin's.
    Voxels labelled in ``found`` (damage found) are left out of the jumps and steps: a block of
    garbage along one side had made a copy's seams 0.86 (a copy of brain over a CT's air)."""
    k, i0, i1, j0, j1 = rectangle
    plane = np.asarray(array[:, :, k]).astype(np.float64)
    if found is not None:
        plane[found[:, :, k] != 0] = np.nan
    ni, nj = plane.shape

    def crosses(rows: tuple[int, int], cols: tuple[int, int]) -> bool:
        if apart is None or apart[0] != k:
            return False
        return rows[0] < apart[2] and apart[1] < rows[1] and cols[0] < apart[4] and apart[3] < cols[1]

    jumps, steps = [], []
    if i0 >= 2 and not crosses((i0 - 1, i0), (j0, j1)):
        jumps.append(plane[i0, j0:j1] - plane[i0 - 1, j0:j1])
        steps += [plane[i0, j0:j1] - plane[i0 + 1, j0:j1], plane[i0 - 1, j0:j1] - plane[i0 - 2, j0:j1]]
    if i1 <= ni - 2 and not crosses((i1, i1 + 1), (j0, j1)):
        jumps.append(plane[i1 - 1, j0:j1] - plane[i1, j0:j1])
        steps += [plane[i1 - 1, j0:j1] - plane[i1 - 2, j0:j1], plane[i1, j0:j1] - plane[i1 + 1, j0:j1]]
    if j0 >= 2 and not crosses((i0, i1), (j0 - 1, j0)):
        jumps.append(plane[i0:i1, j0] - plane[i0:i1, j0 - 1])
        steps += [plane[i0:i1, j0] - plane[i0:i1, j0 + 1], plane[i0:i1, j0 - 1] - plane[i0:i1, j0 - 2]]
    if j1 <= nj - 2 and not crosses((i0, i1), (j1, j1 + 1)):
        jumps.append(plane[i0:i1, j1 - 1] - plane[i0:i1, j1])
        steps += [plane[i0:i1, j1 - 1] - plane[i0:i1, j1 - 2], plane[i0:i1, j1] - plane[i0:i1, j1 + 1]]
    if not jumps:
        return None
    mean = np.mean if found is None else np.nanmean
    with warnings.catch_warnings():  # (every pair left out: NaN, no seams)
        warnings.simplefilter("ignore", RuntimeWarning)
        jump = mean(np.concatenate(jumps) ** 2)
        step = mean(np.concatenate(steps) ** 2)
    if not (np.isfinite(jump) and np.isfinite(step)):
        return None
    return float(jump / (step + floor**2))
