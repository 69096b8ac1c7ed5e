"""Reading ``medinpaint repair --progress`` output.

The run writes ordinary log lines and, on stderr, machine-readable lines of exactly the form
``PROGRESS <integer 0-100> <free text>``; a failure ends with one line ``medinpaint: error: <message>``.
Slicer's launcher merges stdout and stderr, so both kinds arrive interleaved on one stream.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

_PROGRESS = re.compile(r"PROGRESS (\d{1,3})(?: (.*))?")
ERROR_PREFIX = "medinpaint: error: "


@dataclass(frozen=True)
class Progress:
    """One progress report: ``percent`` done (0-100) and what the run is doing now."""

    percent: int
    text: str


def parse_progress(line: str) -> Progress | None:
    """The progress report in ``line``, or None for any other line (including malformed ones)."""
    match = _PROGRESS.fullmatch(line.rstrip("\r\n"))
    if match is None:
        return None
    percent = int(match.group(1))
    if percent > 100:
        return None
    return Progress(percent, (match.group(2) or "").strip())


def parse_error(line: str) -> str | None:
    """medinpaint's error message in ``line`` (without the prefix), or None."""
    line = line.rstrip("\r\n")
    if line.startswith(ERROR_PREFIX):
        return line[len(ERROR_PREFIX):].strip() or None
    return None


class OutputLog:
    """The state a run's output has reported so far: latest progress, medinpaint's error, the last lines.

    ``feed`` each line as it arrives; it returns the line's :class:`Progress` when it was one, so the
    caller can move a progress bar, and keeps every other line for the log and for error messages.
    """

    def __init__(self, keep: int = 40):
        self.progress = Progress(0, "")
        self.error: str | None = None
        self.tail: deque[str] = deque(maxlen=keep)

    def feed(self, line: str) -> Progress | None:
        progress = parse_progress(line)
        if progress is not None:
            self.progress = progress
            return progress
        line = line.rstrip("\r\n")
        error = parse_error(line)
        if error is not None:
            self.error = error
        if line.strip():
            self.tail.append(line)
        return None

    def failure_message(self, exit_code: int) -> str:
        """What to tell the user about a run that exited with ``exit_code``."""
        if self.error:
            return self.error
        if self.tail:
            return " / ".join(list(self.tail)[-3:])
        return f"the process exited with status {exit_code} without a message"
