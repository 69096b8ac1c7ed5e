"""What can go wrong in a repair run, as the person in front of Slicer should read it.

Every message is one or two plain sentences; the full process output stays available on the
exception (``log_tail``) for the Python console, never in the pop-up.
"""

from __future__ import annotations


class RepairError(Exception):
    """Base class of every failure the MedInpaint module reports to its user."""


class RepairFailed(RepairError):
    """``medinpaint repair`` ended with a non-zero exit status.

    ``message`` is medinpaint's own one-line error (``medinpaint: error: ...``) when it printed one,
    otherwise the last lines it wrote; ``exit_code`` is the process's exit status.
    """

    def __init__(self, message: str, exit_code: int, log_tail: list[str] | None = None):
        self.message = message
        self.exit_code = exit_code
        self.log_tail = list(log_tail or [])
        super().__init__(f"medinpaint repair failed (exit status {exit_code}): {message}")


class RepairCancelled(RepairError):
    """The user cancelled the run; its processes were ended and its temporary files removed."""

    def __init__(self, ended_pids: list[int] | None = None):
        self.ended_pids = list(ended_pids or [])
        super().__init__("the repair was cancelled")


class ProcessesLeft(RepairError):
    """Cancelling could not end every process of the run (the pids are listed so they can be ended by
    hand)."""

    def __init__(self, pids: list[int]):
        self.pids = sorted(pids)
        super().__init__(f"these processes of the cancelled repair are still running: {self.pids}")


class ResultMismatch(RepairError):
    """The repaired volume read back does not match the input's grid or voxel type, so it is not loaded."""
