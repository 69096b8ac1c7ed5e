"""Bit errors, the first look: single voxels far outside their neighbours' range that one flipped bit
puts back, impulses (single voxels beyond the range of the scan's tissue, whatever put them there), and
flips from the fill value in an empty background."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from medinpaint.repair.detection.blocks import blocks_in_slab
from medinpaint.repair.detection.kinds import BIT_ERRORS_CODE
from medinpaint.repair.detection.slabs import CONTEXT, in_plane_neighbours, nonzero


@dataclass(frozen=True)
class BitErrorThresholds:
    """When the first look takes a voxel for a flipped bit.

    Args:
        sigmas: a flip in tissue stands out from its neighbours' range by this many noise sigmas ...
        range_share: ... or this share of the content's value range, whichever is more ...
        spreads: ... and by this many times the spread of its eight neighbours.
        border_factor: a voxel on the plane's border must stand out this many times as far.
        tolerance_sigmas: one flip puts it back within this many sigmas of the neighbours' range ...
        tolerance_range: ... or this share of the value range, whichever is more.
        min_content_neighbours: with fewer neighbours of content a voxel is judged only where it lies
            ``few_neighbours_ranges`` value ranges beyond the content's.
        few_neighbours_ranges: see ``min_content_neighbours``.
        background_flip: a flip in uniform background changes the fill value by this share of the range.
        natural_outlier_odds: flips in tissue stand only where the outliers one flip explains
            outnumber those it does not (+1) by this much; otherwise only flips beyond doubt.
        background_outlier_odds: the same for flips in the background against its lone voxels.
        doubt_ranges: flips beyond doubt lie this many value ranges beyond the content's.
        min_flips: fewer flips in tissue than this (and no outliers the scan holds of its own) are
            doubtful, unless ``impulse_certain_ranges`` beyond the tissue's range: a clean scan holds one
            or two outliers that a flip explains (dipy's S0 along its first axis: one) ...
        few_flips: ... and so are fewer than this that make up less than ``few_flips_share`` of the
            voxels of the slices with content (nibabel's anatomical.nii holds 3-5 voxels 1.5-2 tissue
            ranges beyond its tissue that a flip explains, 1-2e-4 of its voxels; four flips in pydicom's
            64x64 MR_small are 1e-3), unless ``few_flips_certain_ranges`` beyond the tissue's range.
        few_flips_certain_ranges: such few flips in a scan with no outliers of its own stand this many
            tissue ranges beyond its tissue (the clean corpus's reach 1.84: nibabel's anatomical.nii;
            a flipped high bit lands 2.5-5 beyond).
        far_spreads: a flip or an impulse in doubt (few of them, or a scan with outliers of its own)
            still stands where it lies beyond its eight neighbours' range by this many times their
            spread (or the flip tolerance, whichever is more): a flipped high bit amid even tissue, inside
            the tissue's range as often as beyond it. The clean corpus's own outliers reach 5.1 times
            (a bright speck in nibabel's anatomical.nii); flips that matter lie 10 to 1000 times out.
        impulse_ranges: an impulse lies this many value ranges beyond the tissue's (the 0.5-99.5
            percentiles of the scan after a 3x3 median, so that impulses do not widen it), whatever its
            neighbours (background included) and whether or not one flipped bit explains it.
        impulse_min_count: impulses stand where the scan holds this many ...
        impulse_min_share: ... and this share of the voxels of its slices with content; otherwise they are
            doubtful (clean scans hold single voxels 0.5-2.3 tissue ranges beyond their tissue, at up to
            2e-4 of the voxels of a volume, 2.1e-3 of a thin padded diffusion slice: dipy's S0) ...
        impulse_certain_ranges: ... unless they lie this many value ranges beyond the tissue's (a noisy
            diffusion mosaic of heudiconv's holds voxels 4-5 tissue ranges beyond its tissue that one flip
            explains).
        impulse_cluster: in a scan carrying impulses in abundance, impulses side by side are judged
            without each other up to this many (more is a bright speck of anatomy).
        across_support: an outlier in its plane whose voxel in the slice before or after lies beyond the
            same side of the plane neighbours' range by this share of its own excess is anatomy crossing
            the plane (a vessel, a spot of CSF), not a flip or an impulse.
        border_structure: an outlier on the plane's border beside a voxel this many tissue ranges beyond
            the tissue, on its side, is anatomy the border cuts (bone entering a crop at its corner peaks
            there), not a flip or an impulse.
    """

    sigmas: float = 8.0
    range_share: float = 0.15
    spreads: float = 1.3
    border_factor: int = 2
    tolerance_sigmas: float = 3.0
    tolerance_range: float = 0.05
    min_content_neighbours: int = 5
    few_neighbours_ranges: float = 4.0
    background_flip: float = 0.1
    natural_outlier_odds: int = 5
    background_outlier_odds: int = 2
    doubt_ranges: float = 1.0
    min_flips: int = 3
    few_flips: int = 10
    few_flips_share: float = 5e-4
    few_flips_certain_ranges: float = 2.5
    far_spreads: float = 6.0
    impulse_ranges: float = 0.4
    impulse_min_count: int = 3
    impulse_min_share: float = 3e-3
    impulse_certain_ranges: float = 6.0
    impulse_cluster: int = 3
    across_support: float = 0.5
    border_structure: float = 1.0


BIT_ERRORS = BitErrorThresholds()


def flips_in_background(array: np.ndarray, is_fill: np.ndarray, not_constant: np.ndarray, labels: np.ndarray,
                        threshold: float,
                        fill_context: Callable[[], tuple]) -> tuple[tuple[np.ndarray, ...], int]:
    """A flipped bit in the empty background: one voxel whose eight neighbours all hold the same fill
    value and which differs from it by exactly one bit (by ``threshold`` or more), where the slices
    before and after hold no tissue at its place: fill, or a voxel alone in its own plane, such as
    another flip (``fill_context()``, which reads those slices, is called only for such voxels).
    Lone voxels of tissue in a masked or thresholded background (what skull stripping or a cut-off
    for background noise leaves) hold any value, rarely a fill value with one bit changed (in uint8,
    1 in 64). Returns where flips were found, and how many lone voxels no single flip explains: where
    the flips do not outnumber those (+1) ``BIT_ERRORS.background_outlier_odds`` to 1, they may be such
    voxels too."""
    nothing = (np.empty(0, dtype=np.intp),) * 3
    if array.dtype.kind not in "iu" or array.shape[0] < 3 or array.shape[1] < 3:
        return nothing, 0
    # screened on the four neighbours along i and j (none beyond the plane's border): all fill, the
    # voxel not
    screen = ~is_fill & (labels == 0) & not_constant[np.newaxis, np.newaxis, :]
    screen[1:] &= is_fill[:-1]
    screen[:-1] &= is_fill[1:]
    screen[:, 1:] &= is_fill[:, :-1]
    screen[:, :-1] &= is_fill[:, 1:]
    where = nonzero(screen)
    if len(where[0]) == 0:
        return nothing, 0
    # a neighbour inside the plane
    fill = array[np.where(where[0] > 0, where[0] - 1, where[0] + 1), where[1], where[2]]
    lone = np.ones(len(fill), dtype=bool)
    # beyond the plane's border there is no neighbour
    for i, j, inside in in_plane_neighbours(where, array.shape):
        lone &= ~inside | (array[i, j, where[2]] == fill)
    centre = array[where]
    lone &= np.abs(centre.astype(np.float64) - fill.astype(np.float64)) >= threshold
    one_flip = one_flip_explains(centre, fill, fill, threshold)
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
        # fill all around it in its own plane
        for i, j, inside in in_plane_neighbours(across, context.shape):
            alone &= ~inside | context[i, j, across[2]]
        no_tissue &= fill_there | alone
    hit = tuple(w[no_tissue] for w in where)
    labels[hit] = BIT_ERRORS_CODE
    return hit, unexplained


def one_flip_explains(values: np.ndarray, low: np.ndarray, high: np.ndarray, threshold: float,
                      sign: np.ndarray | bool = True) -> np.ndarray:
    """True where flipping one bit of the stored word (for floats, an exponent bit, or the sign where
    ``sign`` is set) lands in [low, high]."""
    explained = np.zeros(values.shape, dtype=bool)
    for restored in one_flip_restorations(values, threshold):
        explained |= (restored >= low) & (restored <= high)
    if values.dtype.kind == "f":
        restored = -values.astype(np.float64)
        explained |= sign & (restored >= low) & (restored <= high)
    return explained


def one_flip_restorations(values: np.ndarray, threshold: float = 0.0,
                          sign: bool = False) -> Iterator[np.ndarray]:
    """Each value the stored words would hold with one bit flipped back (bits worth ``threshold / 2``
    or more; for floats, an exponent bit: the value scaled by 2^(2^b) either way, and the sign where
    ``sign`` is set), as float64 arrays. In tissue near 0 a float's sign puts almost any voxel back:
    only a look that asks a jump of several spreads takes it."""
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
        if sign:
            yield -values


def blocks_and_first_look_flips(array: np.ndarray, is_fill: np.ndarray, not_constant: np.ndarray,
                                labels: np.ndarray, stats: dict,
                                fill_context: Callable[[], tuple],
                                padding: float | None = None) -> tuple[tuple, tuple, tuple, tuple]:
    """Corrupted blocks, then bit errors in the background (``fill_context``: gives
    :func:`fill_with_context` of the slab) and in tissue. Returns where flips (and impulses) were found in
    tissue, where outliers as large are that no single flip explains, the background's flips and lone
    voxels no flip explains (:func:`flips_in_background`), and which of the first are impulses no single
    flip explains (beyond the tissue's range by ``BIT_ERRORS.impulse_ranges``) with how many voxels lie
    that far beyond, flips or not (the evidence for impulses). ``padding``: the constant
    a padded scan frames its slices with (:func:`frame_value`); neighbours holding it are unseen, as beyond
    the plane's border."""
    sigma, value_range = stats["sigma"], stats["value_range"]
    threshold = max(BIT_ERRORS.sigmas * sigma, BIT_ERRORS.range_share * value_range)
    values = array.astype(np.float32)
    step_i = blocks_in_slab(values, is_fill, not_constant, labels, stats)

    background = flips_in_background(array, is_fill, not_constant, labels,
                                     BIT_ERRORS.background_flip * value_range, fill_context)

    # bit errors: a voxel far beyond the range of all eight neighbours (further than they spread),
    # which one flipped bit would put back inside that range. Screened first on the two neighbours
    # along i (the block search's steps): an impulse differs from both by more than the threshold.
    bounds = (content_bounds(stats, BIT_ERRORS.few_neighbours_ranges),
              impulse_bounds(stats, array.dtype))
    steep = step_i > threshold
    screen = np.empty_like(values, dtype=bool)
    np.logical_and(steep[:-1], steep[1:], out=screen[1:-1])
    if values.shape[0] > 1:  # at the border, its one neighbour along i
        screen[0], screen[-1] = steep[0], steep[-1]
    else:
        screen[:] = False
    screen &= ~is_fill
    screen &= labels == 0
    screen &= not_constant[np.newaxis, np.newaxis, :]
    where = nonzero(screen)
    if len(where[0]) == 0:
        return where, where, background, (where, 0)
    tolerance = max(BIT_ERRORS.tolerance_sigmas * sigma, BIT_ERRORS.tolerance_range * value_range)
    unseen = None if padding is None else array == padding
    found, outlying, impulse, flip = flips_beyond_neighbour_range(array, values, where, is_fill, unseen,
                                                                  threshold, tolerance, bounds)
    labels[tuple(w[found] for w in where)] = BIT_ERRORS_CODE
    if found.any() and not found.all():
        # two flips side by side hide each other (each widens the other's neighbour range): the rest
        # are looked at again with the flips found left out of their neighbours
        rest = np.nonzero(~found)[0]
        again, _, again_impulse, again_flip = flips_beyond_neighbour_range(
            array, values, tuple(w[rest] for w in where), is_fill,
            (labels == BIT_ERRORS_CODE) if unseen is None else (labels == BIT_ERRORS_CODE) | unseen,
            threshold, tolerance, bounds, unseen)
        found[rest[again]] = True
        impulse[rest] |= again_impulse
        flip[rest] |= again_flip
        labels[tuple(w[rest[again]] for w in where)] = BIT_ERRORS_CODE
    if (impulse & ~flip).sum() >= BIT_ERRORS.impulse_min_count:
        pairs = impulse_pairs(array, values, is_fill, not_constant, labels, step_i, threshold, tolerance,
                              bounds, unseen)
        both = list(zip(where, pairs, strict=True))
        impulse_where = tuple(np.concatenate([w[impulse & ~flip], p]) for w, p in both)
        return (tuple(np.concatenate([w[found], p]) for w, p in both),
                tuple(w[outlying & ~found] for w in where), background,
                (impulse_where, int(impulse.sum()) + len(pairs[0])))
    return (tuple(w[found] for w in where), tuple(w[outlying & ~found] for w in where), background,
            (tuple(w[impulse & ~flip] for w in where), int(impulse.sum())))


def impulse_pairs(array: np.ndarray, values: np.ndarray, is_fill: np.ndarray, not_constant: np.ndarray,
                  labels: np.ndarray, step_i: np.ndarray, threshold: float, tolerance: float,
                  bounds: tuple[tuple[float, float], tuple[float, float]],
                  unseen: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Impulses side by side, in a slab already known to carry impulses: each widens the other's
    neighbour range, and one beside the other along i passes no screen on both steps. Voxels beyond
    the tissue's range (``bounds[1]``) with exactly one neighbour as far beyond (a pair, not a bright
    speck of anatomy, which is several) are judged with every such voxel left out of their neighbours;
    labelled, and returned (slab indices)."""
    beyond = (values < bounds[1][0]) | (values > bounds[1][1])
    screen = np.zeros_like(beyond)
    screen[1:-1] = beyond[1:-1] & ((step_i[:-1] > threshold) | (step_i[1:] > threshold))
    if values.shape[0] > 1:  # at the border, its one neighbour along i (the pair's other, along j)
        screen[0], screen[-1] = beyond[0], beyond[-1]
    screen &= ~is_fill & (labels == 0) & not_constant[np.newaxis, np.newaxis, :]
    where = nonzero(screen)
    partners = sum((beyond[i, j, where[2]] & inside).astype(np.int8)
                   for i, j, inside in in_plane_neighbours(where, values.shape))
    where = tuple(w[partners == 1] for w in where)
    left_out = beyond | (labels == BIT_ERRORS_CODE)
    if unseen is not None:
        left_out |= unseen
    _, _, paired, _ = flips_beyond_neighbour_range(array, values, where, is_fill, left_out, threshold,
                                                   tolerance, bounds, unseen)
    found = tuple(w[paired] for w in where)
    labels[found] = BIT_ERRORS_CODE
    return found


def outliers_may_be_natural(explained: int, unexplained: int, odds: float) -> bool:
    """Whether the first look's flips are better taken for the scan's own outliers. Some clean scans
    hold single voxels far outside their neighbours' range (noisy diffusion and EPI mosaics: 6-35 in
    heudiconv's), and for 2 to 4 of every 5 of them some flipped bit happens to land back inside
    that range; nearly every outlier that real flips make is explained by one. So a scan whose
    outliers are not at least ``odds`` times as often explained as not keeps only the flips far
    beyond the content's range (:func:`outside_bounds`): ``BIT_ERRORS.natural_outlier_odds`` in tissue,
    and ``BIT_ERRORS.background_outlier_odds`` in the background, where the scan's own lone voxels are
    rarely one bit from the fill."""
    return unexplained > 0 and explained < odds * (unexplained + 1)


def content_bounds(stats: dict, ranges: float) -> tuple[float, float]:
    """Bounds ``ranges`` value ranges beyond the content's (its 0.5-99.5 percentiles). A flipped high
    bit (int16's sign bit) lands far beyond; a clean scan's own voxels reach up to 2.3 ranges beyond
    (a float template, a noise phantom), but those are not among the first look's flips."""
    return stats["low"] - ranges * stats["value_range"], stats["high"] + ranges * stats["value_range"]


def tissue_bounds(stats: dict, ranges: float) -> tuple[float, float]:
    """Bounds ``ranges`` value ranges beyond the tissue's: the 0.5-99.5 percentiles of the sampled
    slices after a 3x3 median (:func:`intensity_stats`), which impulses, however many, do not widen."""
    value_range = (stats["tissue_high"] - stats["tissue_low"]) or stats["value_range"]
    return stats["tissue_low"] - ranges * value_range, stats["tissue_high"] + ranges * value_range


def impulse_bounds(stats: dict, dtype: np.dtype) -> tuple[float, float]:
    """Where impulses lie beyond: ``BIT_ERRORS.impulse_ranges`` beyond the tissue's range
    (:func:`tissue_bounds`), no wider than the type holds (:func:`saturating`)."""
    return saturating(tissue_bounds(stats, BIT_ERRORS.impulse_ranges), dtype, stats)


def saturating(bounds: tuple[float, float], dtype: np.dtype, stats: dict) -> tuple[float, float]:
    """Impulse ``bounds`` no wider than an integer type holds: an impulse beyond the type's range is
    stored at its limit (a converter's overflow saturates), so the limit itself lies beyond where the
    tissue does not reach it (an MNI template in uint8, tissue up to 232: impulses at 255)."""
    if dtype.kind not in "iu":
        return bounds
    info = np.iinfo(dtype)
    low, high = bounds
    if high >= info.max and stats["tissue_high"] < info.max:
        high = info.max - 0.5
    if low <= info.min and stats["tissue_low"] > info.min:
        low = info.min + 0.5
    return low, high


def supported_across(array: np.ndarray, where: tuple[np.ndarray, ...],
                     found: np.ndarray | None = None) -> np.ndarray:
    """Which in-plane outliers ``where`` (volume indices) continue into the slice before or after: the
    voxel there lies beyond the same side of the plane neighbours' range by ``BIT_ERRORS.across_support``
    of the outlier's own excess. A flip or an impulse hits one voxel; anatomy crossing the plane (a
    vessel, CSF) shows in the slices beside it. ``found`` (given for a scan carrying impulses in
    abundance): the voxels already taken for bit errors, left out of the plane neighbours' range (two
    impulses side by side: each within the other's range had passed for supported) and no support
    beside it (at a 1% share, 1 impulse in 50 has another above or below it)."""
    supported = np.zeros(len(where[0]), dtype=bool)
    if len(where[0]) == 0 or array.shape[2] < 2:
        return supported
    with np.errstate(invalid="ignore", over="ignore"):
        low, high, _ = neighbour_range(array, where, found)
        centre = np.asarray(array[where], dtype=np.float64)
        above = centre > high
        excess = np.where(above, centre - high, low - centre)
        for dk in (-1, 1):
            k = where[2] + dk
            inside = (k >= 0) & (k < array.shape[2])
            at = np.clip(k, 0, array.shape[2] - 1)
            if found is not None:
                inside &= ~found[where[0], where[1], at]
            beside = np.asarray(array[where[0], where[1], at], dtype=np.float64)
            beyond = np.where(above, beside - high, low - beside)
            supported |= inside & (beyond > BIT_ERRORS.across_support * excess)
    return supported


def cut_by_the_border(array: np.ndarray, where: tuple[np.ndarray, ...], stats: dict,
                      found: np.ndarray | None = None) -> np.ndarray:
    """Which in-plane outliers ``where`` (volume indices) lie on the plane's border beside a voxel of it
    beyond the tissue (``BIT_ERRORS.border_structure`` ranges, :func:`tissue_bounds`) on their own side:
    anatomy the field of view cuts (the skull entering a crop at its corner peaks at the border, with
    bone beside it), where a voxel inside the plane would have its structure all around: the judge of a
    single slice, which has no slice beside for :func:`supported_across`. ``found``: as for
    :func:`supported_across`, voxels taken for bit errors, no structure."""
    cut = np.zeros(len(where[0]), dtype=bool)
    if len(where[0]) == 0:
        return cut
    low, high = tissue_bounds(stats, BIT_ERRORS.border_structure)
    beside = in_plane_neighbours(where, array.shape)
    on_border = ~np.logical_and.reduce([inside for _, _, inside in beside])
    with np.errstate(invalid="ignore"):
        centre = np.asarray(array[where], dtype=np.float64)
        above = centre > high
        for i, j, inside in beside:
            value = np.asarray(array[i, j, where[2]], dtype=np.float64)
            structure = inside & np.where(above, value > high, value < low)
            if found is not None:
                structure &= ~found[i, j, where[2]]
            cut |= structure
    return cut & on_border & ((centre > high) | (centre < low))


def neighbour_range(array: np.ndarray, where: tuple[np.ndarray, ...],
                    left_out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lowest and highest value (float64) of the in-plane neighbours of the voxels ``where`` (volume
    indices), of those inside the plane and not ``left_out``, and which neighbours those are
    (``(8, n)``); with none, the range is empty (+inf, -inf)."""
    beside = in_plane_neighbours(where, array.shape)
    around = np.stack([np.asarray(array[i, j, where[2]], dtype=np.float64) for i, j, _ in beside])
    seen = np.stack([inside for _, _, inside in beside])  # the plane's border: no neighbour
    if left_out is not None:
        seen &= ~np.stack([left_out[i, j, where[2]] for i, j, _ in beside])
    return np.where(seen, around, np.inf).min(axis=0), np.where(seen, around, -np.inf).max(axis=0), seen


def far_beyond_neighbours(array: np.ndarray, where: tuple[np.ndarray, ...], labels: np.ndarray,
                          stats: dict) -> np.ndarray:
    """Which voxels ``where`` (volume indices) lie beyond the range of their in-plane neighbours (those
    inside the plane and not themselves bit errors in ``labels``, five at least) by
    ``BIT_ERRORS.far_spreads`` times the neighbours' spread or the flip tolerance, whichever is more:
    evidence enough on its own, however few such voxels the scan holds."""
    far = np.zeros(len(where[0]), dtype=bool)
    if len(where[0]) == 0:
        return far
    with np.errstate(invalid="ignore", over="ignore"):
        low, high, seen = neighbour_range(array, where, labels == BIT_ERRORS_CODE)
        centre = np.asarray(array[where], dtype=np.float64)
        excess = np.maximum(centre - high, low - centre)
        tolerance = max(BIT_ERRORS.tolerance_sigmas * stats["sigma"],
                        BIT_ERRORS.tolerance_range * stats["value_range"])
        far = ((seen.sum(axis=0) >= BIT_ERRORS.min_content_neighbours)
               & (excess > BIT_ERRORS.far_spreads * np.maximum(high - low, tolerance)))
    return far


def outside_bounds(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Which ``values`` lie outside ``bounds`` (:func:`content_bounds`): for flips found in a scan with
    outliers of its own (noisy mosaics), one value range beyond the content's; those still stand."""
    values = np.asarray(values, dtype=np.float64)
    return (values < bounds[0]) | (values > bounds[1])


def flips_beyond_neighbour_range(array: np.ndarray, values: np.ndarray, where: tuple[np.ndarray, ...],
                                 is_fill: np.ndarray, left_out: np.ndarray | None, threshold: float,
                                 tolerance: float,
                                 bounds: tuple[tuple[float, float], tuple[float, float]],
                                 unseen: np.ndarray | None = None
                                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which voxels of ``where`` lie beyond the range of their eight neighbours by more than
    ``threshold`` and than the neighbours spread (the outliers, second array), where one flipped bit
    puts them back inside it (give or take ``tolerance``; the first). ``left_out``: voxels that do not
    count as neighbours; ``unseen``: voxels beyond which nothing is seen (padding), as the plane's border.
    A voxel with fewer than five neighbours of content (in a corner, beside another flip in the
    background) is judged only where its value lies outside ``bounds[0]``, or in a corner of three of
    content where one flip explains it. An
    impulse lies beyond them by more than ``threshold`` and outside ``bounds[1]`` (:func:`tissue_bounds`),
    whatever its neighbours; the third array: the impulses (also in the first), the fourth: the voxels
    one flip explains."""
    # at the plane's border only the neighbours inside it count (five along an edge, too few in a
    # corner; mirrored ones had counted twice and flagged a dark edge voxel of a clean scan), and as
    # what lies beyond is unseen, the voxel must stand out twice as far (once as far flagged a dark
    # spot at the edge of nibabel's clean anatomical.nii)
    beside = in_plane_neighbours(where, values.shape)
    neighbours = [(i, j, where[2]) for i, j, _ in beside]
    around = np.stack([values[n] for n in neighbours])
    gone = ~np.stack([inside for _, _, inside in beside])  # beyond the plane's border
    corner = (~gone).sum(axis=0) == 3
    if unseen is not None:  # a padded scan's padding: as beyond the border
        gone |= np.stack([unseen[n] for n in neighbours])
    on_border = gone.any(axis=0)
    if left_out is not None:
        gone |= np.stack([left_out[n] for n in neighbours])
    high = np.where(gone, -np.inf, around).max(axis=0)
    low = np.where(gone, np.inf, around).min(axis=0)
    content_around = sum((~is_fill[n] & ~g).astype(np.uint8)
                         for n, g in zip(neighbours, gone, strict=True))
    centre = values[where]
    excess = np.maximum(centre - high, low - centre)
    # not a fill value inside tissue (templates and masks have such holes), nor a lone voxel of tissue
    # in the background (what skull stripping leaves): both occur in clean scans
    beyond = outside_bounds(centre, bounds[0])
    border_threshold = BIT_ERRORS.border_factor * threshold
    standing_out = np.isfinite(high) & (excess > np.where(on_border, border_threshold, threshold))
    apart = standing_out & (excess > BIT_ERRORS.spreads * (high - low))
    keep = apart & ((content_around >= BIT_ERRORS.min_content_neighbours) | beyond)
    # a corner's three neighbours, all of content, are all it can have: judged as with five, where a
    # flip explains it (an outlier no flip explains there is not counted: the field of view cuts anatomy)
    cornered = apart & corner & (content_around == 3) & ~keep
    impulse = standing_out & outside_bounds(centre, bounds[1])
    flip = np.zeros(len(centre), dtype=bool)
    index = np.nonzero(keep | cornered)[0]
    if len(index):
        # a flipped sign (an HU float CT's air at -1000 read as +1000) only amid even neighbours: in
        # garbage of any value, the negatives of an MR's magnitudes would all pass for flipped signs
        even = excess[index] > BIT_ERRORS.far_spreads * np.maximum(high[index] - low[index], tolerance)
        flip[index] = one_flip_explains(array[tuple(w[index] for w in where)], low[index] - tolerance,
                                        high[index] + tolerance, threshold, sign=even)
    return flip | impulse, keep, impulse, flip
