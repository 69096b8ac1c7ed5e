"""Lost packets: fill-valued tiles and rectangles, what a broken transfer drops of a slice's stream."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
from medinpaint.repair.detection.slabs import (
    CONTEXT,
    SCAN,
    cells_all,
    content_across,
    label_in_plane,
    regions_in_plane,
    runs_of_true,
)

TILES = (8, 16, 32)  # the tile grids a packet covers


@dataclass(frozen=True)
class PacketLossThresholds:
    """When a fill-valued tile or rectangle is a lost packet.

    Args:
        rectangle_contrast: a fill rectangle off the tile grid counts where its surroundings stand out
            from the fill by this share of the content's value range.
        side_content: content runs along this share of the line just outside a side of a lost tile ...
        min_sides: ... on at least this many sides.
        content_across: a lost tile has this share of content at its place in a slice beside it.
        content_both: a whole fill tile with content along one side only is lost where its place
            holds this share of content in the slices on both sides of it.
        grid_offsets: grids off the image's corner looked at per tile size in a slice with lost packets.
        burst_content: a fill tile next to a lost one along the stream was lost too where content
            runs this far along one of its sides.
        padding_share: fill lines at the plane's border in this share of the slab's slices are the
            scan's own padding.
    """

    rectangle_contrast: float = 0.05
    side_content: float = 0.9
    min_sides: int = 2
    content_across: float = 0.3
    content_both: float = 0.5
    grid_offsets: int = 4
    burst_content: float = 0.3
    padding_share: float = 0.5


PACKET_LOSS = PacketLossThresholds()


def tile_aligned(component: np.ndarray, origin: tuple[int, int], shape: tuple[int, int],
                 spare: np.ndarray | None = None, offset: bool = False) -> bool:
    """True when the component is exactly a union of whole cells of an 8, 16 or 32 pixel grid (``spare``
    voxels, of the component's array, count as part of any cell it touches). The grid starts at the
    plane's corner, or, with ``offset``, anywhere: where the component's own first (or last) line
    puts it (a tile grid, or a crop, that does not start at the image's corner)."""
    ii, jj = np.nonzero(component)
    ii, jj = ii + origin[0], jj + origin[1]
    si, sj = np.nonzero(spare) if spare is not None else (np.empty(0, int), np.empty(0, int))
    si, sj = si + origin[0], sj + origin[1]
    for t in TILES:
        grids = {(0, 0)}
        if offset:
            grids.add(tuple(first % t if first > 0 else (last + 1) % t
                            for first, last in ((ii.min(), ii.max()), (jj.min(), jj.max()))))
        for a, b in grids:
            if whole_cells(ii - a, jj - b, si - a, sj - b, t, (shape[0] - a, shape[1] - b), (a, b)):
                return True
    return False


def whole_cells(ii: np.ndarray, jj: np.ndarray, si: np.ndarray, sj: np.ndarray, t: int,
                ends: tuple[int, int], starts: tuple[int, int]) -> bool:
    """Whether voxels ``ii, jj`` (and spare ``si, sj`` in their cells) fill the t x t cells they touch,
    in coordinates where the grid starts at 0 and the plane spans ``-starts`` to ``ends``."""
    per_row = ends[1] // t + 3
    cells = np.unique((ii // t + 1) * per_row + jj // t + 1)
    ci, cj = cells // per_row - 1, cells % per_row - 1
    full = ((np.minimum((ci + 1) * t, ends[0]) - np.maximum(ci * t, -starts[0]))
            * (np.minimum((cj + 1) * t, ends[1]) - np.maximum(cj * t, -starts[1])))
    area = len(ii) + int(np.isin((si // t + 1) * per_row + sj // t + 1, cells).sum())
    return int(full.sum()) == area


def find_packet_loss(block: np.ndarray, is_fill: np.ndarray, content_slices: np.ndarray, labels: np.ndarray,
                     contrast: float, fill_context: Callable[[], tuple] | None,
                     written: np.ndarray | None = None, fills: list[float] | None = None,
                     below: np.ndarray | None = None) -> None:
    """Lost packets in a slab (``fill_context``: gives :func:`fill_with_context` of the slab; None for
    a scan of one or two slices, judged in-plane only; ``content_slices`` as for :func:`find_lost_lines`).
    ``written``: voxels at a fill value the scan holds only in runs, no background of its own
    (:func:`pick_run_fills`): any region of them is lost, whatever its shape. ``fills``: the fill values
    (where there are several, a region's shape is judged at each apart). ``below``: voxels at a negative
    constant the scan holds nowhere else (:func:`~medinpaint.repair.detection.volume.lone_negative_minimum`):
    any region of them is lost, whatever its shape."""
    holes = is_fill & content_slices[np.newaxis, np.newaxis, :] & (labels == 0)
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


def lost_anywhere(holes: np.ndarray, labels: np.ndarray) -> None:
    """Label every region of ``holes`` of ``SCAN.min_hole`` voxels or more (in a slice), 4 voxels across
    at least both ways, as lost packets (thinner ones are lost lines, for their own rules)."""
    components, boxes, _ = regions_in_plane(holes, SCAN.min_hole)
    for index, box in enumerate(boxes, start=1):
        if min(box[0].stop - box[0].start, box[1].stop - box[1].start) >= 4:
            region = labels[box]
            region[(components[box] == index) & (region == 0)] = PACKET_LOSS_CODE


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
    return maybe | corners.any(axis=(0, 1))


def content_outside_tile_sides(content: np.ndarray, t: int, ci: int, cj: int) -> list[np.ndarray]:
    """Content fraction along the line just outside each side of every t x t cell: four (ci, cj, k)
    arrays."""
    nk = content.shape[2]
    sides = []
    for axis, count in ((0, ci), (1, cj)):
        along = cj if axis == 0 else ci
        lines = np.moveaxis(content, axis, 0)[:, : along * t]  # (lines, the other axis, k)
        for outside in (-1, t):  # the line before the cell, and the line after it
            frac = np.zeros((count, along, nk), dtype=np.float32)
            first = 1 if outside < 0 else 0  # the first cell has no line before it
            picked = lines[first * t + outside: count * t + outside + 1: t][:count - first]
            frac[first:first + len(picked)] = (picked.astype(np.float32).reshape(len(picked), along, t, nk)
                                               .mean(axis=2))
            sides.append(frac if axis == 0 else frac.transpose(1, 0, 2))
    return sides


def find_lost_tiles(block: np.ndarray, holes: np.ndarray, content: np.ndarray, labels: np.ndarray,
                    fill_context: Callable[[], tuple] | None, sizes: tuple[int, ...] = TILES) -> None:
    """Whole fill-valued grid tiles cut straight into the content: a lost packet beside the background.

    A tile counts when content runs along nearly all of the line just outside two or more of its sides
    (the edge of anatomy is curved and does not follow two grid lines of a tile), and, in a scan of
    three slices or more, holds content at its place in the slice before or after it, or, where that
    slice lost the same tile (a burst can hit the same place in two slices), in the slice beyond
    (:func:`content_across`). A notch or a gap of a brain mask that happens to be a tile wide is
    nearly empty there. Judged in-plane only (one or two slices), the two sides must meet at a corner:
    a tile between two sides of content only is such a gap, lost only where :func:`gaps_closed` (ch2bet's
    clean slice holds a notch one tile wide). ``sizes``: the tile sizes looked for."""
    ni, nj = holes.shape[:2]
    for t in sizes:
        ci, cj = ni // t, nj // t
        if ci == 0 or cj == 0:
            continue
        full = cells_all(holes, t)
        if not full.any():
            continue
        sides = content_outside_tile_sides(content, t, ci, cj)
        straight = sum((frac >= PACKET_LOSS.side_content).astype(np.uint8) for frac in sides)
        hit = full & (straight >= PACKET_LOSS.min_sides)
        gaps = None
        if fill_context is None:
            # judged in-plane only, two sides of content must meet at a corner of the tile: content
            # along two opposite sides only is a gap of the tile's width, which anatomy and masks make
            # (a mask's notch, a cleft between two lobes): see :func:`gaps_closed`
            gaps = hit & ~has_corner(sides)
            hit &= ~gaps
        else:
            for i, j, k in zip(*np.nonzero(hit), strict=True):
                tile = (slice(i * t, (i + 1) * t), slice(j * t, (j + 1) * t))
                hit[i, j, k] = content_across(*fill_context(), tile, k, PACKET_LOSS.content_across)
            for i, j, k in zip(*np.nonzero(full & (straight == 1)), strict=True):
                tile = (slice(i * t, (i + 1) * t), slice(j * t, (j + 1) * t))
                hit[i, j, k] = content_either_side(*fill_context(), tile, k, PACKET_LOSS.content_both)
        region = labels[: ci * t, : cj * t]
        lost = cells_all(region == PACKET_LOSS_CODE, t) | hit
        while True:
            if lost.any():
                lost = grow_burst(block, lost, full, sides, t, fill_context)
                cells = np.repeat(np.repeat(lost, t, axis=0), t, axis=1)
                region[cells & (region == 0)] = PACKET_LOSS_CODE
            if gaps is None or not (gaps & ~lost).any():
                break
            closing = gaps & ~lost & gaps_closed(content, labels == PACKET_LOSS_CODE, full, t, (ni, nj))
            if not closing.any():
                break
            lost |= closing


def has_corner(sides: list[np.ndarray]) -> np.ndarray:
    """Whether content runs along two sides of a tile that meet at one of its corners (``sides``: from
    :func:`content_outside_tile_sides`)."""
    straight = [frac >= PACKET_LOSS.side_content for frac in sides]
    return (straight[0] | straight[1]) & (straight[2] | straight[3])


def gaps_closed(content: np.ndarray, packets: np.ndarray, full: np.ndarray, t: int,
                plane: tuple[int, int]) -> np.ndarray:
    """Which t x t cells, with content along two opposite sides, are closed: content or packets found
    lost run along a third side (along ``PACKET_LOSS.side_content`` of the line just outside it), or
    past each side lies content or packets, a whole fill cell (``full``: a burst's tile not found yet)
    or the plane's border. A gap of a tile's width between two edges of anatomy is the scan's own
    where it opens at one end into fill of no tile's shape (a pocket of a mask's notch, a ragged rim
    of the background) and at the other into fill too: no lost packet closes it."""
    sides = content_outside_tile_sides(content | packets, t, *full.shape[:2])
    beyond = [np.ones_like(full) for _ in range(4)]  # the cell past each side: whole fill, or none
    beyond[0][1:], beyond[2][:, 1:] = full[:-1], full[:, :-1]
    beyond[1][:-1], beyond[3][:, :-1] = full[1:], full[:, 1:]
    beyond[1][-1] &= full.shape[0] * t == plane[0]  # a partial cell past the last is no tile
    beyond[3][:, -1] &= full.shape[1] * t == plane[1]
    shut = np.ones_like(full)
    for frac, cell in zip(sides, beyond, strict=True):
        shut &= (frac >= PACKET_LOSS.side_content) | cell
    return has_corner(sides) | shut


def grow_burst(block: np.ndarray, lost: np.ndarray, full: np.ndarray, sides: list[np.ndarray], t: int,
               fill_context: Callable[[], tuple] | None) -> np.ndarray:
    """A burst goes on along the slice's tile stream (along i or along j, as the sender ordered it): a
    whole fill-valued t x t tile next to a lost one was lost with it where, in a scan of three slices
    or more, its place in a slice beside holds content (a tile whose sides are all lost tiles or the
    plane's border), or, next to it along i, where content runs along one of its sides (over the edge
    of anatomy, where the two-sides rule cannot see it). Along j that is not enough: a mask's notch one
    tile wide runs on along j from a tile it has cut out whole (ch2bet's clean slice), and background
    at the fill value beside tiles lost at its edge does too. The burst wrote one value: the tile holds
    the lost one's only (not the scan's background at 0 beside tiles lost at -1024). ``lost``,
    ``full``: (ci, cj, k) cells; ``sides``: from :func:`content_outside_tile_sides`."""
    ci, cj = lost.shape[:2]
    value = block[: ci * t: t, : cj * t: t]  # each cell's first voxel
    touching = np.maximum.reduce(sides) >= PACKET_LOSS.burst_content
    across = np.zeros(lost.shape, dtype=np.int8)  # content at the tile's place beside: 1 yes, -1 no
    while True:
        along_i = np.zeros_like(lost)
        along_i[1:] |= lost[:-1] & same_value(value[1:], value[:-1])
        along_i[:-1] |= lost[1:] & same_value(value[:-1], value[1:])
        along_j = np.zeros_like(lost)
        if fill_context is not None:
            along_j[:, 1:] |= lost[:, :-1] & same_value(value[:, 1:], value[:, :-1])
            along_j[:, :-1] |= lost[:, 1:] & same_value(value[:, :-1], value[:, 1:])
        grown = full & ~lost & along_i & touching
        unseen = full & ~lost & ~grown & (along_i | along_j) & (across == 0) & (fill_context is not None)
        for i, j, k in zip(*np.nonzero(unseen), strict=True):
            tile = (slice(i * t, (i + 1) * t), slice(j * t, (j + 1) * t))
            found = content_across(*fill_context(), tile, k, PACKET_LOSS.content_across)
            across[i, j, k] = 1 if found else -1
            grown[i, j, k] = found
        for i, j, k in zip(*np.nonzero(grown), strict=True):  # one value, as the burst wrote
            grown[i, j, k] = same_value(block[i * t:(i + 1) * t, j * t:(j + 1) * t, k], value[i, j, k]).all()
        if not grown.any():
            return lost
        lost = lost | grown


def same_value(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a == b``, NaN equal to NaN (a NaN fill)."""
    same = a == b
    if a.dtype.kind == "f":
        same |= np.isnan(a) & np.isnan(b)
    return same


def content_either_side(context: np.ndarray, in_scan: np.ndarray, region: tuple[slice, slice], k: int,
                        share: float) -> bool:
    """Whether ``share`` of ``region`` (of slab slice ``k``) holds content in the slice before and in
    the slice after it (each one in the scan), or, where such a slice is all fill there (lost too), in
    the slice beyond it: tissue on both sides of a square that is fill in this slice only. ``context``,
    ``in_scan``: from :func:`fill_with_context`."""
    at, sides = k + CONTEXT, 0
    for step in (-1, 1):
        beside = at + step
        if not in_scan[beside]:
            continue
        sides += 1
        there = ~context[region + (beside,)]
        if there.mean() >= share:
            continue
        beyond = beside + step
        if there.any() or not in_scan[beyond] or (~context[region + (beyond,)]).mean() < share:
            return False
    return sides > 0


def find_lost_tiles_off_grid(block: np.ndarray, holes: np.ndarray, content: np.ndarray, labels: np.ndarray,
                             fill_context: Callable[[], tuple] | None, slices: list[int]) -> None:
    """:func:`find_lost_tiles` on the grids, off the image's corner, of the packets found lost in a
    slice (a union of tiles on a grid starting anywhere, :func:`tile_aligned`): the rest of their
    burst, beside the background, is whole tiles of that grid (a tile grid, or a crop, offset from the
    image's corner: the image's own grid cuts such tiles). Tiles found lost count as fill."""
    for k in slices:
        packets = labels[:, :, k] == PACKET_LOSS_CODE
        fill = holes[:, :, k] | packets
        for t in TILES:
            for a, b in grid_offsets(packets, t):
                find_lost_tiles_on_grid(block, fill[:, :, np.newaxis], content, labels, fill_context, k, t,
                                        a, b)


def find_lost_tiles_on_edge_grids(block: np.ndarray, holes: np.ndarray, content: np.ndarray,
                                  labels: np.ndarray, fill_context: Callable[[], tuple] | None) -> None:
    """:func:`find_lost_tiles` on the grids, off the image's corner, that the straight edges between fill
    and content of a slice put forward (:func:`edge_grid_offsets`): a burst of tiles of a grid that
    starts anywhere, joined to the background, is found as no region of its own, but its tiles' sides
    cut the anatomy along the grid's lines. Tiles of 16 and 32 pixels only (8-pixel ones fit a mask's
    edges by chance), in slices holding a whole fill cell of the 8-pixel grid (such a tile holds one on
    any grid)."""
    t0 = TILES[0]
    if min(holes.shape[:2]) < 2 * t0:
        return
    open_holes = holes & (labels == 0)
    candidates = cells_all(open_holes, t0).any(axis=(0, 1))
    for k in np.nonzero(candidates)[0]:
        fill = open_holes[:, :, k]
        for t in TILES[1:]:
            for a, b in edge_grid_offsets(fill, content[:, :, k], t):
                find_lost_tiles_on_grid(block, holes[:, :, k:k + 1], content, labels, fill_context, k, t,
                                        a, b)


def edge_grid_offsets(fill: np.ndarray, content: np.ndarray, t: int, most: int = 2) -> list[tuple[int, int]]:
    """The offsets (rows, columns; not both 0) of t-pixel grids whose lines carry the straight edges,
    ``t`` voxels long at least, between ``fill`` and ``content`` of a plane: the ``most`` best-supported
    row and column offsets, combined."""
    across_rows = (fill[1:] & content[:-1]) | (fill[:-1] & content[1:])  # edge between rows r and r + 1
    across_columns = (fill[:, 1:] & content[:, :-1]) | (fill[:, :-1] & content[:, 1:])
    if across_rows.shape[1] < t or across_columns.shape[0] < t:
        return []
    rows = runs_of_true(across_rows.T, t).sum(axis=0)  # straight edge voxels per row boundary
    columns = runs_of_true(across_columns, t).sum(axis=0)
    votes = []
    for edges in (rows, columns):
        at = np.bincount((np.arange(1, len(edges) + 1)) % t, weights=edges, minlength=t)
        best = [int(r) for r in np.argsort(-at, kind="stable")[:most] if at[r] > 0]
        votes.append(best)
    return [(a, b) for a in votes[0] for b in votes[1] if (a, b) != (0, 0)]


def grid_offsets(found: np.ndarray, t: int) -> list[tuple[int, int]]:
    """The offsets (rows, columns; 0 to t - 1, not both 0) of the t-pixel grids that the regions of
    packet loss ``found`` in a slice start on (or end on, where they start at the plane's border),
    where they span whole t-pixel tiles (a region of a run fill has any shape),
    ``PACKET_LOSS.grid_offsets`` of them at most, the most common first."""
    regions, _ = ndimage.label(found)
    offsets: dict[tuple[int, int], int] = {}
    for box in ndimage.find_objects(regions):
        if any((s.stop - s.start) % t and 0 < s.start and s.stop < n
               for s, n in zip(box, found.shape, strict=True)):
            continue
        grid = tuple(s.start % t if s.start > 0 else s.stop % t for s in box)
        offsets[grid] = offsets.get(grid, 0) + 1
    offsets.pop((0, 0), None)
    return sorted(offsets, key=lambda grid: -offsets[grid])[:PACKET_LOSS.grid_offsets]


def find_lost_tiles_on_grid(block: np.ndarray, holes: np.ndarray, content: np.ndarray, labels: np.ndarray,
                            fill_context: Callable[[], tuple] | None, k: int, t: int, a: int, b: int) -> None:
    """:func:`find_lost_tiles` of t-pixel tiles in slice ``k`` of the slab, on the grid whose lines fall
    on rows ``a`` and columns ``b`` (mod t). The plane is extended at its borders by repeating its edge
    to whole tiles of that grid, so the tiles the border cuts are judged as well (a burst runs on into
    them); what is found there is kept inside the plane. ``holes``: the slice's fill, ``(ni, nj, 1)``."""
    ni, nj = block.shape[:2]
    top, left = (t - a) % t, (t - b) % t
    pad = ((top, (-(ni + top)) % t), (left, (-(nj + left)) % t), (0, 0))
    inside = (slice(top, top + ni), slice(left, left + nj))
    plane = (slice(None), slice(None), slice(k, k + 1))
    grown = np.pad(labels[plane], pad, mode="edge")
    found = grown.copy()
    context = None
    if fill_context is not None:
        def context() -> tuple:
            planes, in_scan = fill_context()
            window = planes[:, :, k:k + 2 * CONTEXT + 1]
            return np.pad(window, pad, mode="edge"), in_scan[k:k + 2 * CONTEXT + 1]
        context = functools.cache(context)
    find_lost_tiles(np.pad(block[plane], pad, mode="edge"), np.pad(holes, pad, mode="edge") & (grown == 0),
                    np.pad(content[plane], pad, mode="edge"), found, context, (t,))
    new = (found[inside] == PACKET_LOSS_CODE) & (grown[inside] != PACKET_LOSS_CODE) & (labels[plane] == 0)
    labels[plane][new] = PACKET_LOSS_CODE
