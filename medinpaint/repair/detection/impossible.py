"""Values no measurement of the scan can be, looked for once every other look is done: magnitudes
beyond any scan's, and, in a float scan of whole numbers found damaged, values that are none."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from medinpaint.io.volume import drop_mapped_pages
from medinpaint.repair.detection.intensity import absurd_values
from medinpaint.repair.detection.kinds import BIT_ERRORS_CODE, CORRUPTED_BLOCKS_CODE
from medinpaint.repair.detection.later_looks import impulses_beside_blocks
from medinpaint.repair.detection.slabs import EIGHT, for_each_slab, in_plane_neighbours

# a float scan with at most this share of its values (those not found damaged) off the whole numbers
# holds whole numbers: the rest are damage, where this many noise sigmas from their neighbours
WHOLE_NUMBERS_OFF = 0.01
WHOLE_NUMBERS_SIGMAS = 2.0
# a voxel's eight neighbours in its plane, itself left out
AROUND = np.ones((3, 3, 1), dtype=np.uint8)
AROUND[1, 1, 0] = 0


def impossible_values(array: np.ndarray, fills: list[float], labels: np.ndarray, stats: dict,
                      slab: int) -> None:
    """What no measurement of this scan can be, once every other look is done: :func:`absurd_voxels`,
    then :func:`off_whole_numbers`, whose garbage found hid impulses beside it
    (:func:`impulses_beside_blocks` again)."""
    absurd_voxels(array, labels, stats, slab)
    if off_whole_numbers(array, labels, stats["sigma"], slab):
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


def off_whole_numbers(array: np.ndarray, labels: np.ndarray, sigma: float, slab: int) -> bool:
    """In a float scan found damaged whose values are whole numbers (a CT in HU or an MR stored as
    float: integers converted), but for at most ``WHOLE_NUMBERS_OFF`` of those not found damaged, the
    voxels that are not are damage too where they lie ``WHOLE_NUMBERS_SIGMAS`` noise sigmas or more
    from the median of their sound neighbours (or have none): what random bytes read as float leave
    beside the garbage found (values near 0, water's HU: 1e-36..0.7, among tissue at 20). Nearer, the
    damage is below the noise (a flip of a fraction bit moves a value by less than 1) and the repair's
    estimate would miss by more. Corrupted blocks where such a voxel touches another or a block found in
    its plane, bit errors where it stands alone. A scan with no damage found is left (a float scan may
    hold a few values of its own off them); NaN is no measurement. Returns whether any were found."""
    if array.dtype.kind != "f" or not labels.any():
        return False
    parts = [slice(k0, min(k0 + slab, array.shape[2])) for k0 in range(0, array.shape[2], slab)]
    seen, off = 0, 0
    for part in parts:  # (in order: a scan of fractions stops at its first slab)
        values = np.asarray(array[:, :, part])
        sound = (labels[:, :, part] == 0) & np.isfinite(values)
        seen += int(sound.sum())
        off += int(np.count_nonzero(values[sound] != np.round(values[sound])))
        drop_mapped_pages(array, part.start, part.stop)
        if off > WHOLE_NUMBERS_OFF * max(seen, 1):
            return False
    if not off:
        return False
    found = []

    def look(part: slice) -> None:
        values = np.asarray(array[:, :, part]).astype(np.float64)
        region = labels[:, :, part]
        stray = (region == 0) & np.isfinite(values) & (values != np.round(values))
        where = np.nonzero(stray)
        if len(where[0]):
            where = tuple(w[beyond_the_noise(values, region == 0, stray, where, sigma)] for w in where)
            stray[:] = False
            stray[where] = True
            garbage = (stray | (region == CORRUPTED_BLOCKS_CODE)).astype(np.uint8)
            touching = ndimage.convolve(garbage, AROUND, mode="constant")[where] > 0
            region[where] = np.where(touching, CORRUPTED_BLOCKS_CODE, BIT_ERRORS_CODE)
            found.append(len(where[0]))
        drop_mapped_pages(array, part.start, part.stop)

    for_each_slab(array.shape[2], slab, look)
    return any(found)


def beyond_the_noise(values: np.ndarray, unlabelled: np.ndarray, stray: np.ndarray,
                     where: tuple[np.ndarray, ...], sigma: float) -> np.ndarray:
    """Which voxels ``where`` (of a slab's ``values``) lie ``WHOLE_NUMBERS_SIGMAS`` noise sigmas or more
    from the median of their sound in-plane neighbours (``unlabelled``, not ``stray``, finite), or have
    none."""
    sound = unlabelled & ~stray & np.isfinite(values)
    around = np.full((len(EIGHT), len(where[0])), np.nan)
    for n, (i, j, inside) in enumerate(in_plane_neighbours(where, values.shape)):
        at = (i, j, where[2])
        around[n] = np.where(inside & sound[at], values[at], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (no sound neighbour: NaN, taken)
        median = np.nanmedian(around, axis=0)
    return ~(np.abs(values[where] - median) < WHOLE_NUMBERS_SIGMAS * sigma)
