"""The volume driver: a scan's slabs through every detector, and the bit-error verdicts that need the
whole scan (the odds of flips against the scan's own outliers, the later looks)."""

from __future__ import annotations

import functools

import numpy as np

from medinpaint.io import Volume
from medinpaint.io.volume import drop_mapped_pages, release_freed_memory
from medinpaint.repair.detection.bit_errors import (
    BIT_ERRORS,
    blocks_and_first_look_flips,
    content_bounds,
    cut_by_the_border,
    far_beyond_neighbours,
    impulse_bounds,
    outliers_may_be_natural,
    outside_bounds,
    supported_across,
    tissue_bounds,
)
from medinpaint.repair.detection.blocks import blocks_against_sound_range
from medinpaint.repair.detection.copies import find_copied_blocks
from medinpaint.repair.detection.flat_patches import drop_flat_patches
from medinpaint.repair.detection.foreign_values import foreign_fill_everywhere, short_runs_below
from medinpaint.repair.detection.impossible import impossible_values
from medinpaint.repair.detection.intensity import intensity_stats, median_in_plane, percentiles, whole_valued
from medinpaint.repair.detection.kinds import (
    BIT_ERRORS_CODE,
    CORRUPTED_BLOCKS_CODE,
    KINDS,
    Detection,
)
from medinpaint.repair.detection.label_maps import COUNTED, label_count
from medinpaint.repair.detection.later_looks import (
    LATER_LOOKS,
    find_smaller_flips,
    impulse_clusters,
    impulses_at_fill,
    impulses_beside_blocks,
)
from medinpaint.repair.detection.lost_lines import (
    find_lost_lines,
    find_more_lost_lines,
    stream_continuations,
    whole_lines,
)
from medinpaint.repair.detection.lost_slices import find_lost_slices, find_truncation
from medinpaint.repair.detection.misplaced import MISPLACED_BLOCKS, find_misplaced_blocks
from medinpaint.repair.detection.nan_frame import framed, inside_nan_frame
from medinpaint.repair.detection.near_fill import drop_background_beside
from medinpaint.repair.detection.packets import find_packet_loss
from medinpaint.repair.detection.partial_lines import PARTIAL_LINES, find_partial_lines, lost_line_parts
from medinpaint.repair.detection.run_fills import garbage_beyond, tissue_plateau
from medinpaint.repair.detection.shifted_in_plane import find_shifted_in_plane
from medinpaint.repair.detection.slabs import (
    SCAN,
    SLAB,
    fill_values,
    fill_with_context,
    for_each_slab,
    frame_value,
    in_fortran_order,
    in_plane_neighbours,
    is_fill_value,
    minimum_and_frame,
    pick_run_fills,
    run_values,
    spread_slices,
    to_volume_indices,
)
from medinpaint.repair.detection.stacked_tiles import find_stacked_tiles
from medinpaint.repair.detection.stream_cuts import find_stream_cuts, may_hold_cuts
from medinpaint.repair.detection.tile_bands import find_tile_bands
from medinpaint.repair.detection.tiles import PACKET_LOSS

BIT_ERRORS_KIND = KINDS[BIT_ERRORS_CODE - 1]


def detect(volume: Volume, slab: int = SLAB) -> Detection:
    """Detect damage in a 3D volume (a 4D one is checked volume by volume along its last axis); a label
    map (:mod:`.label_maps`) is left alone, with ``details["label_map"]`` its number of labels.

    The volume is read ``slab`` slices at a time, so a memory-mapped scan is never loaded whole.
    """
    labels = label_count(volume.array, slab) if volume.modality not in COUNTED else None
    if labels is not None:  # a segmentation (all its volumes together): no measurement to repair
        return Detection(np.zeros(volume.shape, dtype=np.uint8), {"label_map": labels})
    if volume.array.ndim == 4:
        parts = [detect(volume.with_array(volume.array[..., t]), slab) for t in range(volume.shape[3])]
        return Detection(np.stack([p.labels for p in parts], axis=-1),
                         {"per_volume": [p.details for p in parts]})
    mosaic = mosaic_layout(volume)
    inner = inside_nan_frame(volume.array) if mosaic is None else None
    if inner is not None:  # (a tail of fill inside the frame is not the stream's: its end is NaN)
        found = framed(detect_volume(volume.with_array(volume.array[inner]), slab, stream=False), inner,
                       volume.shape)
    else:
        found = detect_mosaic(volume, mosaic, slab) if mosaic is not None else detect_volume(volume, slab)
    release_freed_memory()  # the slabs' temporaries, kept by the worker threads' arenas
    return found


def detect_volume(volume: Volume, slab: int, stream: bool = True) -> Detection:
    """Detection in a 3D volume; ``stream``: its voxels are the pixel stream in Fortran order (not
    the tiles of a mosaic), so a truncated stream shows as a tail of fill."""
    array = in_fortran_order(volume.array)
    volume = volume.with_array(array)
    nk = array.shape[2]
    minimum, frame = minimum_and_frame(array, slab)
    fills = fill_values(volume, minimum)
    # a constant that frames every slice is the scan's own padding: no fill, and unseen beyond it
    padding = frame_value(frame)
    padding = None if padding is None or padding in fills else padding
    # fills at any value: constants the scan holds in runs, but for 0, its minimum (a floor the values
    # are clipped to, a mask or a threshold: cranium's air is clipped at -1024), its padding and its
    # background
    background = frame_value(frame, SCAN.background_share)
    known = [f for f in fills + [padding, background] if f is not None]
    own = [f for f in (padding, background) if f is not None]  # the scan's own values, no fill written
    written = pick_run_fills(run_fill_candidates(array, known, slab))
    if written:
        # inside the scan's range: a plateau at either end is a floor or a ceiling the values were
        # clipped to (a bias field saturating uint8 at 255, a CT's ceiling), no value written over data
        raw = spread_slices(array)
        # after a 3x3 median: impulses beyond the floor do not make it look inside the range
        sample = median_in_plane(raw.astype(np.float32))
        low, high = percentiles(sample, [SCAN.written_inside, 100 - SCAN.written_inside],
                                whole_valued(array.dtype))
        # and clear of them: a resampled floor (cranium's clipped air interpolated to -1023) is the floor
        margin = SCAN.written_inside / 100 * (high - low)
        written = [value for value in written if low + margin < value < high - margin
                   and not garbage_beyond(raw, value) and not tissue_plateau(raw, value)]
    fills = sorted(set(fills) | set(written))
    slice_low, slice_high = np.empty(nk, array.dtype), np.empty(nk, array.dtype)  # each slice's extremes
    fractions = np.empty(nk)
    at_minimum = np.zeros(nk, dtype=np.int64)

    def survey(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        slice_low[part], slice_high[part] = block.min(axis=(0, 1)), block.max(axis=(0, 1))
        # (counts, not means of booleans: no float per voxel)
        fractions[part] = np.count_nonzero(~is_fill_value(block, fills), axis=(0, 1)) / block[:, :, 0].size
        # voxels at the minimum beside another one (a lost line, a region), not scattered bit errors
        lowest = block == minimum
        at_minimum[part] = (np.count_nonzero(lowest[1:] & lowest[:-1], axis=(0, 1))
                            + np.count_nonzero(lowest[:, 1:] & lowest[:, :-1], axis=(0, 1)))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(nk, slab, survey)
    constant = slice_low == slice_high
    # lone voxels at the minimum are bit errors, not a fill (a line of min_hole voxels: min_hole - 1 pairs)
    if at_minimum.sum() < SCAN.min_hole - 1:
        fills = [f for f in fills if f != minimum.item() or f in fill_values(volume)]
    # (not where it is the scan's own background or padding: a thresholded CT set to -1024 around it)
    below = lone_negative_minimum(array, minimum, slab) if minimum.item() in set(fills) - set(own) else None
    # Fortran order: a slab of slices (what every detector works on) is one contiguous run of memory
    labels = np.zeros(array.shape, dtype=np.uint8, order="F")
    find_lost_slices(volume, constant, fractions, labels)
    not_constant = ~constant
    # too few pixels in a plane to tell a pattern from anatomy
    patterns = min(array.shape[:2]) >= SCAN.min_plane
    # fill-valued lines and regions are lost only where they cut into content: a slice beyond the head
    # with a few flipped voxels has fill all around them (ch2's empty top slice with one flip: 10,412
    # voxels had passed for lost packets)
    cut = not_constant & (np.rint(fractions * array.shape[0] * array.shape[1]) >= SCAN.min_hole)
    if patterns and stream:
        find_truncation(array, fills, constant, fractions, labels)
    stats = intensity_stats(array, not_constant, padding)
    flipped = np.zeros(nk, dtype=np.int64)  # bit errors found per slice
    # per slab, where the first look found flips in tissue and outliers it did not
    in_tissue, unexplained = [], []
    # per slab, flips in the background and lone voxels there no flip explains
    in_background, lone = [], []
    # per slab, the impulses no single flip explains (also in in_tissue)
    impulses = []
    far = []  # per slab, how many voxels the first look found beyond the tissue's range, flips or not
    # voxels of whole lost lines across axis 0 and 1, per slab's first slice
    lost_whole = np.zeros((nk, 2), dtype=np.int64)
    partial_lines = []  # per slab, bands of fill lines across content (find_partial_lines)
    cut_slabs = []  # slabs a stream cut may cross, looked at once the other lost-line rules are done

    def scan(part: slice) -> None:
        block = np.asarray(array[:, :, part])
        is_fill = is_fill_value(block, fills)
        region = labels[:, :, part]
        # the slices either side are read only where a detector asks, and then once
        fill_context = functools.cache(lambda: fill_with_context(array, part, is_fill, fills))
        if patterns:
            across = fill_context if nk > 2 else None  # a thinner scan is judged in-plane only
            value_range = stats["value_range"] if stats else 0.0
            full = whole_lines(is_fill)
            lost_whole[part.start] = find_lost_lines(is_fill, ~is_fill, cut[part], region, across,
                                                     (False, False), (block, own, PARTIAL_LINES.contrast
                                                                      * value_range), full)
            if may_hold_cuts(is_fill, full, cut[part]):
                cut_slabs.append(part)
            partial_lines.append([to_volume_indices(where, part.start) for where in find_partial_lines(
                block, is_fill, PARTIAL_LINES.contrast * value_range, cut[part], region, across)])
            contrast = PACKET_LOSS.rectangle_contrast * value_range
            find_packet_loss(block, is_fill, cut[part], region, contrast, across,
                             is_fill_value(block, written) if written else None, fills,
                             None if below is None else block == below, own)
            if across is None:
                find_tile_bands(block, is_fill, region, PARTIAL_LINES.contrast * value_range, fills)
            drop_flat_patches(block, region, stats)
            drop_background_beside(array, part, block, region, stats)
        if stats is not None:
            found, outliers, (background, alone), (impulse, beyond) = blocks_and_first_look_flips(
                block, is_fill, not_constant[part], region, stats, fill_context, padding)
            in_tissue.append(to_volume_indices(found, part.start))
            impulses.append(to_volume_indices(impulse, part.start))
            far.append(beyond)
            unexplained.append(to_volume_indices(outliers, part.start))
            in_background.append(to_volume_indices(background, part.start))
            lone.append(alone)
            flipped[part] = (region == BIT_ERRORS_CODE).sum(axis=(0, 1))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(nk, slab, scan)
    if patterns:
        find_stacked_tiles(array, fills, cut, labels, stats, slab)
    certain = (bool(lost_whole[:, 0].any()), bool(lost_whole[:, 1].any()))  # lines lost across axis 0, 1
    lost_values = []  # the fill values of the lost lines found
    line_contrast = PARTIAL_LINES.contrast * (stats["value_range"] if stats else 0.0)
    if any(certain):
        lost_values = find_more_lost_lines(array, fills, cut, labels, certain, slab, nk > 2, line_contrast)
    doubtful: dict[str, np.ndarray] = {}
    continued = 0
    for axis in (0, 1):
        lost_line_parts(array, lost_values or fills, labels, [bands[axis] for bands in partial_lines], axis,
                        lost_whole[:, axis].sum() > 0, doubtful)
        if certain[axis]:
            continued += stream_continuations(array, lost_values, labels, axis)
    if continued:  # a band whose margin the stream's continuation was (two cut lines, one line apart)
        find_more_lost_lines(array, fills, cut, labels, certain, slab, nk > 2, line_contrast)
    find_stream_cuts(array, fills, cut, labels, cut_slabs, line_contrast, nk > 2)
    foreign_fill_everywhere(array, fills, labels, slab)
    if stats is None:
        details = {"fill_values": [float(f) for f in fills]}
        if doubtful:
            details["doubtful"] = {kind: len(where) for kind, where in doubtful.items()}
        return Detection(labels, details, doubtful)
    if patterns and nk <= 2:  # no slice beside shows what a block held: its seams, and a roll undone
        for k in np.nonzero(not_constant)[0]:
            find_shifted_in_plane(np.asarray(array[:, :, k]), labels[:, :, k],
                                  stats["tissue_high"] - stats["tissue_low"])
    flagged = find_misplaced_blocks(volume, fills, labels, stats, slab, not_constant, padding)
    # (the noise alone: an exact twin is the evidence; the floor only keeps noise from choosing)
    find_copied_blocks(array, fills, labels, MISPLACED_BLOCKS.noise_sigmas * stats["sigma"], flagged)
    voxels = array[:, :, 0].size * int(not_constant.sum())  # of the slices with content
    # impulses stored at a fill value (saturated at an unsigned type's 0) are beyond the tissue too,
    # where the slices beside say so, and not at the scan's own padding or background
    at_fill = impulses_at_fill(array, fills, not_constant, labels, stats, slab)
    far_count = sum(far) + sum(int((sides & ~np.isin(array[where], own)).sum()) for where, sides in at_fill)
    # impulses too many for a clean scan's own outliers: those a flip explains are impulses too
    abundant = impulses_abundant(far_count, voxels)
    in_tissue, impulses = drop_anatomy(array, labels, flipped, in_tissue, impulses, abundant, stats)
    bounds = content_bounds(stats, BIT_ERRORS.doubt_ranges)  # flips beyond them are flips beyond doubt
    background_flips = sum(len(w[0]) for w in in_background)
    if background_flips and outliers_may_be_natural(background_flips, sum(lone),
                                                    BIT_ERRORS.background_outlier_odds):
        for where in in_background:  # the background's own lone voxels: only flips beyond doubt stand
            dropped = tuple(w[~outside_bounds(array[where], bounds)] for w in where)
            labels[dropped] = 0
            np.subtract.at(flipped, dropped[2], 1)
    tissue_flips = sum(len(w[0]) for w in in_tissue)
    blocks = (blocks_against_sound_range(array, fills, not_constant, labels, stats, slab) if flipped.any()
              else [])
    doubtful_impulses(array, labels, flipped, stats, impulses, far_count, doubtful, voxels)
    if abundant:
        for where, _ in at_fill:
            labels[tuple(w[labels[where] == 0] for w in where)] = BIT_ERRORS_CODE
        impulse_clusters(array, fills, not_constant, labels, stats, slab)
    # impulses are no flips: they do not make the scan one that carries flips (the later looks)
    impulse_count = sum(int((labels[w] == BIT_ERRORS_CODE).sum()) for w in impulses)
    # outliers inside garbage found only now are the block's, not the scan's own
    natural = sum(int((labels[w] == 0).sum()) for w in unexplained)
    # the flips one flip explains (impulses were judged on their own)
    in_tissue = [without(where, impulse, array.shape)
                 for where, impulse in zip(in_tissue, impulses, strict=True)]
    tissue_flips = sum(len(w[0]) for w in in_tissue)
    flips_in_doubt = tissue_flips and outliers_may_be_natural(tissue_flips, natural,
                                                              BIT_ERRORS.natural_outlier_odds)
    # BIT_ERRORS.min_flips flips standing in an empty background (lone voxels one flip from the fill,
    # more than its other lone voxels: no clean scan here holds three) show that the scan carries flips
    carries = flips_standing(labels, in_background) >= BIT_ERRORS.min_flips
    few = not carries and (tissue_flips < BIT_ERRORS.min_flips or (
        tissue_flips < BIT_ERRORS.few_flips and tissue_flips < BIT_ERRORS.few_flips_share * voxels))
    if tissue_flips and not flips_in_doubt and few:
        # too few to tell from the scan's own outliers (a clean scan holds a few that a flip explains,
        # some two tissue ranges beyond its tissue): doubtful, but for flips far beyond the tissue's range,
        # and all stand where those are most and BIT_ERRORS.min_flips at least (the scan carries flips)
        certain = (impulse_bounds(stats, array.dtype) if abundant
                   else tissue_bounds(stats, BIT_ERRORS.few_flips_certain_ranges))
        within = [~outside_bounds(array[where], certain) & ~far_beyond_neighbours(array, where, labels, stats)
                  for where in in_tissue]
        doubted = sum(int(w.sum()) for w in within)
        weak = ([unlabel(labels, flipped, tuple(w[doubt] for w in where))
                 for where, doubt in zip(in_tissue, within, strict=True)]
                if tissue_flips - doubted < max(BIT_ERRORS.min_flips, doubted + 1) else [])
        found = [np.stack(w, axis=1) for w in weak if len(w[0])]
        if found:
            doubtful[BIT_ERRORS_KIND] = np.concatenate([doubtful.get(BIT_ERRORS_KIND, np.empty((0, 3), int)),
                                                        *found])
    if flips_in_doubt:  # the scan's own outliers: only flips beyond doubt stand
        beyond_doubt = [bounds] + ([impulse_bounds(stats, array.dtype)] if abundant else [])
        for where in in_tissue:
            stand = np.logical_or.reduce([outside_bounds(array[where], b) for b in beyond_doubt]
                                         + [far_beyond_neighbours(array, where, labels, stats)])
            unlabel(labels, flipped, tuple(w[~stand] for w in where))
    if tissue_flips and (few or flips_in_doubt) and not flipped.any():
        for where in blocks:  # looked for only because of the flips dropped
            labels[where] = 0
    impulses_beside_blocks(array, fills, labels, stats, slab)  # (once the blocks that stand are known)
    # the later looks take smaller jumps, where a scan with outliers of its own has far more of them
    flips = flipped.sum() - impulse_count
    later = not flips_in_doubt and flips >= LATER_LOOKS.odds * natural
    if later and flips >= max(LATER_LOOKS.after_flips,
                                      LATER_LOOKS.after_share * array[:, :, 0].size * not_constant.sum()):
        find_smaller_flips(array, fills, not_constant, labels, stats["sigma"], slab)
    if patterns:
        short_runs_below(array, labels, fills, slice_low, own, stats["sigma"], stream)
    impossible_values(array, fills, labels, stats, slab)  # (last: the looks above judge without them)
    details = {"fill_values": [float(f) for f in fills]}
    if doubtful:
        details["doubtful"] = {kind: len(where) for kind, where in doubtful.items()}
    return Detection(labels, details, doubtful)


def flips_standing(labels: np.ndarray, found: list[tuple[np.ndarray, ...]]) -> int:
    """How many of the voxels ``found`` (volume indices, per slab) are still labelled bit errors."""
    return sum(int(np.count_nonzero(labels[where] == BIT_ERRORS_CODE)) for where in found)


def without(where: tuple[np.ndarray, ...], these: tuple[np.ndarray, ...],
            shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The voxels ``where`` less ``these`` (both volume indices)."""
    if len(these[0]) == 0 or len(where[0]) == 0:
        return where
    keep = ~np.isin(np.ravel_multi_index(where, shape[:3]), np.ravel_multi_index(these, shape[:3]))
    return tuple(w[keep] for w in where)


def unlabel(labels: np.ndarray, flipped: np.ndarray,
            dropped: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Take bit errors ``dropped`` off the labels (and the count per slice), but for those beside a
    corrupted block, which are its garbage (the block search skipped labelled voxels) and become its;
    returns the others."""
    in_block = np.zeros(len(dropped[0]), dtype=bool)
    for i, j, inside in in_plane_neighbours(dropped, labels.shape):
        in_block |= inside & (labels[i, j, dropped[2]] == CORRUPTED_BLOCKS_CODE)
    labels[dropped] = np.where(in_block, CORRUPTED_BLOCKS_CODE, 0).astype(np.uint8)
    np.subtract.at(flipped, dropped[2], 1)
    return tuple(w[~in_block] for w in dropped)


def drop_anatomy(array: np.ndarray, labels: np.ndarray, flipped: np.ndarray, in_tissue: list[tuple],
                 impulses: list[tuple], stacked: bool, stats: dict) -> tuple[list[tuple], list[tuple]]:
    """The first look's outliers in tissue (and its impulses) less those that continue into a slice
    beside (:func:`supported_across`: anatomy crossing the plane) or, in a single slice, on the plane's
    border along it (:func:`cut_by_the_border`), which are unlabelled (but for those beside a corrupted block:
    :func:`unlabel`). ``stacked``:
    the scan carries impulses in abundance, so the other outliers found are left out of that judgement
    (two impulses side by side are no anatomy)."""
    found = (labels == BIT_ERRORS_CODE) if stacked else None
    kept, kept_impulses = [], []
    for where, impulse in zip(in_tissue, impulses, strict=True):
        # (a single slice has no slice beside: anatomy at its border shows along the border instead)
        supported = (supported_across(array, where, found) if array.shape[2] > 1
                     else cut_by_the_border(array, where, stats, found))
        if supported.any():
            unlabel(labels, flipped, tuple(w[supported] for w in where))
            where = tuple(w[~supported] for w in where)
            impulse = tuple(w[labels[impulse] == BIT_ERRORS_CODE] for w in impulse)
        kept.append(where)
        kept_impulses.append(impulse)
    return kept, kept_impulses


def impulses_abundant(count: int, voxels: int) -> bool:
    """Whether ``count`` voxels beyond the tissue's range are too many for a clean scan's own (of its
    ``voxels`` with content): the evidence :func:`doubtful_impulses` asks for."""
    return count >= BIT_ERRORS.impulse_min_count and count >= BIT_ERRORS.impulse_min_share * voxels


def doubtful_impulses(array: np.ndarray, labels: np.ndarray, flipped: np.ndarray, stats: dict,
                      impulses: list[tuple], count: int, doubtful: dict[str, np.ndarray], voxels: int) -> int:
    """Impulses no flip explains are doubtful (taken off the labels, into ``doubtful``) where the scan
    holds fewer than ``BIT_ERRORS.impulse_min_count`` voxels as far beyond its tissue (``count``, flips
    or not), or fewer than
    ``BIT_ERRORS.impulse_min_share`` of its ``voxels`` (those of its slices with content), and they lie
    within ``BIT_ERRORS.impulse_certain_ranges`` of the tissue's range. One beside a corrupted block is
    the block's garbage. Returns how many were found doubtful."""
    if not sum(len(w[0]) for w in impulses) or impulses_abundant(count, voxels):
        return 0
    bounds = tissue_bounds(stats, BIT_ERRORS.impulse_certain_ranges)
    weak = []
    for where in impulses:
        within = (~outside_bounds(array[where], bounds) & (labels[where] == BIT_ERRORS_CODE)
                  & ~far_beyond_neighbours(array, where, labels, stats))
        weak.append(unlabel(labels, flipped, tuple(w[within] for w in where)))
    found = [np.stack(w, axis=1) for w in weak if len(w[0])]
    if found:
        doubtful[BIT_ERRORS_KIND] = np.concatenate(found)
    return sum(len(w[0]) for w in weak)


def lone_negative_minimum(array: np.ndarray, minimum: np.generic, slab: int) -> float | None:
    """The scan's minimum where it is negative and few voxels hold another negative value (fewer than
    ``SCAN.min_hole`` or ``SCAN.ringing_share`` of them; ``None`` otherwise): a constant written into a
    scan of values that cannot be negative (an MR's magnitudes: -1024, a stored 0 rescaled, over a
    background of 0), no value of its own; the voxels a resampling rang below 0 make no population of
    negatives (nibabel's anatomical holds two, at -136 and -120; nipy's middle 33 x 41 x 16, 19 of
    21,648). A strided sample of slices rules out most scans that hold negative values (CT in HU)
    before the whole scan is read."""
    if not minimum < 0 or array.dtype.kind not in "iuf":
        return None
    nk = array.shape[2]

    def others_negative(block: np.ndarray) -> int:
        return int(np.count_nonzero((block < 0) & (block != minimum)))

    def few(count: int, voxels: int) -> bool:
        return count < max(SCAN.min_hole, SCAN.ringing_share * voxels)

    sample = spread_slices(array)
    if not few(others_negative(sample), array.size):  # (as many in the sample: as many at least)
        return None
    found: list[int] = []

    def look(part: slice) -> None:
        found.append(others_negative(np.asarray(array[:, :, part])))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(nk, slab, look)
    return minimum.item() if few(sum(found), array.size) else None


def run_fill_candidates(array: np.ndarray, fills: list[float], slab: int) -> dict[float, int]:
    """:func:`run_values` of every slab, summed: the constants other than ``fills`` that the scan holds
    in runs (fill candidates, whatever their value)."""
    found: list[dict[float, int]] = []

    def look(part: slice) -> None:
        found.append(run_values(np.asarray(array[:, :, part]), fills))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)
    total: dict[float, int] = {}
    for part in found:
        for value, n in part.items():
            total[value] = total.get(value, 0) + n
    return total


def mosaic_layout(volume: Volume) -> tuple[int, int] | None:
    """(tiles per side, images) of a Siemens mosaic (one DICOM image holding a volume's slices as
    tiles, the unused ones black), or None. Its tile borders and empty tiles would pass for lost lines
    and a truncated stream."""
    headers = (volume.meta.get("dicom") or {}).get("slices") or []
    header = next((h for h in headers if h is not None), None)
    if (volume.array.ndim != 3 or volume.shape[2] != 1 or header is None
            or "MOSAIC" not in (header.get("ImageType") or [])):
        return None
    images = header.get((0x0019, 0x100A))  # Siemens: NumberOfImagesInMosaic
    if images is None:
        return None
    count = int(images.value)
    side = int(np.ceil(np.sqrt(count)))
    if count < 1 or volume.shape[0] % side or volume.shape[1] % side:
        return None
    return side, count


def detect_mosaic(volume: Volume, mosaic: tuple[int, int], slab: int) -> Detection:
    """Detection on a mosaic's tiles as the slices of a volume, labels back in the mosaic's layout;
    a truncated stream on the mosaic itself, whose rows are the stream's order."""
    side, count = mosaic
    ni, nj = volume.shape[:2]
    ti, tj = ni // side, nj // side
    # tiles fill the image row by row: tile b * side + a holds i in [a ti, (a+1) ti), j in [b tj,
    # (b+1) tj)
    tiles = (volume.array[:, :, 0].reshape(side, ti, side, tj).transpose(1, 3, 2, 0)
             .reshape(ti, tj, side * side))
    inner = detect_volume(volume.with_array(np.ascontiguousarray(tiles[:, :, :count])), slab, stream=False)
    labels = np.zeros((ti, tj, side * side), dtype=np.uint8)
    labels[:, :, :count] = inner.labels
    labels = labels.reshape(ti, tj, side, side).transpose(3, 0, 2, 1).reshape(ni, nj, 1)
    plane = np.asarray(volume.array)
    fills = inner.details["fill_values"]
    find_truncation(plane, fills, np.array([plane.min() == plane.max()]),
                    np.array([(~is_fill_value(plane, fills)).mean()]), labels, tile=ti)
    return Detection(labels, {**inner.details, "mosaic": {"tiles_per_side": side, "images": count}})
