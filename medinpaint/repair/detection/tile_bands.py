"""Lost 4-pixel tiles in a single slice on the grid of the packets found in it: a burst of small tiles
one tile high, cut straight through the content, that runs into the slice's background at one end, so
that no region of it is whole tiles and nothing across the slices holds its place; and a lone tile of
the burst, too small alone for the in-plane rules."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.kinds import PACKET_LOSS_CODE
from medinpaint.repair.detection.lost_lines import runs_along_lines
from medinpaint.repair.detection.partial_lines import PARTIAL_LINES, band_starts
from medinpaint.repair.detection.slabs import PLANE
from medinpaint.repair.detection.small_tiles import stands_out
from medinpaint.repair.detection.tiles import PACKET_LOSS, in_whole_cells, pixels_repeated


def find_tile_bands(block: np.ndarray, is_fill: np.ndarray, labels: np.ndarray, contrast: float,
                    fills: list[float]) -> None:
    """Label bands of exactly ``PACKET_LOSS.small_tile`` lines of one fill value (in a scan of one or two
    slices), ``PACKET_LOSS.band_length`` voxels long at least, with ``PARTIAL_LINES.margin`` lines of
    content (no fill, nothing found, further than ``contrast`` from the fill) along both edges, a
    square end (content just beyond the band's last voxel on every one of its lines) and no ramp
    beside it (:func:`no_ramp`), on the grid of the packets found in its slice at that value already
    (:func:`grid_phases`: its first line and its square end). A gap in the anatomy (a mask's channel
    between two parts of the background, a thresholded sliver) narrows or opens into the background at
    its ends, and where it was brought to a finer grid its edges fall towards the fill, or stand sharp
    and 4 wide where a nearest-neighbour zoom doubled a gap of 2 (a skull-stripped brain at 2 mm);
    a cut stream stops square, beside whatever it cut, on the grid of the rest of its burst."""
    t = PACKET_LOSS.small_tile
    blocked = is_fill | (labels != 0)  # no content for a margin or an end
    for value in fills:
        holes = is_fill & (labels == 0) & (block == value)
        for k in range(block.shape[2]):  # whole tiles first: a band may end off their grid
            found = (labels[:, :, k] == PACKET_LOSS_CODE) & (block[:, :, k] == value)
            phases = grid_phases(found, t)
            if phases is not None and not pixels_repeated(block[:, :, k]):
                tiles_on_the_grid(block[:, :, k], holes[:, :, k], labels[:, :, k], contrast, phases)
        holes &= labels == 0
        if np.count_nonzero(holes) < t * PACKET_LOSS.band_length:
            continue
        for axis in (0, 1):  # thin across axis, long along the other
            if holes.shape[axis] < t + 2:
                continue
            across_holes = np.moveaxis(holes, axis, 0)
            values = np.moveaxis(block, axis, 0)
            not_content = np.moveaxis(blocked, axis, 0)
            starts = band_starts(np.ascontiguousarray(not_content), values, PARTIAL_LINES.margin, t,
                                 contrast)[t - 1]
            for d in range(t):  # the band's own lines: at this value, nothing found there yet
                starts[:len(starts) - d] &= across_holes[d:]
            phases: dict[int, tuple[int, int] | None] = {}  # per slice, the grid of its packets found
            for line, k in zip(*np.nonzero(starts.any(axis=1)), strict=True):
                if k not in phases:
                    found = (labels[:, :, k] == PACKET_LOSS_CODE) & (block[:, :, k] == value)
                    phases[k] = grid_phases(found, t)
                if phases[k] is None or line % t != phases[k][axis]:
                    continue
                for first, stop in square_runs(starts[line, :, k], not_content[line:line + t, :, k],
                                               phases[k][1 - axis]):
                    if no_ramp(values[:, first:stop, k], line, t, value):
                        band = np.moveaxis(labels, axis, 0)[line:line + t, first:stop, k]
                        band[band == 0] = PACKET_LOSS_CODE


def tiles_on_the_grid(plane: np.ndarray, holes: np.ndarray, labels: np.ndarray, contrast: float,
                      phases: tuple[int, int]) -> None:
    """Label the regions of ``holes`` (one plane, at one fill value) that are whole tiles of the grid
    ``phases`` of the packets found there (:func:`grid_phases`; a tile the plane's border cuts counts
    its part inside), one tile at least and half a tile deep, touching one side of the border at
    most and not all along it, and stand out from the fill by ``contrast``: a burst's lone tile,
    which the in-plane rules leave (pydicom's NM bone scan holds a 4x4 square of 0 of its own, but no
    lost packets to give it a grid), and the tiles a burst cut by the border leaves there. A blanked
    corner or a frame along a whole side is no such region; nor is a plane whose pixels were
    repeated (:func:`~.tiles.pixels_repeated`: its caller asks), where every region is whole cells."""
    t = PACKET_LOSS.small_tile
    regions, _ = ndimage.label(holes, structure=PLANE[:, :, 1])
    shape = holes.shape
    none = np.empty(0, dtype=int)
    for index, box in enumerate(ndimage.find_objects(regions), start=1):
        region = regions[box] == index
        sides = sum((s.start == 0) + (s.stop == n) for s, n in zip(box, shape, strict=True))
        # half a tile deep at least (a strip of fill one pixel deep along the border is no tile)
        if region.sum() < t * t or sides > 1 or min(s.stop - s.start for s in box) < t // 2:
            continue
        ii, jj = np.nonzero(region)
        ii, jj = ii + box[0].start - phases[0], jj + box[1].start - phases[1]
        whole, _ = in_whole_cells(ii, jj, none, none, t, (shape[0] - phases[0], shape[1] - phases[1]), phases)
        if whole.all() and stands_out(plane, box, region, contrast):
            labels[box][region] = PACKET_LOSS_CODE


def no_ramp(values: np.ndarray, line: int, t: int, value: float) -> bool:
    """Whether, on each side of the band of ``t`` lines from ``line`` (``values``: lines across, the
    band's stretch along), the line just beside it lies ``PACKET_LOSS.band_ramp`` as far from the fill
    ``value`` as the line beyond that at least (their medians), where the plane holds both."""
    n = len(values)
    for near, far in ((line - 1, line - 2), (line + t, line + t + 1)):
        if 0 <= far < n and 0 <= near < n:
            gaps = [np.abs(values[at].astype(np.float64) - value) for at in (near, far)]
            gaps = [gap[~np.isnan(gap)] for gap in gaps]  # (no measurement: no evidence either way)
            if all(gap.size for gap in gaps) and (np.median(gaps[0])
                                                  < PACKET_LOSS.band_ramp * np.median(gaps[1])):
                return False
    return True


def square_runs(along: np.ndarray, lines: np.ndarray, phase: int) -> list[tuple[int, int]]:
    """The runs of ``along`` (True where a band holds) ``PACKET_LOSS.band_length`` long at least that end
    square at one end at least, on the grid (``phase``: where tiles start, modulo their size): no voxel
    of ``lines`` (the band's lines, True where not content) just beyond it."""
    _, firsts, stops = runs_along_lines(along[:, np.newaxis])
    n, t = len(along), lines.shape[0]
    return [(first, stop) for first, stop in zip(firsts, stops, strict=True)
            if stop - first >= PACKET_LOSS.band_length
            and ((0 < first and first % t == phase and not lines[:, first - 1].any())
                 or (stop < n and stop % t == phase and not lines[:, stop].any()))]


def grid_phases(found: np.ndarray, t: int) -> tuple[int, int] | None:
    """Where the tiles of the packets ``found`` in a plane start along each axis, modulo ``t``: the most
    common first line of their regions' runs across it (a burst's tiles start on its grid's lines);
    None where none was found."""
    if not found.any():
        return None
    phases = []
    for axis in (0, 1):
        starts = found.copy()
        np.moveaxis(starts, axis, 0)[1:] &= ~np.moveaxis(found, axis, 0)[:-1]
        np.moveaxis(starts, axis, 0)[0] = False  # (a run from the plane's border: the border cut its tile)
        lines = np.nonzero(starts)[axis]
        if not lines.size:
            return None
        phases.append(int(np.argmax(np.bincount(lines % t, minlength=t))))
    return phases[0], phases[1]
