"""Lost scan lines: runs of whole rows or columns at a fill value with content on both sides."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.kinds import LOST_LINES_CODE
from medinpaint.repair.detection.partial_lines import (
    PARTIAL_LINES,
    along_lines,
    between_lost_lines,
    content_on_both_sides,
    find_partial_lines,
    in_long_runs,
    lost_line_parts,
    near_content,
)
from medinpaint.repair.detection.slabs import (
    content_across,
    fill_with_context,
    for_each_slab,
    is_fill_value,
    to_volume_indices,
)


@dataclass(frozen=True)
class LostLineThresholds:
    """When a run of whole fill-valued lines is lost.

    Args:
        content_beside: the lines on each side of the run hold at least this share of content; once
            the scan lost whole lines across the same axis by that rule (a stream that drops lines),
            on one side only, the other side's lines or the scan's edge beside it anything, in a run
            of ``PARTIAL_LINES.thickness`` lines at most: a run at the edge of the anatomy or of the
            scan (not the background beyond the anatomy, thicker; at the scan's edge only where
            judged against the slices beside too).
        certain_beside: ... or, in such a scan, content on both sides of at least this share: a line
            lost across the narrow top of a head (interleaved lines there held 7-29% on each side).
        nearly_full: in such a scan, a line beside the run that is this share fill joins it (its fill
            only is labelled): the first and last line of a run cut mid-line.
        content_across: the slice before or after (or two on) holds this share of content along them.
    """

    content_beside: float = 0.3
    certain_beside: float = 0.1
    nearly_full: float = 0.9
    content_across: float = 0.3


LOST_LINES = LostLineThresholds()


def whole_lines(is_fill: np.ndarray) -> list[np.ndarray]:
    """Per axis, which lines across it (lines, slices) of a slab are fill from end to end."""
    return [is_fill.all(axis=1), is_fill.all(axis=0)]


def runs_along_lines(full: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True along axis 0 of a (lines, slices) array: (slice, first line, line after the run)."""
    edges = np.diff(np.pad(full, ((1, 1), (0, 0))).astype(np.int8), axis=0)
    start_k, start = np.nonzero(edges.T == 1)  # ordered by slice, then line: starts and stops pair up
    _, stop = np.nonzero(edges.T == -1)
    return start_k, start, stop


def share_along(content: np.ndarray, axis: int, lines: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """The share of content along each line ``lines`` (of ``axis``) of slice ``ks``: counted only
    where asked, not for every line of the slab."""
    along = content[lines, :, ks] if axis == 0 else content[:, lines, ks].T
    return np.count_nonzero(along, axis=1) / content.shape[1 - axis]


def find_lost_lines(is_fill: np.ndarray, content: np.ndarray, content_slices: np.ndarray, labels: np.ndarray,
                    fill_context: Callable[[], tuple] | None, certain: tuple[bool, bool] = (False, False),
                    foreign: tuple[np.ndarray, list[float], float] | None = None,
                    whole: list[np.ndarray] | None = None) -> np.ndarray:
    """Runs of whole lines at a fill value with content on both sides, and, in a scan of three slices
    or more, content along them in the slice before or after (or two slices on, where the slice beside
    lost the same lines; :func:`content_across`; in a scan known to have lost lines, wherever the slice
    beside holds fill, except along the plane's edge): the midline of a symmetric template cut off below
    its CSF is a line of 0 between two hemispheres, empty in the slices beside it too.
    ``content_slices``: the slab's slices with content for fill to cut into; ``fill_context`` as for
    :func:`find_packet_loss`. ``certain``: per axis, whether the scan lost whole lines across it (then
    content on one side will do: :class:`LostLineThresholds`; only unlabelled voxels are labelled, and
    only near content). ``foreign``: the slab's values, the scan's own background values and a
    contrast, for :func:`foreign_runs`. ``whole``: per axis, the whole lines of fill across it
    (:func:`whole_lines`), where the caller has them. Returns how many voxels were labelled in lines
    across axis 0 and 1."""
    labelled = np.zeros(2, dtype=np.int64)
    full_lines = whole_lines(is_fill) if whole is None else whole
    for axis in (1, 0):  # rows (j) first: a scan line runs along i; then whole columns (i)
        full = full_lines[axis]  # (lines, slices)
        ks, starts, stops = runs_along_lines(full & content_slices[np.newaxis, :])
        if certain[axis]:  # with the lines a cut stream left nearly all fill beside them
            starts, stops = widened(is_fill, axis, ks, starts, stops)
        before, after = content_beside(content, axis, ks, starts, stops)
        if certain[axis]:  # content on one side, in a run no thicker than a band
            taken = (((np.maximum(before, after) >= LOST_LINES.content_beside)
                      | (np.minimum(before, after) >= LOST_LINES.certain_beside))
                     & (stops - starts <= PARTIAL_LINES.thickness))
            if fill_context is None:  # in a single slice, a scan's edge line of 0 is as likely its own
                taken &= (starts > 0) & (stops < full.shape[0])
        else:
            taken = np.minimum(before, after) >= LOST_LINES.content_beside
            if foreign is not None and not taken.all():
                taken |= foreign_runs(*foreign, axis, ks, starts, stops)
        for k, a, b in zip(ks[taken], starts[taken], stops[taken], strict=True):
            lines = (slice(None), slice(a, b)) if axis == 1 else (slice(a, b), slice(None))
            # in a scan that lost lines, the slice beyond judges where the slice beside holds fill too,
            # but not along the plane's edge (the anatomy's own background runs along it, and varies)
            by_voxel = certain[axis] and a > 0 and b < full.shape[0]
            if fill_context is not None and not content_across(*fill_context(), lines, k,
                                                               LOST_LINES.content_across, by_voxel):
                continue
            free = labels[lines + (k,)] == 0
            if certain[axis]:  # not the stretches of background a line cut from mid-line runs on into
                free &= near_run(content[:, :, k], axis, a, b) & is_fill[lines + (k,)]
            labels[lines + (k,)][free] = LOST_LINES_CODE
            labelled[axis] += np.count_nonzero(free)
    return labelled


def foreign_runs(values: np.ndarray, background: list[float], contrast: float, axis: int, ks: np.ndarray,
                 starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Which runs of whole fill lines hold one value, not the scan's ``background``, with lines on
    both sides far (beyond ``contrast``) from it for ``LostLineThresholds.content_beside`` of their
    length: a line of -1024 written across a background of 0 (both fill values, so the share of
    content beside it says nothing)."""
    taken = np.zeros(len(ks), dtype=bool)
    first = values[starts, 0, ks] if axis == 0 else values[0, starts, ks]  # (a clean scan's are its own)
    inside = (starts > 0) & (stops < values.shape[axis]) & ~np.isin(first, background)
    for index in np.nonzero(inside)[0]:
        k, a, b = ks[index], starts[index], stops[index]
        run = values[a:b, :, k] if axis == 0 else values[:, a:b, k].T
        value = run.flat[0]
        if not (run == value).all():
            continue
        beside = [values[line, :, k] if axis == 0 else values[:, line, k] for line in (a - 1, b)]
        with np.errstate(invalid="ignore"):
            taken[index] = all(np.mean(np.abs(line.astype(np.float64) - value) > contrast)
                               >= LOST_LINES.content_beside for line in beside)
    return taken


def near_run(content: np.ndarray, axis: int, a: int, b: int) -> np.ndarray:
    """Which voxels of lines ``a`` to ``b`` (across ``axis``) of a plane have content within
    ``PARTIAL_LINES.thickness`` lines across (:func:`near_content`), in the run's own layout."""
    reach = PARTIAL_LINES.thickness
    low, high = max(0, a - reach), min(content.shape[axis], b + reach)
    window = content[low:high] if axis == 0 else content[:, low:high].T
    near = near_content(~window)[a - low:b - low]
    return near if axis == 0 else near.T


def widened(is_fill: np.ndarray, axis: int, ks: np.ndarray, starts: np.ndarray,
            stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of whole fill lines taken with the lines beside them that are ``LOST_LINES.nearly_full``
    fill, up to ``PARTIAL_LINES.thickness`` lines in all: a run of lost lines cut mid-line is whole
    lines between two lines lost nearly whole, whose few voxels of content say nothing of the run."""
    starts, stops = starts.copy(), stops.copy()
    for _ in range(PARTIAL_LINES.thickness - 1):
        for side in (-1, 1):
            line = starts - 1 if side < 0 else stops
            inside = (line >= 0) & (line < is_fill.shape[axis]) & (stops - starts < PARTIAL_LINES.thickness)
            grow = np.zeros(len(ks), dtype=bool)
            grow[inside] = share_along(is_fill, axis, line[inside], ks[inside]) >= LOST_LINES.nearly_full
            if side < 0:
                starts -= grow
            else:
                stops += grow
    return starts, stops


def content_beside(content: np.ndarray, axis: int, ks: np.ndarray, starts: np.ndarray,
                   stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The share of content along the line before and the line after each run (0 beyond the scan's
    edge: the scan's own edge is no lost line unless the scan lost lines)."""
    before, after = np.zeros(len(ks)), np.zeros(len(ks))
    inside = starts > 0
    before[inside] = share_along(content, axis, starts[inside] - 1, ks[inside])
    inside = stops < content.shape[axis]
    after[inside] = share_along(content, axis, stops[inside], ks[inside])
    return before, after


def find_more_lost_lines(array: np.ndarray, fills: list[float], content_slices: np.ndarray,
                         labels: np.ndarray, certain: tuple[bool, bool], slab: int, across: bool,
                         contrast: float) -> list[float]:
    """A second pass over the slabs, only in a scan that lost whole lines across an axis (``certain``):
    the runs beside content on one side only (:func:`find_lost_lines`) and, in a scan of three
    slices or more, the bands along the scan's edge (:func:`edge_bands`) and the bands of
    ``PARTIAL_LINES.certain_length`` voxels and more with content in the slices on both sides
    (:func:`find_partial_lines`, grown along their line: :func:`lost_line_parts`); of the fill
    value the lost lines found hold (:func:`lost_line_values`), on its own: voxels of another fill
    value are content then (the background of 0 a line of -1024 cuts through), where further than
    ``contrast`` from it. ``across``: judged against the slices beside too (a scan of three slices
    or more). Returns those fill values."""
    values = lost_line_values(array, fills, labels, slab)

    def look(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        region = labels[:, :, part]
        for value in values:
            is_fill = is_fill_value(block, [value])
            content = ~is_fill & (np.abs(block.astype(np.float64) - value) > contrast)
            context = (functools.cache(lambda: fill_with_context(array, part, is_fill, [value]))  # noqa: B023
                       if across else None)
            find_lost_lines(is_fill, content, content_slices[part], region, context, certain)
            if context is None:  # an edge band or a short band in a single slice is as likely anatomy;
                # a band of the first look's length beside a line found lost is an interleaved stream's
                bands = find_partial_lines(block, is_fill, contrast, content_slices[part], region, None,
                                           beside_lost=True)
                for axis in np.nonzero(certain)[0]:
                    lost_line_parts(array, [value], labels, [to_volume_indices(bands[axis], part.start)],
                                    int(axis), True, {})
                continue
            for axis in np.nonzero(certain)[0]:
                edge_bands(block, is_fill, content_slices[part], region, context, int(axis), contrast)
            short = find_partial_lines(block, is_fill, contrast, content_slices[part], region, context,
                                       PARTIAL_LINES.certain_length, both_sides=True, beside_lost=True)
            for axis in np.nonzero(certain)[0]:
                between = between_lost_lines(is_fill, region, int(axis), context)
                lost_line_parts(array, [value], labels, [to_volume_indices(short[axis], part.start),
                                                         to_volume_indices(between, part.start)],
                                int(axis), True, {})
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)
    return values


def lost_line_values(array: np.ndarray, fills: list[float], labels: np.ndarray, slab: int) -> list[float]:
    """The fill value most of the voxels labelled lost lines hold (NaN aside), as a list (empty where
    none): the stream's fill; the scan's other fill values in a line grown across background are not."""
    counts: dict[float, int] = {}

    def look(part: slice) -> None:
        lost = labels[:, :, part] == LOST_LINES_CODE
        if lost.any():
            held, times = np.unique(np.asarray(array[:, :, part])[lost], return_counts=True)
            for value, n in zip(held.tolist(), times.tolist(), strict=True):
                if value == value and value in fills:
                    counts[value] = counts.get(value, 0) + n

    for_each_slab(array.shape[2], slab, look)
    return [max(counts, key=counts.get)] if counts else []


def edge_bands(block: np.ndarray, is_fill: np.ndarray, content_slices: np.ndarray, labels: np.ndarray,
               fill_context: Callable[[], tuple] | None, axis: int, contrast: float) -> None:
    """Bands of fill along the scan's first or last line across ``axis`` (and up to
    ``PARTIAL_LINES.thickness`` lines in all from it), with content on the ``PARTIAL_LINES.margin``
    lines inside them (further than ``contrast`` from the band's value: not a resampled floor's
    near-fill air) over ``PARTIAL_LINES.length`` voxels at least: pieces of lost lines with the scan's
    edge for their other side (the band rule of :mod:`partial_lines` asks for content on both).
    Labelled where the slice beside holds content there (a band of two or three lines: where both
    slices beside hold nearly all of it), and grown along the line."""
    fill = np.moveaxis(is_fill, axis, 0)  # (lines, along, slices)
    values = np.moveaxis(block, axis, 0)
    margin, n = PARTIAL_LINES.margin, fill.shape[0]
    for thick in range(1, PARTIAL_LINES.thickness + 1):  # the edge line and up to thickness - 1 inside it
        if n <= max(2 * margin, thick + margin):  # (as before bands grew thicker: no plane of 4 lines)
            return
        for edge, inward in ((0, 1), (n - 1, -1)):
            band = fill[edge] & content_slices[np.newaxis, :]
            for d in range(1, thick):
                band &= fill[edge + inward * d]
            own = values[edge].astype(np.float64)
            with np.errstate(invalid="ignore"):  # NaN: no content
                for d in range(thick, thick + margin):
                    band &= ~fill[edge + inward * d] & (np.abs(values[edge + inward * d] - own) > contrast)
            band = in_long_runs(band, PARTIAL_LINES.length)
            ks, starts, stops = runs_along_lines(band)
            lines = slice(edge, edge + thick) if inward == 1 else slice(edge - thick + 1, edge + 1)
            for k, a, b in zip(ks, starts, stops, strict=True):  # each band on its own
                box = (lines, slice(a, b)) if axis == 0 else (slice(a, b), lines)
                # thicker, the slices on both sides hold nearly all of it: a rounded head nearing the
                # edge a row a slice leaves air there that the slice beside holds on one side only
                if fill_context is not None and not (
                        content_across(*fill_context(), box, k, PARTIAL_LINES.content_across) if thick == 1
                        else content_on_both_sides(*fill_context(), box, k, PARTIAL_LINES.certain_across)):
                    continue
                seeds = np.zeros(fill.shape[:2], dtype=bool)
                seeds[lines, a:b] = True
                plane = labels[:, :, k] if axis == 0 else labels[:, :, k].T
                lost = along_lines(fill[:, :, k], seeds, 0)
                plane[lost & (plane == 0)] = LOST_LINES_CODE


def stream_continuations(array: np.ndarray, fills: list[float], labels: np.ndarray, axis: int) -> int:
    """The fill a cut stream leaves where it runs on past the end of a lost line across ``axis`` into
    the start of the next (or from the start of one back to the end of the one before), in slices with
    lost lines: a run of lost lines cut mid-line is whole lines and a piece of one beside them too short,
    or too near the anatomy's edge, for a band (:mod:`partial_lines`). Grown along the line near
    content (:func:`along_lines`). Returns how many voxels it labelled."""
    labelled = 0
    if not fills:
        return labelled
    for k in np.nonzero((labels == LOST_LINES_CODE).any(axis=(0, 1)))[0]:
        lost = labels[:, :, k] == LOST_LINES_CODE
        fill = is_fill_value(np.asarray(array[:, :, k]), fills)
        lost, fill = (lost.T, fill.T) if axis == 1 else (lost, fill)  # lines run along axis 1
        seeds = np.zeros_like(fill)
        seeds[1:, 0] = lost[:-1, -1] & fill[1:, 0]  # the next line's start, after a lost end
        seeds[:-1, -1] = lost[1:, 0] & fill[:-1, -1]  # the line before's end, before a lost start
        seeds &= ~lost & near_content(fill)  # not the air beside a lost line's end
        if not seeds.any():
            continue
        grown = along_lines(fill, seeds, 0)
        plane = labels[:, :, k].T if axis == 1 else labels[:, :, k]
        labelled += int(np.count_nonzero(grown & (plane == 0)))
        plane[grown & (plane == 0)] = LOST_LINES_CODE
    return labelled
