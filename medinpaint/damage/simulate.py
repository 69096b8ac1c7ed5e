"""Damage a whole scan as it is stored: the engine behind ``medinpaint simulate``.

The damage is applied to ``Volume.array``, the stored values in their own dtype, because that is where
transmission damage happens (lost bytes, flipped bits, padding values) and where a writer puts values
back bit for bit. The artifacts are additive (CT, HU at slope 1) or relative to the image (MR), so they
mean the same on stored values. Every voxel outside the returned mask is bit-identical to the input.
"""

from __future__ import annotations

import numpy as np

from medinpaint.damage.presets import make_damage
from medinpaint.io.volume import Volume


def simulate_volume(volume: Volume, preset: str, seed: int) -> tuple[Volume, np.ndarray]:
    """Damage ``volume`` with one kind drawn from ``preset``; the same seed gives the same damage.
    Artifacts of the other modality are left out when ``volume.modality`` is CT or MR.

    Returns the damaged volume (same geometry, rescale, metadata and dtype) and a ``uint8`` mask of the
    shape of ``volume.array``, 1 where the damage may have changed a value. A 4D volume is damaged as
    one image with its time points as channels. Damaged values stay within ``meta["stored_range"]``
    (DICOM BitsStored) where the source states one.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    stored = volume.array
    channels = stored[None] if stored.ndim == 3 else np.moveaxis(stored, -1, 0)
    damage = make_damage(preset, keys="image", mask_key="mask", modality=volume.modality)
    damage.set_random_state(int(seed))
    out = damage({"image": np.ascontiguousarray(channels)})
    damaged, mask = out["image"], out["mask"].astype(np.uint8)
    if stored.ndim == 3:
        damaged, mask = damaged[0], mask[0]
    else:
        damaged, mask = np.moveaxis(damaged, 0, -1), np.moveaxis(mask, 0, -1)
    stored_range = volume.meta.get("stored_range")
    if stored_range is not None:
        # e.g. 12 bits stored in 16: a value beyond them cannot be written back (and is read as clipped)
        damaged = np.clip(damaged, *stored_range).astype(stored.dtype, copy=False)
    return volume.with_array(np.ascontiguousarray(damaged)), np.ascontiguousarray(mask)
