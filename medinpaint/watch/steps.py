"""The steps of one series, each safe to redo after a crash: build the result, forward it, file the inputs.

``build`` takes a stable series to ``written`` (or ``skipped``/``failed``/``held``): find the files of
the instances the journal froze for it, quarantine any that cannot be read and go on with the rest,
repair, write the result into the staging folder and rename it to ``OUT/<tag>`` (``OUT/<tag>-v<n>`` for
version n). The outcome (report, damage, re-created slices) is journaled before the rename, so if the
folder exists when the step starts, an earlier run got that far before it was killed, and the step only
records it. The derivation texts are fixed strings (with the version from 2 on), so a redone write
gives the same UIDs and a new version new ones.

Each build is counted in the journal before it starts; a series whose builds were cut short
``max_attempts`` times (the process killed: a decoder crash, the OOM killer) is ``failed``, so one input
cannot stop the queue. A slice is re-created only where the series has no instance for it: if an
instance of the series exists but cannot be read (quarantined, or gone), the series is ``held`` until
it arrives whole, rather than published with that slice invented.

``forward`` sends the result to the PACS from the first instance it has not acknowledged (each
acknowledgement is journaled), so each instance is sent once; a failure is journaled with the time of
the next try (``retry_seconds`` doubled per failure, at most ``retry_max_seconds``).

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
from medinpaint.watch.files import copy_files, publish
from medinpaint.watch.inputs import Inputs, out_name
from medinpaint.watch.journal import FAILED, FORWARDED, HELD, QUARANTINED, SKIPPED, WRITTEN, Journal
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
        inputs: where each series' files are, and how they leave IN.
    """

    def __init__(self, config: WatchConfig, journal: Journal, staging: Path, inputs: Inputs):
        self.config = config
        self.journal = journal
        self.staging = staging
        self.inputs = inputs

    # --- build ----------------------------------------------------------------------------------
    def build(self, row: sqlite3.Row) -> str:
        """Take a ``stable`` (or interrupted ``repairing``) series to its next state; returns that state."""
        uid, tag = row["uid"], row["tag"]
        name = out_name(tag, row["version"])
        if (self.config.out / name).exists():  # its outcome was journaled before the rename
            self.journal.set_state(uid, WRITTEN, "found complete in OUT after a restart")
            log.info("series %s: result was already complete in OUT", name)
            return WRITTEN
        attempts = self.journal.start_attempt(uid)
        if attempts > self.config.max_attempts:
            return self._fail(uid, tag, f"the process died {attempts - 1} times while building this series "
                              "(a crash or the OOM killer, e.g. in a decoder); not tried again")
        failpoint.reached("read", tag)
        files, missing = self.inputs.members(uid, tag)
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
            held = self._hold_for_missing(row, volume, missing, files)
            if held:
                return held
            read = time.perf_counter()
            result = self._repair(volume)
            timings = {"read": round(read - started, 3), "repair": round(time.perf_counter() - read, 3)}
        except MedinpaintError as exc:
            return self._fail(uid, tag, self.inputs.problem(exc))
        except Exception as exc:  # noqa: BLE001 - one series' failure must never stop the service
            log.debug("series %s failed", tag, exc_info=True)
            return self._fail(uid, tag, f"repair failed ({self.inputs.problem(exc)})")
        failpoint.reached("repaired", tag)
        damaged = int(result.report.get("damaged_voxels", 0))
        recreated = list(volume.meta["dicom"].get("missing") or [])
        report = {**result.report, "input_files": len(files), "timings_s": timings,
                  "recreated_for_gaps": recreated, "gaps": volume.meta["dicom"].get("gaps") or []}
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
        if (row["version"] or 1) > 1:
            derivation += f" (version {row['version']})"
        try:
            return self._publish_volume(uid, tag, result.volume, derivation, damaged, report)
        except MedinpaintError as exc:  # the result cannot be a DICOM series; a full disk (OSError) is
            return self._fail(uid, tag, self.inputs.problem(exc))  # not this series' fault: the watcher
            # journals it at the step boundary, and the attempt counts

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
                sop = self.inputs.tracker.instance(bad)
                self.inputs.quarantine(bad, exc.problem, tag)
                if sop:
                    self.journal.instance_status(uid, sop, QUARANTINED)
                files = [f for f in files if f != bad]
                if not files:
                    raise InputError(None, "no readable file left in the series") from exc

    def _hold_for_missing(self, row: sqlite3.Row, volume, missing: list[str],
                          files: list[Path]) -> str | None:
        """``held`` when a slice would be re-created although an instance of the series may exist for it:
        quarantined as unreadable, its file gone, or a file unreadable from its first byte (a copy
        that stalled at once) quarantined from one of the series' folders since the series was first
        seen. Never invent a slice that exists."""
        uid, tag = row["uid"], row["tag"]
        gaps = volume.meta["dicom"].get("missing") or []
        if not gaps or row["release"]:
            return None
        unreadable = [i.sop for i in self.journal.instances(uid, QUARANTINED)] + list(missing)
        beside = self.journal.beside_since(self.inputs.folders_of(files), row["created"])
        if unreadable:
            why = (f"{len(gaps)} slice(s) would be re-created, but {len(unreadable)} instance(s) of the "
                   f"series exist and could not be read ({', '.join(unreadable[:3])}); held until they "
                   "arrive whole (--retry-failed builds it as it is)")
        elif beside:
            why = (f"{len(gaps)} slice(s) would be re-created, but an unreadable file was quarantined from "
                   "the series' folder while it arrived and may be one of them; held until the missing "
                   "instances arrive whole (--retry-failed builds it as it is)")
        else:
            return None
        self.journal.set_state(uid, HELD, why, error=why)
        log.warning("series %s held: %s", tag, why)
        return HELD

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
        recreated = report.get("recreated_for_gaps") or []
        detail = f"{derivation}: {damaged} damaged voxels" + (
            f"; {len(recreated)} missing slice(s) re-created for gaps in the series" if recreated else "")
        return self._publish(uid, tag, staged, result, detail, damaged_voxels=damaged, report=report,
                             recreated=recreated)

    def _publish_copy(self, uid: str, tag: str, files: list[Path], result: str, detail: str,
                      **columns) -> str:
        staged = self._fresh_staging(tag)
        copy_files(sorted(files), staged)
        return self._publish(uid, tag, staged, result, detail, **columns)

    def _publish(self, uid: str, tag: str, staged: Path, result: str, detail: str, **columns) -> str:
        failpoint.reached("staged", tag)
        count = sum(1 for _ in staged.iterdir())
        name = staged.name
        # the outcome first: a kill after the rename finds it journaled (see build)
        self.journal.update(uid, result=result, error=None, **columns)
        publish(staged, self.config.out / name)
        failpoint.reached("published", tag)
        self.journal.set_state(uid, WRITTEN, detail)
        log.info("series %s: %s; %d files written to OUT/%s", tag, detail, count, name)
        return WRITTEN

    def _fresh_staging(self, tag: str) -> Path:
        row = self.journal.by_tag(tag)
        staged = self.staging / out_name(tag, row["version"] if row is not None else 1)
        if staged.exists():
            shutil.rmtree(staged)
        return staged

    def _fail(self, uid: str, tag: str, why: str) -> str:
        self.journal.set_state(uid, FAILED, why, error=why)
        log.error("series %s failed: %s", tag, why)
        return FAILED

    # --- forward --------------------------------------------------------------------------------
    def forward(self, row: sqlite3.Row) -> str:
        """Send a written series to the PACS; ``forwarded``, or ``written`` with a later retry."""
        from medinpaint.watch.forward import send_series

        uid, tag = row["uid"], row["tag"]
        peer = self.config.forward
        files = sorted((self.config.out / out_name(tag, row["version"])).glob("*.dcm"))
        if not files:
            return self._fail(uid, tag, f"its result in OUT was removed before it could be sent to {peer}")
        before = int(row["sent"] or 0)

        def acknowledged(n: int) -> None:
            self.journal.update(uid, sent=before + n)  # before the next instance goes
            failpoint.reached(f"forward:{before + n}")

        try:
            sent = before
            if before < len(files):
                sent += send_series(files[before:], peer, self.config.calling_aet, after_each=acknowledged)
        except (MedinpaintError, OSError) as exc:
            return self.forward_failed(row, self.inputs.problem(exc))
        self.journal.set_state(uid, FORWARDED, f"{sent} instances sent to {peer}", error=None)
        log.info("series %s: %d instances sent to %s", tag, sent, peer)
        return FORWARDED

    def forward_failed(self, row: sqlite3.Row, why: str) -> str:
        """Journal a failed forward and when to try again; the series stays ``written``."""
        uid, tag = row["uid"], row["tag"]
        attempts = int(row["forward_attempts"] or 0) + 1
        delay = min(self.config.retry_seconds * 2 ** (attempts - 1), self.config.retry_max_seconds)
        self.journal.update(uid, forward_attempts=attempts, next_forward=time.time() + delay, error=why)
        self.journal.event(tag, "forward-failed", f"attempt {attempts}: {why}; next try in {delay:.0f} s")
        log.warning("series %s: sending to %s failed (attempt %d: %s); next try in %.0f s",
                    tag, self.config.forward, attempts, why, delay)
        return WRITTEN

    # --- inputs ---------------------------------------------------------------------------------
    def file_inputs(self, row: sqlite3.Row) -> None:
        """Move the inputs of a finished series into ``done/<tag>/`` (their paths under IN kept); when IN
        is read-only they are copied there, once."""
        uid, tag = row["uid"], row["tag"]
        moved, copied = self.inputs.file(uid, tag, row["version"])
        self.journal.update(uid, inputs="copied" if copied else "moved")
        if copied:
            self.journal.event(tag, "inputs-copied", f"{copied} files copied to the done folder (IN is "
                               f"read-only: the originals stay and are not copied again), {moved} moved")
            log.warning("series %s: IN is read-only: %d input files copied to the done folder, %d moved",
                        tag, copied, moved)
        else:
            self.journal.event(tag, "inputs-moved", f"{moved} files to the done folder")
            log.info("series %s: %d input files moved to the done folder", tag, moved)
