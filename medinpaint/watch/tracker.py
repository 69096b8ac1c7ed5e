"""Which files are under the watched folder, which series and instance each holds, and when each changed.

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

Files are grouped by the SeriesInstanceUID in their headers and known by their SOPInstanceUID (and, when
it matters, the sha256 of their bytes), never by their paths: a path reused by another series or
rewritten is a new file. Completeness is decided from what changed: each series keeps the time of its
last change, and only the files still being written are looked at beside it, so the cost of a look does
not grow with the number of files under IN. The files of a finished series leave the tracker's picture
(``settle``): only their size and times stay, so that an unchanged file is not read again. This module
keeps its picture in memory only; what must survive a crash is in the journal.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from medinpaint.errors import MedinpaintError
from medinpaint.io import read_header
from medinpaint.watch.files import instance_hash

log = logging.getLogger(__name__)

IN_PROGRESS_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".filepart", ".crdownload", ".download")
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
IMAGE, NON_IMAGE = "image", "non-image"


def in_progress_name(name: str) -> bool:
    """A name used while a file is still being written (or a hidden file): never taken as input."""
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _quick_header(path: Path):
    """The header as pydicom reads it, or None when it cannot (then ``read_header`` says why).

    Element values are not all decoded here, which makes the first look at many thousands of files
    several times faster; a malformed element shows when the series is read, and that file is then
    quarantined like any unreadable one.
    """
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - any failure: read_header names it
        return None
    return ds if "TransferSyntaxUID" in getattr(ds, "file_meta", {}) else None


@dataclass(slots=True)
class Seen:
    """What we know of one file."""

    signature: tuple[int, int, int]  # size, mtime_ns, ctime_ns
    changed_at: float  # wall-clock time of the last change we know of
    series: str | None = None  # SeriesInstanceUID, once the header was read
    sop: str | None = None  # short hash of its SOPInstanceUID
    kind: str | None = None  # IMAGE or NON_IMAGE
    problem: str | None = None  # why it cannot be read (yet)
    ignored: bool = False  # in-progress name, DICOMDIR
    handled: bool = False  # dealt with (quarantined, filed) but it could not leave IN
    noted: bool = False  # looked at by the watcher as a member, or after its series was taken
    digest: str | None = None  # sha256 of its bytes, once asked for

    @property
    def size(self) -> int:
        return self.signature[0]


@dataclass(slots=True)
class Series:
    uid: str
    kind: str
    files: set[Path] = field(default_factory=set)
    changed_at: float = 0.0  # the last change of any of its files (arrived, changed, left)


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
        self.folders: dict[Path, set[Path]] = {}  # folder -> its files (in self.files)
        self.unsettled: set[Path] = set()  # in-progress names and unreadable files
        self.dirty: set[str] = set()  # series that changed since the watcher last asked
        # files of finished series, by path text (a Path costs several times more): size and times, series
        self.settled: dict[str, tuple[tuple[int, int, int], str]] = {}

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
        found_text, below = {str(p) for p in found}, str(folder) + os.sep
        for text in [t for t in self.settled if t not in found_text and t.startswith(below)]:
            del self.settled[text]

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
        settled = self.settled.get(str(path)) if self.settled else None
        if settled is not None:
            if settled[0] == signature:
                return None  # a file of a finished series, unchanged
            del self.settled[str(path)]
            self.dirty.add(settled[1])
        known = self.files.get(path)
        if known is not None and known.signature == signature:
            return known
        changed_at = now if known is not None or settled is not None else min(now, st.st_ctime)
        seen = Seen(signature, changed_at)
        if in_progress_name(path.name):
            seen.ignored = True
        else:
            self._classify(path, seen)
        self._place(path, known, seen)
        return seen

    def _classify(self, path: Path, seen: Seen) -> None:
        ds = _quick_header(path)
        if ds is None:  # not readable (yet): the io layer says why, in its words
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
        seen.series = sys.intern(uid)
        sop = str(ds.get("SOPInstanceUID", "") or ds.file_meta.get("MediaStorageSOPInstanceUID", "")).strip()
        seen.sop = instance_hash(sop) if sop else None
        seen.kind = IMAGE if ("Rows" in ds and "Columns" in ds) else NON_IMAGE

    def _place(self, path: Path, old: Seen | None, new: Seen) -> None:
        if old is not None and old.series and old.series != new.series:
            self._leave(path, old.series)
        self.files[path] = new
        self.folders.setdefault(path.parent, set()).add(path)
        if (new.ignored and in_progress_name(path.name)) or new.problem:
            self.unsettled.add(path)
        else:
            self.unsettled.discard(path)
        if new.series:
            entry = self.series.setdefault(new.series, Series(new.series, new.kind))
            entry.files.add(path)
            entry.changed_at = max(entry.changed_at, new.changed_at)
            if new.kind == IMAGE:
                entry.kind = IMAGE  # one image file makes an image series
            self.dirty.add(new.series)

    def forget(self, path: Path) -> None:
        """The file is gone (moved away, deleted, quarantined): its series counts as changed."""
        path = Path(path)
        if self.settled:
            self.settled.pop(str(path), None)
        old = self.files.pop(path, None)
        if old is None:
            return
        self.unsettled.discard(path)
        siblings = self.folders.get(path.parent)
        if siblings is not None:
            siblings.discard(path)
            if not siblings:
                del self.folders[path.parent]
        if old.series:
            self._leave(path, old.series)

    def _leave(self, path: Path, uid: str) -> None:
        entry = self.series.get(uid)
        if entry is None:
            return
        entry.files.discard(path)
        self.dirty.add(uid)
        if not entry.files:
            del self.series[uid]
        else:  # a file left: wait again, so a series being moved out is not taken half-way
            entry.changed_at = self.clock()

    def handled(self, path: Path) -> None:
        """The file was dealt with but stays in IN (read-only): it no longer holds anything back."""
        seen = self.files.get(Path(path))
        if seen is not None:
            seen.handled = True
            self.unsettled.discard(Path(path))

    def digest(self, path: Path) -> str | None:
        """sha256 of the file as the tracker knows it; None when it is gone or changed meanwhile."""
        seen = self.files.get(Path(path))
        if seen is None:
            return None
        if seen.digest is None:
            try:
                digest = file_digest(path)
            except OSError:
                return None
            if self.observe(path) is not seen:  # changed while it was read
                return None
            seen.digest = digest
        return seen.digest

    def instance(self, path: Path) -> str | None:
        """The instance a file holds: the hash of its SOPInstanceUID (of its bytes without one)."""
        seen = self.files.get(Path(path))
        if seen is None:
            return None
        if seen.sop:
            return seen.sop
        digest = self.digest(path)
        return None if digest is None else "f" + digest[:15]

    def take_dirty(self) -> set[str]:
        """Series that changed since the last call."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    def settle(self, uid: str) -> None:
        """The series is finished: keep only its files' sizes and times (to notice a rewrite)."""
        entry = self.series.pop(uid, None)
        if entry is None:
            return
        for path in entry.files:
            seen = self.files.get(path)
            if seen is None or seen.series != uid:
                continue
            self.forget(path)
            self.settled[str(path)] = (seen.signature, uid)
        self.dirty.discard(uid)

    def unsettle(self, uid: str) -> None:
        """The series is taken up again: look at its files once more."""
        for text in [t for t, (_, u) in self.settled.items() if u == uid]:
            del self.settled[text]
            seen = self.observe(Path(text))
            if seen is not None:
                seen.changed_at = min(seen.changed_at, self.clock())

    # --- deciding -------------------------------------------------------------------------------
    def broken(self, stable_seconds: float) -> list[tuple[Path, str]]:
        """Files that have not changed for ``stable_seconds`` and still cannot be read."""
        now = self.clock()
        found = []
        for path in list(self.unsettled):
            seen = self.files.get(path)
            if seen is not None and seen.problem and not seen.handled and \
                    now - seen.changed_at >= stable_seconds and self._unchanged(path):
                found.append((path, seen.problem))
        return found

    def complete(self, stable_seconds: float, candidates: set[str] | None = None) -> list[Series]:
        """Series with no change for ``stable_seconds`` and nothing still being written beside them.

        Before a series is called complete every file in its folders is looked at once more, so a
        file that grew without an event (a network share, a slow poll) still holds it back.
        """
        now = self.clock()
        ready = []
        uids = list(self.series) if candidates is None else [u for u in candidates if u in self.series]
        for uid in uids:
            entry = self.series[uid]
            folders = {p.parent for p in entry.files}
            if not self._quiet(entry, folders, now, stable_seconds):
                continue
            for folder in folders:
                for path in list(self.folders.get(folder, ())):
                    self.observe(path)
            if uid in self.series and self._quiet(self.series[uid], folders, self.clock(), stable_seconds):
                ready.append(self.series[uid])
        return ready

    def _quiet(self, entry: Series, folders: set[Path], now: float, stable_seconds: float) -> bool:
        if now - entry.changed_at < stable_seconds:
            return False
        for path in self.unsettled:
            # something in the same folder that may still become part of this series
            seen = self.files[path]
            if path.parent in folders and not seen.handled and now - seen.changed_at < stable_seconds:
                return False
        return True

    def _unchanged(self, path: Path) -> bool:
        before = self.files.get(path)
        after = self.observe(path)
        return after is not None and after is before
