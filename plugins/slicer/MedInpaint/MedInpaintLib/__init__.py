"""The Slicer-free half of the MedInpaint module.

Everything here runs under plain Python so it can be tested without Slicer: building the
``medinpaint repair`` command line, reading its progress lines, running it as a separate process
tree that can be cancelled completely, the temporary folder it works in, and the errors a user
sees. Only :mod:`MedInpaintLib.scene` touches MRML (and nothing here touches Qt).
"""

from .command import MODES, RepairOptions, build_command
from .errors import ProcessesLeft, RepairCancelled, RepairError, RepairFailed, ResultMismatch
from .process import BackgroundProcess, default_launcher
from .progress import OutputLog, Progress, parse_error, parse_progress
from .run import RepairOutcome, RepairRun
from .workspace import Workspace

__all__ = [
    "MODES",
    "BackgroundProcess",
    "OutputLog",
    "ProcessesLeft",
    "Progress",
    "RepairCancelled",
    "RepairError",
    "RepairFailed",
    "RepairOptions",
    "RepairOutcome",
    "RepairRun",
    "ResultMismatch",
    "Workspace",
    "build_command",
    "default_launcher",
    "parse_error",
    "parse_progress",
]
