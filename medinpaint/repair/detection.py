"""Find damage in a scan without being told where it is.

Each detector looks for a trace that a transmission or storage failure leaves and a real anatomy does
not, working on the stored values (where the failure happened):

- lost slices: missing instances of a DICOM series (from the positions), or a constant slice between
  two slices with content, or up to three at the scan's edge beside a slice full of content;
- lost scan lines: whole rows (or columns) at a fill value (0, the image minimum or the padding value)
  with content on both sides, and along them in a slice beside;
- lost packets: fill-valued regions aligned to an 8 or 16 pixel tile grid, or exact rectangles inside
  content that stands out from the fill; a whole tile beside the background where content runs
  straight along two of its sides and fills it in a slice beside it (or two slices on, where the
  slice beside lost the same tile);
- truncation: the tail of a pixel stream (raster order: row by row, slice by slice; a Siemens mosaic's
  own rows) at a fill value, cutting through content, 16 voxels long at least;
- corrupted blocks: rectangles of garbage, far rougher than the rest of the image and alike along no
  direction (judged on their voxels of content: a strip of scalp a mask leaves is smooth along itself);
- bit errors: single voxels far outside the range of their eight neighbours (the five inside the
  plane at its border, by twice as much; with fewer neighbours of content, only four value ranges
  beyond the content's), or in uniform background a voxel one flipped bit away from the fill value
  all eight neighbours and the two across slices hold. Flips count only where the outliers one flip
  explains far outnumber those it does not (some clean scans hold outliers of their own in tissue,
  and a cut-off for background noise leaves lone voxels in the background); otherwise only flips a
  value range beyond the content's stand. Once a scan is known to carry bit errors, and has far
  fewer outliers of its own than flips, a second look takes smaller jumps too: a voxel well away
  from its neighbours' median that one flipped bit puts back among them, then a voxel far from a
  linear prediction from its neighbours, in units of that prediction's local error (texture hides
  such flips in a clean-scan check, but in a scan with flips they are flips far more often than not).

Thresholds are relative to the scan's own noise and range, and were set so that no clean scan the
project has (sample data, training volumes including heudiconv's mosaics, pydicom's and nibabel's
images) gives a single detection.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from medinpaint.io import Volume
from medinpaint.io.volume import drop_mapped_pages

KINDS = ("lost-slices", "lost-lines", "packet-loss", "truncation", "corrupted-blocks", "bit-errors")
CODE = {kind: n for n, kind in enumerate(KINDS, start=1)}

PLANE = np.zeros((3, 3, 3), dtype=bool)
PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)  # 4-connected within a slice, never across
EIGHT = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0))  # in-plane neighbours

_ALL, _HEAD, _TAIL = slice(None), slice(1, None), slice(None, -1)
# the voxel pairs one step apart along i, j and the two diagonals, as (first, second) slices of a plane
PAIRS = (((_HEAD, _ALL), (_TAIL, _ALL)), ((_ALL, _HEAD), (_ALL, _TAIL)),
         ((_HEAD, _HEAD), (_TAIL, _TAIL)), ((_HEAD, _TAIL), (_TAIL, _HEAD)))

CONTENT_BESIDE_LINE = 0.3  # a lost line has at least this much content in the rows on each side
# a lost line or tile has at least this much content at its place in a slice beside it: a notch of a
# brain mask one tile wide held 0-28% (at the anatomy's rim a lost tile had 41% in the slice before)
CONTENT_ACROSS = 0.3
EDGE_RUN, EDGE_CONTENT = 3, 0.75  # lost slices at the scan's edge: at most 3, beside a slice 3/4 as full as most
BURST_CONTENT = 0.3  # a fill-valued tile next to a lost one was lost too when content runs this far along a side
MIN_HOLE = 16  # pixels: smaller fill specks are left alone (a single lost pixel is a bit error)
TILES = (8, 16)
# a fill rectangle off the tile grid is a lost packet where its surroundings stand out from the fill
# by this share of the content's value range (pydicom's NM bone scan holds a zero 8x8 block in a
# background of 1s, 1% of its range)
RECTANGLE_CONTRAST = 0.05
# a garbage block's neighbours differ, along the direction where they match best, by this share of
# what any two of its voxels differ at least (simulated blocks on training volumes: 0.71-1.0; a short
# bright vessel that passed for a block in heudiconv's b0 diffusion mosaic: 0.49)
GARBAGE_ALONG = 0.6
SLAB = 32  # slices read at a time
CUT_LOST_SHARE = 0.25  # a stream cut through a slice loses at least this share of the slice before's content
MIN_PLANE = 16  # pixels along each in-plane axis for the pattern detectors
BIT_ERROR_SIGMAS, BIT_ERROR_RANGE = 8.0, 0.15  # a bit error in tissue stands out by this many sigmas and of the range
BIT_ERROR_SPREAD = 1.3  # ... and by this many times the spread of its eight neighbours (1.1 fired on 5 clean scans)
# a voxel with fewer than five neighbours of content is judged only this many value ranges beyond the
# content's (clean scans hold voxels up to 2.3 beyond: a float template, a noise phantom)
FEW_NEIGHBOURS_RANGES = 4.0
BACKGROUND_FLIP = 0.1  # a bit error in uniform background changes the fill value by this much of the range
# the second look, in a scan already found to carry bit errors: a voxel this many neighbour spreads
# from its neighbours' median, which one flipped bit brings within one spread of it (or a tenth of the
# jump, for jumps far beyond the local noise) and this many times closer; and this many spreads from
# the mean of the two neighbours along every in-plane direction (2 halved the flags on clean voxels of
# damaged training volumes against none, for 1-5% more squared error left)
SECOND_LOOK_SPREADS, SECOND_LOOK_GAIN, SECOND_LOOK_ALONG = 3.0, 3.0, 2.0
# the later looks run once the first has found this many flips, and this share of the voxels: in a
# noisy clean scan one flip explains some outliers of the scan's own (4-28 in heudiconv's b0dwi
# diffusion mosaics of 1.8 M voxels, 9 spikes in axasc35's EPI; NATURAL_OUTLIER_ODDS drops those where
# outliers no flip explains show beside them, but by chance none may), and the later looks would then
# take ~300-2,000; bit errors at the damage presets' lowest rate (1e-4) leave about 6e-5 of the voxels
# to the first look. The cost: a small scan with few flips gets the first look only (nibabel's 34
# k-voxel anatomical.nii, 5-9 flips found at some held-out seeds)
LATER_LOOKS_AFTER, LATER_LOOKS_SHARE = 10, 2e-5
# then a voxel this many times the local error of a linear prediction from its eight neighbours
# (fitted to the slab) away from it, where one flip of at least that size brings it within twice that
# error (5: squared error left on three damaged training volumes a half to a fifth of the second
# look's, flagging 28-286 sound voxels; 4 flagged up to 3x more for 10-20% less error left)
PREDICTED_ERRORS = 5.0
# the first look's flips in tissue count only where the outliers one flip explains outnumber those it
# does not by this much (+1): clean mosaics gave 4:2, 4:2, 28:7 and 9:3; flipped training volumes 0-4 unexplained
NATURAL_OUTLIER_ODDS = 5
# and the background's flips where they outnumber its own lone voxels that no flip explains by this
# much (+1): a cut-off for background noise leaves such voxels, 0.4-3% of them one bit from 0 (36% in
# the MNI template cut at 128, a bit's value itself); a brain mask leaves a few (33 in ch2 under
# ch2bet's mask grown by 1, where 148 flips at a rate of 3e-5 stand)
BACKGROUND_OUTLIER_ODDS = 2
# and the later looks run only where the first look's flips outnumber such outliers by this much: in
# noisy diffusion and EPI mosaics carrying real flips they took 1e-3 of the voxels (axasc35 with 2
# flips: 386 sound voxels); the demo MR at rate 1e-3 has 716 flips beside one such outlier
LATER_LOOKS_ODDS = 100
CONTEXT = 2  # slices either side of a slab that the rules for lost lines and tiles and background flips look at
WORKERS = min(4, os.cpu_count() or 1)  # threads scanning slabs at once (each holds up to 9 slab-sized float32 temporaries)


@dataclass
class Detection:
    """Where the damage is: ``labels`` holds one code of ``KINDS`` (1-based) per voxel, 0 where intact."""

    labels: np.ndarray
    details: dict = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        return (self.labels > 0).astype(np.uint8)

    def counts(self) -> dict[str, int]:
        found = np.zeros(len(KINDS) + 1, dtype=np.int64)
        for k in range(0, self.labels.shape[2], SLAB):  # slab by slab: bincount widens to int64
            found += np.bincount(self.labels[:, :, k:k + SLAB].ravel(), minlength=len(KINDS) + 1)
        return {kind: int(found[CODE[kind]]) for kind in KINDS if found[CODE[kind]]}

    def slices(self, kind: str) -> list[int]:
        """Slice indices (along k) that hold damage of ``kind``."""
        return [int(k) for k in np.nonzero((self.labels == CODE[kind]).any(axis=(0, 1)))[0]]


def is_fill_value(values: np.ndarray, fills: list[float]) -> np.ndarray:
    """``np.isin(values, fills)`` for the two or three fill values, without isin's sorting."""
    result = values == fills[0]
    for f in fills[1:]:
        result |= values == f
    return result


def fill_values(volume: Volume, minimum=None) -> list[float]:
    """The values a failure leaves: stored 0, the image ``minimum`` (where given), and DICOM's padding value."""
    values = {0} if minimum is None else {0, minimum.item()}
    source = volume.meta.get("dicom") or {}
    header = next((s for s in source.get("slices", []) if s is not None), None)
    if header is not None and "PixelPaddingValue" in header:
        values.add(int(header.PixelPaddingValue))
    return sorted(values)


def detect(volume: Volume, slab: int = SLAB) -> Detection:
    """Detect damage in a 3D volume (a 4D one is checked volume by volume along its last axis).

    The volume is read ``slab`` slices at a time, so a memory-mapped scan is never loaded whole.
    """
    if volume.array.ndim == 4:
        parts = [detect(volume.with_array(volume.array[..., t]), slab) for t in range(volume.shape[3])]
        return Detection(np.stack([p.labels for p in parts], axis=-1), {"per_volume": [p.details for p in parts]})
    mosaic = _mosaic(volume)
    if mosaic is not None:
        return _detect_mosaic(volume, mosaic, slab)
    return _detect_volume(volume, slab)


def _detect_volume(volume: Volume, slab: int, stream: bool = True) -> Detection:
    """Detection in a 3D volume; ``stream``: its voxels are the pixel stream in Fortran order (not
    the tiles of a mosaic), so a truncated stream shows as a tail of fill."""
    array = volume.array
    nk = array.shape[2]
    minimum = array.min()
    fills = fill_values(volume, minimum)
    constant = np.empty(nk, dtype=bool)
    fractions = np.empty(nk)
    at_minimum = np.zeros(nk, dtype=np.int64)

    def survey(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        constant[part] = block.min(axis=(0, 1)) == block.max(axis=(0, 1))
        fractions[part] = (~is_fill_value(block, fills)).mean(axis=(0, 1))
        # voxels at the minimum beside another one (a lost line, a region), not scattered bit errors
        lowest = block == minimum
        at_minimum[part] = ((lowest[1:] & lowest[:-1]).sum(axis=(0, 1))
                            + (lowest[:, 1:] & lowest[:, :-1]).sum(axis=(0, 1)))
        drop_mapped_pages(array, part.start, part.stop)

    _each_slab(nk, slab, survey)
    if at_minimum.sum() < MIN_HOLE:  # lone voxels at the minimum are bit errors, not a fill
        fills = fill_values(volume)
    labels = np.zeros(array.shape, dtype=np.uint8)
    _lost_slices(volume, constant, fractions, labels)
    live = ~constant
    patterns = min(array.shape[:2]) >= MIN_PLANE  # too few pixels in a plane to tell a pattern from anatomy
    # fill-valued lines and regions are lost only where they cut into content: a slice beyond the head
    # with a few flipped voxels has fill all around them (ch2's empty top slice with one flip: 10,412
    # voxels had passed for lost packets)
    cut = live & (np.rint(fractions * array.shape[0] * array.shape[1]) >= MIN_HOLE)
    if patterns and stream:
        _truncation(array, fills, constant, fractions, labels)
    stats = _intensity_stats(array, live)
    flipped = np.zeros(nk, dtype=np.int64)  # bit errors found per slice
    in_tissue, unexplained = [], []  # per slab, where the first look found flips in tissue and outliers it did not
    in_background, lone = [], []  # per slab, flips in the background and lone voxels there no flip explains

    def scan(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        is_fill = is_fill_value(block, fills)
        region = labels[:, :, part]
        # the slices either side are read only where a detector asks, and then once
        fill_context = functools.cache(lambda: _fill_with_context(array, part, is_fill, fills))
        if patterns:
            across = fill_context if nk > 2 else None  # a thinner scan is judged in-plane only
            _lost_lines(is_fill, ~is_fill, cut[part], region, across)
            _packet_loss(block, is_fill, cut[part], region, RECTANGLE_CONTRAST * stats["value_range"] if stats else 0.0,
                         across)
        if stats is not None:
            found, outliers, (background, alone) = _garbage_and_bit_errors(block, is_fill, live[part], region,
                                                                           stats, fill_context)
            in_tissue.append(_offset(found, part.start))
            unexplained.append(_offset(outliers, part.start))
            in_background.append(_offset(background, part.start))
            lone.append(alone)
            flipped[part] = (region == CODE["bit-errors"]).sum(axis=(0, 1))
        drop_mapped_pages(array, part.start, part.stop)

    _each_slab(nk, slab, scan)
    if stats is None:
        return Detection(labels, {"fill_values": [float(f) for f in fills]})
    doubt = _doubt(stats)
    background_flips = sum(len(w[0]) for w in in_background)
    if background_flips and _natural_outliers(background_flips, sum(lone), BACKGROUND_OUTLIER_ODDS):
        for where in in_background:  # the background's own lone voxels: only flips beyond doubt stand
            dropped = tuple(w[~_beyond_doubt(array[where], doubt)] for w in where)
            labels[dropped] = 0
            np.subtract.at(flipped, dropped[2], 1)
    tissue_flips = sum(len(w[0]) for w in in_tissue)
    blocks = _blocks_again(array, fills, live, labels, stats, slab) if flipped.any() else []
    # outliers inside garbage found only now are the block's, not the scan's own
    natural = sum(int((labels[w] == 0).sum()) for w in unexplained)
    doubtful = tissue_flips and _natural_outliers(tissue_flips, natural, NATURAL_OUTLIER_ODDS)
    if doubtful:  # the scan's own outliers: only flips beyond doubt stand
        for where in in_tissue:
            dropped = tuple(w[~_beyond_doubt(array[where], doubt)] for w in where)
            # one inside a block found since is the block's garbage (the block search skipped labelled voxels)
            in_block = np.zeros(len(dropped[0]), dtype=bool)
            for i, j, inside in _beside(dropped, labels.shape):
                in_block |= inside & (labels[i, j, dropped[2]] == CODE["corrupted-blocks"])
            labels[dropped] = np.where(in_block, CODE["corrupted-blocks"], 0).astype(np.uint8)
            np.subtract.at(flipped, dropped[2], 1)
        if not flipped.any():
            for where in blocks:  # looked for only because of the flips dropped
                labels[where] = 0
    # the later looks take smaller jumps, where a scan with outliers of its own has far more of them
    later = not doubtful and flipped.sum() >= LATER_LOOKS_ODDS * natural
    if later and flipped.sum() >= max(LATER_LOOKS_AFTER, LATER_LOOKS_SHARE * array[:, :, 0].size * live.sum()):
        _later_looks(array, fills, live, labels, stats["sigma"], slab)
    return Detection(labels, {"fill_values": [float(f) for f in fills]})


def _fill_with_context(array, part: slice, is_fill, fills: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """``is_fill`` of slices ``part`` with ``CONTEXT`` slices before and after them (beyond the scan's
    first and last slice, fill), and which of those slices lie in the scan: slice ``k`` of the slab is
    ``k + CONTEXT`` of what this returns."""
    ni, nj, n = is_fill.shape
    context = np.ones((ni, nj, n + 2 * CONTEXT), dtype=bool)
    context[:, :, CONTEXT:-CONTEXT] = is_fill
    in_scan = np.zeros(n + 2 * CONTEXT, dtype=bool)
    in_scan[CONTEXT:-CONTEXT] = True
    for d in range(1, CONTEXT + 1):
        for k, at in ((part.start - d, CONTEXT - d), (part.stop - 1 + d, CONTEXT + n - 1 + d)):
            if 0 <= k < array.shape[2]:
                context[:, :, at] = is_fill_value(np.asarray(array[:, :, k]), fills)
                in_scan[at] = True
                drop_mapped_pages(array, k, k + 1)  # its own slab's scan dropped it, or will
    return context, in_scan


def _offset(where: tuple[np.ndarray, ...], start: int) -> tuple[np.ndarray, ...]:
    """Voxel indices of a slab starting at slice ``start``, as indices of the whole volume."""
    return where[0], where[1], where[2] + start


def _blocks_again(array, fills, live, labels, stats: dict, slab: int) -> list[tuple[np.ndarray, ...]]:
    """Corrupted blocks looked for again in a scan with flips: flips stretch the full range (one bit-15
    flip made it 16x a CT's), and garbage is judged against it; now against the range of what was not
    found damaged. Returns where blocks were found, slab by slab."""
    full_range = _full_range_of_sound(array, live, labels)
    found = []
    if not 0 < full_range < 0.8 * stats["full_range"]:
        return found

    def blocks_again(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        values = block.astype(np.float32)
        region = labels[:, :, part]
        flips = np.nonzero(region == CODE["bit-errors"])  # their steps are not garbage
        values[flips] = np.median([values[i, j, flips[2]] for i, j, _ in _beside(flips, values.shape)], axis=0)
        before = region == CODE["corrupted-blocks"]
        _corrupted_blocks(values, is_fill_value(block, fills), live[part], region, stats["sigma"], full_range)
        found.append(_offset(np.nonzero((region == CODE["corrupted-blocks"]) & ~before), part.start))
        drop_mapped_pages(array, part.start, part.stop)

    _each_slab(array.shape[2], slab, blocks_again)
    return found


def _later_looks(array, fills, live, labels, sigma: float, slab: int) -> None:
    """The second and the predicted look, slab by slab, each slab with one slice of context either side."""
    nk = array.shape[2]

    def later_looks(part: slice) -> None:
        start, stop = max(part.start - 1, 0), min(part.stop + 1, nk)
        block = np.asarray(array[:, :, start:stop])
        is_fill = is_fill_value(block, fills)
        own = slice(part.start - start, part.stop - start)
        _second_look(block, is_fill, live[start:stop], labels[:, :, start:stop], own, sigma)
        _predicted_look(block[:, :, own], is_fill[:, :, own], live[part], labels[:, :, part], sigma)
        drop_mapped_pages(array, start, stop)

    _each_slab(nk, slab, later_looks)


def _mosaic(volume: Volume) -> tuple[int, int] | None:
    """(tiles per side, images) of a Siemens mosaic (one DICOM image holding a volume's slices as
    tiles, the unused ones black), or None. Its tile borders and empty tiles would pass for lost lines
    and a truncated stream."""
    headers = (volume.meta.get("dicom") or {}).get("slices") or []
    header = next((h for h in headers if h is not None), None)
    if volume.array.ndim != 3 or volume.shape[2] != 1 or header is None or "MOSAIC" not in (header.get("ImageType") or []):
        return None
    images = header.get((0x0019, 0x100A))  # Siemens: NumberOfImagesInMosaic
    if images is None:
        return None
    count = int(images.value)
    side = int(np.ceil(np.sqrt(count)))
    if count < 1 or volume.shape[0] % side or volume.shape[1] % side:
        return None
    return side, count


def _detect_mosaic(volume: Volume, mosaic: tuple[int, int], slab: int) -> Detection:
    """Detection on a mosaic's tiles as the slices of a volume, labels back in the mosaic's layout;
    a truncated stream on the mosaic itself, whose rows are the stream's order."""
    side, count = mosaic
    ni, nj = volume.shape[:2]
    ti, tj = ni // side, nj // side
    # tiles fill the image row by row: tile b * side + a holds i in [a ti, (a+1) ti), j in [b tj, (b+1) tj)
    tiles = volume.array[:, :, 0].reshape(side, ti, side, tj).transpose(1, 3, 2, 0).reshape(ti, tj, side * side)
    inner = _detect_volume(volume.with_array(np.ascontiguousarray(tiles[:, :, :count])), slab, stream=False)
    labels = np.zeros((ti, tj, side * side), dtype=np.uint8)
    labels[:, :, :count] = inner.labels
    labels = labels.reshape(ti, tj, side, side).transpose(3, 0, 2, 1).reshape(ni, nj, 1)
    plane = np.asarray(volume.array)
    fills = inner.details["fill_values"]
    _truncation(plane, fills, np.array([plane.min() == plane.max()]),
                np.array([(~is_fill_value(plane, fills)).mean()]), labels, tile=ti)
    return Detection(labels, {**inner.details, "mosaic": {"tiles_per_side": side, "images": count}})


def _beside(where: tuple[np.ndarray, ...], shape: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The eight in-plane neighbours (in the order of EIGHT) of the voxels ``where`` in planes of
    ``shape``: their i and j, clipped into the plane (a border voxel then stands in for a neighbour
    beyond it), and whether the neighbour lies inside the plane."""
    ni, nj = shape[:2]
    found = []
    for di, dj in EIGHT:
        i, j = where[0] + di, where[1] + dj
        inside = (i >= 0) & (i < ni) & (j >= 0) & (j < nj)
        found.append((np.clip(i, 0, ni - 1), np.clip(j, 0, nj - 1), inside))
    return found


def _each_slab(nk: int, slab: int, work) -> None:
    """Run ``work(slice)`` on every slab of ``slab`` slices, on WORKERS threads (NumPy and SciPy release
    the GIL in their loops). Slabs are disjoint, so the order they finish in does not matter; the later
    bit-error looks also read the labels of one slice either side, where a neighbour may be writing, and
    so treat a voxel labelled a bit error and an unlabelled one alike there."""
    parts = [slice(k0, min(k0 + slab, nk)) for k0 in range(0, nk, slab)]

    def quietly(part: slice) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # NaN, or a flipped NaN's 3e38, in a float scan
            work(part)

    if WORKERS < 2 or len(parts) < 2:
        for part in parts:
            quietly(part)
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(parts))) as pool:
        for _ in pool.map(quietly, parts):  # re-raises the first error
            pass


def _lost_slices(volume: Volume, constant: np.ndarray, fractions: np.ndarray, labels: np.ndarray) -> None:
    missing = (volume.meta.get("dicom") or {}).get("missing") or []
    for k in missing:
        labels[:, :, k] = CODE["lost-slices"]
    typical = float(np.median(fractions[~constant])) if (~constant).any() else 1.0
    rich = max(0.05, 0.25 * typical)
    runs, n = ndimage.label(constant)
    for r in range(1, n + 1):
        ks = np.nonzero(runs == r)[0]
        before, after = ks[0] - 1, ks[-1] + 1
        sides = [fractions[k] for k in (before, after) if 0 <= k < len(constant)]
        if len(sides) == 2:
            # content on both sides: not the empty air beyond the head's top
            lost = min(sides) >= rich
        else:
            # at the scan's edge: a short run beside a slice as full as the scan's typical one (anatomy
            # does not stop dead at a slice; the empty slices around a head or a padded grid border
            # slices with little content, and run for longer)
            lost = len(sides) == 1 and len(ks) <= EDGE_RUN and sides[0] >= EDGE_CONTENT * typical
        if lost:
            labels[:, :, ks[0]:ks[-1] + 1] = CODE["lost-slices"]


def _runs(full: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True along axis 0 of a (lines, slices) array: (slice, first line, line after the run)."""
    edges = np.diff(np.pad(full, ((1, 1), (0, 0))).astype(np.int8), axis=0)
    start_k, start = np.nonzero(edges.T == 1)  # ordered by slice, then line: starts and stops pair up
    _, stop = np.nonzero(edges.T == -1)
    return start_k, start, stop


def _lost_lines(is_fill, content, live, labels, fill_context: Callable[[], tuple] | None) -> None:
    """Runs of whole lines at a fill value with content on both sides, and, in a scan of three slices
    or more, content along them in the slice before or after (or two slices on, where the slice beside
    lost the same lines; :func:`_content_across`): the midline of a symmetric template cut off below
    its CSF is a line of 0 between two hemispheres, empty in the slices beside it too.
    ``fill_context`` as for :func:`_packet_loss`."""
    for axis in (1, 0):  # rows (j) first: a scan line runs along i; then whole columns (i)
        full = is_fill.all(axis=1 - axis)  # (lines, slices)
        frac = content.mean(axis=1 - axis)
        ks, starts, stops = _runs(full & live[np.newaxis, :])
        inside = (starts > 0) & (stops < full.shape[0])  # the scan's own edge is not a lost line
        ks, starts, stops = ks[inside], starts[inside], stops[inside]
        rich = (frac[starts - 1, ks] >= CONTENT_BESIDE_LINE) & (frac[stops, ks] >= CONTENT_BESIDE_LINE)
        for k, a, b in zip(ks[rich], starts[rich], stops[rich], strict=True):
            lines = (slice(None), slice(a, b)) if axis == 1 else (slice(a, b), slice(None))
            if fill_context is not None and not _content_across(*fill_context(), lines, k):
                continue
            labels[lines + (k,)] = CODE["lost-lines"]


def _content_across(context: np.ndarray, in_scan: np.ndarray, region: tuple[slice, slice], k: int) -> bool:
    """Whether ``CONTENT_ACROSS`` of ``region`` (of slab slice ``k``) holds content in the slice before
    or after, or, where that slice is all fill there (lost too), in the slice beyond it. In a scan of
    three slices or more, a burst that hit the same place in two slices always has such a slice on
    one side. ``context``, ``in_scan``: from :func:`_fill_with_context`."""
    at = k + CONTEXT
    for step in (-1, 1):
        beside = at + step
        if not in_scan[beside]:
            continue
        there = ~context[region + (beside,)]
        if there.mean() >= CONTENT_ACROSS:
            return True
        beyond = beside + step
        if not there.any() and in_scan[beyond] and (~context[region + (beyond,)]).mean() >= CONTENT_ACROSS:
            return True
    return False


def _tile_aligned(component: np.ndarray, origin: tuple[int, int], shape: tuple[int, int],
                  spare: np.ndarray | None = None) -> bool:
    """True when the component is exactly a union of whole cells of an 8 or 16 pixel grid (``spare``
    voxels, of the component's array, count as part of any cell it touches)."""
    ii, jj = np.nonzero(component)
    ii, jj = ii + origin[0], jj + origin[1]
    si, sj = np.nonzero(spare) if spare is not None else (np.empty(0, int), np.empty(0, int))
    si, sj = si + origin[0], sj + origin[1]
    for t in TILES:
        per_row = shape[1] // t + 1
        cells = np.unique((ii // t) * per_row + jj // t)
        ci, cj = cells // per_row, cells % per_row
        full = (np.minimum((ci + 1) * t, shape[0]) - ci * t) * (np.minimum((cj + 1) * t, shape[1]) - cj * t)
        area = len(ii) + int(np.isin((si // t) * per_row + sj // t, cells).sum())
        if int(full.sum()) == area:
            return True
    return False


def _packet_loss(block, is_fill, live, labels, contrast: float,
                 fill_context: Callable[[], tuple] | None) -> None:
    """Lost packets in a slab (``fill_context``: gives :func:`_fill_with_context` of the slab; None for
    a scan of one or two slices, judged in-plane only)."""
    holes = is_fill & live[np.newaxis, np.newaxis, :] & (labels == 0)
    components, n = ndimage.label(holes, structure=PLANE)
    if n:
        _fill_regions(block, components, n, holes, labels, is_fill, contrast)
    _lost_tiles(holes & (labels == 0), ~is_fill, labels, fill_context)


def _edge_padding(is_fill: np.ndarray) -> np.ndarray:
    """Whole lines at a fill value from the plane's border inwards in most slices: a scan's own
    padding (dipy's S0 has two zero rows at its edge), which a lost packet's tiles can join. A burst's
    own lines at the border are in one slice only (in a one-slice image they cannot be told apart)."""
    padding = np.zeros(is_fill.shape, dtype=bool)
    for axis in (0, 1):
        full = is_fill.all(axis=1 - axis)  # (lines, slices)
        edge = np.cumprod(full, axis=0).astype(bool) | np.cumprod(full[::-1], axis=0)[::-1].astype(bool)
        edge &= edge.mean(axis=1, keepdims=True) >= 0.5  # in this slice, and in most of the slab's
        padding |= edge[:, np.newaxis, :] if axis == 0 else edge[np.newaxis, :, :]
    return padding


def _fill_regions(block, components, n, holes, labels, is_fill, contrast: float) -> None:
    """Keep the fill regions that are tile-aligned, or exact rectangles a tile wide at least inside the
    plane (around a region there is only content or damage found already: fill voxels beside it
    belong to it) whose surroundings stand out from the fill by ``contrast`` (a dark, noisy background
    holds such rectangles of its own). A region joined to the scan's own padding lines is kept
    without them where the rest is tile-aligned."""
    padding = None
    shape = holes.shape[:2]
    areas = np.bincount(components.ravel(), minlength=n + 1)[1:]
    # most regions are specks (voxels that happen to hold a fill value): number only the large ones,
    # as find_objects costs time per region
    large = areas >= MIN_HOLE
    renumber = np.zeros(n + 1, dtype=components.dtype)
    renumber[1:][large] = np.arange(1, int(large.sum()) + 1, dtype=components.dtype)
    components, areas = renumber[components], areas[large]
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        if box is None:
            continue
        si, sj, sk = box
        # cheap shape tests first: a union of grid tiles has a grid-aligned bounding box
        on_grid = all(s.start % TILES[0] == 0 and (s.stop % TILES[0] == 0 or s.stop == size)
                      for s, size in zip((si, sj), shape, strict=True))
        touches_border = si.start == 0 or sj.start == 0 or si.stop == shape[0] or sj.stop == shape[1]
        is_rectangle = (areas[index - 1] == (si.stop - si.start) * (sj.stop - sj.start)
                        and min(si.stop - si.start, sj.stop - sj.start) >= TILES[0])  # a tile at least
        if not on_grid and not (is_rectangle and not touches_border):
            continue
        grown = (slice(max(si.start - 1, 0), si.stop + 1), slice(max(sj.start - 1, 0), sj.stop + 1), sk)
        comp = components[grown] == index
        origin = (grown[0].start, grown[1].start)
        if is_rectangle and not touches_border and not on_grid:
            around = block[grown][~comp].astype(np.float64)
            if abs(np.median(around) - float(block[grown][comp][0])) > contrast:
                labels[grown][comp] = CODE["packet-loss"]
            continue
        if (is_rectangle and not touches_border) or _tile_aligned(comp[:, :, 0], origin, shape):
            labels[grown][comp] = CODE["packet-loss"]
            continue
        if padding is None:
            padding = _edge_padding(is_fill)
        pad = padding[grown]
        core = comp & ~pad
        if pad[comp].any() and core.sum() >= MIN_HOLE and _tile_aligned(core[:, :, 0], origin, shape, pad[:, :, 0]):
            labels[grown][core] = CODE["packet-loss"]


def _edge_content(content: np.ndarray, t: int, ci: int, cj: int) -> list[np.ndarray]:
    """Content fraction along the line just outside each side of every t x t cell: four (ci, cj, k) arrays."""
    ni, nj, nk = content.shape
    c = content.astype(np.float32)
    sides = []
    for axis, count in ((0, ci), (1, cj)):
        for outside in (-1, t):  # the line before the cell, and the line after it
            frac = np.zeros((ci, cj, nk), dtype=np.float32)
            for n in range(count):
                line = n * t + outside
                if not 0 <= line < content.shape[axis]:
                    continue
                if axis == 0:
                    frac[n] = c[line, : cj * t].reshape(cj, t, nk).mean(axis=1)
                else:
                    frac[:, n] = c[: ci * t, line].reshape(ci, t, nk).mean(axis=1)
            sides.append(frac)
    return sides


def _lost_tiles(holes, content, labels, fill_context: Callable[[], tuple] | None) -> None:
    """Whole fill-valued grid tiles cut straight into the content: a lost packet beside the background.

    A tile counts when content runs along nearly all of the line just outside two or more of its sides
    (the edge of anatomy is curved and does not follow two grid lines of a tile), and, in a scan of
    three slices or more, holds content at its place in the slice before or after it, or, where that
    slice lost the same tile (a burst can hit the same place in two slices), in the slice beyond
    (:func:`_content_across`). A notch or a gap of a brain mask that happens to be a tile wide is
    nearly empty there."""
    ni, nj = holes.shape[:2]
    for t in TILES:
        ci, cj = ni // t, nj // t
        if ci == 0 or cj == 0:
            continue
        full = holes[: ci * t, : cj * t].reshape(ci, t, cj, t, -1).all(axis=(1, 3))
        if not full.any():
            continue
        sides = _edge_content(content, t, ci, cj)
        hit = full & (sum((frac >= 0.9).astype(np.uint8) for frac in sides) >= 2)
        if fill_context is not None:
            for i, j, k in zip(*np.nonzero(hit), strict=True):
                tile = (slice(i * t, (i + 1) * t), slice(j * t, (j + 1) * t))
                hit[i, j, k] = _content_across(*fill_context(), tile, k)
        region = labels[: ci * t, : cj * t]
        lost = (region == CODE["packet-loss"]).reshape(ci, t, cj, t, -1).all(axis=(1, 3)) | hit
        # a burst goes on along the stream (i fastest): a whole fill-valued tile next to a lost one
        # along i, with content along one of its sides, was lost with it (over the edge of anatomy,
        # where the two-sides rule cannot see it)
        touching = np.maximum.reduce(sides) >= BURST_CONTENT
        while True:
            beside = np.zeros_like(lost)
            beside[1:] |= lost[:-1]
            beside[:-1] |= lost[1:]
            grown = full & ~lost & beside & touching
            if not grown.any():
                break
            lost |= grown
        if lost.any():
            block = np.repeat(np.repeat(lost, t, axis=0), t, axis=1)
            region[block & (region == 0)] = CODE["packet-loss"]


def _truncation(array, fills, constant, fractions, labels, tile: int = 0) -> None:
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
    if (nk - k) * ni * nj - rest < MIN_HOLE:  # a few voxels at the fill value end many a clean scan
        return
    if rest:
        # the cut runs through slice k. Where it falls after the slice's content, in its background,
        # it cannot be told from a scan that ends in anatomy and is padded with fill slices (a partial
        # field of view resampled onto a larger grid): such cuts are left
        content = ~is_fill_value(plane, fills)
        if not (_cut_row(content, i, j) or _cut_against_slice_before(array, fills, constant, content, k, rest)):
            return
        plane_lost = np.zeros(ni * nj, dtype=bool)
        plane_lost[rest:] = True
        region = labels[:, :, k]
        region[plane_lost.reshape((ni, nj), order="F") & (region == 0)] = CODE["truncation"]
        k += 1
    # the cut falls on a slice boundary: the last slice that arrived must be rich in content, not the
    # thin top of a head
    elif k == 0 or k >= nk or fractions[k - 1] < max(0.5 * np.median(fractions[~constant]), 0.05):
        return
    tail = labels[:, :, k:]
    tail[tail == 0] = CODE["truncation"]


def _cut_row(content: np.ndarray, i: int, j: int) -> bool:
    """A cut at (i, j) through a slice, abrupt along its rows: the row above is rich in content, also
    right of the cut, and the part of the cut row that arrived looks like the row above (a tapering
    edge of the anatomy thins out on both sides instead)."""
    if j == 0:
        return False
    above = content[:, j - 1]
    if above.mean() < 0.5:
        return False
    return not (i and (content[:i, j].mean() < 0.8 * above[:i].mean() or above[i:].mean() < 0.5))


def _cut_against_slice_before(array, fills, constant, content: np.ndarray, k: int, rest: int) -> bool:
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
    # content on both sides of the cut: a flip or two in an empty slice above a head is no slice that arrived
    enough = before[:rest].sum() >= MIN_HOLE and arrived.sum() >= MIN_HOLE
    return enough and lost_share >= CUT_LOST_SHARE and arrived.sum() >= 0.8 * before[:rest].sum()


def _intensity_stats(array, live: np.ndarray) -> dict | None:
    """Noise level and value ranges of the scan's content, from a subset of its slices."""
    ks = _sample_slices(live)
    if len(ks) == 0 or array.dtype.kind not in "iuf":
        return None
    sample = np.asarray(array[:, :, ks]).astype(np.float32)
    sigma = _noise_sigma(sample)
    low, high = np.nanpercentile(sample, [0.5, 99.5])  # values that are not finite have no place in a range
    full_range = float(np.nanmax(sample) - np.nanmin(sample))
    if not (high - low > 0 and full_range > 0):
        return None
    return {"sigma": sigma, "low": float(low), "high": float(high), "value_range": float(high - low),
            "full_range": full_range}


def _sample_slices(live: np.ndarray) -> np.ndarray:
    """Up to about 16 slices with content, spread over the scan: enough for a noise level and ranges."""
    ks = np.nonzero(live)[0]
    return ks[:: max(1, len(ks) // 16)]


def _full_range_of_sound(array, live: np.ndarray, labels: np.ndarray) -> float:
    """The full range of the sampled slices over the voxels not found damaged."""
    ks = _sample_slices(live)
    sound = np.asarray(array[:, :, ks])[labels[:, :, ks] == 0]
    return float(sound.max()) - float(sound.min()) if sound.size else 0.0


def _noise_sigma(sample: np.ndarray) -> float:
    """Robust noise level: MAD of the 3x3 median residual over the sampled slices."""
    sample = sample[:, :, ::max(1, sample.shape[2] // 6)]  # a subset of slices is enough for one number
    residual = np.abs(sample - ndimage.median_filter(sample, size=(3, 3, 1)))
    moved = residual[residual > 0]  # NaN compares False: left out
    return float(1.4826 * np.median(moved)) if moved.size else 0.0


def _bit_errors_in_background(array, is_fill, live, labels, threshold: float,
                              fill_context: Callable[[], tuple]) -> tuple[tuple[np.ndarray, ...], int]:
    """A flipped bit in the empty background: one voxel whose eight neighbours all hold the same fill
    value and which differs from it by exactly one bit (by ``threshold`` or more), where the slices
    before and after hold no tissue at its place: fill, or a voxel alone in its own plane, such as
    another flip (``fill_context()``, which reads those slices, is called only for such voxels).
    Lone voxels of tissue in a masked or thresholded background (what skull stripping or a cut-off
    for background noise leaves) hold any value, rarely a fill value with one bit changed (in uint8,
    1 in 64). Returns where flips were found, and how many lone voxels no single flip explains: where
    the flips do not outnumber those (+1) BACKGROUND_OUTLIER_ODDS to 1, they may be such voxels too."""
    nothing = (np.empty(0, dtype=np.intp),) * 3
    if array.dtype.kind not in "iu" or array.shape[0] < 3 or array.shape[1] < 3:
        return nothing, 0
    # screened on the two neighbours along i (none beyond the plane's border): both fill, the voxel not
    beside = np.pad(is_fill, ((1, 1), (0, 0), (0, 0)), constant_values=True)
    screen = beside[:-2] & beside[2:] & ~is_fill & (labels == 0) & live[np.newaxis, np.newaxis, :]
    where = np.nonzero(screen)
    if len(where[0]) == 0:
        return nothing, 0
    fill = array[np.where(where[0] > 0, where[0] - 1, where[0] + 1), where[1], where[2]]  # a neighbour inside the plane
    lone = np.ones(len(fill), dtype=bool)
    for i, j, inside in _beside(where, array.shape):  # beyond the plane's border there is no neighbour
        lone &= ~inside | (array[i, j, where[2]] == fill)
    centre = array[where]
    lone &= np.abs(centre.astype(np.float64) - fill.astype(np.float64)) >= threshold
    one_flip = _one_flip_explains(centre, fill, fill, threshold)
    unexplained = int((lone & ~one_flip).sum())
    where = tuple(w[lone & one_flip] for w in where)
    if len(where[0]) == 0:
        return nothing, unexplained
    context, _ = fill_context()
    no_tissue = np.ones(len(where[0]), dtype=bool)
    for dk in (-1, 1):  # the slice before and after
        across = (where[0], where[1], where[2] + CONTEXT + dk)
        fill_there = context[across]
        alone = ~fill_there
        for i, j, inside in _beside(across, context.shape):  # fill all around it in its own plane
            alone &= ~inside | context[i, j, across[2]]
        no_tissue &= fill_there | alone
    hit = tuple(w[no_tissue] for w in where)
    labels[hit] = CODE["bit-errors"]
    return hit, unexplained


def _one_flip_explains(values: np.ndarray, low: np.ndarray, high: np.ndarray, threshold: float) -> np.ndarray:
    """True where flipping one bit of the stored word (an exponent bit for floats) lands in [low, high]."""
    explained = np.zeros(values.shape, dtype=bool)
    for restored in _restorations(values, threshold):
        explained |= (restored >= low) & (restored <= high)
    return explained


def _restorations(values: np.ndarray, threshold: float = 0.0):
    """Each value the stored words would hold with one bit flipped back (bits worth ``threshold / 2``
    or more; for floats, an exponent bit: the value scaled by 2^(2^b) either way), as float64 arrays."""
    if values.dtype.kind in "iu":
        native = values.dtype.newbyteorder("=")  # the bits as stored, whatever the array's byte order
        words = values.astype(native).view(f"u{values.dtype.itemsize}")
        for bit in range(8 * values.dtype.itemsize):
            if 2.0**bit >= threshold / 2:
                yield (words ^ np.array(1 << bit, dtype=words.dtype)).view(native).astype(np.float64)
    else:
        exponent_bits = np.finfo(values.dtype).nexp
        values = values.astype(np.float64)
        with np.errstate(over="ignore"):  # beyond float64: inf, never near a neighbour
            for bit in range(exponent_bits):
                yield np.ldexp(values, -(2**bit))
                yield np.ldexp(values, 2**bit)


def _trim(rough: np.ndarray, box: tuple[slice, slice, slice]) -> tuple[slice, slice, slice]:
    """Shrink a candidate box (grown past the block on purpose) to the rows and columns that are
    mostly garbage."""
    si, sj, sk = box
    i0, i1, j0, j1 = 0, rough.shape[0], 0, rough.shape[1]
    while i1 - i0 > 1 and rough[i0, j0:j1].mean() < 0.3:
        i0 += 1
    while i1 - i0 > 1 and rough[i1 - 1, j0:j1].mean() < 0.3:
        i1 -= 1
    while j1 - j0 > 1 and rough[i0:i1, j0].mean() < 0.3:
        j0 += 1
    while j1 - j0 > 1 and rough[i0:i1, j1 - 1].mean() < 0.3:
        j1 -= 1
    # rows went first, measured over columns not yet trimmed: take back an edge row that is garbage
    # over the block's own columns (a thin block's rows are short, the margins weighed too much)
    while i0 > 0 and rough[i0 - 1, j0:j1].mean() >= 0.3:
        i0 -= 1
    while i1 < rough.shape[0] and rough[i1, j0:j1].mean() >= 0.3:
        i1 += 1
    return slice(si.start + i0, si.start + i1), slice(sj.start + j0, sj.start + j1), sk


def _grown(box: tuple[slice, ...], by: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """``box`` grown by ``by`` pixels in-plane, within ``shape``."""
    return tuple(slice(max(s.start - by, 0), min(s.stop + by, n)) for s, n in zip(box[:2], shape, strict=False)) + box[2:]


def _along_a_line(block: np.ndarray, content: np.ndarray) -> float:
    """How much neighbours along the direction where they match best differ, against any two voxels
    of ``block``: near 1 for garbage (no direction is special), small along a line of anatomy. Only
    ``content`` voxels count: a strip of scalp left by a brain mask is rough against the fill around
    it, smooth along itself."""
    flat = np.sort(block[content].astype(np.float64))
    n = len(flat)
    any_two = 2 * np.dot(2 * np.arange(1, n + 1) - n - 1, flat) / (n * (n - 1)) if n > 1 else 0.0
    along = np.inf
    for a, b in PAIRS:
        both = content[a] & content[b]
        if both.any():
            along = min(along, float(np.abs(block[a][both].astype(np.float64) - block[b][both]).mean()))
    return along / any_two if any_two > 0 and np.isfinite(along) else 0.0


def _label_blocks(values, busy, box, is_fill, labels, full_range: float) -> None:
    """Label the garbage rectangles of one busy region (``busy`` inside ``box`` of one plane).

    Overlapping blocks make a region that no single rectangle fits: the largest is trimmed out first,
    then what stays busy beyond its reach is trimmed again (at most four times)."""
    for _ in range(4):
        inside = ndimage.find_objects(busy.astype(np.uint8))
        if not inside or busy.sum() < MIN_HOLE:
            return
        part = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, inside[0], strict=True))
        # the 5x5 window can fall short of a block's edge where garbage happens to match its neighbour:
        # grow by its reach, then trim back to the rows and columns that are garbage
        part = _grown(part, 2, values.shape)
        local = values[part]
        # the median over one more voxel of context, mirrored at the plane's border: reflected there,
        # the edge row would fill six ninths of an edge voxel's window, and it was often its own median
        wider = _grown(part, 1, values.shape)
        inner = tuple(slice(p.start - w.start, p.stop - w.start) for p, w in zip(part, wider, strict=True))
        median = ndimage.median_filter(values[wider], size=(3, 3, 1), mode="mirror")[inner]
        rough = np.abs(local - median) > 0.1 * full_range
        block = _trim(rough[:, :, 0], part)
        if is_fill[block].mean() > 0.2:  # a jagged edge against the background, not garbage
            return
        if min(s.stop - s.start for s in block[:2]) < 2:  # a line of bright voxels, no rectangle
            return
        if _along_a_line(values[block][:, :, 0], ~is_fill[block][:, :, 0]) < GARBAGE_ALONG:  # a vessel, not garbage
            return
        region = labels[block]
        region[region == 0] = CODE["corrupted-blocks"]
        # an edge row or column of a block the trim took off (measured over the rows or columns of a
        # union of blocks, it can fall below the garbage fraction): rough voxels beside the block, up
        # to two steps out and within the busy box grown by 2, are garbage too (this also takes 1-13
        # sound voxels beside a block, rough from the garbage in their own window)
        taken = np.zeros(rough.shape, dtype=bool)
        taken[tuple(slice(b.start - p.start, b.stop - p.start) for b, p in zip(block, part, strict=True))] = True
        for _ in range(2):
            taken |= ndimage.binary_dilation(taken, structure=PLANE) & rough
        around = labels[part]
        around[taken & (around == 0)] = CODE["corrupted-blocks"]
        reach = _grown(block, 2, values.shape)  # the busy halo the 5x5 window put around this block
        cleared = tuple(slice(max(r.start - b.start, 0), max(r.stop - b.start, 0)) for r, b in zip(reach, box, strict=True))
        busy[cleared] = False  # the caller's comparison made ``busy``: this region's own array


def _corrupted_blocks(values, is_fill, live, labels, sigma: float, full_range: float) -> np.ndarray:
    """Label rectangles of garbage. Garbage has no spatial correlation, so neighbouring voxels differ
    by about a third of the range everywhere in the block; an edge of anatomy is steep along a line
    only. Returns the absolute steps along i (the bit-error screen uses them too)."""
    step_i = np.abs(np.diff(values, axis=0))
    steps = np.zeros_like(values)
    steps[1:] += step_i
    steps[:, 1:] += np.abs(np.diff(values, axis=1))
    steps /= 2
    step_limit = max(0.2 * full_range, 6.0 * sigma)
    busy = np.zeros(values.shape, dtype=bool)
    ni4, nj4 = values.shape[0] // 4 * 4, values.shape[1] // 4 * 4
    if ni4 and nj4:
        steep = (steps[:ni4, :nj4] > step_limit).reshape(ni4 // 4, 4, nj4 // 4, 4, -1).sum(axis=(1, 3))
        candidates = np.nonzero((steep >= 8).any(axis=(0, 1)) & live)[0]  # slices with a 4x4 cell mostly steep
    else:
        candidates = []
    if len(candidates):
        busy[:, :, candidates] = ndimage.uniform_filter(steps[:, :, candidates], size=(5, 5, 1)) > step_limit
    blocks, n = ndimage.label(busy, structure=PLANE)
    areas = ndimage.sum_labels(busy, blocks, index=np.arange(1, n + 1)) if n else []
    for index, box in enumerate(ndimage.find_objects(blocks), start=1):
        if box is not None and areas[index - 1] >= MIN_HOLE:
            _label_blocks(values, blocks[box] == index, box, is_fill, labels, full_range)
    return step_i


def _garbage_and_bit_errors(array, is_fill, live, labels, stats: dict,
                            fill_context: Callable[[], tuple]) -> tuple[tuple, tuple, tuple]:
    """Corrupted blocks, then bit errors in the background (``fill_context``: gives
    :func:`_fill_with_context` of the slab) and in tissue. Returns where flips were found in tissue,
    where outliers as large are that no single flip explains, and the background's flips and lone
    voxels no flip explains (:func:`_bit_errors_in_background`)."""
    sigma, value_range = stats["sigma"], stats["value_range"]
    threshold = max(BIT_ERROR_SIGMAS * sigma, BIT_ERROR_RANGE * value_range)
    values = array.astype(np.float32)
    step_i = _corrupted_blocks(values, is_fill, live, labels, sigma, stats["full_range"])

    background = _bit_errors_in_background(array, is_fill, live, labels, BACKGROUND_FLIP * value_range, fill_context)

    # bit errors: a voxel far beyond the range of all eight neighbours (further than they spread),
    # which one flipped bit would put back inside that range. Screened first on the two neighbours
    # along i (the block search's steps): an impulse differs from both by more than the threshold.
    screen = np.zeros(values.shape, dtype=bool)
    screen[1:-1] = (step_i[:-1] > threshold) & (step_i[1:] > threshold)
    if values.shape[0] > 1:  # at the border, its one neighbour along i
        screen[0], screen[-1] = step_i[0] > threshold, step_i[-1] > threshold
    screen &= ~is_fill & (labels == 0) & live[np.newaxis, np.newaxis, :]
    where = np.nonzero(screen)
    if len(where[0]) == 0:
        return where, where, background
    tolerance = max(3.0 * sigma, 0.05 * value_range)
    doubt = _doubt(stats, FEW_NEIGHBOURS_RANGES)
    found, outlying = _flips(array, values, where, is_fill, None, threshold, tolerance, doubt)
    labels[tuple(w[found] for w in where)] = CODE["bit-errors"]
    if found.any() and not found.all():
        # two flips side by side hide each other (each widens the other's neighbour range): the rest
        # are looked at again with the flips found left out of their neighbours
        rest = np.nonzero(~found)[0]
        again, _ = _flips(array, values, tuple(w[rest] for w in where), is_fill, labels == CODE["bit-errors"],
                          threshold, tolerance, doubt)
        found[rest[again]] = True
        labels[tuple(w[rest[again]] for w in where)] = CODE["bit-errors"]
    return tuple(w[found] for w in where), tuple(w[outlying & ~found] for w in where), background


def _natural_outliers(explained: int, unexplained: int, odds: float) -> bool:
    """Whether the first look's flips are better taken for the scan's own outliers. Some clean scans
    hold single voxels far outside their neighbours' range (noisy diffusion and EPI mosaics: 6-35 in
    heudiconv's), and for 2 to 4 of every 5 of them some flipped bit happens to land back inside
    that range; nearly every outlier that real flips make is explained by one. So a scan whose
    outliers are not at least ``odds`` times as often explained as not keeps only the flips far
    beyond the content's range (:func:`_beyond_doubt`): NATURAL_OUTLIER_ODDS in tissue, and
    BACKGROUND_OUTLIER_ODDS in the background, where the scan's own lone voxels are rarely one bit
    from the fill."""
    return unexplained > 0 and explained < odds * (unexplained + 1)


def _doubt(stats: dict, ranges: float = 1.0) -> tuple[float, float]:
    """Bounds ``ranges`` value ranges beyond the content's (its 0.5-99.5 percentiles). A flipped high
    bit (int16's sign bit) lands far beyond; a clean scan's own voxels reach up to 2.3 ranges beyond
    (a float template, a noise phantom), but those are not among the first look's flips."""
    return stats["low"] - ranges * stats["value_range"], stats["high"] + ranges * stats["value_range"]


def _beyond_doubt(values: np.ndarray, doubt: tuple[float, float]) -> np.ndarray:
    """Which ``values`` lie outside the bounds ``doubt`` (:func:`_doubt`): for flips found in a scan
    with outliers of its own (noisy mosaics), one value range beyond the content's; those still stand."""
    values = np.asarray(values, dtype=np.float64)
    return (values < doubt[0]) | (values > doubt[1])


def _flips(array, values, where, is_fill, left_out, threshold: float, tolerance: float,
           doubt: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Which voxels of ``where`` lie beyond the range of their eight neighbours by more than
    ``threshold`` and than the neighbours spread (the outliers, second array), where one flipped bit
    puts them back inside it (give or take ``tolerance``; the first). ``left_out``: voxels that do not
    count as neighbours. A voxel with fewer than five neighbours of content (in a corner, beside
    another flip in the background) is judged only where its value lies outside ``doubt``."""
    # at the plane's border only the neighbours inside it count (five along an edge, too few in a
    # corner; mirrored ones had counted twice and flagged a dark edge voxel of a clean scan), and as
    # what lies beyond is unseen, the voxel must stand out twice as far (once as far flagged a dark
    # spot at the edge of nibabel's clean anatomical.nii)
    beside = _beside(where, values.shape)
    neighbours = [(i, j, where[2]) for i, j, _ in beside]
    around = np.stack([values[n] for n in neighbours])
    gone = ~np.stack([inside for _, _, inside in beside])  # beyond the plane's border
    on_border = gone.any(axis=0)
    if left_out is not None:
        gone |= np.stack([left_out[n] for n in neighbours])
    high = np.where(gone, -np.inf, around).max(axis=0)
    low = np.where(gone, np.inf, around).min(axis=0)
    content_around = sum((~is_fill[n] & ~g).astype(np.uint8) for n, g in zip(neighbours, gone, strict=True))
    centre = values[where]
    excess = np.maximum(centre - high, low - centre)
    # not a fill value inside tissue (templates and masks have such holes), nor a lone voxel of tissue
    # in the background (what skull stripping leaves): both occur in clean scans
    beyond = _beyond_doubt(centre, doubt)
    keep = (np.isfinite(high) & (excess > np.where(on_border, 2 * threshold, threshold))
            & (excess > BIT_ERROR_SPREAD * (high - low)) & ((content_around >= 5) | beyond))
    found = np.zeros(len(centre), dtype=bool)
    index = np.nonzero(keep)[0]
    if len(index):
        found[index] = _one_flip_explains(array[tuple(w[index] for w in where)], low[index] - tolerance,
                                          high[index] + tolerance, threshold)
    return found, keep


def _second_look(block, is_fill, live, labels, own: slice, sigma: float) -> None:
    """Bit errors that texture hid from the first look, in the slices ``own`` of ``block`` (the others
    are context). Run only on scans already found to carry bit errors: on a clean scan the looser
    rule of :func:`_restorable` would take texture for flips. Labels are written in ``own`` only; the
    context slices are only read, so slabs can run at once."""
    ni, nj = block.shape[:2]
    if ni < 3 or nj < 3:
        return
    values = block.astype(np.float32)
    ours = values[:, :, own]
    # screen: far from the median of the four nearest neighbours (reflected at the border: never itself);
    # in place where it can be, as the slab-sized arrays add up (this runs on several slabs at once)
    padded = np.pad(ours, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    four = (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:])
    highest, lowest = np.maximum(four[0], four[1]), np.minimum(four[0], four[1])
    median4 = four[0] + four[1]
    for other in four[2:]:
        np.maximum(highest, other, out=highest)
        np.minimum(lowest, other, out=lowest)
        median4 += other
    median4 -= highest
    median4 -= lowest
    median4 /= 2
    far = np.abs(np.subtract(ours, median4, out=median4), out=median4) > SECOND_LOOK_SPREADS * sigma
    flat = highest == lowest
    del highest, lowest, median4
    intact = labels[:, :, own] == 0
    # a fill value counts only alone among content: a flip to 0 inside tissue (64 -> 0)
    fill = is_fill[:, :, own]
    alone = fill & (ndimage.convolve(fill.view(np.uint8), np.ones((3, 3, 1), np.uint8), mode="constant") == 1)
    screen = far & intact & (~fill | alone) & live[own][np.newaxis, np.newaxis, :]
    del alone
    # and the directional test of _restorable, against the least spread there can be (2 sigma; none
    # where the neighbours are all alike), so that its per-voxel work is for few voxels
    along = np.full(ours.shape, np.inf, dtype=np.float32)
    pair = np.empty_like(along)
    for (a, b), (c, d) in (((0, 1), (2, 1)), ((1, 0), (1, 2)), ((0, 0), (2, 2)), ((0, 2), (2, 0))):
        np.add(padded[a:a + ni, b:b + nj], padded[c:c + ni, d:d + nj], out=pair)
        pair /= 2
        np.minimum(along, np.abs(np.subtract(ours, pair, out=pair), out=pair), out=along)
    del padded, pair
    along[[0, -1]] = np.inf  # the plane's border (reflected pairs there): left to _restorable
    along[:, [0, -1]] = np.inf
    loose = screen.copy()
    screen &= (along > SECOND_LOOK_ALONG * 2 * sigma) | flat
    del along
    sound = (labels == 0) | (labels == CODE["bit-errors"])  # not lost to another kind of damage
    for _ in range(2):  # two flips side by side: the second is judged again without the first
        where = np.nonzero(screen)
        if len(where[0]) == 0:
            return
        hit = _restorable(block, values, intact, sound, live, where, own.start, sigma)
        if not hit.any():
            return
        found = tuple(w[hit] for w in where)
        labels[found[0], found[1], found[2] + own.start] = CODE["bit-errors"]
        intact[found] = False
        screen[found] = False
        for i, j, _ in _beside(found, (ni, nj)):  # a flip found spoilt its neighbours' directional screen
            screen[i, j, found[2]] |= loose[i, j, found[2]] & intact[i, j, found[2]]


def _restorable(block, values, intact, sound, live, where, offset: int, sigma: float) -> np.ndarray:
    """Which voxels of ``where`` (slice indices ``offset`` short of ``block``'s) are more than
    SECOND_LOOK_SPREADS spreads from the median of their eight in-plane and two through-plane
    neighbours, and SECOND_LOOK_ALONG spreads from the mean of the two neighbours along every in-plane
    direction (a thin vessel or an edge matches its neighbours along its length), where one flipped
    bit brings them back beside that median, or into the in-plane neighbours' range without its
    extremes widened by a spread (a voxel darker than all its neighbours), SECOND_LOOK_GAIN times
    closer to the median.

    The spread is the in-plane neighbours' range without its extremes, at least twice the scan's noise;
    where they all hold one value (a masked background) it is zero."""
    nk = block.shape[2]
    k = where[2] + offset
    plane = [np.where(inside & intact[i, j, where[2]], values[i, j, k], np.nan)
             for i, j, inside in _beside(where, block.shape)]
    through = []
    for dk in (-1, 1):
        kk = np.clip(k + dk, 0, nk - 1)
        usable = (kk == k + dk) & live[kk] & sound[where[0], where[1], kk]
        through.append(np.where(usable, values[where[0], where[1], kk], np.nan))
    centre = values[where[0], where[1], k]
    plane = np.stack(plane)  # rows: (-1,-1) (-1,0) (-1,1) (0,-1) (0,1) (1,-1) (1,0) (1,1)
    directional = np.fmin.reduce([np.abs(centre - (plane[a] + plane[b]) / 2)
                                  for a, b in ((1, 6), (3, 4), (0, 7), (2, 5))])
    hit = np.zeros(len(centre), dtype=bool)
    # the directional test first, against the least spread there can be (2 sigma, or 0 where the
    # neighbours are all alike): the sorts below are for the few voxels left
    flat = np.fmax.reduce(plane) == np.fmin.reduce(plane)
    left = np.nonzero(~(directional <= SECOND_LOOK_ALONG * 2 * sigma) | flat)[0]
    if len(left) == 0:
        return hit
    plane, through, centre, directional = plane[:, left], np.stack(through)[:, left], centre[left], directional[left]
    plane = np.sort(plane, axis=0)  # NaN (no neighbour) sorts last
    count = np.isfinite(plane).sum(axis=0)
    every = np.sort(np.concatenate([plane, through]), axis=0)
    n = np.isfinite(every).sum(axis=0)
    column = np.arange(len(n))
    median = (every[np.maximum(n - 1, 0) // 2, column] + every[n // 2, column]) / 2
    last = np.maximum(count - 1, 0)
    flat = plane[0] == plane[last, column]
    spread = np.where(flat, 0.0, np.maximum((plane[np.maximum(last - 1, 0), column] - plane[1]) / 2, 2 * sigma))
    jump = np.abs(centre - median)
    keep = (count >= 5) & (jump > SECOND_LOOK_SPREADS * spread) & ~(directional <= SECOND_LOOK_ALONG * spread)
    index = np.nonzero(keep)[0]
    if len(index) == 0:
        return hit
    at = left[index]
    jump, spread = jump[index], spread[index]
    lowest, highest = plane[1, index] - spread, plane[np.maximum(last[index] - 1, 0), index] + spread
    near = np.maximum(spread, jump / 10)
    for restored in _restorations(block[where[0][at], where[1][at], k[at]]):
        off = np.abs(restored - median[index])
        within = (off <= near) | ((restored >= lowest) & (restored <= highest))
        hit[at] |= within & (SECOND_LOOK_GAIN * off <= jump)
    return hit


def _predicted_look(block, is_fill, live, labels, sigma: float, fitted: int = 200_000) -> None:
    """Bit errors in smooth tissue: a voxel far from the linear prediction from its eight in-plane
    neighbours (weights fitted by least squares to about ``fitted`` sound voxels of the slab), in units
    of the prediction's error on the ring two voxels out (which a flip does not reach, so it cannot
    hide itself), where one flip at least that large brings it within twice that error of the prediction.

    Like :func:`_second_look`, only for scans already found to carry bit errors. Voxels beside damage
    found earlier, beside a fill value (the edge of a masked background) or beside a value that is not
    finite are left alone: their prediction leans on values that are not tissue. Slab-sized arrays are
    reused where they can be: about six are alive at once."""
    ni, nj = block.shape[:2]
    if ni < 5 or nj < 5:
        return
    values = block.astype(np.float32)
    padded = np.pad(values, ((1, 1), (1, 1), (0, 0)), mode="reflect")  # a border voxel is never its own neighbour
    shifted = [padded[1 + di:1 + di + ni, 1 + dj:1 + dj + nj] for di, dj in EIGHT]
    near = ndimage.maximum_filter(((labels != 0) | is_fill | ~np.isfinite(values)).view(np.uint8), size=(3, 3, 1)) > 0
    sound = ~near & live[np.newaxis, np.newaxis, :]
    step = max(1, sound.size // (4 * fitted))  # every step-th voxel, the sound ones among them
    sample = np.unravel_index(np.flatnonzero(sound.reshape(-1)[::step]) * step, sound.shape)
    if len(sample[0]) < 100:
        return
    features = np.stack([s[sample] for s in shifted] + [np.ones(len(sample[0]), dtype=np.float32)], axis=1)
    target = values[sample]
    weights = np.linalg.lstsq(features, target, rcond=None)[0]
    error = np.abs(target - features @ weights)  # again without the outliers (flips, edges) of the first fit
    typical = error <= 3 * 1.4826 * np.median(error) + 1e-6
    weights = np.linalg.lstsq(features[typical], target[typical], rcond=None)[0]
    predicted = np.full(values.shape, weights[-1], dtype=np.float32)
    term = np.empty_like(predicted)
    for w, s in zip(weights[:-1], shifted, strict=True):
        predicted += np.multiply(s, np.float32(w), out=term)
    del padded, shifted
    residual = np.subtract(values, predicted, out=values)
    floor = max(1.4826 * float(np.median(np.abs(residual[sample]))), sigma / 2, 1e-6)
    squared = np.square(residual, out=term)
    squared[near] = floor**2
    scale = ndimage.uniform_filter(squared, size=(5, 5, 1))  # the ring's mean square: 5x5 less 3x3
    scale *= np.float32(25 / 16)
    inner = ndimage.uniform_filter(squared, size=(3, 3, 1), output=squared)
    scale -= np.multiply(inner, np.float32(9 / 16), out=inner)
    np.sqrt(np.maximum(scale, floor**2, out=scale), out=scale)
    far = np.abs(residual, out=term) > np.float32(PREDICTED_ERRORS) * scale
    where = np.nonzero(far & sound & (labels == 0))
    if len(where[0]) == 0:
        return
    stored, scale, jump, predicted = block[where], scale[where], term[where], predicted[where]
    closest = np.full(len(stored), np.inf)
    for restored in _restorations(stored):
        large = np.abs(restored - stored) >= PREDICTED_ERRORS * scale
        closest = np.where(large, np.fmin(closest, np.abs(restored - predicted)), closest)
    hit = (closest <= 2 * scale) & (SECOND_LOOK_GAIN * closest <= jump)
    labels[tuple(w[hit] for w in where)] = CODE["bit-errors"]
