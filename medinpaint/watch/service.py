"""``medinpaint watch``: the loop that notices complete series, has them repaired, written and forwarded.

File system events (inotify through watchdog, or watchdog's polling observer for network shares) only
say where to look; what to do is decided from the tracker (which files form which series, and when each
last changed) and the journal (how far each series has got). One step of one series runs at a time, and
between steps the loop looks at new events, so a long repair never makes the watcher miss a change.

At start the staging folder is emptied (whatever a killed run left there) and the journal is read:
a series cut short in any state carries on from its last recorded step. A lock file in the state folder
keeps a second watcher off the same journal. SIGTERM (and SIGINT) let the current step finish, then the
loop exits with status 0.

Instances that arrive, or change, after their series was taken are handled as a PACS does (Orthanc
marks such a series unstable again): an identical copy of an instance taken is nothing new; anything
else is journaled, and once the series is at rest it is built again as a new version of the derived
series (``late = "redo"``), or held for a person (``late = "hold"``); ``--status`` lists it either way.
Every exception a step raises is caught at the step boundary and journaled against its series, so no
single input stops the service. Logs and journal name series by tag and instances by hash; paths below
the service's folders are scrubbed from every log line. Files are created ``0640``, folders ``0750``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import time
from pathlib import Path

from medinpaint.errors import OutputError
from medinpaint.watch.config import WatchConfig
from medinpaint.watch.files import FILE_MODE, empty_folder, make_dirs, short_hash, staging_folder
from medinpaint.watch.inputs import Inputs, out_name
from medinpaint.watch.journal import (
    FAILED,
    FORWARDED,
    HELD,
    REPAIRING,
    SEEN,
    SKIPPED,
    STABLE,
    WRITTEN,
    Journal,
)
from medinpaint.watch.steps import Steps
from medinpaint.watch.tracker import IMAGE, Seen, Tracker

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
PRUNE_SECONDS = 86400.0
JOURNAL_NAME = "journal.sqlite"
HOLD_LATE = "instances arrived or changed after the series was written"


def _import_repair() -> None:
    try:
        import medinpaint.repair  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - reported again, with the series, when it is needed
        log.warning("the repair engine could not be loaded: %s", exc)


class Watcher:
    """Watch ``config.inbox`` and process every complete series once.

    Args:
        config: folders, timings and policies.
        once: process what is there (waiting until it is complete), then exit; no file system events.
    """

    def __init__(self, config: WatchConfig, once: bool = False):
        self.config = config
        self.once = once
        self.stopping = threading.Event()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        # how late a complete series may be noticed
        self.tick = max(0.05, min(0.5, config.stable_seconds / 10))
        self.states: dict[str, str] = {}  # journal state of every series the tracker has met
        self.tried: set[str] = set()  # series whose forward was tried in this run (--once)
        self.failures = 0  # series that failed (or were held) in this run
        self.preloading: threading.Thread | None = None

    def stop(self) -> None:
        """Ask the loop to finish the current step and exit (safe to call from a signal handler)."""
        self.stopping.set()

    # --- the loop -------------------------------------------------------------------------------
    def run(self) -> int:
        """Watch until stopped (or, with ``once``, until everything found is handled).

        Returns 0, or 1 when (``once``) a series failed or a forward is still pending.
        """
        cfg = self.config
        os.umask(0o027)  # whatever else writes here (SQLite, pydicom): nothing for others
        make_dirs(cfg.inbox)
        make_dirs(cfg.state)
        lock = self._lock()
        self.journal = Journal(cfg.state / JOURNAL_NAME)
        for made in cfg.state.glob(JOURNAL_NAME + "*"):  # a journal made by an earlier release: 0644
            os.chmod(made, FILE_MODE)
        pruned = self.journal.prune(cfg.retention_days * 86400)
        if pruned:
            log.info("pruned %d journal events older than %g days", pruned, cfg.retention_days)
        staging = staging_folder(cfg.state, cfg.out, cfg.staging)
        leftovers = empty_folder(staging)
        if leftovers:
            log.info("removed %d unfinished results of an earlier run from %s", leftovers, staging)
        self.tracker = Tracker(cfg.inbox)
        self.inputs = Inputs(cfg, self.journal, self.tracker)
        self.steps = Steps(cfg, self.journal, staging, self.inputs)
        handlers = logging.getLogger().handlers
        for handler in handlers:
            handler.addFilter(self.inputs.scrubber)
        if self.journal.in_state(STABLE, REPAIRING):
            self._preload()
        observer = None if self.once else self._observe()
        log.info("watching %s (%s, stable after %g s) -> %s%s", cfg.inbox,
                 "once" if self.once else ("polling" if cfg.polling else "inotify"), cfg.stable_seconds,
                 cfg.out, f", forwarding to {cfg.forward}" if cfg.forward else "")
        try:
            self._loop()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=10)
            self.journal.heartbeat(running=False)
            self.unsent = len(self.journal.in_state(WRITTEN)) if cfg.forward is not None else 0
            self.journal.close()
            os.close(lock)
            log.info("stopped cleanly")
            for handler in handlers:
                handler.removeFilter(self.inputs.scrubber)
        return 1 if self.once and (self.failures or self.unsent) else 0

    def _lock(self) -> int:
        fd = os.open(self.config.state / "watch.lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(self.config.state,
                              "another medinpaint watch is using this state folder") from None
        return fd

    def _observe(self):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        events = self.events

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type in ("opened", "closed_no_write") or (
                        event.is_directory and event.event_type == "modified"):
                    return  # a file's own events say more than its folder's
                events.put((event.src_path, event.is_directory))
                if getattr(event, "dest_path", ""):
                    events.put((event.dest_path, event.is_directory))

        observer = PollingObserver(timeout=self.config.poll_seconds) if self.config.polling else Observer()
        observer.schedule(Handler(), str(self.config.inbox), recursive=True)
        observer.start()
        return observer

    def _loop(self) -> None:
        self._heartbeat()  # alive, before a first look that may read many thousands of headers
        self.tracker.rescan()
        last_rescan = last_beat = last_prune = time.monotonic()
        # --once has no events: it looks again often enough to see a series that is still arriving
        rescan_every = max(self.tick, min(self.config.stable_seconds / 4, 2.0)) if self.once else \
            self.config.rescan_seconds
        while not self.stopping.is_set():
            self._drain_events()
            now = time.monotonic()
            if now - last_rescan >= rescan_every:
                self.tracker.rescan()
                last_rescan = now
            self._meet_series()
            self._quarantine_broken()
            self._take_complete()
            busy = self._work()
            if now - last_beat >= HEARTBEAT_SECONDS:
                self._heartbeat()
                last_beat = now
            if now - last_prune >= PRUNE_SECONDS:
                self.journal.prune(self.config.retention_days * 86400)
                last_prune = now
            if self.once and not busy and self._all_handled():
                break
            if not busy:
                self.stopping.wait(self.tick)

    def _preload(self) -> None:
        """Import the repair engine (PyTorch, MONAI: seconds) in the background as soon as a series
        arrives, so that it is ready when the series is complete; runs with nothing to repair stay fast."""
        if self.preloading is None:
            self.preloading = threading.Thread(target=_import_repair, name="preload-repair", daemon=True)
            self.preloading.start()

    def _drain_events(self) -> None:
        folders, paths = set(), set()
        while True:
            try:
                path, is_dir = self.events.get_nowait()
            except queue.Empty:
                break
            (folders if is_dir else paths).add(Path(os.fsdecode(path)))
        for folder in folders:
            self.tracker.rescan(folder)
        for path in paths:
            self.tracker.observe(path)

    # --- deciding -------------------------------------------------------------------------------
    def _meet_series(self) -> None:
        """Journal new series; look at files that arrive (or change) for a series already taken."""
        for uid in sorted(self.tracker.take_dirty()):
            entry = self.tracker.series.get(uid)
            if entry is None:
                continue
            if uid not in self.states:
                self.journal.seen(uid, short_hash(uid), entry.kind)
                self.states[uid] = self.journal.get(uid)["state"]
                if self.states[uid] == SEEN and entry.kind == IMAGE:
                    self._preload()
            if self.states[uid] == SEEN:
                continue
            row = self.journal.get(uid)
            resent = 0
            for path in sorted(entry.files):
                seen = self.tracker.files.get(path)
                if seen is not None and not seen.noted:
                    resent += self._arrived_after(row, path, seen)
            if resent:
                self.journal.event(row["tag"], "resent", f"{resent} instances, identical to those taken")
                log.info("series %s: %d instances arrived after the series was taken, identical to those "
                         "taken: nothing to do", row["tag"], resent)
            self._settle(uid)

    def _arrived_after(self, row, path: Path, seen: Seen) -> int:
        """A file of a series already taken: an input kept in IN, an identical copy (1 is returned), or
        an instance that is new or changed, kept for the late policy."""
        identity = self.inputs.identity(path)
        if identity is None:
            return 0  # still changing: looked at again when it settles
        seen.noted = True
        sop, digest, size = identity
        known = self.journal.instance(row["uid"], sop)
        if known is not None and known.digest == digest:
            return int(seen.signature[2] / 1e9 > (row["taken"] or 0))  # an input kept in IN counts no
        what = "late-instance" if known is None else "changed-instance"
        self.journal.late(row["uid"], sop, digest, size, what)
        log.warning("series %s: instance %s %s after the series was taken; it will be %s", row["tag"], sop,
                    "arrived" if known is None else "changed",
                    "held for a person" if self.config.late == "hold" else "built again as a new version")
        return 0

    def _late_policy(self) -> bool:
        """Series at rest with late instances: built again (as a new version when one was published), or
        held for a person. True when one was taken up again."""
        for row in self.journal.with_late():
            uid, state = row["uid"], row["state"]
            if state in (SEEN, STABLE, REPAIRING) or (state == WRITTEN and self.config.forward is not None):
                continue  # being built, or its forward is pending: it goes on first
            published = (self.config.out / out_name(row["tag"], row["version"])).exists()
            policy_hold = state == HELD and (row["error"] or "").startswith(HOLD_LATE)
            if self.config.late == "hold" and (published or policy_hold):
                why = f"{HOLD_LATE} ({row['late']}); held for a person (--retry-failed builds a new version)"
                if state != HELD or row["error"] != why:
                    self.journal.set_state(uid, HELD, why, error=why)
                    log.warning("series %s held: %s", row["tag"], why)
                    self.states[uid] = HELD
                    self.failures += 1
                continue
            self.journal.reopen(uid, f"{row['late']} instances arrived or changed", new_version=published)
            self.tracker.unsettle(uid)
            self.states[uid] = SEEN
            log.info("series %s: taken up again with %d new or changed instances", row["tag"], row["late"])
            return True
        return False

    def _settle(self, uid: str) -> None:
        """A series at rest leaves the tracker's picture (only its files' sizes and times stay)."""
        row = self.journal.get(uid)
        state = row["state"]
        at_rest = state in (FORWARDED, SKIPPED, FAILED, HELD) or (
            state == WRITTEN and self.config.forward is None)
        filed = self.config.done is None or row["inputs"] != "kept" or state in (FAILED, HELD)
        if at_rest and filed and not row["late"]:
            self.tracker.settle(uid)

    def _quarantine_broken(self) -> None:
        for path, reason in self.tracker.broken(self.config.stable_seconds):
            try:
                self.inputs.quarantine(path, reason)
            except Exception as exc:  # noqa: BLE001 - one file must not stop the service
                name, why = self.inputs.name(path), self.inputs.problem(exc)
                log.error("cannot quarantine %s: %s", name, why)
                self.journal.event(None, "quarantine-failed", f"{name}: {why}")
                self.tracker.handled(path)  # not again in this run: no copy loop

    def _take_complete(self) -> None:
        for entry in self.tracker.complete(self.config.stable_seconds, self._open()):
            identities = {}
            for path in sorted(entry.files, key=lambda p: self.tracker.files[p].changed_at):
                identity = self.inputs.identity(path)
                if identity is None:
                    break  # changed while it was read: the series waits again
                identities[identity[0]] = identity  # two files of one instance: the newer counts
            else:
                for path in entry.files:
                    self.tracker.files[path].noted = True
                self.journal.mark_stable(entry.uid, identities.values(), entry.kind)
                self.states[entry.uid] = STABLE
                log.info("series %s: complete with %d files", short_hash(entry.uid), len(entry.files))

    def _open(self) -> set[str]:
        """Series in IN still collecting files (journal state "seen")."""
        return {uid for uid in self.tracker.series if self.states.get(uid) == SEEN}

    def _work(self) -> bool:
        """Run one step of one series, if any is due; True when a step ran."""
        if self._late_policy():
            return True
        for row in self.journal.in_state(STABLE, REPAIRING):
            self._step("build", row, self.steps.build)
            return True
        if self.config.forward is not None:
            now = time.time()
            for row in self.journal.in_state(WRITTEN):
                # --once tries each series once per run; the service waits for the next try
                due = row["uid"] not in self.tried if self.once else (row["next_forward"] or 0) <= now
                if due:
                    self.tried.add(row["uid"])
                    self._step("forward", row, self.steps.forward)
                    return True
        if self.config.done is not None:
            final = (FORWARDED, SKIPPED) if self.config.forward is not None else (WRITTEN, SKIPPED)
            for row in self.journal.inputs_kept(*final):
                self._step("file", row, self.steps.file_inputs)
                return True
        return False

    def _step(self, name: str, row, step) -> None:
        """One step of one series; whatever it raises is journaled against the series, never let out."""
        uid, tag = row["uid"], row["tag"]
        try:
            state = step(row)
        except Exception as exc:  # noqa: BLE001 - no single input may stop the service
            why = f"{name} step: {self.inputs.problem(exc)}"
            log.error("series %s: %s", tag, why)
            log.debug("series %s: %s step failed", tag, name, exc_info=True)
            if name == "build":
                self.journal.set_state(uid, FAILED, why, error=why)
                state = FAILED
            elif name == "forward":
                state = self.steps.forward_failed(row, why)
            else:
                self.journal.update(uid, inputs="failed", error=why)
                self.journal.event(tag, "error", why)
                state = row["state"]
        if state is not None:
            self.states[uid] = state
            self.failures += state in (FAILED, HELD)
        self._settle(uid)

    def _all_handled(self) -> bool:
        """(--once) nothing left that this run can still do."""
        if self._open() or self.journal.in_state(STABLE, REPAIRING):
            return False
        files = self.tracker.files
        if any(files[p].problem and not files[p].handled for p in self.tracker.unsettled):
            return False  # unreadable files wait for stable_seconds, then go to quarantine
        if self.config.forward is not None:
            return all(r["uid"] in self.tried for r in self.journal.in_state(WRITTEN))
        return True

    def _heartbeat(self) -> None:
        self.journal.heartbeat(running=True, pid=os.getpid(), watching=str(self.config.inbox),
                               mode="once" if self.once
                               else ("polling" if self.config.polling else "inotify"))


def retry_failed(journal: Journal) -> int:
    """Put every failed and held series back in the queue; how many.

    A failed series is built again (its attempts counted afresh); a series held for instances that came
    after it was written is built again as a new version with them; a series held for an unreadable
    instance is built as it is, its missing slices re-created.
    """
    rows = journal.in_state(FAILED, HELD)
    for row in rows:
        if row["state"] == HELD and row["late"]:
            journal.reopen(row["uid"], "retry requested", new_version=True)
        else:
            journal.set_state(row["uid"], STABLE, "retry requested", error=None, attempts=0,
                              release=int(row["state"] == HELD))
    return len(rows)
