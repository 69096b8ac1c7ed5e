"""Damage presets by name: which kinds each preset draws from and their parameter ranges, in one place.

A preset is used by the CLI (``medinpaint simulate --damage PRESET``), the slice-pair datasets and the
configs. :func:`make_damage` turns one into a MONAI ``OneOf`` of dictionary transforms that applies one
kind per call, so each damaged sample has exactly one kind and its ``damage`` record names it.

Units: transmission damage works on stored values; CT amplitudes are in HU (stored units at slope 1);
MR strengths are relative to the image. Ranges are what a broken transfer or a poor acquisition
plausibly leaves: visible, but not so gross that the slice is lost beyond repair.
"""

from __future__ import annotations

from typing import Any

from monai.transforms import OneOf

from medinpaint.damage.base import RandDamage, dictionary_twin
from medinpaint.damage.ct import RandLowDoseNoise, RandRings, RandStreaks
from medinpaint.damage.mr import RandBias, RandGhosting, RandGibbs, RandKSpaceSpikes, RandRician
from medinpaint.damage.transmission import (
    RandBitErrors,
    RandCorruptBlocks,
    RandLostLines,
    RandLostSlices,
    RandPacketLoss,
    RandTruncation,
)

TRANSMISSION: dict[type[RandDamage], dict[str, Any]] = {
    RandLostSlices: {"num_slices": (1, 3), "fills": (0, "min")},
    RandLostLines: {"num_runs": (1, 3), "run_length": (1, 16), "fills": (0, "min"), "num_slices": (1, 2)},
    RandPacketLoss: {"tile_sizes": (8, 16), "burst_tiles": (1, 32), "fills": (0, "min"),
                     "num_slices": (1, 2)},
    RandCorruptBlocks: {"num_blocks": (1, 4), "block_size": (4, 32), "num_slices": (1, 2)},
    RandBitErrors: {"rate": (1e-4, 2e-3), "top_bits": 4},
    RandTruncation: {"kept_fraction": (0.5, 0.98), "fills": (0, "min")},
}

MR_ARTIFACTS: dict[type[RandDamage], dict[str, Any]] = {
    RandRician: {"std": (0.02, 0.1)},
    RandGibbs: {"alpha": (0.4, 0.7)},
    RandKSpaceSpikes: {"num_spikes": (1, 2), "strength": (0.02, 0.15)},
    RandGhosting: {"num_ghosts": (2, 6), "intensity": (0.3, 0.8)},
    RandBias: {"strength": (0.1, 0.3), "degree": 3},
}

CT_ARTIFACTS: dict[type[RandDamage], dict[str, Any]] = {
    RandLowDoseNoise: {"sigma": (15.0, 60.0), "grain": (0.7, 1.5)},
    RandRings: {"num_rings": (2, 8), "amplitude": (20.0, 120.0), "width": (0.6, 1.5)},
    RandStreaks: {"num_streaks": (4, 16), "amplitude": (50.0, 400.0), "width": (0.5, 2.0),
                  "num_slices": (1, 8)},
}

PRESETS: dict[str, dict[type[RandDamage], dict[str, Any]]] = {
    "transmission": TRANSMISSION,
    "mr-artifacts": MR_ARTIFACTS,
    "ct-artifacts": CT_ARTIFACTS,
    "all": {**TRANSMISSION, **MR_ARTIFACTS, **CT_ARTIFACTS},
}

KINDS: tuple[str, ...] = tuple(cls.damage_class.kind for cls in PRESETS["all"])


def preset_ranges(preset: str, modality: str | None = None,
                  exclude: tuple[str, ...] = ()) -> dict[type[RandDamage], dict[str, Any]]:
    """The random transforms of a preset with their ranges, for one modality.

    With ``modality`` ``"CT"`` the MR artifacts are left out, with ``"MR"`` the CT artifacts (a CT
    scanner makes no Rician noise, and HU amplitudes mean nothing in MR units), unless that would leave
    the preset empty: a preset asked for explicitly is then used as it is. Kinds named in ``exclude``
    are left out (e.g. ``"lost-slices"`` for single-slice training, where nothing can restore them).
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    unknown = set(exclude) - set(KINDS)
    if unknown:
        raise ValueError(f"exclude must name damage kinds of {KINDS}, got {sorted(unknown)}")
    other = {"CT": MR_ARTIFACTS, "MR": CT_ARTIFACTS}.get((modality or "").upper(), {})
    chosen = {cls: kw for cls, kw in PRESETS[preset].items() if cls.damage_class.kind not in exclude}
    kept = {cls: kw for cls, kw in chosen.items() if cls not in other}
    if not chosen:
        raise ValueError(f"exclude {exclude} leaves nothing of preset {preset!r}")
    return kept or chosen


def preset_transforms(preset: str, modality: str | None = None,
                      exclude: tuple[str, ...] = ()) -> list[RandDamage]:
    """The random array transforms of a preset (see :func:`preset_ranges`), each with ``prob=1``."""
    return [cls(**kwargs) for cls, kwargs in preset_ranges(preset, modality, exclude).items()]


def make_damage(preset: str, keys: str | tuple[str, ...] = "image", mask_key: str = "mask",
                params_key: str = "damage", modality: str | None = None,
                exclude: tuple[str, ...] = ()) -> OneOf:
    """A MONAI ``OneOf`` that damages ``data[keys]`` with one kind of the preset (see
    :func:`preset_ranges` for ``modality`` and ``exclude``), drawn with equal weight, writing the mask
    to ``mask_key`` and the applied parameters (with their ``kind``) to ``params_key``.
    Call ``set_random_state(seed)`` on it for reproducible damage."""
    return OneOf([dictionary_twin(cls)(keys=keys, mask_key=mask_key, params_key=params_key, **kwargs)
                  for cls, kwargs in preset_ranges(preset, modality, exclude).items()])
