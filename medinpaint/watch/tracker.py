"""Which files are under the watched folder, which series each belongs to, and when each last changed.

A series is complete when no file of it has arrived or changed for ``stable_seconds`` (the rule of
Orthanc's StableAge) and every file of it is fully written:

- a file under a name that copy tools and our listener use while writing (``*.part``, ``*.tmp``, hidden
  ``.name``) is never taken, and while it is still changing it holds back every series in its folder,
  since it may belong to any of them;
- a file is "changed" whenever its size, mtime or ctime differs from the last look, so a growing file
  keeps its series waiting. A file first seen counts as changed at its ctime (which no copy tool can set
  back), so a restart or a ``--once`` run does not wait again for files that have long been complete;
- a file whose header cannot be read yet (a copy that has only just begun) holds back its folder like an
  in-progress file; once it has not changed for ``stable_seconds`` and still cannot be read, it is broken.

Files are grouped by the SeriesInstanceUID in their headers, never by their paths. This module keeps its
picture in memory only; what must survive a crash is in the journal.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from medinpaint.errors import MedinpaintError
from medinpaint.io import read_header

log = logging.getLogger(__name__)

IN_PROGRESS_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".filepart", ".crdownload", ".download")
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
IMAGE, NON_IMAGE = "image", "non-image"


def in_progress_name(name: str) -> bool:
    """A name used while a file is still being written (or a hidden file): never taken as input."""
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


@dataclass
class Seen:
    """What we know of one file."""

    signature: tuple[int, int, int]  # size, mtime_ns, ctime_ns
    changed_at: float  # wall-clock time of the last change we know of
    series: str | None = None  # SeriesInstanceUID, once the header was read
    kind: str | None = None  # IMAGE or NON_IMAGE
    problem: str | None = None  # why it cannot be read (yet)
    ignored: bool = False  # in-progress name, DICOMDIR


@dataclass
class Series:
    uid: str
    kind: str
    files: set[Path] = field(default_factory=set)


class Tracker:
    """The files under ``root`` and the series they form.

    Args:
        root: the watched folder.
        clock: wall-clock time source (``time.time``).
    """

    def __init__(self, root: Path, clock=time.time):
        self.root = Path(root)
        self.clock = clock
        self.files: dict[Path, Seen] = {}
        self.series: dict[str, Series] = {}

    # --- observing ------------------------------------------------------------------------------
    def rescan(self, folder: Path | None = None) -> None:
        """Look at every file under ``folder`` (default: the root), and forget files that are gone."""
        folder = Path(folder or self.root)
        found = set()
        for dirpath, _dirs, names in os.walk(folder):
            for name in names:
                path = Path(dirpath) / name
                found.add(path)
                self.observe(path)
        for path in [p for p in self.files if p not in found and (p == folder or folder in p.parents)]:
            self.forget(path)

    def observe(self, path: Path) -> Seen | None:
        """Look at one file now: new, changed, unchanged or gone."""
        path = Path(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.forget(path)
            return None
        except OSError as exc:
            log.warning("cannot stat a file under the watched folder (%s)", exc.strerror)
            return None
        if not os.path.isfile(path):
            return None
        signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        now = self.clock()
        known = self.files.get(path)
        if known is not None and known.signature == signature:
            return known
        changed_at = now if known is not None else min(now, st.st_ctime)
        seen = Seen(signature, changed_at)
        if in_progress_name(path.name):
            seen.ignored = True
        else:
            self._classify(path, seen)
        self._place(path, known, seen)
        return seen

    def _classify(self, path: Path, seen: Seen) -> None:
        try:
            ds = read_header(path)
        except MedinpaintError as exc:
            seen.problem = exc.problem
            return
        if ds.file_meta.get("MediaStorageSOPClassUID") == DICOMDIR_CLASS:
            seen.ignored = True
            return
        uid = str(ds.get("SeriesInstanceUID", "")).strip()
        if not uid:
            seen.problem = "has no SeriesInstanceUID, so it cannot be put into a series"
            return
        seen.series = uid
        seen.kind = IMAGE if ("Rows" in ds and "Columns" in ds) else NON_IMAGE

    def _place(self, path: Path, old: Seen | None, new: Seen) -> None:
        if old is not None and old.series and old.series != new.series:
            self._leave(path, old.series)
        self.files[path] = new
        if new.series:
            entry = self.series.setdefault(new.series, Series(new.series, new.kind))
            entry.files.add(path)
            if new.kind == IMAGE:
                entry.kind = IMAGE  # one image file makes an image series

    def forget(self, path: Path) -> None:
        """The file is gone (moved away, deleted, quarantined): its series counts as changed."""
        old = self.files.pop(Path(path), None)
        if old is not None and old.series:
            self._leave(Path(path), old.series)

    def _leave(self, path: Path, uid: str) -> None:
        entry = self.series.get(uid)
        if entry is None:
            return
        entry.files.discard(path)
        if not entry.files:
            del self.series[uid]
        else:  # a file left: wait again, so a series being moved out is not taken half-way
            for member in entry.files:
                self.files[member].changed_at = self.clock()

    # --- deciding -------------------------------------------------------------------------------
    def broken(self, stable_seconds: float) -> list[tuple[Path, str]]:
        """Files that have not changed for ``stable_seconds`` and still cannot be read."""
        now = self.clock()
        return [(p, s.problem) for p, s in self.files.items()
                if s.problem and now - s.changed_at >= stable_seconds and self._unchanged(p)]

    def complete(self, stable_seconds: float, candidates: set[str] | None = None) -> list[Series]:
        """Series with no change for ``stable_seconds`` and nothing still being written beside them.

        Before a series is called complete every file in its folders is looked at once more, so a
        file that grew without an event (a network share, a slow poll) still holds it back.
        """
        now = self.clock()
        ready = []
        for entry in list(self.series.values()):
            if candidates is not None and entry.uid not in candidates:
                continue
            folders = {p.parent for p in entry.files}
            if not self._quiet(entry.files, folders, now, stable_seconds):
                continue
            for path in [p for p in self.files if p.parent in folders]:
                self.observe(path)
            if entry.uid in self.series and self._quiet(entry.files, folders, self.clock(), stable_seconds):
                ready.append(entry)
        return ready

    def _quiet(self, members: set[Path], folders: set[Path], now: float, stable_seconds: float) -> bool:
        if any(now - self.files[p].changed_at < stable_seconds for p in members):
            return False
        for path, seen in self.files.items():
            # something in the same folder that may still become part of this series
            unsettled = seen.ignored and in_progress_name(path.name) or seen.problem
            if unsettled and path.parent in folders and now - seen.changed_at < stable_seconds:
                return False
        return True

    def _unchanged(self, path: Path) -> bool:
        before = self.files.get(path)
        after = self.observe(path)
        return after is not None and after is before
