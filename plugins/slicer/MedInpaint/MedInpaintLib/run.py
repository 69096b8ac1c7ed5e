"""One ``medinpaint repair`` run on the files of a :class:`~MedInpaintLib.workspace.Workspace`.

Start it, feed its progress to a callback, cancel it, and turn its end into either a
:class:`RepairOutcome` or an exception the user can read. The run does not own the workspace: the
caller imports the files first and then removes the folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .command import RepairOptions, build_command
from .errors import RepairCancelled, RepairFailed
from .process import BackgroundProcess, Launcher, default_launcher
from .progress import OutputLog, Progress
from .workspace import Workspace

READY, RUNNING, DONE, FAILED, CANCELLED = "ready", "running", "done", "failed", "cancelled"


@dataclass
class RepairOutcome:
    """What a successful run produced: file paths inside the workspace, the report, the wall time."""

    output: Path
    mask: Path
    report: dict
    seconds: float
    log: list[str] = field(default_factory=list)


class RepairRun:
    """Run ``medinpaint repair`` on ``workspace.input`` in a separate process.

    Args:
        workspace: holds the input (and ``mask`` when ``has_mask``); receives every output.
        options: mode, device, model.
        python: the interpreter with medinpaint installed (in Slicer: ``PythonSlicer``).
        has_mask: repair the voxels of ``workspace.mask`` instead of detecting damage.
        launcher: starts the process (``slicer.util.launchConsoleProcess`` in Slicer).
        on_progress: called with each :class:`Progress` as it arrives.
        on_log: called with every other output line.
        names: workspace file name -> what to call it in error messages (e.g. the node's name).
    """

    def __init__(self, workspace: Workspace, options: RepairOptions, python: str, *, has_mask: bool = False,
                 launcher: Launcher = default_launcher,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_log: Callable[[str], None] | None = None,
                 names: dict[str, str] | None = None):
        self.workspace = workspace
        self.command = build_command(python, workspace.input, workspace.output, options,
                                     mask_path=workspace.mask if has_mask else None,
                                     mask_out_path=workspace.mask_out, report_path=workspace.report)
        self.process = BackgroundProcess(self.command, workspace.environment(), launcher)
        self.log = OutputLog()
        self.on_progress = on_progress
        self.on_log = on_log
        self.names = dict(names or {})
        self.state = READY
        self.exit_code: int | None = None
        self._started = 0.0
        self._seconds = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self.process.start()
        self.state = RUNNING

    def poll(self) -> str:
        """Handle the output that has arrived (calling the callbacks) and return the state; never blocks."""
        self._handle(self.process.poll())
        return self.state

    def wait(self, timeout: float | None = None) -> RepairOutcome:
        """Block until the run ends; return its outcome or raise (see :meth:`outcome`)."""
        self._handle(self.process.wait(timeout))
        return self.outcome()

    def cancel(self, timeout: float = 10.0) -> list[int]:
        """End every process of the run; return their pids. The workspace is left for the caller to remove."""
        ended = self.process.cancel(timeout)
        self._handle(self.process.poll())
        self.state = CANCELLED
        return ended

    def _handle(self, events: list) -> None:
        for kind, value in events:
            if kind == "line":
                progress = self.log.feed(value)
                if progress is not None and self.on_progress is not None:
                    self.on_progress(progress)
                elif progress is None and self.on_log is not None:
                    self.on_log(value)
            elif kind == "exit":
                self.exit_code = value
                self._seconds = time.monotonic() - self._started
                if self.process.cancelled:
                    self.state = CANCELLED
                else:
                    self.state = DONE if value == 0 else FAILED

    def outcome(self) -> RepairOutcome:
        """The run's results, once it has ended.

        Raises :class:`RepairCancelled` after a cancel, :class:`RepairFailed` when the process failed
        or left no output (its message names the user's node instead of the temporary file).
        """
        if self.state == CANCELLED:
            raise RepairCancelled(self.process.ended_pids)
        if self.state == FAILED:
            message = self.workspace.describe(self.log.failure_message(self.exit_code), self.names)
            raise RepairFailed(message, self.exit_code, list(self.log.tail))
        if self.state != DONE:
            raise RuntimeError(f"the run has not ended (state: {self.state})")
        ws = self.workspace
        missing = [p.name for p in (ws.output, ws.mask_out, ws.report) if not p.exists()]
        if missing:
            raise RepairFailed(f"medinpaint finished but did not write {', '.join(missing)}", 0,
                               list(self.log.tail))
        try:
            report = json.loads(ws.report.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RepairFailed(f"medinpaint's report cannot be read ({exc})", 0, list(self.log.tail)) from exc
        return RepairOutcome(ws.output, ws.mask_out, report, self._seconds, list(self.log.tail))


def format_report(report: dict) -> str:
    """medinpaint's JSON report as the few lines the module's Report box shows."""
    lines = [f"Repaired voxels: {report.get('damaged_voxels', '?')}"]
    kinds = report.get("kinds")
    if isinstance(kinds, dict):
        kinds = ", ".join(f"{kind} ({count})" for kind, count in kinds.items())
    lines.append(f"Damage found: {kinds or 'none'}")
    for key, label in (("damaged_slices", "Slices with damage"), ("recreated_slices", "Slices re-created")):
        if report.get(key):
            lines.append(f"{label}: {', '.join(str(s) for s in report[key])}")
    if "denoised" in report:
        lines.append(f"Denoised: {'yes' if report['denoised'] else 'no'}")
    if "device" in report:
        lines.append(f"Device: {report['device']}")
    if "seconds" in report:
        lines.append(f"Repair time: {float(report['seconds']):.1f} s")
    return "\n".join(lines)
