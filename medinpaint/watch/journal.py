"""The watcher's memory: one SQLite file that says how far each series has got.

Every step of a series is committed here before the next one starts, with SQLite's write-ahead log and
``synchronous=FULL``, so a SIGKILL or a power cut leaves the journal at the last finished step, and the
restarted watcher redoes only the step that was cut short. The steps are idempotent (deterministic UIDs,
a fixed output name per series, renames), so a redone step gives the same result as the first try.

A series moves through::

    seen -> stable -> repairing -> written [-> forwarded]
                                -> skipped            (nothing to write, by configuration)
                                -> failed             (its reason is kept; --retry-failed retries)

Series are keyed by SeriesInstanceUID (a UID, not patient data) and named everywhere else by ``tag``, a
short hash of it; the journal holds no patient data.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SEEN, STABLE, REPAIRING, WRITTEN, FORWARDED, SKIPPED, FAILED = (
    "seen", "stable", "repairing", "written", "forwarded", "skipped", "failed")
STATES = (SEEN, STABLE, REPAIRING, WRITTEN, FORWARDED, SKIPPED, FAILED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    uid TEXT PRIMARY KEY,          -- SeriesInstanceUID of the input series
    tag TEXT NOT NULL UNIQUE,      -- short hash of uid: names the series in logs and in OUT
    kind TEXT NOT NULL,            -- image | non-image
    state TEXT NOT NULL,
    files INTEGER DEFAULT 0,       -- input files taken when the series became stable
    result TEXT,                   -- repaired | undamaged | passed | skipped
    damaged_voxels INTEGER,
    report TEXT,                   -- the repair report (JSON)
    error TEXT,                    -- why it failed, or why the last forward failed
    forward_attempts INTEGER DEFAULT 0,
    next_forward REAL,             -- unix time of the next forward attempt
    inputs TEXT DEFAULT 'kept',    -- kept | moved (to the done folder)
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS series_by_state ON series (state);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,         -- input file, as found under IN
    uid TEXT NOT NULL,             -- its series
    status TEXT NOT NULL           -- member | quarantined | late
);
CREATE INDEX IF NOT EXISTS files_by_series ON files (uid);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    tag TEXT,
    event TEXT NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS service (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""


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
        self.db.executescript(SCHEMA)

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

    def mark_stable(self, uid: str, files: Iterable[Path], kind: str | None = None) -> None:
        """The series is complete: remember exactly which files make it up (and, if given, its final
        kind: one image among its files makes it an image series), in the same transaction."""
        files = [str(f) for f in files]
        with self._transaction():
            self.db.execute("DELETE FROM files WHERE uid = ? AND status = 'member'", (uid,))
            self.db.executemany("INSERT OR REPLACE INTO files (path, uid, status) VALUES (?, ?, 'member')",
                                [(f, uid) for f in files])
            self._set(uid, STABLE, files=len(files), **({"kind": kind} if kind else {}))
            self.event(self.get(uid)["tag"], STABLE, f"{len(files)} files")

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

    def _set(self, uid: str, state: str | None, **columns: Any) -> None:
        if state is not None:
            columns["state"] = state
        if "report" in columns and not isinstance(columns["report"], str | None):
            columns["report"] = json.dumps(columns["report"], sort_keys=True, default=str)
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

    # --- files ----------------------------------------------------------------------------------
    def members(self, uid: str) -> list[Path]:
        rows = self.db.execute("SELECT path FROM files WHERE uid = ? AND status = 'member' ORDER BY path",
                               (uid,))
        return [Path(r["path"]) for r in rows]

    def file_status(self, path: Path, uid: str, status: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO files (path, uid, status) VALUES (?, ?, ?)",
                        (str(path), uid, status))

    def known_file(self, path: Path) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM files WHERE path = ?", (str(path),)).fetchone()

    # --- events and health ----------------------------------------------------------------------
    def event(self, tag: str | None, event: str, detail: str | None = None) -> None:
        self.db.execute("INSERT INTO events (at, tag, event, detail) VALUES (?, ?, ?, ?)",
                        (time.time(), tag, event, detail))

    def heartbeat(self, **values: Any) -> None:
        """The running service says it is alive (``medinpaint watch --status`` shows how long ago)."""
        values["heartbeat"] = time.time()
        self.db.executemany("INSERT OR REPLACE INTO service (key, value) VALUES (?, ?)",
                            [(k, json.dumps(v)) for k, v in values.items()])

    def summary(self, last_events: int = 20) -> dict[str, Any]:
        """Counts per state, the series that need attention, the latest events and the last heartbeat."""
        counts = {row["state"]: row["n"] for row in
                  self.db.execute("SELECT state, COUNT(*) AS n FROM series GROUP BY state")}
        service = {row["key"]: json.loads(row["value"]) for row in self.db.execute("SELECT * FROM service")}
        beat = service.pop("heartbeat", None)
        attention = [
            {"series": r["tag"], "state": r["state"], "error": r["error"],
             "forward_attempts": r["forward_attempts"]}
            for r in self.db.execute(
                "SELECT * FROM series WHERE state = 'failed' OR (state = 'written' AND forward_attempts > 0) "
                "ORDER BY updated")
        ]
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
