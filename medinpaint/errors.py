"""One small error hierarchy: every error names the file it is about and says what is wrong.

The CLI prints ``str(error)`` as one line on stderr and exits non-zero, so messages are written for
the person at the terminal: ``<path>: <problem>``. No patient data ever goes into a message.
"""

from __future__ import annotations

import os


class MedinpaintError(Exception):
    """Base class of every error medinpaint raises on purpose."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class InputError(MedinpaintError):
    """An input file or folder cannot be read: truncated, not DICOM, missing file meta, bad VR, ..."""


class UnsupportedError(MedinpaintError):
    """The input is valid but not something medinpaint handles: a non-image object, colour pixels,
    a compressed transfer syntax whose decoder is not installed."""


class SeriesError(MedinpaintError):
    """A folder does not hold one usable series: empty, several series and none chosen, mixed shapes."""


class OutputError(MedinpaintError):
    """An output cannot be written: it exists already, its folder is read-only, the format is unknown."""
