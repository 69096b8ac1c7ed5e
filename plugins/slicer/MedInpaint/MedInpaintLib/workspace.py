"""The temporary folder of one run, and its removal.

Everything a run writes goes in here: the input exported from the scene, the repaired volume, the
mask, the report, and (through TMPDIR/TEMP/TMP) any scratch file medinpaint or its libraries make.
Removing this one folder therefore removes every trace of the run, whether it succeeded, failed or
was cancelled.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "MedInpaint-"


class Workspace:
    """A fresh private folder (mode 0700) with fixed names for a run's files.

    Use as a context manager, or call :meth:`cleanup` yourself; cleanup is idempotent.

    Args:
        root: the folder to create it in (in Slicer: ``slicer.app.temporaryPath``); None for the
            system's temporary folder.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=None if root is None else os.fspath(root)))
        self.scratch.mkdir()

    @property
    def input(self) -> Path:
        """The volume exported from the scene."""
        return self.path / "input.nrrd"

    @property
    def mask(self) -> Path:
        """The user's mask, when one is given."""
        return self.path / "mask.nrrd"

    @property
    def output(self) -> Path:
        """The repaired volume."""
        return self.path / "output.nrrd"

    @property
    def mask_out(self) -> Path:
        """The uint8 mask of the voxels medinpaint changed."""
        return self.path / "mask-out.nrrd"

    @property
    def report(self) -> Path:
        """medinpaint's JSON report."""
        return self.path / "report.json"

    @property
    def scratch(self) -> Path:
        """The run's TMPDIR."""
        return self.path / "tmp"

    def environment(self) -> dict[str, str]:
        """Environment updates that keep the run's own temporary files inside this folder."""
        scratch = os.fspath(self.scratch)
        return {"TMPDIR": scratch, "TEMP": scratch, "TMP": scratch, "PYTHONUNBUFFERED": "1"}

    def describe(self, text: str, names: dict[str, str]) -> str:
        """``text`` with this folder's file paths replaced by what they stand for (``names``: file
        name -> label).

        Errors from the run name temporary files nobody has heard of; the user knows their nodes.
        """
        for name, label in names.items():
            text = text.replace(os.fspath(self.path / name), label)
        return text.replace(os.fspath(self.path), "the temporary folder")

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def cleanup(self) -> None:
        """Remove the folder and everything in it; raise OSError if something could not be removed."""
        if self.path.exists():
            shutil.rmtree(self.path)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info) -> None:
        self.cleanup()
