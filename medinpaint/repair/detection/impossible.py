"""Values no measurement of the scan can be, looked for once every other look is done: magnitudes
beyond any scan's, and, in a float scan found damaged, values of a kind its own never are (off the
whole numbers of a scan of whole numbers, below 0 in a scan of magnitudes, near 0 beyond any of its
own)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.intensity import ABSURD, absurd_values
from medinpaint.repair.detection.kinds import BIT_ERRORS_CODE, CORRUPTED_BLOCKS_CODE
from medinpaint.repair.detection.later_looks import LATER_LOOKS, impulses_beside_blocks
from medinpaint.repair.detection.slabs import AROUND, EIGHT, for_each_slab, in_plane_neighbours

# a kind of value (off the whole numbers, below 0, near 0) that at most this share of a float scan's
# values not found damaged are is none of its own: those that are, are damage, where they lie this many
# noise sigmas from their neighbours
NEVER_TAKEN = 0.01
BEYOND_NOISE_SIGMAS = 2.0


def impossible_values(array: np.ndarray, fills: list[float], labels: np.ndarray, stats: dict,
                      slab: int) -> None:
    """What no measurement of this scan can be, once every other look is done: :func:`absurd_voxels`,
    then :func:`values_never_taken`, whose garbage found hid impulses beside it
    (:func:`impulses_beside_blocks` again)."""
    absurd_voxels(array, labels, stats, slab)
    if values_never_taken(array, labels, stats, slab):
        impulses_beside_blocks(array, fills, labels, stats, slab)


def absurd_voxels(array: np.ndarray, labels: np.ndarray, stats: dict, slab: int) -> None:
    """Voxels of a float scan beyond the magnitude no scan holds (``stats["absurd_above"]``:
    :func:`intensity.absurd_values`), or infinite, that nothing else took, as corrupted blocks: random
    bytes read as float64 leave values of 1e94-1e272 in a scan of 0-2, and where they lie side by side
    no neighbour test finds them (garbage explains garbage). NaN is left: no measurement, not garbage."""
    limit = stats.get("absurd_above")
    if limit is None:
        return

    def look(part: slice) -> None:
        absurd = absurd_values(np.asarray(array[:, :, part]), limit)
        if absurd is not None:
            region = labels[:, :, part]
            region[absurd & (region == 0)] = CORRUPTED_BLOCKS_CODE
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)


def never_taken_tests(stats: dict) -> dict:
    """The kinds of value a float scan may never take, as tests of its values: off the whole numbers
    (a CT in HU or an MR stored as float: integers converted), below 0 (a scan of magnitudes), and
    non-zero below the 90th percentile of its non-zero magnitudes over ``ABSURD`` (the absurd limit's
    mirror: an exponent bit flipped down took 0.2 to 1e-78 in dipy's PIESNO crop, of 0-2)."""
    limit = stats.get("absurd_above")
    tiny = limit / ABSURD**2 if limit else 0.0
    return {"off whole numbers": lambda v: v != np.round(v), "below 0": lambda v: v < 0,
            "near 0": lambda v: (np.abs(v) < tiny) & (v != 0)}


def sign_flipped(values: np.ndarray, median: np.ndarray) -> np.ndarray:
    """Whether ``values`` below 0 are sign flips: their magnitude lies ``LATER_LOOKS.gain`` times closer
    to the median of their neighbours than they do (a resampled scan of magnitudes holds a value below 0
    of its own beside an outlier: -291 amid 6,400 in nibabel's anatomical turned 5 degrees)."""
    return np.abs(-values - median) * LATER_LOOKS.gain < np.abs(values - median)


def values_never_taken(array: np.ndarray, labels: np.ndarray, stats: dict, slab: int) -> bool:
    """In a float scan found damaged, the voxels of a kind of value (:func:`never_taken_tests`) that at
    most ``NEVER_TAKEN`` of its values not found damaged are, where they lie ``BEYOND_NOISE_SIGMAS``
    noise sigmas or more from the median of their sound neighbours (or have none): what random bytes
    read as float leave beside the garbage found (values near 0 in a scan of whole numbers, water's
    HU: 1e-36..0.7 among tissue at 20), a sign or exponent bit flipped in a scan of magnitudes. Nearer,
    the repair's estimate would miss by more than the damage; so would it for a fraction bit flipped
    (:func:`fraction_flipped`), left wherever it lies. A value below 0 of no other kind is taken only as
    a sign flip (:func:`sign_flipped`: with no sound neighbour, not). Corrupted blocks where such a voxel
    touches another or a block found in its plane, bit errors where it stands alone. A scan with no
    damage found is left (a float scan may hold a few such values of its own); NaN is no measurement.
    Returns whether any were found."""
    if array.dtype.kind != "f" or not labels.any():
        return False
    tests = never_taken_tests(stats)
    tallies = []  # per slab: its sound values, then how many of them each kind holds

    def tally(part: slice) -> None:  # (all of it: a kind common in one slab may be rare in the scan)
        values = np.asarray(array[:, :, part])
        sound = values[(labels[:, :, part] == 0) & np.isfinite(values)]
        tallies.append([sound.size] + [np.count_nonzero(test(sound)) for test in tests.values()])
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, tally)
    seen, *counts = np.sum(tallies, axis=0)
    odd = {name: test for (name, test), count in zip(tests.items(), counts, strict=True)
           if 0 < count <= NEVER_TAKEN * seen}
    if not odd:
        return False
    found = []

    def look(part: slice) -> None:
        stored = np.asarray(array[:, :, part])
        values = stored.astype(np.float64)
        region = labels[:, :, part]
        kinds = {name: test(values) for name, test in odd.items()}
        stray = (region == 0) & np.isfinite(values) & np.logical_or.reduce(list(kinds.values()))
        where = np.nonzero(stray)
        if len(where[0]):
            median, lowest, highest = sound_neighbours(values, region == 0, stray, where)
            noise = BEYOND_NOISE_SIGMAS * stats["sigma"]
            taken = ~(np.abs(values[where] - median) < noise)
            if "off whole numbers" in kinds:  # (a fraction bit flipped: a change below any noise)
                taken &= ~(kinds["off whole numbers"][where]
                           & fraction_flipped(stored[where], (stats["low"], stats["high"]), median,
                                              (lowest, highest), noise))
            if "below 0" in kinds:  # (a value below 0 and of no other kind: only as a sign flip)
                other = np.zeros(len(where[0]), dtype=bool)
                for name, kind in kinds.items():
                    if name != "below 0":
                        other |= kind[where]
                taken &= other | sign_flipped(values[where], median)
            where = tuple(w[taken] for w in where)
            stray[:] = False
            stray[where] = True
            garbage = (stray | (region == CORRUPTED_BLOCKS_CODE)).astype(np.uint8)
            touching = ndimage.convolve(garbage, AROUND, mode="constant")[where] > 0
            region[where] = np.where(touching, CORRUPTED_BLOCKS_CODE, BIT_ERRORS_CODE)
            found.append(len(where[0]))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)
    return any(found)


def fraction_flipped(values: np.ndarray, plausible: tuple[float, float], median: np.ndarray,
                     around: tuple[np.ndarray, np.ndarray], noise: float) -> np.ndarray:
    """Whether one flipped bit of the fraction explains each of ``values`` (as stored, float32 or
    float64): of the whole numbers within ``plausible`` (the scan's range) one flip of a bit reaches,
    the one nearest the ``median`` of its neighbours lies within 1 of the value (57 read as
    57.0000153, a change no repair improves on), and within ``around`` (its neighbours' lowest and
    highest) widened by their spread, ``noise`` at least (a textured voxel of bone stands out by its
    own). A value whose likelier flip back is further off (12.5 amid 20: an exponent flip halved 25),
    or whose whole number itself stands out of its neighbours (28.5 amid 57; a value moved off the
    whole numbers by 60), is left to the noise test; so is one with no sound neighbour."""
    unsigned = np.dtype(f"u{values.dtype.itemsize}")
    bits = values.view(unsigned)
    value = values.astype(np.float64)
    nearest = np.full(values.shape, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        for bit in range(8 * values.dtype.itemsize):
            restored = (bits ^ unsigned.type(1 << bit)).view(values.dtype).astype(np.float64)
            whole = (restored == np.round(restored)) & (restored >= plausible[0]) & (restored <= plausible[1])
            nearer = whole & ~(np.abs(nearest - median) <= np.abs(restored - median))
            nearest = np.where(nearer, restored, nearest)
    reach = np.maximum(around[1] - around[0], noise)
    return (np.abs(nearest - value) < 1) & (nearest >= around[0] - reach) & (nearest <= around[1] + reach)


def sound_neighbours(values: np.ndarray, unlabelled: np.ndarray, stray: np.ndarray,
                     where: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The median, lowest and highest of the sound in-plane neighbours (``unlabelled``, not ``stray``,
    finite) of the voxels ``where`` of a slab's ``values``; NaN where they have none (then any distance
    to them is none within the noise)."""
    sound = unlabelled & ~stray & np.isfinite(values)
    around = np.full((len(EIGHT), len(where[0])), np.nan)
    for n, (i, j, inside) in enumerate(in_plane_neighbours(where, values.shape)):
        at = (i, j, where[2])
        around[n] = np.where(inside & sound[at], values[at], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (no sound neighbour: NaN)
        return np.nanmedian(around, axis=0), np.nanmin(around, axis=0), np.nanmax(around, axis=0)
