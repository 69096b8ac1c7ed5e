"""Lost scan lines cut from a stream: a run of the pixel stream lost from mid-line to mid-line wraps
from one line's end to the next line's start, and leaves a thin band of fill across content whose
edges step a line where the run starts and stops. Neither the whole-line rule (the lines beside a
whole lost line are half fill) nor the band rule (its edges are not straight for 16 voxels) sees it
where it is the scan's only lost line (pydicom's 16x16 CT5N, a 33x41 crop of nibabel's anatomical)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.kinds import LOST_LINES_CODE
from medinpaint.repair.detection.lost_lines import whole_lines
from medinpaint.repair.detection.partial_lines import PARTIAL_LINES, across_supported
from medinpaint.repair.detection.slabs import fill_with_context, is_fill_value


@dataclass(frozen=True)
class StreamCutThresholds:
    """When fill that wraps from one line's end to the next line's start is a lost stream.

    Args:
        thickness: the fill at each place along the lines is at most this many lines thick (two runs
            lost close together leave four), with ``PARTIAL_LINES.margin`` lines of content on both
            sides (content: further than the contrast from every fill value); on a line the run took
            only part of, for this ``share`` of the run's voxels there at least, and of all its voxels
            unless it takes in a whole line (not the background a run wraps through beside the
            anatomy, which may touch a cut's band: example4d's own 0 at the plane's border just
            beside two lines lost, in a run from the line before's end) ...
        share: see ``thickness``.
        voxels: ... and the voxels so held, 8-connected in their slice, number this many at least and
            take in a whole line of fill ...
        crossing: ... held along this share of its length at least: the cut crossed the anatomy from
            side to side (or, where the cut took no whole line, its band holds every place along the
            lines: it crossed the plane from border to border). A notch of background reaching into
            tissue from the side (a thin gap at the fill, its run wrapping through the background
            beside the head) never crosses it; a line of fill between the brain and a short sliver a
            mask left beside it (ch2bet: 11 of 217 voxels) runs mostly through background.
    """

    thickness: int = 4
    share: float = 0.5
    voxels: int = 16
    crossing: float = 0.3


STREAM_CUTS = StreamCutThresholds()


def wrapping_runs(fill: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of fill along the stream (lines of each slice in turn, along axis 1 fastest) that wrap
    from one line to the next: a run id per voxel (0: none) shaped as ``fill``, and per id (0 first)
    the run's first line and how many lines it touches."""
    n, w, nk = fill.shape
    stream = np.ascontiguousarray(fill.transpose(2, 0, 1)).reshape(nk, n * w)
    edges = np.diff(np.pad(stream, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    ks, starts = np.nonzero(edges == 1)  # ordered by slice, then place: starts and stops pair up
    _, stops = np.nonzero(edges == -1)
    wraps = starts // w != (stops - 1) // w
    ks, starts, stops = ks[wraps], starts[wraps], stops[wraps]
    marks = np.zeros((nk, n * w + 1), dtype=np.int32)
    ids = np.arange(1, len(ks) + 1, dtype=np.int32)
    marks[ks, starts] = ids
    marks[ks, stops] = -ids
    run = np.cumsum(marks, axis=1, dtype=np.int32)[:, :-1].reshape(nk, n, w).transpose(1, 2, 0)
    first = np.concatenate([[0], starts // w])
    return run, first, np.concatenate([[0], (stops - 1) // w - starts // w + 1])


def held_between(inside: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Voxels of ``inside`` (lines, along, slices) in a stretch of it across the lines at most
    ``STREAM_CUTS.thickness`` thick with ``PARTIAL_LINES.margin`` lines of content before and after."""
    n, margin = inside.shape[0], PARTIAL_LINES.margin
    before = np.zeros_like(content)  # before[p]: content on lines p - margin .. p - 1
    after = np.zeros_like(content)  # after[p]: content on lines p + 1 .. p + margin
    if n > margin:
        before[margin:] = content[:n - margin]
        after[:n - margin] = content[margin:]
        for d in range(1, margin):
            before[margin:] &= content[margin - d:n - d]
            after[:n - margin] &= content[d:n - margin + d]
    held = np.zeros_like(inside)
    for t in range(1, STREAM_CUTS.thickness + 1):
        if n < t + 2 * margin:
            break
        band = before[:n - t + 1] & after[t - 1:]  # a stretch of lines p .. p + t - 1
        for d in range(t):
            band &= inside[d:n - t + 1 + d]
        for d in range(t):
            held[d:n - t + 1 + d] |= band
    return held


def crossing_lines(is_fill: np.ndarray, full: np.ndarray, content_slices: np.ndarray,
                   axis: int) -> tuple[np.ndarray, bool]:
    """(lines across ``axis``, slices): whole lines of fill (``full``, as :func:`find_lost_lines` has
    them), in the slices with content, that a cut's band could cross the anatomy by: no fill within
    ``STREAM_CUTS.thickness`` lines on both sides at ``STREAM_CUTS.crossing`` of their places; and
    whether two lines side by side, neither whole, could be a cut's band across the plane: fill at
    every place in one of them (the first's end, the second's start and three places between first),
    and no fill within that many lines on both sides at every place."""
    fill = np.moveaxis(is_fill, axis, 0)
    n, width, reach = fill.shape[0], fill.shape[1], STREAM_CUTS.thickness
    near = full & content_slices[np.newaxis, :]  # whole lines with lines not whole near them both ways
    before, after = np.zeros_like(near), np.zeros_like(near)
    for d in range(1, min(reach, n - 1) + 1):
        before[d:] |= ~full[:n - d]
        after[:n - d] |= ~full[d:]
    whole = np.zeros_like(full)
    for p, k in zip(*np.nonzero(near & before & after), strict=True):
        if 0 < p < n - 1:
            above = ~fill[max(0, p - reach):p, :, k].all(axis=0)
            below = ~fill[p + 1:p + 1 + reach, :, k].all(axis=0)
            whole[p, k] = np.count_nonzero(above & below) >= STREAM_CUTS.crossing * width
    maybe = fill[:-1, -1] & fill[1:, 0] & ~full[:-1] & ~full[1:] & content_slices[np.newaxis, :]
    for place in (width // 4, width // 2, 3 * width // 4):
        maybe &= fill[:-1, place] | fill[1:, place]
    pair = False
    for p, k in zip(*np.nonzero(maybe), strict=True):
        if (0 < p < n - 2 and (fill[p, :, k] | fill[p + 1, :, k]).all()
                and not fill[max(0, p - reach):p + 1, :, k].all(axis=0).any()
                and not fill[p + 1:p + 2 + reach, :, k].all(axis=0).any()):
            pair = True
            break
    return whole, pair


def may_hold_cuts(is_fill: np.ndarray, full: list[np.ndarray], content_slices: np.ndarray) -> bool:
    """Whether a slab (``full``: per axis, its whole lines of fill across it, as the lost-line rule
    counts them) has lines a stream cut could cross the anatomy by (:func:`crossing_lines`): checks
    that need only the lines near those the slab's whole lines and line ends point to."""
    looks = (crossing_lines(is_fill, full[axis], content_slices, axis) for axis in (0, 1))
    return any(whole.any() or pair for whole, pair in looks)


def find_stream_cuts(array: np.ndarray, fills: list[float], content_slices: np.ndarray, labels: np.ndarray,
                     parts: list[slice], contrast: float, across: bool) -> None:
    """Label the stream cuts (:func:`cuts_in_slab`) in the slabs ``parts`` of the scan, once the other
    lost-line rules are done: where they found the lines, their own later looks judge them (the
    second look grows a cut's lines along them, which a voxel labelled here would stop). ``across``:
    judged against the slices beside too (a scan of three slices or more)."""
    for part in parts:
        block = np.asarray(array[:, :, part])
        is_fill = is_fill_value(block, fills)
        context = functools.cache(functools.partial(fill_with_context, array, part, is_fill, fills))
        cuts_in_slab(block, is_fill, whole_lines(is_fill), content_slices[part], labels[:, :, part], fills,
                     contrast, context if across else None)
        drop_mapped_pages(array, part.start, part.stop)


def cuts_in_slab(block: np.ndarray, is_fill: np.ndarray, full: list[np.ndarray], content_slices: np.ndarray,
                 labels: np.ndarray, fills: list[float], contrast: float,
                 fill_context: Callable[[], tuple] | None) -> int:
    """Label (in ``labels``, the slab's) the voxels of stream cuts across lines along either in-plane
    axis (``full``: per axis, the whole lines of fill across it): voxels of fill runs that wrap from
    one line to the next, held between content across the lines (:func:`held_between`), in a piece
    that crosses the anatomy (:class:`StreamCutThresholds`); in a scan of three slices or more, only
    where a slice beside holds content there (:func:`across_supported`). Returns how many voxels were
    labelled."""
    looks = [crossing_lines(is_fill, full[axis], content_slices, axis) for axis in (0, 1)]
    if not any(whole.any() or pair for whole, pair in looks):
        return 0
    fill = is_fill & content_slices[np.newaxis, np.newaxis, :]
    content = ~is_fill
    values = block.astype(np.float64)
    with np.errstate(invalid="ignore"):  # a NaN voxel: no content (a NaN fill, the minimum of a scan
        for value in fills:  # holding NaN, is no value to stand apart from)
            if value == value:
                content &= np.abs(values - value) > contrast
    labelled = 0
    for axis, (whole, pair) in enumerate(looks):  # lines across axis 0 (the stream along axis 1), then 1
        if not (whole.any() or pair):
            continue
        run, first, spans = wrapping_runs(np.moveaxis(fill, axis, 0))
        count = len(first) - 1
        held = held_between(run > 0, np.moveaxis(content, axis, 0))
        # on a line the cut took only part of, most of the run there held, and most of the run held
        # unless it takes in a whole line (not the background a run wraps through beside the anatomy,
        # which may touch a cut's band, or a gap of the scan's own beyond it); each run's lines are
        # numbered one after another (0: no run)
        offset = np.cumsum(spans) - spans + 1
        offset[0] = 0
        line = np.arange(run.shape[0])[:, np.newaxis, np.newaxis]
        on_line = np.where(run > 0, offset[run] + line - first[run], 0)
        size = int(spans.sum()) + 1
        mostly = (np.bincount(on_line[held], minlength=size)
                  >= STREAM_CUTS.share * np.bincount(on_line.ravel(), minlength=size))
        whole_line = np.broadcast_to(whole[:, np.newaxis, :], run.shape)
        run_mostly = np.bincount(run[held], minlength=count + 1) >= STREAM_CUTS.share * np.bincount(
            run.ravel(), minlength=count + 1)
        run_mostly[run[whole_line]] = True
        held &= whole_line | (mostly[on_line] & run_mostly[run])
        taken = np.zeros_like(held)
        for k in np.nonzero(held.any(axis=(0, 1)))[0]:
            parts, n = ndimage.label(held[:, :, k], structure=np.ones((3, 3), bool))
            on_whole = parts[whole[:, k]]  # each piece's voxels on each whole line of fill
            lines = on_whole + (n + 1) * np.arange(len(on_whole))[:, np.newaxis]
            held_along = np.bincount(lines.ravel(), minlength=(n + 1) * len(on_whole)).reshape(-1, n + 1)
            crossing = (held_along >= STREAM_CUTS.crossing * parts.shape[1]).any(axis=0)
            # or a cut too short for a whole line whose band still spans the plane from border to border
            places = np.unique(parts * parts.shape[1] + np.arange(parts.shape[1]))
            crossing |= np.bincount(places // parts.shape[1], minlength=n + 1) == parts.shape[1]
            crossing &= np.bincount(parts.ravel(), minlength=n + 1) >= STREAM_CUTS.voxels
            crossing[0] = False
            taken[:, :, k] = crossing[parts]
        taken = np.moveaxis(taken, 0, axis)
        where = np.nonzero(taken & (labels == 0))
        if fill_context is not None and len(where[0]):
            where = across_supported(where, is_fill.shape, fill_context)
        labels[where] = LOST_LINES_CODE
        labelled += len(where[0])
    return labelled
