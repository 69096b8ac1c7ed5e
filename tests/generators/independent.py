"""An independent damage generator for testing detection and repair (issues 18 and 19).

Written from descriptions of how transmission, storage and detector failures look in DICOM and NIfTI data
(see README.md in this folder), not from ``medinpaint.damage``, so that detection and repair are judged on
damage they were not tuned on.

Every kind is a pure function of a clean array (2D (H, W) or 3D (H, W, D), slices on the last axis, any
integer or float dtype, either byte order), a seeded ``numpy.random.Generator`` and keyword options, and
returns a ``Result`` that unpacks as ``(damaged, mask)``:

- ``damaged`` has the input's shape and exact dtype; the input is never modified;
- ``mask`` is True exactly where the stored value changed (bit pattern differs). A voxel that already held
  the value written over it is *not* in the mask: it was not changed and cannot be detected;
- ``result.lost`` is True wherever data was lost or overwritten, changed or not (a tile over a zero
  background filled with 0 is lost but unchanged); ``result.fill`` / ``fill_name`` / ``kind`` / ``info``.

The same array, kind, options and rng state always give the same result.

>>> rng = np.random.default_rng(0)
>>> damaged, mask = damage(ct_int16, "lines", rng, share=0.04, fill="physical_zero", intercept=-1024)
"""

from __future__ import annotations

import numpy as np

from .corrupt import BLOCK_STYLES, bit_flips, corrupt_blocks, impulses
from .fills import FILLS, NAMED_FILLS, Result, resolve_fill
from .lost import TILE_SIZES, lost_lines, lost_slices, lost_tiles, truncate

__all__ = ["KINDS", "FILL_KINDS", "FILLS", "NAMED_FILLS", "TILE_SIZES", "BLOCK_STYLES", "Result", "damage",
           "resolve_fill", "lost_tiles", "lost_lines", "lost_slices", "truncate", "corrupt_blocks",
           "impulses", "bit_flips"]

KINDS = {
    "tiles": lost_tiles,
    "lines": lost_lines,
    "slices": lost_slices,
    "truncation": truncate,
    "blocks": corrupt_blocks,
    "impulses": impulses,
    "bitflips": bit_flips,
}
# the kinds that write a fill value (and take fill=, on=, slope=, intercept=, padding=)
FILL_KINDS = ("tiles", "lines", "slices", "truncation")


def damage(array: np.ndarray, kind: str, rng: np.random.Generator, *, fill="random", share=None,
           on: str = "stored", slope: float = 1.0, intercept: float = 0.0, padding=None, **options) -> Result:
    """Damage ``array`` with one ``kind`` of ``KINDS``; returns ``Result`` (unpacks as ``(damaged, mask)``).

    - ``fill``: a name of ``NAMED_FILLS``, a number (in the array's units) or ``"random"``; only for the
      kinds in ``FILL_KINDS`` (lost data); see ``fills`` for what each name means;
    - ``share``: the share of voxels lost or hit (each kind's default when None; for ``"slices"`` the
      share of slices);
    - ``on``: ``"stored"`` when the array holds stored values (``physical = stored * slope + intercept``),
      ``"physical"`` when it holds physical values (then ``slope``/``intercept`` are those the scan was
      stored with, so ``fill="stored_zero"`` means ``intercept``); ``padding`` is the DICOM Pixel Padding
      Value in stored units;
    - ``options``: the kind's own keywords (``tile``, ``aligned``, ``burst``, ``axis``, ``run``,
      ``partial``, ``interleaved``, ``count``, ``order``, ``size``, ``style``, ``excess``, ``sign``,
      ``bits``...), see each function.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {tuple(KINDS)}")
    if share is not None:
        options["share"] = share
    if kind in FILL_KINDS:
        options.update(fill=fill, on=on, slope=slope, intercept=intercept, padding=padding)
    elif not (isinstance(fill, str) and fill == "random") or padding is not None:
        raise ValueError(f"kind {kind!r} writes no fill value; fill= and padding= apply to {FILL_KINDS}")
    return KINDS[kind](array, rng, **options)
