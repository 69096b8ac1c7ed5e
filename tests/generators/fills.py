"""Fill values, the result type and the helpers every damage kind shares.

A fill is what a sender, a converter or a reader writes where data was lost. It is named or literal:

=================  ===========================================================================
``"stored_zero"``  0 before rescaling: the stored value 0 (its physical value is the intercept)
``"physical_zero"``  0 after rescaling: the stored value whose physical value is 0
``"minimum"``      the image's own minimum (NaN ignored)
``"padding"``      the DICOM Pixel Padding Value (given in *stored* units, as in the DICOM header)
``-1024``          literal -1024 (air in HU, or a stored value), taken in the array's own units
``-2000``          literal -2000 (outside the field of view on many CT scanners), the array's units
``"dtype_min"``    the smallest value the array's dtype holds (``iinfo.min`` / ``finfo.min``)
``"nan"``          NaN (float arrays only; a converter's "no data")
any number         taken literally, in the array's own units
``"random"``       one of the above that applies to this array, drawn with the rng
=================  ===========================================================================

``on`` says what the array holds: ``"stored"`` (the integers of a DICOM/NIfTI file before rescaling, e.g.
CT int16 with intercept -1024) or ``"physical"`` (values after ``stored * slope + intercept``, e.g. HU in a
float NIfTI). The named fills are translated into the array's units with ``slope`` and ``intercept``: on a
HU float array of a scan stored with intercept -1024, ``"stored_zero"`` is -1024 and ``"physical_zero"`` is 0;
on its stored int16 array ``"stored_zero"`` is 0 and ``"physical_zero"`` is 1024. A fill that cannot be held
by the dtype (-1024 in uint8, NaN in int16) is an error when asked for by name and is skipped by
``"random"``; integer dtypes get the fill rounded to the nearest integer.
"""

from __future__ import annotations

import numpy as np

NAMED_FILLS = ("stored_zero", "physical_zero", "minimum", "padding", "dtype_min", "nan")
# what "random" draws from (padding only where a padding value is given, nan only for float arrays)
FILLS = ("stored_zero", "physical_zero", "minimum", "padding", -1024, -2000, "dtype_min", "nan")


class Result(tuple):
    """``(damaged, mask)``, unpacks as a pair, with more on attributes.

    - ``damaged``: the damaged array, same shape and dtype (byte order included) as the input;
    - ``mask``: True where the stored value changed: the bit pattern differs from the input's. A voxel that
      already held its fill value (a zero background filled with 0) is not in it: it was not changed, and no
      detector can tell it was lost. For float arrays -0.0 and 0.0 differ, NaN and the same NaN do not;
    - ``lost``: True where data was lost or overwritten, whether or not the value changed (the whole tile,
      line, slice, tail or block; for impulses and bit flips the voxels hit, which all changed);
    - ``fill``: the fill value used, in the array's units (None for kinds without one);
    - ``fill_name``: the name or literal the fill came from;
    - ``kind`` and ``info`` (a dict of what was drawn: tile size, style, bits...).
    """

    def __new__(cls, damaged, mask, lost, *, kind, fill=None, fill_name=None, info=None):
        self = super().__new__(cls, (damaged, mask))
        self.lost = lost
        self.kind = kind
        self.fill = fill
        self.fill_name = fill_name
        self.info = dict(info or {})
        return self

    @property
    def damaged(self) -> np.ndarray:
        return self[0]

    @property
    def mask(self) -> np.ndarray:
        return self[1]


def check_array(array: np.ndarray) -> np.ndarray:
    """The input as a native-byte-order copy; 2D (H, W) or 3D (H, W, D), numeric."""
    array = np.asarray(array)
    if array.ndim not in (2, 3):
        raise ValueError(f"expected a 2D (H, W) or 3D (H, W, D) array, got shape {array.shape}")
    if array.dtype.kind not in "iuf":
        raise ValueError(f"expected an integer or float array, got {array.dtype}")
    return array.astype(array.dtype.newbyteorder("="), order="C", copy=True)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """True where the stored bit pattern differs (plain ``!=`` for integers)."""
    if before.dtype.kind == "f":
        view = np.dtype(f"u{before.dtype.itemsize}")
        return before.view(view) != after.view(view)
    return before != after


def finish(original: np.ndarray, work: np.ndarray, lost: np.ndarray, **fields) -> Result:
    """Wrap a damaged native copy into a Result in the input's exact dtype."""
    native = np.asarray(original).astype(work.dtype)
    damaged = work.astype(np.asarray(original).dtype)
    return Result(damaged, changed(native, work), lost, **fields)


def _representable(value: float, dtype: np.dtype) -> bool:
    if np.isnan(value):
        return dtype.kind == "f"
    if dtype.kind == "f":
        return bool(np.isfinite(value)) and abs(value) <= np.finfo(dtype).max
    info = np.iinfo(dtype)
    return info.min <= round(value) <= info.max


def _named_value(array, name, on, slope, intercept, padding) -> float | None:
    if on not in ("stored", "physical"):
        raise ValueError(f"on must be 'stored' or 'physical', not {on!r}")
    if slope == 0:
        raise ValueError("slope must not be 0")
    physical = on == "physical"
    if name == "stored_zero":
        return float(intercept) if physical else 0.0
    if name == "physical_zero":
        return 0.0 if physical else -float(intercept) / float(slope)
    if name == "minimum":
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        return float(finite.min()) if finite.size else 0.0
    if name == "padding":
        if padding is None:
            return None
        return float(padding) * slope + intercept if physical else float(padding)
    if name == "dtype_min":
        return float(np.finfo(array.dtype).min if array.dtype.kind == "f" else np.iinfo(array.dtype).min)
    if name == "nan":
        return float("nan")
    raise ValueError(f"unknown fill {name!r}; named fills are {NAMED_FILLS}, or give a number")


def resolve_fill(array, fill="random", rng=None, *, on="stored", slope=1.0, intercept=0.0, padding=None):
    """``(value, name)``: the fill as a value of the array's dtype and the name or literal it came from.

    ``rng`` is needed only for ``fill="random"``. See the module's docstring for the names.
    """
    array = np.asarray(array)
    dtype = array.dtype
    if isinstance(fill, str) and fill == "random":
        if rng is None:
            raise ValueError("fill='random' needs an rng")
        options = []
        for option in FILLS:
            try:
                resolve_fill(array, option, on=on, slope=slope, intercept=intercept, padding=padding)
            except ValueError:
                continue
            options.append(option)
        fill = options[int(rng.integers(len(options)))]
    value = _named_value(array, fill, on, slope, intercept, padding) if isinstance(fill, str) else float(fill)
    if value is None:
        raise ValueError("fill='padding' needs padding= (the DICOM Pixel Padding Value, stored units)")
    if not _representable(value, dtype):
        raise ValueError(f"fill {fill!r} ({value}) cannot be held by {dtype}")
    if dtype.kind == "f":
        return dtype.type(value), fill
    return dtype.type(round(value)), fill


def slices_of(array: np.ndarray):
    """The 2D slices of a 2D or 3D array, as views: ``[array]`` or ``[array[..., z] for z]``."""
    if array.ndim == 2:
        return [array]
    return [array[..., z] for z in range(array.shape[2])]


def percentile_range(array: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """The scan's 0.5 and 99.5 percentiles (finite values only)."""
    values = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    lo, hi = np.percentile(values.astype(np.float64), [low, high])
    return float(lo), float(hi)
