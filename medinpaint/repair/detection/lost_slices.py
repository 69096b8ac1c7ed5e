"""Lost slices (missing instances, constant slices between or beside content) and a truncated pixel stream."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.io import Volume
from medinpaint.repair.detection.kinds import LOST_SLICES_CODE, TRUNCATION_CODE
from medinpaint.repair.detection.slabs import SCAN, is_fill_value


@dataclass(frozen=True)
class LostSliceThresholds:
    """When a run of constant slices is lost rather than the empty air around a head.

    Args:
        min_content_beside: a run between two slices is lost where both hold at least this share of
            content, ...
        share_of_typical_beside: ... or this share of the scan's typical slice, whichever is more.
        edge_run: at the scan's edge, a run of at most this many slices ...
        edge_content: ... beside a slice holding this share of the typical slice's content.
    """

    min_content_beside: float = 0.05
    share_of_typical_beside: float = 0.25
    edge_run: int = 3
    edge_content: float = 0.75


@dataclass(frozen=True)
class TruncationThresholds:
    """When a tail of fill at the end of the pixel stream is a cut, not a scan's own padding.

    Args:
        cut_lost_share: a cut through a slice loses at least this share of the slice before's content.
        arrived_match: where the slice arrived it holds this share of the slice before's content there
            (``early_arrived_match`` where the cut loses ``early_lost_share`` of it at least: a cut in
            the first rows of the anatomy, whose few voxels vary more from slice to slice).
        row_content: the row above a cut holds this share of content (and right of the cut too) ...
        row_match: ... and the part of the cut row that arrived this share of the row above's.
        steady_rows: a cut just after a row's content holds ``row_match`` of the content of each of
            this many rows before it, and this share of its row at least ...
        dead_content: ... (a mask's edge cut straight near a slice's border holds less: 28% in
            pydicom's MR_small under its mask; cuts through the heads of the training scans 41-76%).
        boundary_share: a cut on a slice boundary follows a slice holding this share of the median
            slice's content ...
        boundary_min_content: ... and at least this share of content at all.
    """

    cut_lost_share: float = 0.25
    arrived_match: float = 0.8
    early_lost_share: float = 0.9
    early_arrived_match: float = 0.5
    row_content: float = 0.5
    row_match: float = 0.8
    steady_rows: int = 4
    dead_content: float = 0.35
    boundary_share: float = 0.5
    boundary_min_content: float = 0.05


LOST_SLICES = LostSliceThresholds()
TRUNCATION = TruncationThresholds()


def find_lost_slices(volume: Volume, constant: np.ndarray, fractions: np.ndarray, labels: np.ndarray) -> None:
    missing = (volume.meta.get("dicom") or {}).get("missing") or []
    for k in missing:
        labels[:, :, k] = LOST_SLICES_CODE
    typical = float(np.median(fractions[~constant])) if (~constant).any() else 1.0
    min_content_beside = max(LOST_SLICES.min_content_beside, LOST_SLICES.share_of_typical_beside * typical)
    runs, n = ndimage.label(constant)
    for r in range(1, n + 1):
        ks = np.nonzero(runs == r)[0]
        before, after = ks[0] - 1, ks[-1] + 1
        sides = [fractions[k] for k in (before, after) if 0 <= k < len(constant)]
        if len(sides) == 2:
            # content on both sides: not the empty air beyond the head's top
            lost = min(sides) >= min_content_beside
        else:
            # at the scan's edge: a short run beside a slice as full as the scan's typical one (anatomy
            # does not stop dead at a slice; the empty slices around a head or a padded grid border
            # slices with little content, and run for longer)
            lost = (len(sides) == 1 and len(ks) <= LOST_SLICES.edge_run
                    and sides[0] >= LOST_SLICES.edge_content * typical)
        if lost:
            labels[:, :, ks[0]:ks[-1] + 1] = LOST_SLICES_CODE


def find_truncation(array: np.ndarray, fills: list[float], constant: np.ndarray, fractions: np.ndarray,
                    labels: np.ndarray, tile: int = 0) -> None:
    """The tail of the stream (Fortran order: i fastest, then j, then k) at one fill value, cutting
    content. ``tile``: the tile width of a mosaic, whose tiles can end in black rows of their own, so
    that a tail of fill starting at a tile's edge is no cut (a real cut lands there once in ``tile``)."""
    ni, nj, nk = array.shape
    tail_value = array[-1, -1, -1]
    if tail_value not in fills:
        return
    k = nk - 1
    while k >= 0 and constant[k] and array[0, 0, k] == tail_value:
        k -= 1
    if k < 0:
        return
    plane = np.asarray(array[:, :, k])
    differs = np.nonzero(plane.reshape(-1, order="F") != tail_value)[0]
    rest = int(differs[-1]) + 1
    if rest == ni * nj:  # the cut falls on a slice boundary
        k, rest = k + 1, 0
    j, i = divmod(rest, ni)
    if tile and i % tile == 0:
        return
    if (nk - k) * ni * nj - rest < SCAN.min_hole:  # a few voxels at the fill value end many a clean scan
        return
    if rest:
        # the cut runs through slice k. A tail at a value the scan holds nowhere it arrived (slice k
        # before the cut, every slice before) is lost data wherever the cut falls. At a value of its
        # own, a cut after the slice's content, where the slice before holds none either, cannot be
        # told from a scan that ends in anatomy and is padded with fill slices (a partial field of
        # view resampled onto a larger grid): it is left
        if not tail_value_is_foreign(array, plane, tail_value, k, rest):
            content = ~is_fill_value(plane, fills)
            if k > 0 and not constant[k - 1]:
                before = ~is_fill_value(np.asarray(array[:, :, k - 1]), fills)
                if before.reshape(-1, order="F")[rest:].sum() < SCAN.min_hole:
                    return
            if not (cut_is_abrupt_along_rows(content, i, j) or cut_ends_the_anatomy_dead(content, i, j)
                    or cut_against_slice_before(array, fills, constant, content, k, rest)):
                return
        plane_lost = np.zeros(ni * nj, dtype=bool)
        plane_lost[rest:] = True
        region = labels[:, :, k]
        region[plane_lost.reshape((ni, nj), order="F") & (region == 0)] = TRUNCATION_CODE
        k += 1
    # the cut falls on a slice boundary: the last slice that arrived must be rich in content, not the
    # thin top of a head
    elif k == 0 or k >= nk or fractions[k - 1] < max(
            TRUNCATION.boundary_share * np.median(fractions[~constant]), TRUNCATION.boundary_min_content):
        return
    tail = labels[:, :, k:]
    tail[tail == 0] = TRUNCATION_CODE


def cut_is_abrupt_along_rows(content: np.ndarray, i: int, j: int) -> bool:
    """A cut at (i, j) through a slice, abrupt along its rows: the row above is rich in content, also
    right of the cut, and the part of the cut row that arrived looks like the row above (a tapering
    edge of the anatomy thins out on both sides instead)."""
    if j == 0:
        return False
    above = content[:, j - 1]
    if above.mean() < TRUNCATION.row_content:
        return False
    return not (i and (content[:i, j].mean() < TRUNCATION.row_match * above[:i].mean()
                       or above[i:].mean() < TRUNCATION.row_content))


def tail_value_is_foreign(array: np.ndarray, plane: np.ndarray, tail_value, k: int, rest: int) -> bool:
    """Whether the value of the stream's tail is one the scan holds nowhere it arrived: not in the
    part of slice ``k`` before the cut (``rest`` voxels, content among them), nor in any slice before
    (the one before first, then the rest, stopping at the first that holds it). A failure writes its
    own constant (-1024 after rescaling a stored 0 over an MR's background of 0); a scan's own
    background or padding also lies where the stream arrived (odd slices padded with -1 hold it two
    slices before)."""
    arrived = plane.reshape(-1, order="F")[:rest]
    if arrived.size < SCAN.min_hole or tail_value != tail_value or (arrived == tail_value).any():  # (NaN)
        return False
    return not any((np.asarray(array[:, :, before]) == tail_value).any() for before in range(k - 1, -1, -1))


def cut_ends_the_anatomy_dead(content: np.ndarray, i: int, j: int) -> bool:
    """A cut at (i, j) through a slice just after the content of its row: the anatomy holds as much
    content in the row that arrived (a good share of it) as in each of the ``TRUNCATION.steady_rows``
    rows before it, then none at all. Anatomy narrows over several rows towards its edge (a head's
    chord shrinks as the square root of the distance to its top), so a steady width that stops dead
    is a cut; unless the slice's content also starts dead along a row or a column (a field of view
    that cuts the anatomy, padded or masked: its edges are the scan's own)."""
    rows = TRUNCATION.steady_rows
    if j < rows or j + rows >= content.shape[1]:  # (a cut in the last rows: no anatomy seen lost)
        return False
    arrived = int(content[:i, j].sum())
    if (arrived < max(SCAN.min_hole, TRUNCATION.dead_content * content.shape[0])
            or arrived < TRUNCATION.row_match * content[:, j - rows:j].sum(axis=0).max()):
        return False
    arrived_rows = content[:, :j]
    return not any(starts_dead(counts) for counts in (arrived_rows.sum(axis=0), arrived_rows.sum(axis=1),
                                                      arrived_rows.sum(axis=1)[::-1]))


def starts_dead(counts: np.ndarray) -> bool:
    """Whether content counted along rows (``counts``, in order) starts at its full width after rows of
    fill: its first row with content holds ``TRUNCATION.row_match`` of the most of the
    ``steady_rows`` rows after it (content from the slice's first row on is the field of view's edge)."""
    rows = TRUNCATION.steady_rows
    first = int(np.argmax(counts > 0))
    start = counts[first:first + rows + 1]
    return (first > 0 and len(start) > rows and start[0] > 0
            and start[0] >= TRUNCATION.row_match * start[1:].max())


def cut_against_slice_before(array: np.ndarray, fills: list[float], constant: np.ndarray, content: np.ndarray,
                             k: int, rest: int) -> bool:
    """A cut after ``rest`` voxels of slice ``k``, judged against the slice before: where the slice
    arrived it holds about as much content as that slice there, and that slice holds a good share of
    its content beyond the cut (the top of a head, where the scan ends, narrows slice by slice: little
    of the slice before lies beyond its last voxel). Cuts near the edge of the anatomy pass here,
    where the rows beside them are mostly background."""
    if k == 0 or constant[k - 1]:
        return False
    before = ~is_fill_value(np.asarray(array[:, :, k - 1]), fills).reshape(-1, order="F")
    arrived = content.reshape(-1, order="F")[:rest]
    lost_share = before[rest:].sum() / max(before.sum(), 1)
    # content on both sides of the cut: a flip or two in an empty slice above a head is no slice that
    # arrived
    enough = before[:rest].sum() >= SCAN.min_hole and arrived.sum() >= SCAN.min_hole
    early = lost_share >= TRUNCATION.early_lost_share
    match = TRUNCATION.early_arrived_match if early else TRUNCATION.arrived_match
    return enough and lost_share >= TRUNCATION.cut_lost_share and arrived.sum() >= match * before[:rest].sum()
