"""MONAI transforms that damage a clean image and return the mask of what they changed.

Every kind comes four times, as MONAI users expect: a deterministic array transform (``LostLines``),
its random twin that only samples parameters (``RandLostLines``), and the dictionary twins of both
(``LostLinesd``, ``RandLostLinesd``). Array transforms return ``(damaged, mask)``. Presets by name
(``transmission``, ``mr-artifacts``, ``ct-artifacts``, ``all``) live in :mod:`medinpaint.damage.presets`;
:func:`simulate_volume` damages a whole :class:`~medinpaint.io.Volume`.

Every name is imported on first use (PEP 562): the transforms import MONAI, which takes seconds, and
:mod:`medinpaint.damage.kinds` (the kind names detection shares) is read without it.
"""

from importlib import import_module

_MODULES = {
    "base": (
        "Damage", "RandDamage", "dictionary_twin",
    ),
    "ct": (
        "LowDoseNoise", "LowDoseNoised", "RandLowDoseNoise", "RandLowDoseNoised", "RandRings", "RandRingsd",
        "RandStreaks", "RandStreaksd", "Rings", "Ringsd", "Streaks", "Streaksd",
    ),
    "mr": (
        "Bias", "Biasd", "Ghosting", "Ghostingd", "Gibbs", "Gibbsd", "KSpaceSpikes", "KSpaceSpikesd",
        "RandBias", "RandBiasd", "RandGhosting", "RandGhostingd", "RandGibbs", "RandGibbsd",
        "RandKSpaceSpikes", "RandKSpaceSpikesd", "RandRician", "RandRiciand", "Rician", "Riciand",
    ),
    "presets": (
        "KINDS", "PRESETS", "make_damage", "preset_transforms",
    ),
    "simulate": (
        "simulate_volume",
    ),
    "transmission": (
        "BitErrors", "BitErrorsd", "CorruptBlocks", "CorruptBlocksd", "LostLines", "LostLinesd",
        "LostSlices", "LostSlicesd", "PacketLoss", "PacketLossd", "RandBitErrors", "RandBitErrorsd",
        "RandCorruptBlocks", "RandCorruptBlocksd", "RandLostLines", "RandLostLinesd", "RandLostSlices",
        "RandLostSlicesd", "RandPacketLoss", "RandPacketLossd", "RandTruncation", "RandTruncationd",
        "Truncation", "Truncationd",
    ),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"medinpaint.damage.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Damage", "RandDamage", "dictionary_twin", "KINDS", "PRESETS", "make_damage", "preset_transforms",
    "simulate_volume",
    "LostSlices", "RandLostSlices", "LostSlicesd", "RandLostSlicesd",
    "LostLines", "RandLostLines", "LostLinesd", "RandLostLinesd",
    "PacketLoss", "RandPacketLoss", "PacketLossd", "RandPacketLossd",
    "CorruptBlocks", "RandCorruptBlocks", "CorruptBlocksd", "RandCorruptBlocksd",
    "BitErrors", "RandBitErrors", "BitErrorsd", "RandBitErrorsd",
    "Truncation", "RandTruncation", "Truncationd", "RandTruncationd",
    "Rician", "RandRician", "Riciand", "RandRiciand",
    "Gibbs", "RandGibbs", "Gibbsd", "RandGibbsd",
    "KSpaceSpikes", "RandKSpaceSpikes", "KSpaceSpikesd", "RandKSpaceSpikesd",
    "Ghosting", "RandGhosting", "Ghostingd", "RandGhostingd",
    "Bias", "RandBias", "Biasd", "RandBiasd",
    "LowDoseNoise", "RandLowDoseNoise", "LowDoseNoised", "RandLowDoseNoised",
    "Rings", "RandRings", "Ringsd", "RandRingsd",
    "Streaks", "RandStreaks", "Streaksd", "RandStreaksd",
]
