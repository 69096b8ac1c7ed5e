"""Damage detection and the repair engine: volume in, repaired volume + mask + report out."""

from medinpaint.repair.detection import KINDS, Detection, detect
from medinpaint.repair.engine import RepairResult, repair_volume
from medinpaint.repair.transforms import Repair, Repaird

__all__ = ["KINDS", "Detection", "detect", "RepairResult", "repair_volume", "Repair", "Repaird"]
