"""Lost 4-pixel tiles: bursts too small for the in-plane packet rules, judged by the content that holds
their place across the slices (or, in a single slice, by what surrounds them), including the bursts that
run into the slice's background and what a crop left of them at the plane's border."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.kinds import LOST_LINES_CODE, PACKET_LOSS_CODE
from medinpaint.repair.detection.slabs import CONTEXT, PLANE, fill_beside
from medinpaint.repair.detection.tiles import PACKET_LOSS, in_whole_cells, lines_outside, tile_aligned


def find_small_tiles(block: np.ndarray, holes: np.ndarray, labels: np.ndarray, contrast: float,
                     fill_context: Callable[[], tuple] | None, between: np.ndarray | None = None) -> None:
    """Lost tiles of ``PACKET_LOSS.small_tile`` pixels (and their bursts), too small for the in-plane
    rules: fill regions of one slice (``holes``: at one fill value, :func:`holes_by_value`) that are whole
    tiles on a grid from their own first line, or an exact rectangle that wide: ``PACKET_LOSS.small_area``
    voxels at least where content holds their place across the slices (:func:`between_content`, at
    ``PACKET_LOSS.small_between`` of their voxels); in a scan too thin for that (``fill_context`` None),
    ``PACKET_LOSS.small_area_in_plane`` where what surrounds them in the plane stands out from the fill by
    ``contrast`` and, at the plane's border, they are no rectangle (a burst's steps of tiles).
    Anatomy that is fill in one slice between content (the fissure between the hemispheres in a sagittal
    slice, a mask's edge) is no such shape. ``between``: which holes content holds across the slices,
    where the caller judged that otherwise (:func:`~.stacked_tiles.find_stacked_tiles`)."""
    if between is None and fill_context is not None:
        between = between_content(holes, fill_context)
    tile = PACKET_LOSS.small_tile
    least = PACKET_LOSS.small_area if between is not None else PACKET_LOSS.small_area_in_plane
    shape = holes.shape[:2]
    # a whole tile is a t x t square of candidates: screened for on the slab before any region is numbered
    # (where the plane's border cuts a tile, half a tile beyond it counts)
    candidates = holes if between is None else between
    reach = tile // 2
    padded = np.pad(candidates, ((reach, reach), (reach, reach), (0, 0)), constant_values=True)
    squares = full_squares(padded, tile)
    for k in np.nonzero(squares.any(axis=(0, 1)))[0]:
        regions, _ = ndimage.label(holes[:, :, k], structure=PLANE[:, :, 1])
        boxes = ndimage.find_objects(regions)
        # each square's last voxel inside the plane (its last row and column, or the plane's)
        p, q = np.nonzero(squares[:, :, k])
        last = tile - 1 - reach
        seeds = regions[np.minimum(p + last, shape[0] - 1), np.minimum(q + last, shape[1] - 1)]
        for index in np.unique(seeds):
            box = boxes[index - 1]
            # a union of whole tiles on its own grid spans whole tiles, but where the plane's border cuts it
            cut = [s.start == 0 or s.stop == n for s, n in zip(box, shape, strict=True)]
            if any((s.stop - s.start) % tile and not edge for s, edge in zip(box, cut, strict=True)):
                continue
            region = regions[box] == index
            if region.sum() < least:
                continue
            if between is not None:
                evidence = between[box + (k,)][region].mean() >= PACKET_LOSS.small_between
            else:
                # at the plane's border a fill rectangle may be its own (a field of view's edge, a
                # blanked annotation): there only a burst's steps of tiles count
                evidence = ((not any(cut) or not region.all())
                            and stands_out(block[:, :, k], box, region, contrast))
            rectangle = region.all() and min(region.shape) >= tile
            if evidence and (rectangle or tile_aligned(region, (box[0].start, box[1].start), shape,
                                                       offset=True, sizes=(tile,))):
                # (a band across the whole plane is lost lines)
                across = any(s.stop - s.start == n for s, n in zip(box, shape, strict=True))
                labels[box + (k,)][region] = LOST_LINES_CODE if across else PACKET_LOSS_CODE
        if between is not None:
            # in the scan's first or last slice the anatomy may end: no cut gives a grid there
            cuts = len(fill_beside(fill_context, k)) == 2
            tiles_over_background(holes[:, :, k], between[:, :, k], (p + last, q + last), labels[:, :, k],
                                  content_beside(fill_context, k), cuts)
    if between is not None:
        remnants_at_border(block, holes, between, labels, contrast, fill_context)


def content_beside(fill_context: Callable[[], tuple], k: int) -> np.ndarray:
    """Content in both slices beside slab slice ``k`` (those of them in the scan)."""
    beside = np.ones(fill_context()[0].shape[:2], dtype=bool)
    for fill in fill_beside(fill_context, k):
        beside &= ~fill
    return beside


def fill_two_slices_away(fill_context: Callable[[], tuple], k: int) -> np.ndarray:
    """Fill at the same place two slices before or after slab slice ``k`` (those in the scan): where a
    slice's fill recurs there, with content between, every other slice moved (an interleaved
    acquisition), no packet was lost."""
    away = np.zeros(fill_context()[0].shape[:2], dtype=bool)
    for fill in fill_beside(fill_context, k, distance=2):
        away |= fill
    return away


def remnants_at_border(block: np.ndarray, holes: np.ndarray, between: np.ndarray, labels: np.ndarray,
                       contrast: float, fill_context: Callable[[], tuple]) -> None:
    """What is left of small tiles a crop cut at the plane's border: an exact fill rectangle of one slice
    of the slab (``holes``, at one fill value; ``between``: as :func:`between_content`'s) that content
    holds on both sides across the slices, against one side of the border (not a corner), two or three
    pixels thick there and whole tiles long along it (or one pixel thick and
    ``PACKET_LOSS.line_remnant_tiles`` tiles long at least), with content (or damage found) along
    ``PACKET_LOSS.side_content`` of each line just outside its other sides, that stands out from the
    fill by ``contrast`` and is no fill two slices away. What it leaves alone: the scan's own background
    at the border (fill beside too); a shorter line one pixel thick (a lossy codec's or a threshold's
    edge leaves runs of fill 4 or 8 pixels long there); a CT's clipped air cut by a crop (within the
    contrast); the edge value a move between slices holds at the border (it recurs in every other
    slice)."""
    tile = PACKET_LOSS.small_tile
    ni, nj, nk = holes.shape
    thin = tile - 1
    least_line = PACKET_LOSS.line_remnant_tiles * tile
    # the band along each side of the border, and the axis that crosses it
    bands = [(slice(0, thin), slice(0, nj), 0), (slice(max(ni - thin, 0), ni), slice(0, nj), 0),
             (slice(0, ni), slice(0, thin), 1), (slice(0, ni), slice(max(nj - thin, 0), nj), 1)]
    for k in range(nk):
        for bi, bj, axis in bands:
            if not between[bi, bj, k].any():
                continue
            regions, _ = ndimage.label(between[bi, bj, k], structure=PLANE[:, :, 1])
            for index, box in enumerate(ndimage.find_objects(regions), start=1):
                si, sj = (slice(s.start + b.start, s.stop + b.start)
                          for s, b in zip(box, (bi, bj), strict=True))
                across, along = ((si, sj), (sj, si))[axis]
                size, length = ((ni, nj), (nj, ni))[axis]
                thick, long = across.stop - across.start, along.stop - along.start
                if (not (across.start == 0 or across.stop == size) or along.start == 0 or along.stop == length
                        or not (1 < thick < tile <= long or (thick == 1 and long >= least_line))
                        or long % tile or not (regions[box] == index).all()
                        or labels[si, sj, k].any()):
                    continue
                # nothing of it beyond the rectangle, and the lines just outside it content
                if (not any(side.any() for side in lines_outside(between[:, :, k], (si, sj)))
                        and all((~side).mean() >= PACKET_LOSS.side_content
                                for side in lines_outside(holes[:, :, k], (si, sj)))
                        and stands_out(block[:, :, k], (si, sj), regions[box] == index, contrast)
                        and fill_two_slices_away(fill_context, k)[si, sj].mean() < 0.5):
                    labels[si, sj, k] = PACKET_LOSS_CODE


def tiles_over_background(holes: np.ndarray, between: np.ndarray, seeds: tuple, labels: np.ndarray,
                          beside: np.ndarray, cuts: bool) -> None:
    """Small tiles lost where they join the slice's own background (one slice of the slab: ``between`` as
    :func:`between_content`'s; ``seeds``: a voxel of each square of it). The fill there that content holds
    on both sides across the slices (and in both slices beside, ``beside``: not the slice beyond) is lost
    where the slice's content lies around most of it (or, ``cuts``, two straight cuts of content hold it
    between them: :func:`encloses`, and then only its part within its cuts where all of it is no union of
    tiles) and, with the slice's other fill voxels as spare (the background the burst ran over), it is whole
    tiles on a grid that its own straight sides put forward, or (``cuts``: a slice between two others) a
    line where content meets it straight along a tile (a small plane lost but for a corner: its sides are
    the plane's border), one of them wholly its own, more than one tile. What it leaves alone: a slice whose
    anatomy shrinks between its neighbours (a curved rim, no union of tiles), or moved (a band along the
    plane's border, fill beyond it; a channel of background that the slice before holds too); fill a mask
    leaves between slices that hold anatomy (fill around it); a lone square (a scan upsampled to blocks)."""
    tile = PACKET_LOSS.small_tile
    shape = holes.shape
    regions, _ = ndimage.label(between, structure=PLANE[:, :, 1])
    boxes = ndimage.find_objects(regions)
    for index in np.unique(regions[np.minimum(seeds[0], shape[0] - 1), np.minimum(seeds[1], shape[1] - 1)]):
        if index == 0:
            continue
        box = tuple(slice(max(s.start - tile + 1, 0), min(s.stop + tile - 1, n))
                    for s, n in zip(boxes[index - 1], shape, strict=True))
        region = regions[box] == index
        if (region.sum() <= tile * tile or labels[box][region].any()
                or beside[box][region].mean() < PACKET_LOSS.small_between):
            continue
        ring = ndimage.binary_dilation(region, structure=PLANE[:, :, 1]) & ~region
        met = ring & ~holes[box]
        enclosing = []
        if met.sum() < PACKET_LOSS.content_around * ring.sum():
            # content (not damage found) cutting it straight on two sides instead
            enclosing = cut_runs(region, met & (labels[box] == 0), 2 * tile) if cuts else []
            if not encloses(enclosing):
                continue
        grid = cut_runs(region, met, tile) if cuts else []
        tiles = on_grid(region, holes[box], box, grid, shape)
        if tiles is None and enclosing:
            # fill that joins it beyond its cuts (a pocket of the slice's own background) is no tile
            region &= within_cuts(enclosing, region.shape)
            tiles = on_grid(region, holes[box], box, grid, shape) if region.sum() > tile * tile else None
        if tiles is not None:
            labels[box][tiles] = PACKET_LOSS_CODE


def on_grid(region: np.ndarray, holes: np.ndarray, box: tuple[slice, slice], runs: list,
            shape: tuple[int, int]) -> np.ndarray | None:
    """The part of ``region`` (at ``box`` of a plane of ``shape``) that is whole tiles, with the other
    ``holes`` there as spare, on a grid one of its straight sides puts forward (its first line's, the line
    after its last, or the line of a cut of ``runs``: :func:`cut_runs`), one of them wholly its own, on
    the grid that leaves the fewest of it over: none, or, beside a burst of more than a tile's side of
    tiles, no more than a tile's side of voxels (strays: the slice's own background that its neighbours
    hold, joined to the burst along the anatomy's rim; a lone square of fill in a noisy slice with
    strays beside it is no burst, nor a band along the plane's border: a smaller field of view), and
    then only the cells it fills half of at least (the rim lies in cells of the background too); None
    where no grid does."""
    tile = PACKET_LOSS.small_tile
    ii, jj = np.nonzero(region)
    si, sj = np.nonzero(holes & ~region)
    origin = (box[0].start, box[1].start)
    ii, jj, si, sj = ii + origin[0], jj + origin[1], si + origin[0], sj + origin[1]
    starts = [{first % tile, (last + 1) % tile} for first, last in ((ii.min(), ii.max()),
                                                                    (jj.min(), jj.max()))]
    for axis, step, line, _, _ in runs:  # (a region's line past the content, or the line after its last)
        starts[axis].add((line + (step < 0) + origin[axis]) % tile)
    # strays only amid the plane: along its border a band of fill in one slice is a smaller field of view
    inside = ii.min() > 0 and jj.min() > 0 and ii.max() < shape[0] - 1 and jj.max() < shape[1] - 1
    best = None
    for a in sorted(starts[0]):
        for b in sorted(starts[1]):
            whole, own = in_whole_cells(ii - a, jj - b, si - a, sj - b, tile, (shape[0] - a, shape[1] - b),
                                        (a, b))
            strays = len(whole) - int(whole.sum())
            if strays:  # beside strays, the rim also lies in the cells the background fills but a few
                whole &= own >= 0.5
            burst = whole.sum() > tile ** 3  # more than ``tile`` tiles: a few strays amid noise are not
            if ((strays == 0 or (strays <= tile and burst and inside)) and (best is None or strays < best[0])
                    and own_cell(ii[whole] - a, jj[whole] - b, tile)):
                best = (strays, whole)
    if best is None:
        return None
    tiles = np.zeros_like(region)
    tiles[ii[best[1]] - origin[0], jj[best[1]] - origin[1]] = True
    return tiles


def cut_runs(region: np.ndarray, met: np.ndarray, least: int) -> list[tuple[int, int, int, int, int]]:
    """The straight runs of ``least`` or more content voxels ``met`` along which content meets
    ``region``: (axis the line crosses, side the region lies on: +1 after the line, -1 before it, the
    region's line at the cut, first and last voxel along it)."""
    runs = []
    padded = np.pad(region, 1)
    for axis in (0, 1):
        along = np.ones((1, least) if axis == 0 else (least, 1), dtype=bool)
        for step in (1, -1):
            di, dj = (step, 0) if axis == 0 else (0, step)
            across = padded[1 + di:1 + di + region.shape[0], 1 + dj:1 + dj + region.shape[1]]
            straight = ndimage.binary_opening(met & across, structure=along)
            lines = straight if axis == 0 else straight.T
            for line in np.nonzero(lines.any(axis=1))[0]:
                at = np.nonzero(lines[line])[0]
                for piece in np.split(at, np.nonzero(np.diff(at) > 1)[0] + 1):
                    runs.append((axis, step, int(line) + step, int(piece[0]), int(piece[-1])))
    return runs


def encloses(runs: list[tuple[int, int, int, int, int]]) -> bool:
    """Whether two cut ``runs`` (:func:`cut_runs`) of different sides hold their region between them:
    each lies on the region's side of the other's line (two facing lines, or two across each other
    whose lines bound a corner the region lies in; the runs need not reach that corner). A burst of
    tiles lost across anatomy is cut so; a field of view smaller in one slice is not: its cuts face
    away from each other, with the content between them."""
    def on_region_side(cut, other) -> bool:
        axis, step, line = cut[:3]
        if other[0] == axis:  # parallel: the other's line
            return (other[2] - line) * step >= 0
        return (other[3] - line) * step >= 0 and (other[4] - line) * step >= 0  # across: its run

    return any(first[:2] != second[:2] and on_region_side(first, second) and on_region_side(second, first)
               for n, first in enumerate(runs) for second in runs[n + 1:])


def within_cuts(runs: list[tuple[int, int, int, int, int]], shape: tuple[int, int]) -> np.ndarray:
    """The part of a plane of ``shape`` on the region's side of each cut line, along the stretch its
    runs span on that line (from the first run's start to the last's end: a pocket of background
    between two runs of one straight side lies beyond it; a burst's step beyond a shorter cut does not)."""
    inside = np.ones(shape, dtype=bool)
    spans: dict[tuple[int, int, int], tuple[int, int]] = {}
    for axis, step, line, first, last in runs:
        start, stop = spans.get((axis, step, line), (first, last))
        spans[axis, step, line] = (min(start, first), max(stop, last))
    for (axis, step, line), (first, last) in spans.items():
        beyond = slice(None, line) if step == 1 else slice(line + 1, None)
        along = slice(first, last + 1)
        inside[(beyond, along) if axis == 0 else (along, beyond)] = False
    return inside


def own_cell(ii: np.ndarray, jj: np.ndarray, t: int) -> bool:
    """Whether voxels ``ii, jj`` fill some t x t cell of the grid that starts at 0 wholly."""
    cells, counts = np.unique((ii // t) * (int(jj.max()) // t + 2) + jj // t, return_counts=True)
    return bool((counts == t * t).any())


def full_squares(mask: np.ndarray, t: int) -> np.ndarray:
    """Where a t x t square of ``mask`` starts (its first voxel; the last t - 1 rows and columns of the
    planes left off), slice by slice."""
    rows = mask[:mask.shape[0] - t + 1].copy(order="K")  # (a slab is in Fortran order)
    for d in range(1, t):
        rows &= mask[d:mask.shape[0] - t + 1 + d]
    squares = rows[:, :mask.shape[1] - t + 1].copy(order="K")
    for d in range(1, t):
        squares &= rows[:, d:mask.shape[1] - t + 1 + d]
    return squares


def between_content(holes: np.ndarray, fill_context: Callable[[], tuple]) -> np.ndarray:
    """Which ``holes`` content holds on both sides across the slices: in the slice before and the slice
    after, or, where that slice is fill there too, the one beyond it (lost there too); in the scan's first
    or last slice, or beside it where it is fill too, on the one side it has (but content on one side at
    least: the middle slice of three, fill through all three, is no loss)."""
    context, in_scan = fill_context()
    content = ~context  # (beyond the scan it is fill: no content)
    at = slice(CONTEXT, CONTEXT + holes.shape[2])
    sides = []
    for step in (-1, 1):
        beside, beyond = (slice(a.start + step * d, a.stop + step * d) for a, d in ((at, 1), (at, 2)))
        sides.append((content[:, :, beside] | (context[:, :, beside] & content[:, :, beyond]),
                      ~in_scan[beside] | ~in_scan[beyond]))
    (before, open_before), (after, open_after) = sides
    between = holes & (before | after)
    # no slice there, or fill in the scan's edge slice beside: the other side judges alone
    before[:, :, open_before] = True
    after[:, :, open_after] = True
    return between & before & after


def stands_out(plane: np.ndarray, box: tuple[slice, slice], region: np.ndarray, contrast: float) -> bool:
    """Whether the voxels around a fill ``region`` (of ``box`` in ``plane``; those inside the plane and
    measured) stand out from its fill value by ``contrast`` (their median)."""
    grown = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                  for s, n in zip(box, plane.shape, strict=True))
    inside = np.zeros(tuple(g.stop - g.start for g in grown), dtype=bool)
    inside[tuple(slice(s.start - g.start, s.stop - g.start)
                 for s, g in zip(box, grown, strict=True))] = region
    around = ndimage.binary_dilation(inside, structure=PLANE[:, :, 1]) & ~inside
    values = plane[grown]
    near = values[around].astype(np.float64)
    near = near[~np.isnan(near)]  # (no measurement: no evidence)
    return bool(near.size) and abs(float(np.median(near)) - float(values[inside][0])) > contrast
