"""Lost parts of lines: a stream cut inside a line (a run of lost lines that starts and stops mid-line,
or a segment of one line) leaves a thin band of fill across content, and no whole line for the
whole-line rule to see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.repair.detection.kinds import KINDS, LOST_LINES_CODE
from medinpaint.repair.detection.slabs import (
    CONTEXT,
    content_across,
    is_fill_value,
    runs_of_true,
    share_across,
)


@dataclass(frozen=True)
class PartialLineThresholds:
    """When a band of fill along a line is part of a lost line.

    Args:
        length: the band runs this many voxels along the line at least, with the same lines at fill at
            each of them (``certain_length`` in a scan that lost whole lines across the same axis: a
            short segment of one line) ...
        thickness: ... at most this many lines, and content just outside both of them: the straight
            edges a cut stream leaves (a gap in anatomy meanders, and a thin one rarely keeps both edges
            on the same lines for that long).
        margin: lines of content on both sides of the band all along it (a lost line cuts through
            tissue; a gap between two slivers a brain mask left has one line of content on each side;
            beside the plane's border line, that line alone) ...
        contrast: ... content that lies further than this share of the scan's value range from the
            band's value (not the near-fill air a resampled floor leaves beside a band of the floor).
        content_across: in a scan of three slices or more, the slice before or after (or two on) holds
            this share of content where the band is ...
        certain_across: ... and for a band of ``certain_length``, the slices before and after both
            hold this share: nearly all (a template's midline of 0 widened by a line of fill beside
            it holds half).
    """

    length: int = 16
    certain_length: int = 8
    thickness: int = 3
    margin: int = 2
    contrast: float = 0.002
    content_across: float = 0.3
    certain_across: float = 0.9


PARTIAL_LINES = PartialLineThresholds()
LOST_LINES_KIND = KINDS[LOST_LINES_CODE - 1]


def band_starts(fill: np.ndarray, values: np.ndarray, margin: int, thickest: int,
                contrast: float, lost: np.ndarray | None = None) -> list[np.ndarray]:
    """For each thickness t = 1..``thickest``: where a band of exactly t fill lines across axis 0 starts
    (fill there and on the next t - 1 lines; on the ``margin`` lines before and after, content: no fill,
    and ``values`` further than ``contrast`` from the band's own value, so that the near-fill air a
    resampled floor leaves beside a band of the floor is no content: a CT's air clipped at -1024 and
    interpolated holds -1023 there). At the plane's border the margin is the lines it holds, one at
    least: a line lost next to the border line still has content on both sides. ``lost``: voxels of
    lines found lost, no band's and as good as content in a margin (an interleaved stream cut
    mid-line leaves a band with a lost line beside it)."""
    if lost is not None:
        fill = fill & ~lost
    n = fill.shape[0]
    least = min(margin, 1)  # lines of content each side needs at least
    found, run = [], fill.copy()  # run[p]: fill on lines p .. p + t - 1
    after = ~fill  # after[p]: no fill on lines p .. p + margin - 1, those in the plane
    before = ~fill  # before[p]: no fill on lines p - margin + 1 .. p, those in the plane
    for d in range(1, min(margin, n)):
        after[:n - d] &= ~fill[d:]
        before[d:] &= ~fill[:n - d]
    for t in range(1, thickest + 1):
        if t > 1:
            run[:n - t + 1] &= fill[t - 1:]
            run[n - t + 1:] = False
        starts = np.zeros_like(fill)
        inner = n - t - 2 * least + 1  # starts p = least .. least + inner - 1
        if inner > 0:
            band = run[least:least + inner].copy()
            if margin:
                band &= before[:inner]  # the margin before the band ...
                band &= after[least + t:least + t + inner]  # ... and after it
            # the contrast, only where the rest holds (few places; lines beyond the border: the border's)
            where = np.nonzero(band)
            own = values[(where[0] + least,) + where[1:]].astype(np.float64)
            keep = np.ones(len(own), dtype=bool)
            with np.errstate(invalid="ignore"):  # NaN: no content
                for d in list(range(-margin, 0)) + list(range(t, t + margin)):
                    at = np.clip(where[0] + least + d, 0, n - 1)
                    far = np.abs(values[(at,) + where[1:]] - own) > contrast
                    keep &= far if lost is None else far | lost[(at,) + where[1:]]
            band[tuple(w[~keep] for w in where)] = False
            starts[least:least + inner] = band
        found.append(starts)
    return found


def in_long_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """Which True voxels of ``mask`` lie in a run of ``length`` or more along axis 0."""
    starts = runs_of_true(mask, length)
    covered = np.zeros_like(mask)
    covered[:len(starts)] = starts
    reach = 1  # covered[p]: a run of ``length`` starts within ``reach`` before p
    while reach < length:
        step = min(reach, length - reach)
        covered[step:] |= covered[:-step]
        reach += step
    return covered


def find_partial_lines(block: np.ndarray, is_fill: np.ndarray, contrast: float,
                       content_slices: np.ndarray, labels: np.ndarray,
                       fill_context: Callable[[], tuple] | None, length: int = PARTIAL_LINES.length,
                       both_sides: bool = False, beside_lost: bool = False) -> list[tuple[np.ndarray, ...]]:
    """Bands of one to ``PARTIAL_LINES.thickness`` fill lines with content just outside both edges, the
    same lines over ``PARTIAL_LINES.length`` voxels along them at least, in slices with content (content:
    voxels of ``block`` further than ``contrast`` from the band's value; and,
    in a scan of three slices or more, content where the band is in a slice beside:
    :func:`content_across`). A stream cut mid-line leaves such bands: a run of lost lines that starts
    and stops inside a line is three of them (before its start, between, after its stop).

    Bands are looked for along whole lines only where one shows at two samples ``length // 2`` apart
    along them: any band that long holds two. Returns where the bands across axis 0 and across axis 1
    are (slab indices, not labelled: a template's straight line of 0 through tissue looks the same; the
    scan's other lost lines decide). ``length``: shorter in a scan known to have lost lines, and then
    ``both_sides``: content where the band is in the slices on both sides (:func:`across_supported`),
    and ``beside_lost``: lines labelled lost serve as a band's margin (:func:`band_starts`)."""
    margin = PARTIAL_LINES.margin
    step = length // 2
    found = []
    for axis in (0, 1):  # thin across axis, long along the other
        fill = np.moveaxis(is_fill, axis, 0)  # (across, along, slices)
        free = np.moveaxis(labels, axis, 0)
        voxels = []  # (across, along, slice) of band voxels
        values = np.moveaxis(block, axis, 0)
        lost = free == LOST_LINES_CODE if beside_lost else None
        sampled = band_starts(np.ascontiguousarray(fill[:, ::step]), values[:, ::step], margin,
                              PARTIAL_LINES.thickness, contrast, None if lost is None else lost[:, ::step])
        for thickness, starts in enumerate(sampled, start=1):
            pairs = starts[:, 1:] & starts[:, :-1] & content_slices[np.newaxis, np.newaxis, :]
            lines, ks = np.nonzero(pairs.any(axis=1))
            if not len(lines):
                continue
            # the span of each candidate (its margins and its band) along the whole line
            near = [np.clip(lines + d, 0, len(fill) - 1) for d in range(-margin, thickness + margin)]
            span = np.stack([fill[at, :, ks] for at in near])
            values_span = np.stack([values[at, :, ks] for at in near])
            lost_span = None if lost is None else np.stack([lost[at, :, ks] for at in near])
            span = band_starts(span, values_span, margin, thickness, contrast,
                               lost_span)[thickness - 1][margin]
            covered = in_long_runs(span.T, length).T
            for d in range(thickness):
                which, at = np.nonzero(covered & (free[lines + d, :, ks] == 0))
                voxels.append((lines[which] + d, at, ks[which]))
        where = tuple(np.concatenate(parts) for parts in zip(*voxels, strict=True)) if voxels else ()
        if not where or not len(where[0]):
            found.append((np.empty(0, dtype=np.intp),) * 3)
            continue
        where = (where[1], where[0], where[2]) if axis == 1 else where  # back to the slab's (i, j, k)
        where = np.unravel_index(np.unique(np.ravel_multi_index(where, is_fill.shape)), is_fill.shape)
        if fill_context is not None:
            where = across_supported(where, is_fill.shape, fill_context, both_sides)
        found.append(where)
    return found


def across_supported(where: tuple[np.ndarray, ...], shape: tuple[int, ...],
                     fill_context: Callable[[], tuple], both_sides: bool = False) -> tuple[np.ndarray, ...]:
    """The band voxels ``where`` (slab indices) of the bands (8-connected in their slice) that hold
    content in a slice beside (:func:`content_across`), or in the slices on ``both_sides``
    (:func:`content_on_both_sides`: a short band of fill where the slice beside holds one too is
    anatomy, a template's midline of 0 running through slices, more likely than a lost line twice)."""
    judge, share = ((content_on_both_sides, PARTIAL_LINES.certain_across) if both_sides
                    else (content_across, PARTIAL_LINES.content_across))
    keep = np.ones(len(where[0]), dtype=bool)
    for k in np.unique(where[2]):
        here = where[2] == k
        plane = np.zeros(shape[:2], dtype=bool)
        plane[where[0][here], where[1][here]] = True
        parts, _ = ndimage.label(plane, structure=np.ones((3, 3), bool))
        for index, box in enumerate(ndimage.find_objects(parts), start=1):
            if not judge(*fill_context(), box, k, share):
                plane[box] &= parts[box] != index
        keep[here] = plane[where[0][here], where[1][here]]
    return tuple(w[keep] for w in where)


def between_lost_lines(is_fill: np.ndarray, labels: np.ndarray, axis: int,
                       fill_context: Callable[[], tuple]) -> tuple[np.ndarray, ...]:
    """Fill between two lines found lost (across ``axis``; ``labels`` of the slab) along
    ``PARTIAL_LINES.certain_length`` voxels at least, with content where it lies in the slices on both
    sides (:func:`across_supported`): where every other line was lost (an interleaved stream), a line
    between them that lost a stretch has no content beside it for a band. Slab indices."""
    lost = np.moveaxis(labels == LOST_LINES_CODE, axis, 0)
    held = np.zeros_like(lost)
    held[1:-1] = np.moveaxis(is_fill & (labels == 0), axis, 0)[1:-1] & lost[:-2] & lost[2:]
    long = in_long_runs(np.swapaxes(held, 0, 1), PARTIAL_LINES.certain_length)
    where = np.nonzero(np.moveaxis(np.swapaxes(long, 0, 1), 0, axis))
    return across_supported(where, is_fill.shape, fill_context, both_sides=True) if len(where[0]) else where


def content_on_both_sides(context: np.ndarray, in_scan: np.ndarray, region: tuple[slice, slice], k: int,
                          share: float) -> bool:
    """Whether ``share`` of ``region`` (of slab slice ``k``) holds content in the slice before and in
    the slice after, those in the scan; where that slice is all fill there (lost too: whole lines lost
    at the same place of the slice beside), in the slice beyond it. ``context``, ``in_scan``: from
    :func:`fill_with_context`."""
    at = k + CONTEXT
    return all(share_across(context, in_scan, region, at, step) >= share
               for step in (-1, 1) if in_scan[at + step])


def lost_line_parts(array: np.ndarray, fills: list[float], labels: np.ndarray,
                    bands: list[tuple[np.ndarray, ...]], axis: int, certain: bool,
                    doubtful: dict[str, np.ndarray]) -> None:
    """Bands of fill lines across ``axis`` (:func:`find_partial_lines`, volume indices per slab) are
    lost lines where the scan lost whole lines across the same axis too (``certain``: a stream cut
    follows the stream's lines), and so is the fill that goes on from them along their line near
    content (:func:`along_lines`: a piece through thin tissue, or too short to be a band of its own);
    otherwise doubtful: a template's or a mask's straight line of fill through tissue looks the same."""
    where = tuple(np.concatenate(parts) for parts in zip(*bands, strict=True)) if bands else ()
    if not where or not len(where[0]):
        return
    where = tuple(w[labels[where] == 0] for w in where)
    if not len(where[0]):
        return
    if not certain:
        doubtful[LOST_LINES_KIND] = np.concatenate([doubtful.get(LOST_LINES_KIND, np.empty((0, 3), int)),
                                                    np.stack(where, axis=1)])
        return
    for k in np.unique(where[2]):
        here = where[2] == k
        seeds = np.zeros(array.shape[:2], dtype=bool)
        seeds[where[0][here], where[1][here]] = True
        plane = labels[:, :, k]
        lost = along_lines(is_fill_value(np.asarray(array[:, :, k]), fills), seeds, axis)
        plane[lost & (plane == 0)] = LOST_LINES_CODE


def along_lines(fill: np.ndarray, seeds: np.ndarray, axis: int) -> np.ndarray:
    """``seeds`` and the fill that goes on from them along their lines (lines across ``axis`` of the
    plane, running along the other) wherever content lies within ``PARTIAL_LINES.thickness`` lines."""
    fill, seeds = (fill, seeds) if axis == 0 else (fill.T, seeds.T)  # lines run along axis 1
    reach = (fill & near_content(fill)) | seeds
    starts = reach.copy()
    starts[:, 1:] &= ~reach[:, :-1]
    runs = np.cumsum(starts.ravel()).reshape(reach.shape) * reach  # each run along a line numbered
    seeded = np.zeros(int(runs.max()) + 1, dtype=bool)
    seeded[runs[seeds]] = True
    seeded[0] = False
    grown = seeded[runs]
    return grown if axis == 0 else grown.T


def near_content(fill: np.ndarray) -> np.ndarray:
    """Where content (no fill) lies within ``PARTIAL_LINES.thickness`` lines across axis 0 of a plane."""
    content = ~fill
    near = content.copy()
    for d in range(1, PARTIAL_LINES.thickness + 1):
        near[d:] |= content[:-d]
        near[:-d] |= content[d:]
    return near
