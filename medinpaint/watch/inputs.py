"""The input files of a series, found by what they hold, not where they lie; and what the service says
about them, which never names a path, a file name or a patient.

An instance is known by the hash of its SOPInstanceUID and the sha256 of its bytes. The journal keeps
those, never paths, so the files of a series are looked up again when they are needed: in IN (the
tracker's picture) and, for a series built again after its inputs were filed, in its done folders. A
path reused by another series, or a file rewritten in place, is simply another instance.

Quarantine and done moves work when IN is read-only (or on another mount): the file is copied once,
the copy is remembered in the journal by the sha256 of its bytes, and the original, left in IN, is
never copied or looked at again.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medinpaint.errors import MedinpaintError
from medinpaint.io import read_header
from medinpaint.watch import failpoint
from medinpaint.watch.config import WatchConfig
from medinpaint.watch.files import COPIED, done_path, instance_hash, move_file, quarantine, short_hash
from medinpaint.watch.journal import Journal
from medinpaint.watch.tracker import Tracker, file_digest

log = logging.getLogger(__name__)


def out_name(tag: str, version: int) -> str:
    """The folder of a series' result in OUT (and in done): ``<tag>``, then ``<tag>-v2``..."""
    return tag if int(version or 1) <= 1 else f"{tag}-v{int(version)}"


class Scrubber(logging.Filter):
    """Takes every path below the service's folders out of a text (or a log record): the folder stays,
    what lies below it (patient names, file names) becomes ``…``."""

    def __init__(self, roots: list[Path]):
        super().__init__()
        roots = sorted({str(r) for r in roots if r is not None}, key=len, reverse=True)
        self.pattern = re.compile("(" + "|".join(re.escape(r) for r in roots) + r")/[^\s'\"),\]]*") \
            if roots else None

    def scrub(self, text: str) -> str:
        return text if self.pattern is None else self.pattern.sub(r"\1/…", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


class Inputs:
    """The files of each series, and how they leave IN.

    Args:
        config: the watcher's settings (IN, done, quarantine).
        journal: the instances of each series, and the files dealt with while IN is read-only.
        tracker: what is in IN now.
    """

    def __init__(self, config: WatchConfig, journal: Journal, tracker: Tracker):
        self.config = config
        self.journal = journal
        self.tracker = tracker
        self.scrubber = Scrubber([config.inbox, config.done, config.quarantine, config.out, config.state])

    # --- naming ---------------------------------------------------------------------------------
    def name(self, path: Path | None) -> str:
        """How logs and the journal name a file: ``instance <hash>``, or ``file <hash of its bytes>``."""
        if path is None:
            return "a file"
        sop = self.tracker.instance(path)
        if sop:
            return f"instance {sop}"
        digest = self.tracker.digest(path)
        if digest is None:
            try:
                digest = file_digest(path)
            except OSError:
                return "a file"
        return f"file {digest[:12]}"

    def problem(self, exc: BaseException) -> str:
        """What went wrong, without a path: a MedinpaintError names the instance, not the file."""
        if isinstance(exc, MedinpaintError):
            where = f"{self.name(Path(exc.path))}: " if exc.path and Path(exc.path).is_file() else ""
            return self.scrubber.scrub(f"{where}{exc.problem}")
        if isinstance(exc, OSError) and exc.strerror:
            return f"{type(exc).__name__}: {exc.strerror}"
        return self.scrubber.scrub(f"{type(exc).__name__}: {exc}")

    # --- finding --------------------------------------------------------------------------------
    def identity(self, path: Path) -> tuple[str, str, int] | None:
        """(instance hash, sha256, size) of a file in IN, or None when it is gone or changing."""
        digest = self.tracker.digest(path)
        seen = self.tracker.files.get(path)
        if digest is None or seen is None:
            return None
        return self.tracker.instance(path), digest, seen.size

    def folders_of(self, files: list[Path]) -> list[str]:
        """The hashes of the folders under IN that hold ``files`` (see Journal.quarantined_beside)."""
        inbox = self.config.inbox
        return sorted({short_hash(str(f.parent)) for f in files if inbox in f.parents})

    def members(self, uid: str, tag: str) -> tuple[list[Path], list[str]]:
        """The files holding the series' member instances (IN first, then its done folders), and the
        instances no file was found for."""
        wanted = {(i.sop, i.digest) for i in self.journal.instances(uid)}
        found: dict[tuple[str, str], Path] = {}
        entry = self.tracker.series.get(uid)
        for path in sorted(entry.files) if entry else ():
            key = (self.tracker.instance(path), self.tracker.digest(path))
            if key in wanted and key not in found:
                found[key] = path
        if len(found) < len(wanted) and self.config.done is not None and self.config.done.exists():
            for folder in sorted(self.config.done.glob(f"{tag}*")):
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    key = self._identify(path)
                    if key in wanted and key not in found:
                        found[key] = path
        missing = sorted(sop for sop, digest in wanted if (sop, digest) not in found)
        return sorted(found.values()), missing

    @staticmethod
    def _identify(path: Path) -> tuple[str, str] | None:
        try:
            ds = read_header(path)
            digest = file_digest(path)
        except (MedinpaintError, OSError):
            return None
        sop = str(ds.get("SOPInstanceUID", "")).strip()
        return (instance_hash(sop) if sop else "f" + digest[:15]), digest

    # --- leaving IN -----------------------------------------------------------------------------
    def quarantine(self, path: Path, reason: str, tag: str | None = None) -> None:
        """Move (IN read-only: copy, once) an unreadable file to the quarantine with its reason."""
        name = self.name(path)
        digest = self.tracker.digest(path)
        if digest is not None and self.journal.handled(digest):
            self.tracker.handled(path)  # copied to the quarantine by an earlier run
            return
        reason = self.scrubber.scrub(reason)
        _, how = quarantine(path, reason, self.config.quarantine, self.config.inbox)
        self.journal.event(tag, "quarantined", f"{name}: {reason}")
        log.warning("quarantined %s%s: %s", name, f" (series {tag})" if tag else "", reason)
        if tag is None:  # unreadable from its first byte: it may be an instance of a series beside it
            self.journal.quarantined_beside(short_hash(str(path.parent)))
        if how == COPIED:
            self.journal.remember(digest or file_digest(path), "quarantined")
            self.tracker.handled(path)
            log.warning("%s could not be removed from IN (read-only): copied to the quarantine, and left "
                        "alone from now on", name)
        else:
            self.tracker.forget(path)

    def file(self, uid: str, tag: str, version: int) -> tuple[int, int]:
        """Move the series' member instances still in IN (and identical copies of them) into
        ``done/<tag>[-vN]/``, their paths below IN kept. Returns (moved, copied)."""
        wanted = {(i.sop, i.digest) for i in self.journal.instances(uid)}
        entry = self.tracker.series.get(uid)
        folder = self.config.done / out_name(tag, version)
        moved = copied = 0
        for path in sorted(entry.files) if entry else ():
            seen = self.tracker.files.get(path)
            if seen is None or seen.handled:
                continue
            key = (self.tracker.instance(path), self.tracker.digest(path))
            if key not in wanted:
                continue  # another version of an instance: not this series' input
            how = move_file(path, done_path(path, self.config.inbox, folder))
            if how == COPIED:
                self.journal.remember(key[1], "filed")
                self.tracker.handled(path)
                copied += 1
            else:
                self.tracker.forget(path)
                self._remove_empty_folders(path.parent)
                moved += 1
            failpoint.reached(f"moved:{moved + copied}")
        return moved, copied

    def _remove_empty_folders(self, folder: Path) -> None:
        root = self.config.inbox
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
