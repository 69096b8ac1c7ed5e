"""The steps of one series, each safe to redo after a crash: build the result, forward it, file the inputs.

``build`` takes a stable series to ``written`` (or ``skipped``/``failed``): read the files the journal
froze for it, quarantine any that cannot be read and go on with the rest, repair, write the result into
the staging folder and rename it to ``OUT/<tag>``. If ``OUT/<tag>`` exists when the step starts, an
earlier run got that far before it was killed, and the step only records it. The derivation texts are
fixed strings, so a redone write gives the same UIDs.

``forward`` sends ``OUT/<tag>`` to the PACS; a failure is journaled with the time of the next try
(``retry_seconds`` doubled per failure, at most ``retry_max_seconds``).

``file_inputs`` moves the inputs of a finished series to the done folder, when one is configured.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from pathlib import Path

from medinpaint.errors import InputError, MedinpaintError
from medinpaint.watch import failpoint
from medinpaint.watch.config import WatchConfig
from medinpaint.watch.files import copy_files, done_path, move_file, publish, quarantine
from medinpaint.watch.journal import FAILED, FORWARDED, REPAIRING, SKIPPED, STABLE, WRITTEN, Journal
from medinpaint.watch.tracker import NON_IMAGE

log = logging.getLogger(__name__)

REPAIRED = "Damage detected and repaired by medinpaint"
REPAIRED_DENOISED = "Damage detected and repaired, and noise reduced, by medinpaint"
CHECKED = "Checked by medinpaint: no damage found"


class Steps:
    """The work on one series at a time, journaled step by step.

    Args:
        config: the watcher's settings.
        journal: where each step is recorded.
        staging: a folder on OUT's file system, owned by the watcher.
    """

    def __init__(self, config: WatchConfig, journal: Journal, staging: Path):
        self.config = config
        self.journal = journal
        self.staging = staging

    # --- build ----------------------------------------------------------------------------------
    def build(self, row: sqlite3.Row) -> str:
        """Take a ``stable`` (or interrupted ``repairing``) series to its next state; returns that state."""
        uid, tag = row["uid"], row["tag"]
        if row["state"] == STABLE:
            self.journal.set_state(uid, REPAIRING)
        failpoint.reached("read")
        target = self.config.out / tag
        if target.exists():
            self.journal.set_state(uid, WRITTEN, "found complete in OUT after a restart")
            log.info("series %s: result was already complete in OUT", tag)
            return WRITTEN
        files = [f for f in self.journal.members(uid) if f.exists()]
        if not files:
            return self._fail(uid, tag, "its input files are gone")
        if row["kind"] == NON_IMAGE:
            if self.config.non_image == "skip":
                self.journal.set_state(uid, SKIPPED, "non-image objects are skipped", result="skipped")
                log.info("series %s: %d non-image objects skipped", tag, len(files))
                return SKIPPED
            return self._publish_copy(uid, tag, files, "passed", "non-image objects passed through")
        try:
            started = time.perf_counter()
            volume, files = self._read(uid, tag, files)
            read = time.perf_counter()
            result = self._repair(volume)
            timings = {"read": round(read - started, 3), "repair": round(time.perf_counter() - read, 3)}
        except MedinpaintError as exc:
            where = f"{Path(exc.path).name}: " if exc.path else ""
            return self._fail(uid, tag, f"{where}{exc.problem}")
        except Exception as exc:  # noqa: BLE001 - one series' failure must never stop the service
            log.debug("series %s failed", tag, exc_info=True)
            return self._fail(uid, tag, f"repair failed ({type(exc).__name__}: {exc})")
        failpoint.reached("repaired")
        damaged = int(result.report.get("damaged_voxels", 0))
        report = {**result.report, "input_files": len(files), "timings_s": timings}
        if damaged == 0 and not self.config.denoise:
            if self.config.undamaged == "skip":
                self.journal.set_state(uid, SKIPPED, "no damage found", result="undamaged", damaged_voxels=0,
                                       report=report)
                log.info("series %s: no damage found; nothing written (undamaged = skip)", tag)
                return SKIPPED
            if self.config.undamaged == "copy":
                return self._publish_copy(uid, tag, files, "undamaged",
                                          "no damage found; passed on unchanged",
                                          report=report, damaged_voxels=0)
        derivation = CHECKED if damaged == 0 and not self.config.denoise else (
            REPAIRED_DENOISED if self.config.denoise else REPAIRED)
        try:
            return self._publish_volume(uid, tag, result.volume, derivation, damaged, report)
        except MedinpaintError as exc:  # the result cannot be a DICOM series; a full disk (OSError) is
            return self._fail(uid, tag, exc.problem)  # not this series' fault: it stops the service instead

    def _read(self, uid: str, tag: str, files: list[Path]):
        """The series' volume; a file that cannot be read is quarantined and the rest read again."""
        from medinpaint.io import read_series_files

        while True:
            try:
                return read_series_files(files, fill_gaps=True), files
            except InputError as exc:
                bad = Path(exc.path) if exc.path else None
                if bad not in files:
                    raise
                self.quarantine(bad, exc.problem, tag)
                self.journal.file_status(bad, uid, "quarantined")
                files = [f for f in files if f != bad]
                if not files:
                    raise InputError(None, "no readable file left in the series") from exc

    def _repair(self, volume):
        from medinpaint.repair import repair_volume

        return repair_volume(volume, mask=None, denoise=self.config.denoise,
                             model=None if self.config.model is None else str(self.config.model),
                             device=self.config.device)

    def _publish_volume(self, uid: str, tag: str, volume, derivation: str, damaged: int, report: dict) -> str:
        from medinpaint.io import write_dicom_series

        staged = self._fresh_staging(tag)
        started = time.perf_counter()
        write_dicom_series(volume, staged, derivation=derivation)
        report["timings_s"]["write"] = round(time.perf_counter() - started, 3)
        result = "repaired" if damaged or self.config.denoise else "undamaged"
        return self._publish(uid, tag, staged, result, f"{derivation}: {damaged} damaged voxels",
                             damaged_voxels=damaged, report=report)

    def _publish_copy(self, uid: str, tag: str, files: list[Path], result: str, detail: str,
                      **columns) -> str:
        staged = self._fresh_staging(tag)
        copy_files(sorted(files), staged)
        return self._publish(uid, tag, staged, result, detail, **columns)

    def _publish(self, uid: str, tag: str, staged: Path, result: str, detail: str, **columns) -> str:
        failpoint.reached("staged")
        count = sum(1 for _ in staged.iterdir())
        publish(staged, self.config.out / tag)
        failpoint.reached("published")
        self.journal.set_state(uid, WRITTEN, detail, result=result, error=None, **columns)
        log.info("series %s: %s; %d files written to %s", tag, detail, count, self.config.out / tag)
        return WRITTEN

    def _fresh_staging(self, tag: str) -> Path:
        staged = self.staging / tag
        if staged.exists():
            shutil.rmtree(staged)
        return staged

    def _fail(self, uid: str, tag: str, why: str) -> str:
        self.journal.set_state(uid, FAILED, why, error=why)
        log.error("series %s failed: %s", tag, why)
        return FAILED

    def quarantine(self, path: Path, reason: str, tag: str | None = None) -> Path:
        moved = quarantine(path, reason, self.config.quarantine, self.config.inbox)
        self.journal.event(tag, "quarantined", f"{moved.name}: {reason}")
        log.warning("quarantined %s%s: %s", moved.name, f" (series {tag})" if tag else "", reason)
        return moved

    # --- forward --------------------------------------------------------------------------------
    def forward(self, row: sqlite3.Row) -> str:
        """Send a written series to the PACS; ``forwarded``, or ``written`` with a later retry."""
        from medinpaint.watch.forward import send_series

        uid, tag = row["uid"], row["tag"]
        peer = self.config.forward
        files = sorted((self.config.out / tag).glob("*.dcm"))
        if not files:
            return self._fail(uid, tag, f"its result in OUT was removed before it could be sent to {peer}")
        try:
            sent = send_series(files, peer, self.config.calling_aet,
                               after_each=lambda n: failpoint.reached(f"forward:{n}"))
        except (MedinpaintError, OSError) as exc:
            attempts = int(row["forward_attempts"] or 0) + 1
            delay = min(self.config.retry_seconds * 2 ** (attempts - 1), self.config.retry_max_seconds)
            why = getattr(exc, "problem", None) or str(exc)
            self.journal.update(uid, forward_attempts=attempts, next_forward=time.time() + delay, error=why)
            self.journal.event(tag, "forward-failed", f"attempt {attempts}: {why}; next try in {delay:.0f} s")
            log.warning("series %s: sending to %s failed (attempt %d: %s); next try in %.0f s",
                        tag, peer, attempts, why, delay)
            return WRITTEN
        self.journal.set_state(uid, FORWARDED, f"{sent} instances sent to {peer}", error=None)
        log.info("series %s: %d instances sent to %s", tag, sent, peer)
        return FORWARDED

    # --- inputs ---------------------------------------------------------------------------------
    def file_inputs(self, row: sqlite3.Row) -> None:
        """Move the inputs of a finished series into ``done/<tag>/`` (their paths under IN kept)."""
        uid, tag = row["uid"], row["tag"]
        moved = 0
        for path in self.journal.members(uid):
            if path.exists():
                move_file(path, done_path(path, self.config.inbox, self.config.done / tag))
                moved += 1
                failpoint.reached(f"moved:{moved}")
                self._remove_empty_folders(path.parent)
        self.journal.update(uid, inputs="moved")
        self.journal.event(tag, "inputs-moved", f"{moved} files to the done folder")
        log.info("series %s: %d input files moved to the done folder", tag, moved)

    def _remove_empty_folders(self, folder: Path) -> None:
        root = self.config.inbox
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
