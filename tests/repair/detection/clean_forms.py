"""Every clean scan of the data list in the storage forms users have it (issue 18): the corpus on which
detection must find nothing.

Each source of :func:`medinpaint.data.available_sources` (a 4D scan: its first volume) is taken along each
of its three axes, as the middle single slice and as a volume (cropped in-plane and along the slices to
keep it bounded), and each of those is stored as the scan's own values, float32 and float64 NIfTI of its
physical values, rescaled int16 (CT: intercept -1024; MR: 12 bits), cropped, padded with the scanner's
background (and with NaN, a resampler's "no data"), as lossy 8-bit JPEG (quality 90 and 75) and 12-bit
JPEG 2000 (10:1), as 8-bit exports through a display window (CT: brain, subdural, soft tissue and bone
presets; MR: a viewer's automatic window), resampled linearly (1.5 times finer in-plane; a volume
turned 5 degrees), masked (skull-stripped-like; also with NaN outside, as statistics maps are) and
thresholded, with the independent generator's storage helpers (:mod:`tests.generators.storage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from medinpaint.io import Volume
from medinpaint.repair.detection import detect
from tests.generators import storage

# a volume's in-plane side and its slices, at most (the middle of the scan is kept)
VOLUME_SIDE = 96
VOLUME_SLICES = 16
FORMS = ("native", "float32", "float64", "int16", "cropped", "padded", "padded-nan", "jpeg90", "jpeg75",
         "j2k10", "window", "upsampled", "turned", "masked", "thresholded", "masked-nan")
JPEG_QUALITIES = (90, 75)  # lossy 8-bit JPEG as secondary captures and viewers' exports store scans


def physical(volume: Volume) -> np.ndarray:
    """The physical values of a loaded scan (its first volume if 4D), float64."""
    array = np.asarray(volume.array)
    if array.ndim == 4:
        array = array[..., 0]
    slope, intercept = np.asarray(volume.slope, np.float64), np.asarray(volume.intercept, np.float64)
    return array.astype(np.float64) * slope + intercept


def middle(n: int, keep: int) -> slice:
    """The middle ``keep`` of ``n`` (all of them where there are fewer)."""
    start = max(0, (n - keep) // 2)
    return slice(start, start + min(n, keep))


def views(array: np.ndarray, stored: np.ndarray) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, physical, stored) of the middle single slice and a bounded volume along each axis; slices
    on the last axis."""
    for axis in range(3):
        if array.shape[axis] < 2 and axis != 2:
            continue
        moved, moved_stored = np.moveaxis(array, axis, 2), np.moveaxis(stored, axis, 2)
        k = moved.shape[2] // 2
        yield f"axis{axis}-slice", moved[:, :, k:k + 1], moved_stored[:, :, k:k + 1]
        if moved.shape[2] >= 3:
            part = (middle(moved.shape[0], VOLUME_SIDE), middle(moved.shape[1], VOLUME_SIDE),
                    middle(moved.shape[2], VOLUME_SLICES))
            yield f"axis{axis}-volume", moved[part], moved_stored[part]


def _nifti(array: np.ndarray) -> Volume:
    """A volume as read from a NIfTI file that stores ``array`` with no rescale."""
    return Volume(np.ascontiguousarray(array), np.eye(4), meta={"format": "nifti"})


def forms(source_volume: Volume, values: np.ndarray, stored: np.ndarray,
          rng: np.random.Generator) -> Iterator[tuple[str, Volume]]:
    """(form, Volume) of one view of a clean scan in every storage form of ``FORMS``."""
    ct = source_volume.modality == "CT"
    yield "native", source_volume.with_array(np.ascontiguousarray(stored))
    float32 = values.astype(np.float32)
    yield "float32", _nifti(float32)
    yield "float64", _nifti(values.astype(np.float64))
    if ct and values.min() >= -32768 + 1024 and values.max() <= 32767 - 1024:
        as_int16 = storage.rescaled_integer(values, np.int16, slope=1.0, intercept=-1024.0)
    else:
        as_int16 = storage.scaled_integer(values, np.int16)
    yield "int16", Volume(np.ascontiguousarray(as_int16.array), np.eye(4), slope=as_int16.slope,
                          intercept=as_int16.intercept, meta={"format": "nifti"})
    if min(values.shape[:2]) >= 16:
        yield "cropped", _nifti(storage.crop(float32, rng))
    yield "padded", _nifti(storage.pad(float32, 8))
    yield "padded-int16", _nifti(storage.pad(as_int16.array, 8))
    yield "padded-nan", _nifti(storage.pad(float32, 8, value=np.nan))  # a resampler's "no data"
    for quality in JPEG_QUALITIES:
        yield f"jpeg{quality}", _nifti(storage.jpeg_lossy(values, quality))
    if min(values.shape[:2]) >= 32:
        yield "j2k10", _nifti(storage.j2k_lossy(values, 10))
    windows = storage.CT_WINDOWS if ct else {"auto": storage.auto_window(values)}
    for name, (centre, width) in windows.items():
        yield f"window-{name}", _nifti(storage.windowed(values, centre, width))
    yield "upsampled", _nifti(storage.upsampled(values))
    if values.shape[2] >= 3:
        yield "turned", _nifti(storage.turned(values))
    if values.max() > values.min():
        yield "masked", _nifti(storage.masked(float32, value=float32.min() if ct else 0))
        yield "thresholded", _nifti(storage.thresholded(float32, value=float32.min() if ct else 0))
        yield "masked-nan", _nifti(storage.masked(float32, value=np.nan))  # a statistics map's outside


def clean_cases(seed: int = 0) -> Iterator[tuple[str, Volume]]:
    """(name, Volume) of every clean case: source / view / form."""
    from medinpaint.data.sources import available_sources

    rng = np.random.default_rng(seed)
    for source in available_sources():
        volume = source.load()
        values = physical(volume)
        stored = np.asarray(volume.array)
        stored = stored[..., 0] if stored.ndim == 4 else stored
        for view, part, part_stored in views(values, stored):
            native = volume if view == "axis2-volume" and part.shape == values.shape else None
            base = native or volume.with_array(np.ascontiguousarray(part_stored))
            if view != "axis2-slice" and view != "axis2-volume":
                base = Volume(np.ascontiguousarray(part_stored), np.eye(4), volume.slope
                              if np.ndim(volume.slope) == 0 else 1.0,
                              volume.intercept if np.ndim(volume.intercept) == 0 else 0.0,
                              meta={"format": "nifti", "modality": volume.modality})
            for form, case in forms(base, part, part_stored, rng):
                yield f"{source.name}/{view}/{form}", case


def crop_slices() -> Iterator[tuple[str, Volume]]:
    """(name, Volume) of every slice of each source's bounded volume (its middle 96 x 96 x 16) along each
    of its three axes, alone and in its own values: a single slice cut from a volume, whose crop may cut
    anatomy at the plane's border (the skull entering at a corner) anywhere along the scan."""
    from medinpaint.data.sources import available_sources

    for source in available_sources():
        volume = source.load()
        stored = np.asarray(volume.array)
        stored = stored[..., 0] if stored.ndim == 4 else stored
        for axis in range(3):
            moved = np.moveaxis(stored, axis, 2)
            if moved.shape[2] < 3:
                continue
            part = (middle(moved.shape[0], VOLUME_SIDE), middle(moved.shape[1], VOLUME_SIDE),
                    middle(moved.shape[2], VOLUME_SLICES))
            crop = moved[part]
            for k in range(crop.shape[2]):
                plane = np.ascontiguousarray(crop[:, :, k:k + 1])
                if axis == 2:
                    yield f"{source.name}/axis2-slice{k}", volume.with_array(plane)
                else:
                    slope, intercept = (float(np.ravel(v)[0]) for v in (volume.slope, volume.intercept))
                    meta = {"format": "nifti", "modality": volume.modality}
                    yield f"{source.name}/axis{axis}-slice{k}", Volume(plane, np.eye(4), slope, intercept,
                                                                       meta=meta)


MOTION_SLICES = 32  # the middle slices of each source that motion cases keep


def motion_cases() -> Iterator[tuple[str, Volume]]:
    """(name, Volume) of each source (its stored values, the middle ``MOTION_SLICES`` slices on the last
    axis; 4D: its first volume) with slices moved in each way of :data:`tests.generators.motion.MOTIONS`:
    clean scans of a patient who moved between slices."""
    from medinpaint.data.sources import available_sources
    from tests.generators.motion import MOTIONS, moved

    for source in available_sources():
        volume = source.load()
        stored = np.asarray(volume.array)
        stored = stored[..., 0] if stored.ndim == 4 else stored
        if stored.shape[2] < 8 or min(stored.shape[:2]) < 16:
            continue
        part = np.ascontiguousarray(stored[:, :, middle(stored.shape[2], MOTION_SLICES)])
        slope, intercept = (float(np.ravel(v)[0]) for v in (volume.slope, volume.intercept))
        meta = {key: value for key, value in volume.meta.items() if key != "dicom"}
        for how, amount in MOTIONS:
            array = np.asfortranarray(moved(part, how, amount))
            yield f"{source.name}/{how}{amount}", Volume(array, volume.affine, slope, intercept, meta=meta)


def beyond_known(cases: Iterable[tuple[str, Volume]], known: dict[str, dict[str, int]],
                 part: tuple[int, int] = (0, 1)) -> tuple[int, dict[str, dict[str, int]], list[str]]:
    """Detect every clean case, or, with ``part`` (n, parts), every parts-th from the n-th (so that the
    suite's workers share a long list): how many there were, the detections ``known`` does not list as
    they are (name: counts per kind), and the names ``known`` lists that no longer give them."""
    found, names = {}, set()
    for index, (name, volume) in enumerate(cases):
        if index % part[1] != part[0]:
            continue
        names.add(name)
        if counts := detect(volume).counts():
            found[name] = counts
    unexpected = {name: counts for name, counts in found.items() if known.get(name) != counts}
    return len(names), unexpected, sorted((set(known) & names) - set(found))
