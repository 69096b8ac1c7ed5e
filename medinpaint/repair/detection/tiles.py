"""Whole lost tiles: a packet's tiles cut straight into the anatomy, the rest of their burst, and the
grids off the image's corner they lie on (:func:`~medinpaint.repair.detection.packets.find_packet_loss`
finds the fill regions first)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
from medinpaint.repair.detection.slabs import CONTEXT, cells_all, content_across, runs_of_true

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
        small_between: a fill region of one slice with content on both sides across the slices at this
            share of its voxels at least ...
        small_tile: ... is lost where it is whole tiles this wide (or an exact rectangle this wide at
            least) ...
        small_area: ... and holds this many voxels at least (one tile) ...
        small_area_in_plane: ... or, in a scan of one or two slices (judged in-plane only), this many
            (two tiles: pydicom's NM bone scan under noise holds a single 4x4 square of 0 of its own).
        band_length: in such a scan, a band one small tile high this long at least (two tiles), cut
            straight and ending square in content on the grid of the packets found in its slice, is a
            burst of small tiles (:mod:`.tile_bands`; ch2bet's sagittal slice holds a channel of its
            mask's 0 that is such a band, 8 long, but no lost packet to give it a grid; at 12,
            before the grid was asked, it was kept out by its length) ...
        band_ramp: ... where the line beside it lies this share as far from the fill as the line
            beyond that at least (ch2bet's mask brought to a finer grid: a channel of 0 whose edges
            fall 50 -> 9 -> 0).
        content_around: small tiles lost over the slice's background (more than one tile's voxels)
            have content of their slice at this share of the voxels just around them at least (fill a
            mask leaves between slices that hold anatomy lies in fill; a band of dipy's PIESNO crop's
            own 0 at its edge, beside NaN tiles lost in the slices beside, has 0.615).
        line_remnant_tiles: a remnant of small tiles one pixel thick at the plane's border (a crop
            cutting a grid a row off) is lost where it is this many tiles long at least (a lossy
            codec's or a threshold's edge leaves runs of fill 4 or 8 pixels long there).
        repeated_lines: a plane with this share of its lines repeated (:func:`pixels_repeated`; half of
            them in a zoom by 2) is a finer grid's: no rule for 4-pixel tiles in a single slice judges it.
    """

    rectangle_contrast: float = 0.05
    side_content: float = 0.9
    min_sides: int = 2
    content_across: float = 0.3
    content_both: float = 0.5
    grid_offsets: int = 4
    burst_content: float = 0.3
    padding_share: float = 0.5
    small_between: float = 0.9
    small_tile: int = 4
    small_area: int = 16
    small_area_in_plane: int = 32
    band_length: int = 8
    band_ramp: float = 0.5
    content_around: float = 0.65
    line_remnant_tiles: int = 4
    repeated_lines: float = 0.4


PACKET_LOSS = PacketLossThresholds()


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
            # (a count over the tile: the float32 mean to the bit, without a float copy)
            frac[first:first + len(picked)] = (picked.reshape(len(picked), along, t, nk)
                                               .sum(axis=2, dtype=np.uint16) / np.float32(t))
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


def find_lost_tiles_on_slab_grids(block: np.ndarray, holes: np.ndarray, content: np.ndarray,
                                  labels: np.ndarray, fill_context: Callable[[], tuple] | None) -> None:
    """:func:`find_lost_tiles` in slices with a slice on either side, on the grids of the packets found
    lost in the slab's slices two or more apart (:func:`grid_offsets`): a sender tiles every slice of
    a series alike, so a burst joined to the background in one slice, whose tiles' corners lie on
    no straight edge of content, lies on the grid its packets show in another (a slice beside may
    repeat its neighbour's own pattern: no evidence). Tiles of 16 and 32 pixels only, as on the edge
    grids; the ``PACKET_LOSS.grid_offsets`` grids most slices show; a grid only where a whole open
    fill tile lies on it (a scan losing packets in every slice would try every grid everywhere)."""
    packets = labels == PACKET_LOSS_CODE
    t0 = TILES[0]
    if fill_context is None or not packets.any() or min(holes.shape[:2]) < 2 * t0:
        return
    grids = {int(k): {(t, a, b) for t in TILES[1:] for a, b in grid_offsets(packets[:, :, k], t)}
             for k in np.nonzero(packets.any(axis=(0, 1)))[0]}
    shown = Counter(grid for found in grids.values() for grid in found)
    common = [grid for grid, _ in shown.most_common(PACKET_LOSS.grid_offsets)]
    open_fill = holes & (labels == 0)
    candidates = cells_all(open_fill, t0).any(axis=(0, 1))
    _, in_scan = fill_context()
    for k in np.nonzero(candidates)[0]:
        if not (in_scan[k + CONTEXT - 1] and in_scan[k + CONTEXT + 1]):
            continue  # in the scan's first or last slice the anatomy may end: no grid is tried there
        apart = set().union(*(found for at, found in grids.items() if abs(at - k) >= 2))
        before = labels[:, :, k] == PACKET_LOSS_CODE
        for t, a, b in (grid for grid in common if grid in apart):
            if not cells_all(open_fill[a:, b:, k:k + 1], t).any():
                continue
            find_lost_tiles_on_grid(block, holes[:, :, k:k + 1] | packets[:, :, k:k + 1], content, labels,
                                    fill_context, k, t, a, b)
        drop_repeated(labels, content, k, (labels[:, :, k] == PACKET_LOSS_CODE) & ~before)


def drop_repeated(labels: np.ndarray, content: np.ndarray, k: int, new: np.ndarray) -> None:
    """Unlabel the regions of ``new`` packets in slab slice ``k`` whose place is wholly fill (at any
    fill value, background included) or packets found in another slice of the slab, two or more
    apart: lost tiles do not come back at one place slices apart, but a scan's own pattern does (odd
    slices with a smaller field of view: the grid of one such slice's edge, taken for packets, fits
    the next). Tiles lost at the edge of the anatomy, over what is background slices away, are
    dropped with them: recall given for no false voxel."""
    if not new.any():
        return
    regions, _ = ndimage.label(new)
    apart = np.abs(np.arange(labels.shape[2]) - k) >= 2
    for index, box in enumerate(ndimage.find_objects(regions), start=1):
        mine = regions[box] == index
        there = ~content[box] | (labels[box] == PACKET_LOSS_CODE)  # (its place in every slice)
        if (there[mine].all(axis=0) & apart).any():
            labels[box + (k,)][mine] = 0


def find_lost_tiles_on_edge_grids(block: np.ndarray, holes: np.ndarray, content: np.ndarray,
                                  labels: np.ndarray, fill_context: Callable[[], tuple] | None) -> None:
    """:func:`find_lost_tiles` on the grids, off the image's corner, that the corners of a slice's
    straight edges between fill and content put forward (:func:`edge_grid_offsets`): a burst of tiles
    of a grid that starts anywhere, joined to the background, is found as no region of its own, but
    its tiles' corners cut the anatomy on the grid's lines. Tiles of 16 and 32 pixels only (8-pixel
    ones fit a mask's edges by chance), in slices holding a whole fill cell of the 8-pixel grid (such a
    tile holds one on any grid)."""
    t0 = TILES[0]
    if min(holes.shape[:2]) < 2 * t0:
        return
    open_holes = holes & (labels == 0)
    candidates = cells_all(open_holes, t0).any(axis=(0, 1))
    for k in np.nonzero(candidates)[0]:
        fill = open_holes[:, :, k]
        for t, offsets in edge_grid_offsets(fill, content[:, :, k], TILES[1:]).items():
            for a, b in offsets:
                find_lost_tiles_on_grid(block, holes[:, :, k:k + 1], content, labels, fill_context, k, t,
                                        a, b)


def edge_grid_offsets(fill: np.ndarray, content: np.ndarray, sizes: tuple[int, ...],
                      most: int = 2) -> dict[int, list[tuple[int, int]]]:
    """Per tile size t of ``sizes`` (ascending, each twice the one before), the offsets (rows, columns;
    not both 0) of t-pixel grids that the corners of a plane's straight edges between ``fill`` and
    ``content`` lie on: a vertex where an edge ``t`` voxels straight along a row ends and one as
    straight along a column ends, a tile's corner cut into the anatomy (the curved edges of anatomy
    and of a mask hold few); the ``most`` grids with most corners."""
    ni, nj = fill.shape
    found: dict[int, list[tuple[int, int]]] = {}
    if ni <= sizes[0] or nj <= sizes[0]:
        return found
    across_rows = (fill[1:] & content[:-1]) | (fill[:-1] & content[1:])  # edge between rows r and r + 1
    across_columns = (fill[:, 1:] & content[:, :-1]) | (fill[:, :-1] & content[:, 1:])
    along_rows = runs_of_true(across_rows.T, sizes[0])  # [j, r]: the edge under row r, straight from j
    along_columns = runs_of_true(across_columns, sizes[0])  # [i, c]: right of column c, straight from i
    for t in sizes:
        if t != sizes[0]:  # twice as long: two runs end to end
            half = t // 2
            along_rows = along_rows[:-half] & along_rows[half:]
            along_columns = along_columns[:-half] & along_columns[half:]
        if not (along_rows.any() and along_columns.any()):
            break
        # vertices (rows above, columns left of it) where such edges start or end, on a plane of
        # vertices padded to whole t x t cells, so that the corners count per grid offset in one sum
        shape = (-(-(ni + 1) // t) * t, -(-(nj + 1) // t) * t)
        row_ends, column_ends = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
        row_ends[1:ni, :nj - t + 1] = along_rows.T
        row_ends[1:ni, t:nj + 1] |= along_rows.T
        column_ends[:ni - t + 1, 1:nj] = along_columns
        column_ends[t:ni + 1, 1:nj] |= along_columns
        row_ends &= column_ends
        counts = row_ends.reshape(shape[0] // t, t, shape[1] // t, t).sum(axis=(0, 2), dtype=np.int64).ravel()
        if not counts.any():
            continue
        best = np.argsort(-counts, kind="stable")
        best = best[counts[best] > 0]
        found[t] = [(int(g) // t, int(g) % t) for g in best if g][:most]
    return found


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
    @functools.cache
    def padded_context() -> tuple:
        planes, in_scan = fill_context()
        window = planes[:, :, k:k + 2 * CONTEXT + 1]
        return np.pad(window, pad, mode="edge"), in_scan[k:k + 2 * CONTEXT + 1]

    context = None if fill_context is None else padded_context
    find_lost_tiles(np.pad(block[plane], pad, mode="edge"), np.pad(holes, pad, mode="edge") & (grown == 0),
                    np.pad(content[plane], pad, mode="edge"), found, context, (t,))
    new = (found[inside] == PACKET_LOSS_CODE) & (grown[inside] != PACKET_LOSS_CODE) & (labels[plane] == 0)
    labels[plane][new] = PACKET_LOSS_CODE


def tile_aligned(component: np.ndarray, origin: tuple[int, int], shape: tuple[int, int],
                 spare: np.ndarray | None = None, offset: bool = False,
                 sizes: tuple[int, ...] = TILES) -> bool:
    """True when the component is exactly a union of whole cells of a grid of one of ``sizes`` (pixels;
    the packets' 8, 16 and 32 unless told; ``spare`` voxels, of the component's array, count as part of
    any cell it touches). The grid starts at the plane's corner, or, with ``offset``, anywhere: where the
    component's own first (or last) line puts it (a tile grid, or a crop, that does not start at the
    image's corner)."""
    ii, jj = np.nonzero(component)
    ii, jj = ii + origin[0], jj + origin[1]
    si, sj = np.nonzero(spare) if spare is not None else (np.empty(0, int), np.empty(0, int))
    si, sj = si + origin[0], sj + origin[1]
    for t in sizes:
        grids = {(0, 0)}
        if offset:
            grids.add(tuple(first % t if first > 0 else (last + 1) % t
                            for first, last in ((ii.min(), ii.max()), (jj.min(), jj.max()))))
        for a, b in grids:
            whole, _ = in_whole_cells(ii - a, jj - b, si - a, sj - b, t, (shape[0] - a, shape[1] - b), (a, b))
            if whole.all():
                return True
    return False


def in_whole_cells(ii: np.ndarray, jj: np.ndarray, si: np.ndarray, sj: np.ndarray, t: int,
                   ends: tuple[int, int], starts: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For each voxel ``ii, jj``: whether its t x t cell is filled wholly by them and the spare
    ``si, sj``, and the share of the cell they fill alone; in coordinates where the grid starts at 0
    and the plane spans ``-starts`` to ``ends`` (a cell the plane's border cuts counts its part
    inside). Only the cells the voxels touch are counted (a large plane has many)."""
    per_row = ends[1] // t + 3
    cells, index = np.unique((ii // t + 1) * per_row + jj // t + 1, return_inverse=True)
    if not len(cells):
        return np.ones(0, dtype=bool), np.zeros(0)
    own = np.bincount(index, minlength=len(cells))
    spare = (si // t + 1) * per_row + sj // t + 1
    at = np.minimum(np.searchsorted(cells, spare), len(cells) - 1)
    held = own + np.bincount(at[cells[at] == spare], minlength=len(cells))
    ci, cj = cells // per_row - 1, cells % per_row - 1
    area = ((np.minimum((ci + 1) * t, ends[0]) - np.maximum(ci * t, -starts[0]))
            * (np.minimum((cj + 1) * t, ends[1]) - np.maximum(cj * t, -starts[1])))
    return (held == area)[index], (own / area)[index]


def pixels_repeated(plane: np.ndarray) -> bool:
    """Whether a plane's lines come in repeats: ``PACKET_LOSS.repeated_lines`` of its lines that hold
    something besides one value equal the next line along either axis, as an image brought to a
    finer grid by repeating its pixels holds them (a nearest-neighbour zoom by 2 or more). There a
    channel 2 pixels wide stands 4 wide, as straight and sharp as a lost 4-pixel tile, and every region
    is whole cells of the zoom's grid; tissue with noise never repeats a line exactly."""
    for lines in (plane, plane.T):
        varied = (lines != lines[:, :1]).any(axis=1)[:-1]
        repeats = (lines[1:] == lines[:-1]).all(axis=1)[varied]
        if repeats.size and repeats.mean() >= PACKET_LOSS.repeated_lines:
            return True
    return False


def lines_outside(plane: np.ndarray, box: tuple[slice, slice]) -> list[np.ndarray]:
    """The lines of ``plane`` just outside each side of the rectangle ``box`` that the plane's border
    does not bound."""
    (si, sj), (ni, nj) = box, plane.shape
    lines = []
    if si.start > 0:
        lines.append(plane[si.start - 1, sj])
    if si.stop < ni:
        lines.append(plane[si.stop, sj])
    if sj.start > 0:
        lines.append(plane[si, sj.start - 1])
    if sj.stop < nj:
        lines.append(plane[si, sj.stop])
    return lines
