"""The watcher's memory: one SQLite file that says how far each series has got.

Every step of a series is committed here before the next one starts, with SQLite's write-ahead log and
``synchronous=FULL``, so a SIGKILL or a power cut leaves the journal at the last finished step, and the
restarted watcher redoes only the step that was cut short. The steps are idempotent (deterministic UIDs,
a fixed output name per series and version, renames), so a redone step gives the same result as the first.

A series moves through::

    seen -> stable -> repairing -> written [-> forwarded]
                                -> skipped            (nothing to write, by configuration)
                                -> failed             (its reason is kept; --retry-failed retries)
                                -> held               (waits for a person, or for a missing instance)

and back to ``seen`` as a new version when instances arrive or change after it was taken (``late =
"redo"``). Instances are known by content, never by path: the short hash of their SOPInstanceUID, their
size and the sha256 of their bytes. Series are keyed by SeriesInstanceUID (a UID, not patient data) and
named everywhere else by ``tag``, a short hash of it; the journal holds no path, file name or patient data.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

SEEN, STABLE, REPAIRING, WRITTEN, FORWARDED, SKIPPED, FAILED, HELD = (
    "seen", "stable", "repairing", "written", "forwarded", "skipped", "failed", "held")
STATES = (SEEN, STABLE, REPAIRING, WRITTEN, FORWARDED, SKIPPED, FAILED, HELD)
MEMBER, LATE, QUARANTINED = "member", "late", "quarantined"

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    uid TEXT PRIMARY KEY,          -- SeriesInstanceUID of the input series
    tag TEXT NOT NULL UNIQUE,      -- short hash of uid: names the series in logs and in OUT
    kind TEXT NOT NULL,            -- image | non-image
    state TEXT NOT NULL,
    files INTEGER DEFAULT 0,       -- instances taken when the series became stable
    result TEXT,                   -- repaired | undamaged | passed | skipped
    damaged_voxels INTEGER,
    report TEXT,                   -- the repair report (JSON)
    error TEXT,                    -- why it failed or is held, or why the last forward failed
    forward_attempts INTEGER DEFAULT 0,
    next_forward REAL,             -- unix time of the next forward attempt
    inputs TEXT DEFAULT 'kept',    -- kept | moved | copied (to the done folder; IN read-only)
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS series_by_state ON series (state);
CREATE TABLE IF NOT EXISTS instances (
    uid TEXT NOT NULL,             -- its series
    sop TEXT NOT NULL,             -- short hash of its SOPInstanceUID
    digest TEXT NOT NULL,          -- sha256 of the file's bytes
    size INTEGER NOT NULL,
    status TEXT NOT NULL,          -- member | late (arrived or changed after the series was taken)
                                   -- | quarantined (could not be read)
    version INTEGER NOT NULL,      -- the series version it belongs to
    PRIMARY KEY (uid, sop)
);
CREATE TABLE IF NOT EXISTS handled (
    digest TEXT PRIMARY KEY,       -- sha256 of a file left in IN after it was dealt with (IN read-only)
    what TEXT NOT NULL,            -- quarantined | filed
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS beside (
    folder TEXT PRIMARY KEY,       -- short hash of a folder under IN from which a file of no known series
    at REAL NOT NULL               -- (unreadable from its first byte) was quarantined, and when
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    tag TEXT,
    event TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);
CREATE TABLE IF NOT EXISTS service (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""
# columns added since the first release: added to an older journal when it is opened
ADDED_COLUMNS = {
    "version": "INTEGER DEFAULT 1",   # the series version being (or last) built
    "attempts": "INTEGER DEFAULT 0",  # builds of this version started (a crash counts)
    "sent": "INTEGER DEFAULT 0",      # instances of this version the PACS has acknowledged
    "recreated": "TEXT",              # JSON list of slices re-created for true gaps
    "late": "INTEGER DEFAULT 0",      # instances waiting to be handled by the late policy
    "release": "INTEGER DEFAULT 0",   # a person asked to build a held series as it is
    "taken": "REAL",                  # unix time the current version was taken (became stable)
}


class Instance(NamedTuple):
    """One instance as the journal knows it."""

    sop: str
    digest: str
    size: int
    status: str
    version: int


class Journal:
    """The SQLite journal in the state folder (``journal.sqlite``).

    Args:
        path: the database file; created with its tables when missing.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()
        self.db.executescript(SCHEMA)
        have = {r["name"] for r in self.db.execute("PRAGMA table_info(series)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in have:
                self.db.execute(f"ALTER TABLE series ADD COLUMN {name} {kind}")
        self.db.execute("CREATE INDEX IF NOT EXISTS series_with_late ON series (late)")

    def _migrate(self) -> None:
        """A journal of the first release kept input paths (patient data): drop them; series that were
        taken but not built yet go back to ``seen`` and are taken again from what is in IN."""
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "files" in tables:
            with self._transaction():
                self.db.execute("DROP TABLE files")
                self.db.execute("UPDATE series SET state = 'seen' WHERE state IN ('stable', 'repairing')")
                self.db.execute("DELETE FROM events WHERE event IN ('late-file', 'quarantined')")

    def close(self) -> None:
        self.db.close()

    # --- series ---------------------------------------------------------------------------------
    def get(self, uid: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM series WHERE uid = ?", (uid,)).fetchone()

    def by_tag(self, tag: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM series WHERE tag = ?", (tag,)).fetchone()

    def seen(self, uid: str, tag: str, kind: str) -> bool:
        """Record a new series; False when the journal knew it already."""
        now = time.time()
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO series (uid, tag, kind, state, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (uid, tag, kind, SEEN, now, now))
        if cursor.rowcount:
            self.event(tag, SEEN, kind)
        return bool(cursor.rowcount)

    def mark_stable(self, uid: str, instances: Iterable[tuple[str, str, int]],
                    kind: str | None = None) -> int:
        """The series is complete: freeze which instances (sop hash, sha256, size) make it up, in the same
        transaction as the state (and, if given, its final kind: one image makes an image series).

        Instances of an earlier version that are not among ``instances`` stay members (their files
        may have gone to the done folder); one with the same SOP instance and new bytes replaces the
        old. Returns the number of members.
        """
        instances = list(instances)
        with self._transaction():
            row = self.get(uid)
            version = int(row["version"] or 1)
            self.db.executemany(
                "INSERT OR REPLACE INTO instances (uid, sop, digest, size, status, version) "
                "VALUES (?, ?, ?, ?, 'member', ?)", [(uid, s, d, n, version) for s, d, n in instances])
            self.db.execute("UPDATE instances SET status = 'member' WHERE uid = ? AND status = 'late'",
                            (uid,))
            (count,) = self.db.execute("SELECT COUNT(*) FROM instances WHERE uid = ? AND status = 'member'",
                                       (uid,)).fetchone()
            self._set(uid, STABLE, files=count, late=0, attempts=0, taken=time.time(),
                      **({"kind": kind} if kind else {}))
            self.event(row["tag"], STABLE,
                       f"{count} instances" + (f", version {version}" if version > 1 else ""))
        return count

    def set_state(self, uid: str, state: str, detail: str | None = None, **columns: Any) -> None:
        """Move a series to ``state`` (and set other columns), logging an event."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        with self._transaction():
            self._set(uid, state, **columns)
            self.event(self.get(uid)["tag"], state, detail)

    def update(self, uid: str, **columns: Any) -> None:
        """Set columns without changing the state."""
        with self._transaction():
            self._set(uid, None, **columns)

    def start_attempt(self, uid: str) -> int:
        """Count one more build of the series' current version, committed before any work starts (so
        a build that kills the process still counts); the series is ``repairing``. Returns the count."""
        with self._transaction():
            row = self.get(uid)
            attempts = int(row["attempts"] or 0) + 1
            self._set(uid, REPAIRING, attempts=attempts)
            self.event(row["tag"], REPAIRING, f"attempt {attempts}")
        return attempts

    def reopen(self, uid: str, why: str, new_version: bool) -> int:
        """Take a series up again (instances arrived or changed after it was taken): back to ``seen``,
        as a new version when the old one was published. Returns the version."""
        with self._transaction():
            row = self.get(uid)
            version = int(row["version"] or 1) + (1 if new_version else 0)
            self._set(uid, SEEN, version=version, attempts=0, sent=0, forward_attempts=0, next_forward=None,
                      error=None, result=None, damaged_voxels=None, report=None, recreated=None,
                      inputs="kept", release=0)
            self.event(row["tag"], "reopened", f"{why}; version {version}")
        return version

    def _set(self, uid: str, state: str | None, **columns: Any) -> None:
        if state is not None:
            columns["state"] = state
        for name in ("report", "recreated"):
            if name in columns and not isinstance(columns[name], str | None):
                columns[name] = json.dumps(columns[name], sort_keys=True, default=str)
        columns["updated"] = time.time()
        names = ", ".join(f"{name} = ?" for name in columns)
        self.db.execute(f"UPDATE series SET {names} WHERE uid = ?", (*columns.values(), uid))

    def in_state(self, *states: str) -> list[sqlite3.Row]:
        marks = ", ".join("?" for _ in states)
        return self.db.execute(f"SELECT * FROM series WHERE state IN ({marks}) ORDER BY updated, uid",
                               states).fetchall()

    def inputs_kept(self, *states: str) -> list[sqlite3.Row]:
        """Series in ``states`` whose inputs have not been moved to the done folder yet."""
        marks = ", ".join("?" for _ in states)
        return self.db.execute(f"SELECT * FROM series WHERE state IN ({marks}) AND inputs = 'kept' "
                               "ORDER BY updated, uid", states).fetchall()

    def with_late(self) -> list[sqlite3.Row]:
        """Series that have instances waiting for the late policy."""
        return self.db.execute("SELECT * FROM series WHERE late > 0 ORDER BY updated, uid").fetchall()

    # --- instances ------------------------------------------------------------------------------
    def instances(self, uid: str, *statuses: str) -> list[Instance]:
        statuses = statuses or (MEMBER,)
        marks = ", ".join("?" for _ in statuses)
        rows = self.db.execute(f"SELECT sop, digest, size, status, version FROM instances WHERE uid = ? AND "
                               f"status IN ({marks}) ORDER BY sop", (uid, *statuses))
        return [Instance(*r) for r in rows]

    def instance(self, uid: str, sop: str) -> Instance | None:
        row = self.db.execute("SELECT sop, digest, size, status, version FROM instances WHERE uid = ? AND "
                              "sop = ?", (uid, sop)).fetchone()
        return None if row is None else Instance(*row)

    def late(self, uid: str, sop: str, digest: str, size: int, what: str) -> None:
        """An instance arrived (or changed) after the series was taken: keep it for the late policy."""
        with self._transaction():
            row = self.get(uid)
            self.db.execute("INSERT OR REPLACE INTO instances (uid, sop, digest, size, status, version) "
                            "VALUES (?, ?, ?, ?, 'late', ?)",
                            (uid, sop, digest, size, int(row["version"] or 1)))
            (count,) = self.db.execute("SELECT COUNT(*) FROM instances WHERE uid = ? AND status = 'late'",
                                       (uid,)).fetchone()
            self._set(uid, None, late=count)
            self.event(row["tag"], what, f"instance {sop}")

    def instance_status(self, uid: str, sop: str, status: str) -> None:
        self.db.execute("UPDATE instances SET status = ? WHERE uid = ? AND sop = ?", (status, uid, sop))

    # --- files dealt with while IN is read-only ---------------------------------------------------
    def handled(self, digest: str) -> str | None:
        row = self.db.execute("SELECT what FROM handled WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else row["what"]

    def remember(self, digest: str, what: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO handled (digest, what, at) VALUES (?, ?, ?)",
                        (digest, what, time.time()))

    def quarantined_beside(self, folder: str) -> None:
        """A file of no known series was quarantined from ``folder`` (a hash): it may have been one."""
        self.db.execute("INSERT OR REPLACE INTO beside (folder, at) VALUES (?, ?)", (folder, time.time()))

    def beside_since(self, folders: Iterable[str], since: float) -> int:
        """How many of ``folders`` had such a file quarantined at or after ``since``."""
        folders = list(folders)
        marks = ", ".join("?" for _ in folders)
        (count,) = self.db.execute(f"SELECT COUNT(*) FROM beside WHERE folder IN ({marks}) AND at >= ?",
                                   (*folders, since)).fetchone()
        return count

    # --- events and health ----------------------------------------------------------------------
    def event(self, tag: str | None, event: str, detail: str | None = None) -> None:
        self.db.execute("INSERT INTO events (at, tag, event, detail) VALUES (?, ?, ?, ?)",
                        (time.time(), tag, event, detail))

    def prune(self, retention_seconds: float) -> int:
        """Forget events older than the retention period; how many went."""
        cursor = self.db.execute("DELETE FROM events WHERE at < ?", (time.time() - retention_seconds,))
        return cursor.rowcount

    def heartbeat(self, **values: Any) -> None:
        """The running service says it is alive (``medinpaint watch --status`` shows how long ago)."""
        values["heartbeat"] = time.time()
        self.db.executemany("INSERT OR REPLACE INTO service (key, value) VALUES (?, ?)",
                            [(k, json.dumps(v)) for k, v in values.items()])

    def summary(self, last_events: int = 20) -> dict[str, Any]:
        """Counts per state, the series that need attention, the latest events and the last heartbeat.

        Attention: failed and held series, forwards that failed, inputs that could not be filed, and
        series with instances that arrived or changed after they were taken.
        """
        counts = {row["state"]: row["n"] for row in
                  self.db.execute("SELECT state, COUNT(*) AS n FROM series GROUP BY state")}
        service = {row["key"]: json.loads(row["value"]) for row in self.db.execute("SELECT * FROM service")}
        beat = service.pop("heartbeat", None)
        attention = []
        for r in self.db.execute(
                "SELECT * FROM series WHERE state IN ('failed', 'held') OR (state = 'written' AND "
                "forward_attempts > 0) OR late > 0 OR inputs = 'failed' ORDER BY updated"):
            item = {"series": r["tag"], "state": r["state"], "error": r["error"],
                    "forward_attempts": r["forward_attempts"]}
            if r["late"]:
                item["late_instances"] = r["late"]
            if (r["version"] or 1) > 1:
                item["version"] = r["version"]
            attention.append(item)
        events = [
            {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["at"])), "series": r["tag"],
             "event": r["event"], "detail": r["detail"]}
            for r in self.db.execute("SELECT * FROM events ORDER BY id DESC LIMIT ?", (last_events,))
        ]
        return {
            "journal": str(self.path),
            "series": counts,
            "heartbeat_age_s": None if beat is None else round(time.time() - beat, 1),
            "service": service,
            "attention": attention,
            "events": events[::-1],
        }

    def _transaction(self):
        return _Transaction(self.db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): a step is recorded whole or not at all."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")
