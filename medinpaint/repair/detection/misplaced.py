"""Misplaced blocks: a rectangle of a slice holding data from elsewhere (a block copied from another
place, or its own pixels shifted along the stream by bytes lost or inserted). Its values are the
scan's own, so no range or roughness test sees it; but in a volume neither slice beside it explains
it, where they explain each other, and that stops at four straight edges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.io import Volume
from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.copies import seam_ratio
from medinpaint.repair.detection.intensity import value_range_of_sound
from medinpaint.repair.detection.kinds import CORRUPTED_BLOCKS_CODE
from medinpaint.repair.detection.moved import explained_by_motion
from medinpaint.repair.detection.shifted import SHIFTED_BLOCKS, shifted_rectangle
from medinpaint.repair.detection.slabs import PLANE, for_each_slab, is_fill_value


@dataclass(frozen=True)
class MisplacedBlockThresholds:
    """When a rectangle of a slice is data from elsewhere. A voxel is *unexplained* where it differs
    from both slices beside it by more than ``step`` times half their own difference plus a floor:
    ``floor_share`` of the scan's value range, or ``noise_sigmas`` times its noise, the larger. A
    rectangle's *ratio* is its mean squared miss of the interpolation between the slices beside, over
    their mean squared half difference plus the floor squared.

    Args:
        side: pixels; the smallest block side looked for (a JPEG block).
        dense: share of unexplained voxels in a ``side`` x ``side`` window that seeds a candidate.
        merge: pixels; seeds this close are one candidate, its rectangle the bounding box of the
            unexplained voxels among them.
        trim: edge rows and columns of a candidate's rectangle holding less than this share of
            unexplained voxels are trimmed off.
        grow: the ratio a line just outside a candidate's rectangle needs to be taken into it ...
        grow_share: ... with this share of unexplained voxels (a line across a second block beside,
            in the same slice, holds few).
        inside: the ratio a candidate's rectangle needs at least to be a block ...
        outside: ... where the two lines outside each side in the plane have this ratio at most (two
            sides at least, each with voxels to judge; a rectangle as wide or tall as the plane is a
            whole slice, no block).
        settle: a side whose lines outside miss more than ``outside`` moves out by a line that
            misses by ``grow``, this many times at most (a block's own edge line, trimmed where the
            copy there is like the tissue).
        step: see the class.
        floor_share: see the class.
        noise_sigmas: see the class.
        piece: the ratio inside a piece of a candidate needs, where the candidate fails whole and
            its seeds fall apart into pieces (two blocks near each other in one slice, merged):
            streaks through a mosaic's tiles make many small pieces (one of 8x10 passed at 4.9),
            and so does motion between slices (mr_head with its odd slices moved 3 rows: a 9x28
            piece passed at 10.5).
        seam: a found block's sides must be seams: the jump across them this many times the steps
            beside them in the plane at least (:func:`copies.seam_ratio`), else it is left unproven. A
            block is data from elsewhere; anatomy that changes between thick slices continues across
            them (in a scan upsampled in-plane, a structure of one slice grows past a block's side:
            three such rectangles had 0.50-0.65; the generator's found blocks 1.5 and more).
        end_steady: the scan's first and last slices are judged against the slice inside and its
            extrapolation from the next (:func:`find_misplaced_blocks`) where the slice inside misses
            its own such extrapolation by this ratio at most over the plane: anatomy that changes
            steadily (pydicom's 16 x 16 CT5N in 5 slices: 3.9; the crops of the clean forms 0.6-1.2).
        end_seam: a candidate there, found or not, misses ``inside`` times as much as the slice
            inside misses its own extrapolation (where that is more than 1: extrapolating from two
            slices doubles their noise; dipy's S0 with flipped bits, 1.8, had rectangles missing 4.5-6.2),
            has seams this strong at least, and the slice inside misses it less than ``grow`` (a block
            of its own shows in the extrapolation): two clean crops' end slices held rectangles
            missing at 4.5-5.5 with seams 1.1 (a JPEG's and a display window's), and a review's crops
            brought to 1.5 times their size by cubic splines 2.1-2.9; the generator's blocks there
            3.0-10.8 (a block's rectangles that fail it may still be found by another).
        screen_count: slices are screened on every second row and column first; only those with a
            4x4 cell of such samples holding this many unexplained are checked whole.
    """

    side: int = 8
    dense: float = 0.5
    merge: int = 17
    trim: float = 0.3
    grow: float = 2.0
    grow_share: float = 0.5
    inside: float = 4.0
    outside: float = 1.0
    step: float = 1.0
    floor_share: float = 0.05
    noise_sigmas: float = 3.0
    screen_count: int = 6
    settle: int = 1
    piece: float = 16.0
    seam: float = 1.0
    end_steady: float = 2.0
    end_seam: float = 3.0


MISPLACED_BLOCKS = MisplacedBlockThresholds()


def find_misplaced_blocks(volume: Volume, fills: list[float], labels: np.ndarray, stats: dict, slab: int,
                          not_constant: np.ndarray, padding: float | None
                          ) -> list[tuple[int, tuple[slice, slice]]]:
    """Label misplaced blocks in the slices of ``volume`` with an intact slice on either side (fill
    values, and voxels labelled already, in any of the three are no evidence), and in its first and
    last slices against the slice inside and its extrapolation (``end_steady``, ``end_seam``; four
    slices at least). Per-slice rescales
    are applied first; a uniform one changes no ratio. A rectangle the slices beside flag but do not
    prove is a shifted block where a roll of its stream undone fits it (:mod:`shifted`; only where
    ``SHIFTED_BLOCKS.most_flagged`` at most are flagged). Returns the rest of those that miss as a
    block inside (slice, rectangle): a copy's twin elsewhere may prove them (:mod:`copies`)."""
    array = volume.array
    nk = array.shape[2]
    per_slice = np.ndim(volume.slope) or np.ndim(volume.intercept)
    # the range over the voxels not found damaged (``not_constant``: the slices with content; the
    # scan's ``padding``): garbage found already widens it, and the floor with it
    value_range = ((labels.any() and value_range_of_sound(array, not_constant, labels, padding,
                                                          stats["absurd_above"])) or stats["value_range"])
    floor = max(MISPLACED_BLOCKS.floor_share * value_range, MISPLACED_BLOCKS.noise_sigmas * stats["sigma"])
    if nk < 3 or min(array.shape[:2]) < 2 * MISPLACED_BLOCKS.side or not floor > 0:
        return []

    slope, intercept = (np.broadcast_to(np.asarray(rescale, np.float64), (nk,))
                        for rescale in (volume.slope, volume.intercept))
    # per-slice rescales: physical values, in the stored units of a typical slice (the floor's)
    unit = float(np.median(np.abs(slope))) or 1.0

    def values_of(stored: np.ndarray, ks: range | list[int]) -> np.ndarray:
        values = stored.astype(np.float32)
        if per_slice:
            physical = values * slope[list(ks)] + intercept[list(ks)]
            values = (physical / unit).astype(np.float32)
        return values

    def evidence(stored: np.ndarray, values: np.ndarray, ks: range | list[int] | None = None) -> np.ndarray:
        """Voxels that are no fill, finite and (``ks``: the slices of a whole check) not found damaged."""
        sound = ~is_fill_value(stored, fills)
        if ks is not None:
            sound &= labels[:, :, list(ks)] == 0
        if stored.dtype.kind == "f" or per_slice:
            sound &= np.isfinite(values)
        return sound

    def three_slices(k: int, inward: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Slice ``k`` between the two beside it: their values, evidence and damage found (H, W, 3).
        The scan's first or last slice (or any, with ``inward`` 1 or -1) has one beside it that way,
        and that one extrapolated from the next (2 s1 - s2) for the other: anatomy changing steadily
        explains it as it does a slice inside, a block there misses both. Evidence where both are,
        damaged where either is."""
        if inward is None:
            inward = 1 if k == 0 else -1 if k == nk - 1 else 0
        ks = [k + 2 * inward, k, k + inward] if inward else [k - 1, k, k + 1]
        stored = np.stack([np.asarray(array[:, :, n]) for n in ks], axis=2)
        values = values_of(stored, ks)
        sound = evidence(stored, values, ks)
        damaged = labels[:, :, ks] != 0
        if inward:
            values[:, :, 0] = 2 * values[:, :, 2] - values[:, :, 0]
            sound[:, :, 0] &= sound[:, :, 2]
            damaged[:, :, 0] |= damaged[:, :, 2]
        return values, sound, damaged

    def look(part: slice) -> None:
        start, stop = max(part.start, 1), min(part.stop, nk - 1)
        if start >= stop:
            return
        around = range(start - 1, stop + 1)
        # screened on every second row and column (voxels found damaged count here too): the whole
        # check runs only on slices with a 4x4 cell of such samples, on a grid at an offset of 0 or 2
        # samples along each axis (an 8-pixel block anywhere overlaps one by 9 samples at least),
        # holding ``screen_count`` unexplained
        coarse = np.asarray(array[::2, ::2, around.start:around.stop])
        values = values_of(coarse, around)
        _, unexplained = unexplained_voxels(values, evidence(coarse, values), floor)
        for k in np.nonzero(screened(unexplained))[0]:
            three = range(start + k - 1, start + k + 2)
            stored = np.asarray(array[:, :, three.start:three.stop])
            values = values_of(stored, three)
            verdicts.extend((three.start + 1 + inner, *verdict) for inner, *verdict in
                            misplaced_rectangles(values, evidence(stored, values, three), floor))
        drop_mapped_pages(array, around.start, around.stop)

    verdicts: list[tuple[int, str, tuple[slice, slice], list[int]]] = []
    for_each_slab(nk, slab, look)
    t = MISPLACED_BLOCKS
    for k, inward in ((0, 1), (nk - 1, -1)) if nk >= 4 else ():  # the scan's ends
        steady = _block_ratio(*three_slices(k + inward, inward)[:2], None, floor)
        if steady is None or steady > t.end_steady:
            continue  # the slice inside is no steady change from the next: nor is the end slice
        values, sound, _ = three_slices(k)
        inside = three_slices(k + inward)
        for _, verdict, rectangle, edges in misplaced_rectangles(values, sound, floor):
            seam = seam_ratio(values, floor, (1, rectangle[0].start, rectangle[0].stop,
                                              rectangle[1].start, rectangle[1].stop))
            # (the slice inside's own miss is what steady change leaves here: a block misses more)
            stands = (_block_ratio(values, sound, rectangle, floor) or 0.0) >= t.inside * max(1.0, steady)
            if stands and seam is not None and seam >= t.end_seam and (
                    _block_ratio(*inside[:2], rectangle, floor) or 0.0) < t.grow:
                verdicts.append((k, verdict, rectangle, edges))
    # labelled once every slab is judged: a slab reads the labels of the slices beside
    for k, verdict, rectangle, _ in verdicts:
        if verdict == "found":
            region = labels[rectangle + (k,)]
            region[region == 0] = CORRUPTED_BLOCKS_CODE
    flagged = [v for v in verdicts if v[1] != "found"]
    shifted = set()
    if len(flagged) <= SHIFTED_BLOCKS.most_flagged:  # (motion between slices flags hundreds)
        for index, (k, verdict, rectangle, edges) in enumerate(flagged):
            values, sound, damaged = three_slices(k)
            if verdict != "unproven":  # (an unproven one was judged for motion)
                judged, _ = unexplained_voxels(values, sound, floor)
                slices = (values[:, :, d] for d in range(3))
                if explained_by_motion(*slices, judged[:, :, 0], rectangle, floor):
                    continue
            for d in (0, 2):  # damage found in a slice beside is no evidence of what belongs here
                values[:, :, d][damaged[:, :, d]] = np.nan
            block = _shifted(verdict, rectangle, edges, values)
            if block is not None:
                region = labels[block + (k,)]
                region[region == 0] = CORRUPTED_BLOCKS_CODE
                shifted.add(index)
    return [(k, rectangle) for index, (k, verdict, rectangle, _) in enumerate(flagged)
            if verdict == "unproven" and index not in shifted]


def _block_ratio(values: np.ndarray, sound: np.ndarray, rectangle: tuple[slice, slice] | None,
                 floor: float) -> float | None:
    """The ratio of a slice between the two beside it (``values``, ``sound``: (H, W, 3)) at
    ``rectangle`` (the whole plane where None); None with fewer than 4 voxels judged."""
    region = (slice(None), slice(None)) if rectangle is None else rectangle
    judged = sound[region].all(axis=2, keepdims=True)
    miss, spread = _miss_and_spread(values[region], judged)
    return _ratio(miss[:, :, 0], spread[:, :, 0], judged[:, :, 0], floor**2)((slice(None), slice(None)))


def _miss_and_spread(values: np.ndarray, judged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the inner slices of ``values`` (H, W, n): the squared miss of the interpolation between the
    slices beside, and their squared half difference, 0 where not ``judged`` (H, W, n - 2)."""
    before, centre, after = values[:, :, :-2], values[:, :, 1:-1], values[:, :, 2:]
    miss = np.where(judged, (centre - 0.5 * (before + after)) ** 2, 0.0)
    spread = np.where(judged, (0.5 * (after - before)) ** 2, 0.0)
    return miss, spread


def screened(unexplained: np.ndarray) -> np.ndarray:
    """Per slice: whether a 4x4 cell at an even offset along each axis holds ``screen_count``
    unexplained samples (the cells of the grids at offsets 0 and 2, all at once: 2x2 sums, then
    sums of two neighbouring ones along each axis)."""
    ni, nj = (n - n % 2 for n in unexplained.shape[:2])
    u = unexplained[:ni, :nj].view(np.uint8)
    pairs = u[0::2, 0::2] + u[1::2, 0::2] + u[0::2, 1::2] + u[1::2, 1::2]
    cells = pairs[:-1] + pairs[1:]
    cells = cells[:, :-1] + cells[:, 1:]
    return (cells >= MISPLACED_BLOCKS.screen_count).any(axis=(0, 1))


def misplaced_rectangles(values: np.ndarray, sound: np.ndarray,
                         floor: float) -> list[tuple[int, str, tuple[slice, slice], list[int] | None]]:
    """The candidate blocks of the inner slices of ``values`` (``(H, W, n)``, float; ``sound``: the
    voxels that are evidence) that miss as a block does inside: (inner slice index, 0 for ``values``'
    second slice; ``"found"``, or ``"unproven"`` where they miss outside too, ``"weak"`` where they
    miss less inside, or ``"whole"``: an unproven candidate judged again piece by piece (a weak one
    is ``"weak"`` then too); rectangle; the unexplained voxels' bounds it came from). No found or
    unproven one is motion between slices (:mod:`moved`); weak and whole ones are not yet judged so
    (a scan with motion has many: judged only where few, :func:`find_misplaced_blocks`)."""
    t = MISPLACED_BLOCKS
    judged, unexplained = unexplained_voxels(values, sound, floor)
    if not unexplained.any():
        return []
    seeds = ndimage.uniform_filter(unexplained.astype(np.float32), size=(t.side, t.side, 1),
                                   mode="constant") >= t.dense
    if not seeds.any():
        return []
    miss, spread = _miss_and_spread(values, judged)
    candidates, _ = ndimage.label(ndimage.maximum_filter(seeds, size=(t.merge, t.merge, 1)), structure=PLANE)
    found = []
    for index, box in enumerate(ndimage.find_objects(candidates), start=1):
        if box is None:
            continue
        k = box[2].start
        plane = unexplained[:, :, k]
        mine = candidates[box][:, :, 0] == index
        ratio = _ratio(miss[:, :, k], spread[:, :, k], judged[:, :, k], floor**2)
        three = [values[:, :, k + d] for d in range(3)]
        bounds = [_bounds(mine & plane[box[:2]], box)]
        verdicts = [_verdict(bounds[0], ratio, plane)]
        if verdicts[0] is None or verdicts[0][0] != "found":
            # seeds the merge joined, further apart than a block's side: two blocks near each other
            # in one slice (the rows between them are no block), each judged alone
            pieces, count = ndimage.label(seeds[box][:, :, 0] & mine)
            if count > 1:  # (a seed is a window's centre: its piece spans half a window more)
                whole = verdicts[0]  # a roll of the whole may fit (:mod:`shifted`)
                if whole is not None:
                    found.append((k, "whole" if whole[0] == "unproven" else "weak", whole[1], bounds[0]))
                bounds = [_bounds(pieces == n, box, t.side // 2) for n in range(1, count + 1)]
                verdicts = [_verdict(edges, ratio, plane, t.piece) for edges in bounds]
        for verdict, edges in zip(verdicts, bounds, strict=True):
            if verdict is not None and verdict[0] == "weak":  # (judged for motion once known few)
                found.append((k, *verdict, edges))
                continue
            if verdict is None or explained_by_motion(*three, judged[:, :, k], verdict[1], floor):
                continue
            rectangle = verdict[1]
            sides = (1, rectangle[0].start, rectangle[0].stop, rectangle[1].start, rectangle[1].stop)
            seam = seam_ratio(values[:, :, k:k + 3], floor, sides)
            if verdict[0] == "found" and seam is not None and seam < t.seam:
                verdict = ("unproven", rectangle)  # anatomy changing between slices, no seam at its sides
            found.append((k, *verdict, edges))
    return found


def _shifted(verdict: str, rectangle: tuple[slice, slice], bounds: list[int],
             values: np.ndarray) -> tuple[slice, slice] | None:
    """The shifted block a rectangle the slices beside flag but cannot prove is (``values``: its slice
    and the two beside), where a roll of its stream undone fits it (:mod:`shifted`); None otherwise."""
    reach = SHIFTED_BLOCKS.weak_reach if verdict == "weak" else SHIFTED_BLOCKS.reach
    rows, columns = rectangle
    flagged = [rows.start, rows.stop, columns.start, columns.stop]
    return shifted_rectangle(values[:, :, 1], flagged, bounds, (values[:, :, 0], values[:, :, 2]), reach,
                             pairs=verdict != "weak")


def _bounds(voxels: np.ndarray, box: tuple[slice, ...], more: int = 0) -> list[int] | None:
    """The bounding rectangle (i0, i1, j0, j1) of ``voxels`` (a plane's part at ``box``), ``more``
    lines wider on each side (beyond the plane, where it is), or None."""
    ii, jj = np.nonzero(voxels)
    if not len(ii):
        return None
    i, j = box[0].start, box[1].start
    return [i + ii.min() - more, i + ii.max() + 1 + more, j + jj.min() - more, j + jj.max() + 1 + more]


def _verdict(edges: list[int] | None, ratio, plane: np.ndarray,
             least: float | None = None) -> tuple[str, tuple[slice, slice]] | None:
    """A candidate's rectangle from its first ``edges`` (clipped to the plane), trimmed, grown and
    settled, with ``"found"`` (a block) or ``"unproven"`` (missing as a block inside, ``least`` at
    least, ``inside`` where None, but not only inside), or ``"weak"`` (missing inside less than
    that, ``grow`` at least: a block shifted by a little, left to :mod:`shifted`); None otherwise."""
    t = MISPLACED_BLOCKS
    least = t.inside if least is None else least
    if edges is None:
        return None
    ni, nj = plane.shape
    edges = [max(edges[0], 0), min(edges[1], ni), max(edges[2], 0), min(edges[3], nj)]
    edges = _grown(_trimmed(edges, plane), ratio, plane)
    edges, outside = _settled(edges, ratio, plane.shape)
    i0, i1, j0, j1 = edges
    if not (t.side <= i1 - i0 < ni and t.side <= j1 - j0 < nj):
        return None
    rectangle = (slice(i0, i1), slice(j0, j1))
    inside = ratio(rectangle)
    if inside is None or inside < t.grow:
        return None
    if inside < least:
        return "weak", rectangle
    # every side in the plane judged (a side along fill or damage found, whose lines outside are no
    # evidence, leaves the rectangle unproven) and two sides at least
    if len(outside) >= 2 and all(r is not None and r <= t.outside for r in outside):
        return "found", rectangle
    return "unproven", rectangle


def unexplained_voxels(values: np.ndarray, sound: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """For the inner slices of ``values``: which voxels are evidence in all three slices, and which of
    them neither slice beside explains. ``min(|c - b|, |c - a|) > s (|a - b| / 2 + floor)`` holds
    exactly where ``|2c - a - b| > (1 + s) |a - b| + 2 s floor`` (c beyond the nearer of a and b
    by that much; between them, never): fewer passes over the slab."""
    before, centre, after = values[:, :, :-2], values[:, :, 1:-1], values[:, :, 2:]
    judged = sound[:, :, :-2] & sound[:, :, 1:-1] & sound[:, :, 2:]
    step = MISPLACED_BLOCKS.step
    apart = np.abs(after - before)
    apart *= 1 + step
    apart += 2 * step * floor
    miss = centre * 2
    miss -= before
    miss -= after
    np.abs(miss, out=miss)
    return judged, judged & (miss > apart)


def _ratio(miss: np.ndarray, spread: np.ndarray, judged: np.ndarray, floor: float):
    """``ratio(region)``: the region's mean squared miss over its mean squared half difference (with
    the floor), over its judged voxels; None where it holds fewer than 4."""

    def ratio(region: tuple[slice, slice]) -> float | None:
        n = int(np.count_nonzero(judged[region]))
        if n < 4:
            return None
        return float(miss[region].sum() / n / (spread[region].sum() / n + floor))

    return ratio


def _trimmed(edges: list[int], plane: np.ndarray) -> list[int]:
    """``edges`` (i0, i1, j0, j1) less the edge rows and columns with under ``trim`` unexplained
    (``plane``). A block's own edge line over tissue like the copy's holds few and goes too (the
    block is then lost to the test of the lines outside it): kept, a line across a second block
    beside in the same slice had grown the rectangle over the rows between them."""
    i0, i1, j0, j1 = edges
    side, trim = MISPLACED_BLOCKS.side, MISPLACED_BLOCKS.trim
    moved = True
    while moved:
        moved = False
        if i1 - i0 > side and plane[i0, j0:j1].mean() < trim:
            i0, moved = i0 + 1, True
        if i1 - i0 > side and plane[i1 - 1, j0:j1].mean() < trim:
            i1, moved = i1 - 1, True
        if j1 - j0 > side and plane[i0:i1, j0].mean() < trim:
            j0, moved = j0 + 1, True
        if j1 - j0 > side and plane[i0:i1, j1 - 1].mean() < trim:
            j1, moved = j1 - 1, True
    return [i0, i1, j0, j1]


def _grown(edges: list[int], ratio, plane: np.ndarray) -> list[int]:
    """``edges`` grown by each line outside them whose ratio is ``grow`` at least and that holds
    ``grow_share`` unexplained voxels (``plane``) at least: a line across a second block beside
    (two in one slice) holds few."""
    i0, i1, j0, j1 = edges
    ni, nj = plane.shape

    def misplaced(region: tuple[slice, slice]) -> bool:
        r = ratio(region)
        return (r is not None and r >= MISPLACED_BLOCKS.grow
                and plane[region].mean() >= MISPLACED_BLOCKS.grow_share)

    grown = True
    while grown:
        grown = False
        if i0 > 0 and misplaced((slice(i0 - 1, i0), slice(j0, j1))):
            i0, grown = i0 - 1, True
        if i1 < ni and misplaced((slice(i1, i1 + 1), slice(j0, j1))):
            i1, grown = i1 + 1, True
        if j0 > 0 and misplaced((slice(i0, i1), slice(j0 - 1, j0))):
            j0, grown = j0 - 1, True
        if j1 < nj and misplaced((slice(i0, i1), slice(j1, j1 + 1))):
            j1, grown = j1 + 1, True
    return [i0, i1, j0, j1]


def _settled(edges: list[int], ratio, shape: tuple[int, int]) -> tuple[list[int], list[float | None]]:
    """``edges`` moved out by a line on each side whose two lines outside miss by more than
    ``outside`` (a block's own edge line, trimmed where it holds few unexplained voxels), ``settle``
    times at most; and the ratios of the two lines outside each side in the plane, at the end (None:
    too few judged voxels there)."""
    moves = 0
    while True:
        outside = {side: ratio(region) for side, region in _beside(edges, shape).items()}
        missing = [side for side, r in outside.items() if r is not None and r > MISPLACED_BLOCKS.outside]
        if not missing or moves == MISPLACED_BLOCKS.settle:
            return edges, list(outside.values())
        moved = False
        for side in missing:  # (a side lies in the plane: there is a line outside it to move to)
            line = _beside(edges, shape, 1)[side]
            if (ratio(line) or 0.0) >= MISPLACED_BLOCKS.grow:  # it misses as the block does
                edges[side] += 1 if side % 2 else -1
                moved = True
        if not moved:
            return edges, list(outside.values())
        moves += 1


def _beside(edges: list[int], shape: tuple[int, int], lines: int = 2) -> dict[int, tuple[slice, slice]]:
    """The ``lines`` lines outside each side of the rectangle ``edges`` (by the side's index in
    ``edges``) that lie in the plane."""
    i0, i1, j0, j1 = edges
    ni, nj = shape
    sides = {}
    if i0 > 0:
        sides[0] = (slice(max(i0 - lines, 0), i0), slice(j0, j1))
    if i1 < ni:
        sides[1] = (slice(i1, i1 + lines), slice(j0, j1))
    if j0 > 0:
        sides[2] = (slice(i0, i1), slice(max(j0 - lines, 0), j0))
    if j1 < nj:
        sides[3] = (slice(i0, i1), slice(j1, j1 + lines))
    return sides
