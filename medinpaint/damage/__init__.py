"""MONAI transforms that damage a clean image and return the mask of what they changed.

Every kind comes four times, as MONAI users expect: a deterministic array transform (``LostLines``),
its random twin that only samples parameters (``RandLostLines``), and the dictionary twins of both
(``LostLinesd``, ``RandLostLinesd``). Array transforms return ``(damaged, mask)``. Presets by name
(``transmission``, ``mr-artifacts``, ``ct-artifacts``, ``all``) live in :mod:`medinpaint.damage.presets`;
:func:`simulate_volume` damages a whole :class:`~medinpaint.io.Volume`.
"""

from medinpaint.damage.base import Damage, RandDamage, dictionary_twin
from medinpaint.damage.ct import (
    LowDoseNoise,
    LowDoseNoised,
    RandLowDoseNoise,
    RandLowDoseNoised,
    RandRings,
    RandRingsd,
    RandStreaks,
    RandStreaksd,
    Rings,
    Ringsd,
    Streaks,
    Streaksd,
)
from medinpaint.damage.mr import (
    Bias,
    Biasd,
    Ghosting,
    Ghostingd,
    Gibbs,
    Gibbsd,
    KSpaceSpikes,
    KSpaceSpikesd,
    RandBias,
    RandBiasd,
    RandGhosting,
    RandGhostingd,
    RandGibbs,
    RandGibbsd,
    RandKSpaceSpikes,
    RandKSpaceSpikesd,
    RandRician,
    RandRiciand,
    Rician,
    Riciand,
)
from medinpaint.damage.presets import KINDS, PRESETS, make_damage, preset_transforms
from medinpaint.damage.simulate import simulate_volume
from medinpaint.damage.transmission import (
    BitErrors,
    BitErrorsd,
    CorruptBlocks,
    CorruptBlocksd,
    LostLines,
    LostLinesd,
    LostSlices,
    LostSlicesd,
    PacketLoss,
    PacketLossd,
    RandBitErrors,
    RandBitErrorsd,
    RandCorruptBlocks,
    RandCorruptBlocksd,
    RandLostLines,
    RandLostLinesd,
    RandLostSlices,
    RandLostSlicesd,
    RandPacketLoss,
    RandPacketLossd,
    RandTruncation,
    RandTruncationd,
    Truncation,
    Truncationd,
)

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
