"""Damage detection and the repair engine: volume in, repaired volume + mask + report out.

The MONAI transforms :class:`Repair` and :class:`Repaird` are exported on first use: they import MONAI,
which takes seconds, and the engine (``medinpaint repair``, the watcher) needs none of it.
"""

from importlib import import_module

from medinpaint.repair.detection import KINDS, Detection, detect
from medinpaint.repair.engine import RepairResult, repair_volume

_LAZY = {"Repair": "medinpaint.repair.transforms", "Repaird": "medinpaint.repair.transforms"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["KINDS", "Detection", "detect", "RepairResult", "repair_volume", "Repair", "Repaird"]
