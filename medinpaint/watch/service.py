"""``medinpaint watch``: the loop that notices complete series, has them repaired, written and forwarded.

File system events (inotify through watchdog, or watchdog's polling observer for network shares) only
say where to look; what to do is decided from the tracker (which files form which series, and when each
last changed) and the journal (how far each series has got). One step of one series runs at a time, and
between steps the loop looks at new events, so a long repair never makes the watcher miss a change.

At start the staging folder is emptied (whatever a killed run left there) and the journal is read:
a series cut short in any state carries on from its last recorded step. A lock file in the state folder
keeps a second watcher off the same journal. SIGTERM (and SIGINT) let the current step finish, then the
loop exits with status 0.
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
from medinpaint.watch.files import empty_folder, short_hash, staging_folder
from medinpaint.watch.journal import FAILED, FORWARDED, REPAIRING, SEEN, SKIPPED, STABLE, WRITTEN, Journal
from medinpaint.watch.steps import Steps
from medinpaint.watch.tracker import IMAGE, Tracker

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
JOURNAL_NAME = "journal.sqlite"


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
        self.noted: set[Path] = set()  # files already reported as arriving too late
        self.tried: set[str] = set()  # series whose forward was tried in this run (--once)
        self.failures = 0  # series that failed in this run
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
        cfg.inbox.mkdir(parents=True, exist_ok=True)
        cfg.state.mkdir(parents=True, exist_ok=True)
        lock = self._lock()
        self.journal = Journal(cfg.state / JOURNAL_NAME)
        staging = staging_folder(cfg.state, cfg.out, cfg.staging)
        leftovers = empty_folder(staging)
        if leftovers:
            log.info("removed %d unfinished results of an earlier run from %s", leftovers, staging)
        self.steps = Steps(cfg, self.journal, staging)
        self.tracker = Tracker(cfg.inbox)
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
        return 1 if self.once and (self.failures or self.unsent) else 0

    def _lock(self) -> int:
        fd = os.open(self.config.state / "watch.lock", os.O_RDWR | os.O_CREAT, 0o644)
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
        self.tracker.rescan()
        last_rescan = last_beat = time.monotonic()
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
        """Journal new series; note files that arrive for a series already taken."""
        for uid, entry in self.tracker.series.items():
            if uid not in self.states:
                self.journal.seen(uid, short_hash(uid), entry.kind)
                self.states[uid] = self.journal.get(uid)["state"]
                if self.states[uid] == SEEN and entry.kind == IMAGE:
                    self._preload()
            if self.states[uid] == SEEN:
                continue
            for path in entry.files - self.noted:
                self.noted.add(path)
                known = self.journal.known_file(path)
                if known is None:
                    self.journal.file_status(path, uid, "late")
                    self.journal.event(short_hash(uid), "late-file", path.name)
                    log.warning("series %s: a file arrived after the series was taken (%s); left in place",
                                short_hash(uid), path.name)

    def _quarantine_broken(self) -> None:
        for path, reason in self.tracker.broken(self.config.stable_seconds):
            try:
                self.steps.quarantine(path, reason)
            except OSError as exc:
                log.error("cannot quarantine %s: %s", path.name, exc.strerror)
                continue
            self.tracker.forget(path)

    def _take_complete(self) -> None:
        for entry in self.tracker.complete(self.config.stable_seconds, self._open()):
            self.journal.mark_stable(entry.uid, sorted(entry.files), entry.kind)
            self.states[entry.uid] = STABLE
            self.noted.update(entry.files)
            log.info("series %s: complete with %d files", short_hash(entry.uid), len(entry.files))

    def _open(self) -> set[str]:
        """Series in IN still collecting files (journal state "seen")."""
        return {uid for uid in self.tracker.series if self.states.get(uid) == SEEN}

    def _work(self) -> bool:
        """Run one step of one series, if any is due; True when a step ran."""
        for row in self.journal.in_state(STABLE, REPAIRING):
            self.states[row["uid"]] = self.steps.build(row)
            self.failures += self.states[row["uid"]] == FAILED
            return True
        if self.config.forward is not None:
            now = time.time()
            for row in self.journal.in_state(WRITTEN):
                # --once tries each series once per run; the service waits for the next try
                due = row["uid"] not in self.tried if self.once else (row["next_forward"] or 0) <= now
                if due:
                    self.tried.add(row["uid"])
                    self.states[row["uid"]] = self.steps.forward(row)
                    self.failures += self.states[row["uid"]] == FAILED
                    return True
        if self.config.done is not None:
            final = (FORWARDED, SKIPPED) if self.config.forward is not None else (WRITTEN, SKIPPED)
            for row in self.journal.inputs_kept(*final):
                self.steps.file_inputs(row)
                return True
        return False

    def _all_handled(self) -> bool:
        """(--once) nothing left that this run can still do."""
        if self._open() or self.journal.in_state(STABLE, REPAIRING):
            return False
        if any(s.problem for s in self.tracker.files.values()):
            return False  # unreadable files wait for stable_seconds, then go to quarantine
        if self.config.forward is not None:
            return all(r["uid"] in self.tried for r in self.journal.in_state(WRITTEN))
        return True

    def _heartbeat(self) -> None:
        self.journal.heartbeat(running=True, pid=os.getpid(), watching=str(self.config.inbox),
                               mode="once" if self.once
                               else ("polling" if self.config.polling else "inotify"))


def retry_failed(journal: Journal) -> int:
    """Put every failed series back to ``stable``, to be built again; how many."""
    rows = journal.in_state(FAILED)
    for row in rows:
        journal.set_state(row["uid"], STABLE, "retry requested", error=None)
    return len(rows)
