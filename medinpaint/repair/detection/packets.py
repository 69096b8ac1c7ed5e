"""Lost packets: fill-valued tiles and rectangles, what a broken transfer drops of a slice's stream."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.bands import continue_bands
from medinpaint.repair.detection.kinds import LOST_LINES_CODE, PACKET_LOSS_CODE
from medinpaint.repair.detection.slabs import (
    CONTEXT,
    PLANE,
    SCAN,
    cells_all,
    label_in_plane,
    regions_in_plane,
    runs_of_true,
)
from medinpaint.repair.detection.small_tiles import find_small_tiles
from medinpaint.repair.detection.tiles import (
    PACKET_LOSS,
    TILES,
    content_either_side,
    find_lost_tiles,
    find_lost_tiles_off_grid,
    find_lost_tiles_on_edge_grids,
    find_lost_tiles_on_slab_grids,
    lines_outside,
    pixels_repeated,
    tile_aligned,
)


def find_packet_loss(block: np.ndarray, is_fill: np.ndarray, content_slices: np.ndarray, labels: np.ndarray,
                     contrast: float, fill_context: Callable[[], tuple] | None,
                     written: np.ndarray | None = None, fills: list[float] | None = None,
                     below: np.ndarray | None = None, own: list[float] | None = None) -> None:
    """Lost packets in a slab (``fill_context``: gives :func:`fill_with_context` of the slab; None for
    a scan of one or two slices, judged in-plane only; ``content_slices`` as for :func:`find_lost_lines`).
    ``written``: voxels at a fill value the scan holds only in runs, no background of its own
    (:func:`pick_run_fills`): any region of them is lost, whatever its shape. ``fills``: the fill values
    (where there are several, a region's shape is judged at each apart). ``below``: voxels at a negative
    constant the scan holds nowhere else (:func:`~medinpaint.repair.detection.volume.lone_negative_minimum`):
    any region of them is lost, whatever its shape. ``own``: the scan's background and padding values
    (:func:`drop_cut_off_background`)."""
    holes = is_fill & content_slices[np.newaxis, np.newaxis, :] & (labels == 0)
    before = labels == PACKET_LOSS_CODE
    if below is not None:
        lost_anywhere(holes & below, labels)
        holes &= labels == 0
    components, n = label_in_plane(holes) if written is not None else (None, 0)
    if n:
        # a region of a value the scan holds only in runs: lost, whatever its shape (a burst of tiles of
        # any size, on any grid, a partial line)
        areas = np.bincount(components.ravel(order="F"), minlength=n + 1)
        inside = np.bincount(components.ravel(order="F"), weights=written.ravel(order="F"), minlength=n + 1)
        whole = (areas >= SCAN.min_hole) & (inside == areas)
        whole[0] = False
        labels[whole[components] & (labels == 0)] = PACKET_LOSS_CODE
        holes &= labels == 0
    found: set[int] = set()  # slices where fill regions were found lost
    for same_holes, same_fill in holes_by_value(block, holes, is_fill, fills):  # disjoint: labels stay apart
        found |= lost_fill_regions(block, same_holes, labels, same_fill, contrast, fill_context)
    content = ~is_fill
    find_lost_tiles(block, holes & (labels == 0), content, labels, fill_context)
    find_lost_tiles_off_grid(block, holes, content, labels, fill_context, sorted(found))
    find_lost_tiles_on_edge_grids(block, holes, content, labels, fill_context)
    for same_holes, _ in holes_by_value(block, holes & (labels == 0), is_fill, fills):
        find_small_tiles(block, same_holes, labels, contrast, fill_context)
    close_to_content(block, holes, is_fill, labels)
    continue_bands(block, is_fill, labels, fill_context)
    find_lost_tiles_on_slab_grids(block, holes, content, labels, fill_context)
    if fill_context is None:  # last, where no grid rule took it: a rectangle cut into one side
        for same_holes, _ in holes_by_value(block, holes & (labels == 0), is_fill, fills):
            cut_into_one_side(block, same_holes, is_fill, labels, contrast)
    drop_cut_off_background(block, is_fill, labels, before, own or [])


def drop_cut_off_background(block: np.ndarray, is_fill: np.ndarray, labels: np.ndarray, before: np.ndarray,
                            own: list[float]) -> None:
    """Unlabel the lost packets found (``labels`` where ``before`` was not) at the scan's own
    background value (one of ``own``) whose region at that value touches no content in its slice:
    background walled off by lost data and the plane's border (rows of zero background above a line
    lost to -1024, a background corner among tiles lost at another value), which no lost packet cuts
    into. A packet lost over the background at another value (-30 over a background of 0) stands."""
    new = (labels == PACKET_LOSS_CODE) & ~before
    values = [value for value in own if (block[new] == value).any()] if new.any() else []
    if not values:
        return
    # (the new packets are fill: those beside content are those in its in-plane dilation)
    beside = ndimage.binary_dilation(~is_fill, structure=PLANE)
    for value in values:
        components, n = label_in_plane(new & (block == value))
        touching = np.bincount(components[new & beside], minlength=n + 1) > 0
        touching[0] = True
        labels[~touching[components]] = 0


def close_to_content(block: np.ndarray, holes: np.ndarray, is_fill: np.ndarray, labels: np.ndarray) -> None:
    """Lost packets grown through the straight rims of fill between them and content: a tile found on a
    grid finer than its own (8 pixel cells inside a 32 pixel tile off the image's corner) leaves strips
    fewer than ``TILES[0]`` voxels thick, of the same fill value, that end at content, each as thick
    all along ``TILES[0]`` voxels of the lost region's side at least. Background beside a tile lost at
    the rim of the anatomy is as thick nowhere for long (the skin curves), or a cell thick or more."""
    lost = labels == PACKET_LOSS_CODE
    if not lost.any():
        return
    t = TILES[0]
    open_fill = holes & (labels == 0)
    grown = np.zeros_like(lost)
    for axis in (0, 1):
        for step in (1, -1):
            flip = (slice(None, None, step),)
            found, fill, values, any_fill, ahead = (np.moveaxis(a, axis, 0)[flip]
                                                    for a in (lost, open_fill, block, is_fill, grown))
            same = np.zeros_like(fill)  # open fill at the value of the voxel before it
            same[1:] = fill[1:] & (values[1:] == values[:-1])
            content_next = np.zeros_like(fill)  # the next voxel is content (no fill at any value)
            content_next[:-1] = ~any_fill[1:] & ~found[1:]
            thickness = np.zeros(fill.shape, dtype=np.int8)  # at a lost voxel: the rim beyond it
            run = np.zeros_like(fill)
            run[1:] = found[:-1] & same[1:]
            for length in range(1, t):
                ends = run & content_next
                thickness[: len(run) - length][ends[length:]] = length
                step_on = np.zeros_like(run)
                step_on[1:] = run[:-1] & same[1:]
                run = step_on
            # as thick for t voxels along the side (the other in-plane axis, now axis 1)
            even = (thickness[:, 1:] == thickness[:, :-1]) & (thickness[:, 1:] > 0)
            along = runs_of_true(np.moveaxis(even, 1, 0), t - 1)  # t voxels: t - 1 equal pairs
            straight = np.zeros_like(fill)
            for shift in range(t):  # every voxel of such a stretch
                np.moveaxis(straight, 1, 0)[shift: shift + len(along)] |= along
            rim = np.where(straight, thickness, 0)
            for depth in range(1, t):  # the voxel ``depth`` beyond a lost one lies in a rim that thick
                ahead[depth:] |= rim[:len(rim) - depth] >= depth
    labels[grown & open_fill] = PACKET_LOSS_CODE


def lost_anywhere(holes: np.ndarray, labels: np.ndarray) -> None:
    """Label every region of ``holes`` of ``SCAN.min_hole`` voxels or more (in a slice) as lost: packets
    where it is 4 voxels across at least both ways, lines where it is thinner (the lines rules, which
    ran first, ask a line to cut content: rows lost to -1024 wholly in an MR's background of 0 do not)."""
    components, boxes, _ = regions_in_plane(holes, SCAN.min_hole)
    for index, box in enumerate(boxes, start=1):
        thick = min(box[0].stop - box[0].start, box[1].stop - box[1].start) >= 4
        region = labels[box]
        region[(components[box] == index) & (region == 0)] = PACKET_LOSS_CODE if thick else LOST_LINES_CODE


def holes_by_value(block: np.ndarray, holes: np.ndarray, is_fill: np.ndarray,
                   fills: list[float] | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(holes, fill voxels) at each fill value apart, where the scan has several: a packet is lost to
    one value, and its tiles, joined to voxels at another (a background of 0 around tiles lost at -1024,
    one voxel of tissue at stored 0 beside tiles at the scan's minimum), make a region no union of
    tiles. A scan with one fill value pays nothing."""
    if fills is None or len(fills) < 2:
        return [(holes, is_fill)]
    found = []
    for value in fills:
        same = is_fill & (block == value)
        same_holes = holes & same
        if np.count_nonzero(same_holes) >= SCAN.min_hole:
            found.append((same_holes, same))
    return found


def edge_padding(is_fill: np.ndarray) -> np.ndarray:
    """Whole lines at a fill value from the plane's border inwards in most slices: a scan's own
    padding (dipy's S0 has two zero rows at its edge), which a lost packet's tiles can join. A burst's
    own lines at the border are in one slice only (in a one-slice image they cannot be told apart)."""
    padding = np.zeros_like(is_fill)
    for axis in (0, 1):
        full = is_fill.all(axis=1 - axis)  # (lines, slices)
        edge = np.cumprod(full, axis=0).astype(bool) | np.cumprod(full[::-1], axis=0)[::-1].astype(bool)
        # in this slice, and in most of the slab's
        edge &= edge.mean(axis=1, keepdims=True) >= PACKET_LOSS.padding_share
        padding |= edge[:, np.newaxis, :] if axis == 0 else edge[np.newaxis, :, :]
    return padding


def lost_fill_regions(block: np.ndarray, holes: np.ndarray, labels: np.ndarray, is_fill: np.ndarray,
                      contrast: float, fill_context: Callable[[], tuple] | None = None) -> set[int]:
    """Keep the fill regions that are tile-aligned, or exact rectangles a tile wide at least inside the
    plane (around a region there is only content or damage found already: fill voxels beside it
    belong to it) whose surroundings stand out from the fill by ``contrast`` (a dark, noisy background
    holds such rectangles of its own). A region joined to the scan's own padding lines is kept
    without them where the rest is tile-aligned. In a scan of three slices or more, a region that is
    fill in the slices before and after it too is the scan's own background or padding (a frame of
    a tile's width around a small scan), not a packet lost in one slice. Returns the slab's slices
    where a region was found lost."""
    padding = None
    found: set[int] = set()  # slab slices where regions were found lost

    def own_background(grown: tuple, comp: np.ndarray) -> bool:
        if fill_context is None:
            return False
        context, in_scan = fill_context()
        k = grown[2].start + CONTEXT
        beside = [k + d for d in (-1, 1) if in_scan[k + d]]
        return bool(beside) and all(context[grown[0], grown[1], at][comp[:, :, 0]].all() for at in beside)

    shape = holes.shape[:2]
    maybe = slices_with_possible_packets(holes, is_fill, labels)
    components, boxes, areas = regions_in_plane(holes & maybe[np.newaxis, np.newaxis, :], SCAN.min_hole)
    for index, box in enumerate(boxes, start=1):
        si, sj, sk = box
        # cheap shape tests first: a union of grid tiles has a grid-aligned bounding box
        on_grid = all(s.start % TILES[0] == 0 and (s.stop % TILES[0] == 0 or s.stop == size)
                      for s, size in zip((si, sj), shape, strict=True))
        touches_border = si.start == 0 or sj.start == 0 or si.stop == shape[0] or sj.stop == shape[1]
        # inside the plane, tiles of a grid that starts anywhere span a whole number of tiles
        on_some_grid = not touches_border and all((s.stop - s.start) % TILES[0] == 0 for s in (si, sj))
        is_rectangle = (areas[index - 1] == (si.stop - si.start) * (sj.stop - sj.start)
                        and min(si.stop - si.start, sj.stop - sj.start) >= TILES[0])  # a tile at least
        if is_rectangle and touches_border and not on_grid and fill_context is not None:
            if cut_at_the_border(block, box, is_fill, fill_context):
                labels[box][components[box] == index] = PACKET_LOSS_CODE
                found.add(sk.start)
            continue
        if not on_grid and not on_some_grid and not (is_rectangle and not touches_border):
            continue
        grown = (slice(max(si.start - 1, 0), si.stop + 1), slice(max(sj.start - 1, 0), sj.stop + 1), sk)
        comp = components[grown] == index
        if own_background(grown, comp):
            continue
        origin = (grown[0].start, grown[1].start)
        if is_rectangle and not touches_border and not on_grid:
            around = block[grown][~comp].astype(np.float64)
            if abs(np.median(around) - float(block[grown][comp][0])) > contrast:
                labels[grown][comp] = PACKET_LOSS_CODE
                found.add(sk.start)
            continue
        if (is_rectangle and not touches_border) or tile_aligned(comp[:, :, 0], origin, shape,
                                                                 offset=on_some_grid):
            labels[grown][comp] = PACKET_LOSS_CODE
            found.add(sk.start)
            continue
        if not on_grid:
            continue
        if padding is None:
            padding = edge_padding(is_fill)
        pad = padding[grown]
        core = comp & ~pad
        if (pad[comp].any() and core.sum() >= SCAN.min_hole
                and tile_aligned(core[:, :, 0], origin, shape, pad[:, :, 0])):
            labels[grown][core] = PACKET_LOSS_CODE
            found.add(sk.start)
    return found


def cut_straight(not_content: np.ndarray, rectangle: tuple[slice, slice]) -> bool:
    """Whether content (not ``not_content``, one plane) runs along ``PACKET_LOSS.side_content`` of the
    line just outside each side of ``rectangle`` that the plane's border does not bound, and there is
    such a side: a straight cut, where anatomy curves."""
    sides = lines_outside(not_content, rectangle)
    return bool(sides) and all((~side).mean() >= PACKET_LOSS.side_content for side in sides)


def cut_at_the_border(block: np.ndarray, box: tuple[slice, slice, slice], is_fill: np.ndarray,
                      fill_context: Callable[[], tuple]) -> bool:
    """Whether a fill rectangle ``box`` (one slab slice) at the plane's border is lost packets: content
    along ``PACKET_LOSS.side_content`` of the line just inside each of its sides off the border (a
    straight cut, where anatomy curves) and ``PACKET_LOSS.content_both`` of its place in the slices on
    both sides (on its one side, in a scan's first or last slice): a band of whole tiles along the
    border, a burst across the last row of tiles, that no grid's corner puts forward; the scan's own
    padding or background is fill there too."""
    si, sj, sk = box
    if not cut_straight(is_fill[:, :, sk.start], (si, sj)):
        return False
    context, in_scan = fill_context()
    return content_either_side(context, in_scan, (si, sj), sk.start, PACKET_LOSS.content_both)


def cut_into_one_side(block: np.ndarray, holes: np.ndarray, is_fill: np.ndarray, labels: np.ndarray,
                      contrast: float) -> None:
    """Label the exact rectangles of ``holes`` (one fill value; a scan of one or two slices) a tile wide
    at least against one side of the plane, not its corner, with content (no fill, nothing found
    damaged) along ``PACKET_LOSS.side_content`` of the line just outside each of their three other
    sides, ``contrast`` from the fill there: a straight cut into the anatomy, where a scan's own
    background curves or runs along a whole side. Not where the other slice of two holds the fill
    there too (a box of the scan's own). Run last: a rectangle labelled first takes from the grid
    rules the cells they find a burst's grid from."""
    components, boxes, areas = regions_in_plane(holes, SCAN.min_hole)
    shape = holes.shape[:2]
    for index, box in enumerate(boxes, start=1):
        si, sj, sk = box
        sides = [si.start == 0, si.stop == shape[0], sj.start == 0, sj.stop == shape[1]]
        if (sum(sides) != 1 or areas[index - 1] != (si.stop - si.start) * (sj.stop - sj.start)
                or min(si.stop - si.start, sj.stop - sj.start) < PACKET_LOSS.small_tile
                or areas[index - 1] < PACKET_LOSS.small_area_in_plane):
            continue
        k = sk.start
        if block.shape[2] == 2 and is_fill[si, sj, 1 - k].all():
            continue
        # (thinner than a tile of 8: a channel of a zoomed image's is as straight)
        if min(si.stop - si.start, sj.stop - sj.start) < TILES[0] and pixels_repeated(block[:, :, k]):
            continue
        if not cut_straight(is_fill[:, :, k] | (labels[:, :, k] != 0), (si, sj)):
            continue
        around = np.concatenate(lines_outside(block[:, :, k], (si, sj))).astype(np.float64)
        if abs(np.nanmedian(around) - float(block[si.start, sj.start, k])) > contrast:
            labels[box][components[box] == index] = PACKET_LOSS_CODE


def slices_with_possible_packets(holes: np.ndarray, is_fill: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The slices where some fill region may pass :func:`lost_fill_regions`' tests; the others (most
    of a clean scan's) need no region numbered. A region passes only as grid tiles (with the scan's
    padding lines as spare) or as an exact rectangle a tile wide inside the plane:

    - grid tiles: its 8-pixel cells are all fill, and none of them touches, across a side, a fill
      voxel (not padding) of a cell that is not (that voxel would be the region's, in a cell it does
      not fill). Whole cells side by side are one region, so such a region is a connected set of
      whole cells none of which leaks;
    - a rectangle: a top-left corner, 8 fill voxels along both sides from it with no fill just outside.

    A slice with damage found already, or a plane not made of whole cells, is always looked at."""
    ni, nj, nk = holes.shape
    t = TILES[0]
    maybe = (labels != 0).any(axis=(0, 1))
    if ni % t or nj % t or ni < 2 * t or nj < 2 * t:
        return np.ones(nk, dtype=bool)
    ci, cj = ni // t, nj // t
    full = cells_all(holes, t)
    if full.any():
        open_fill = holes & ~edge_padding(is_fill)  # fill a region cannot take as spare
        first_row = open_fill[0::t].reshape(ci, cj, t, nk).any(axis=2)
        last_row = open_fill[t - 1::t].reshape(ci, cj, t, nk).any(axis=2)
        first_column = open_fill[:, 0::t].reshape(ci, t, cj, nk).any(axis=1)
        last_column = open_fill[:, t - 1::t].reshape(ci, t, cj, nk).any(axis=1)
        leaks = np.zeros_like(full)
        leaks[:-1] |= ~full[1:] & first_row[1:]  # into the cell below
        leaks[1:] |= ~full[:-1] & last_row[:-1]
        leaks[:, :-1] |= ~full[:, 1:] & first_column[:, 1:]
        leaks[:, 1:] |= ~full[:, :-1] & last_column[:, :-1]
        cells, n = label_in_plane(full)
        leaking = np.bincount(cells[full & leaks], minlength=n + 1)
        sealed = leaking == 0
        sealed[0] = False
        maybe |= sealed[cells].any(axis=(0, 1))
    top = holes[1:] & ~holes[:-1]  # fill with no fill above it
    left = holes[:, 1:] & ~holes[:, :-1]
    top8, left8 = top, left
    for width in (1, 2, 4):
        top8 = top8[:, :-width] & top8[:, width:]
        left8 = left8[:-width] & left8[width:]
    # corners (i, j), 1 <= i, j <= n - 8: top8[i - 1, j] and left8[i, j - 1]
    corners = top8[:ni - 8, 1:nj - 7] & left8[1:ni - 7, :nj - 8]
    maybe |= corners.any(axis=(0, 1))
    # a rectangle along the border (:func:`cut_at_the_border`): a tile's width of the border's fill
    # that a slice beside holds content at
    for edge in (holes[0], holes[-1], holes[:, 0], holes[:, -1]):  # (along the border, slices)
        alone = edge.copy()  # the slab's first and last slice: the slice beside is in another slab
        alone[:, 1:-1] = edge[:, 1:-1] & (~edge[:, :-2] | ~edge[:, 2:])
        maybe |= runs_of_true(alone, t).any(axis=0)
    return maybe
