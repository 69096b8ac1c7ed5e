"""The result manifest: one SQLite file that says, for every series of a batch job, how far it got.

Only the job's driver writes it, one transaction per change, with SQLite's write-ahead log and
``synchronous=FULL``: a driver killed at any point leaves every finished series recorded, and ``--resume``
does the rest. A series moves through::

    pending -> running -> done     (result: repaired | clean | copied | skipped)
                       -> failed   (reason and the stage it failed in are kept)

``running`` rows of a killed job go back to ``pending`` on resume; their outputs, if an earlier attempt
published them, are found in OUT and not written again (see :mod:`medinpaint.batch.work`). The manifest
keeps the input paths, so that a resumed job needs no new walk of the tree; it is the only place that
links a series' key to its inputs, and nothing in it is ever logged. It holds no tag values.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medinpaint.batch.sources import Item

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
STATES = (PENDING, RUNNING, DONE, FAILED)
MANIFEST_NAME = "batch.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    key TEXT PRIMARY KEY,          -- opaque: a hash of the SeriesInstanceUID or of the input path
    kind TEXT NOT NULL,            -- dicom | nifti | itk | unknown | non-image
    inputs TEXT NOT NULL,          -- JSON list of input paths: never logged, never in the report
    files INTEGER NOT NULL,
    state TEXT NOT NULL,           -- pending | running | done | failed
    result TEXT,                   -- repaired | clean | copied | skipped
    stage TEXT,                    -- the last stage reached: screen | repair | write
    reason TEXT,                   -- why it failed, or why it was skipped
    kinds TEXT,                    -- JSON: damage kind -> damaged voxels
    damaged_voxels INTEGER,
    shape TEXT,                    -- JSON list
    output TEXT,                   -- the result's folder, relative to OUT
    attempts INTEGER NOT NULL DEFAULT 0,
    run INTEGER,                   -- the run that finished it
    node TEXT,                     -- the Ray node that repaired or screened it
    timings TEXT,                  -- JSON: seconds per stage
    seconds REAL,                  -- from the first submission of this run to the result
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS series_by_state ON series (state);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    address TEXT,                  -- 'local' or the cluster's address
    workers INTEGER,
    resumed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""

COLUMNS = ("result", "stage", "reason", "kinds", "damaged_voxels", "shape", "output", "node", "timings",
           "seconds")


class Manifest:
    """The SQLite result manifest of one job (``OUT/batch.sqlite`` unless given).

    Args:
        path: the database file; created with its tables when missing.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- job-level facts --------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["value"]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def start_run(self, address: str, workers: int, resumed: bool) -> int:
        cursor = self.db.execute("INSERT INTO runs (started, address, workers, resumed) VALUES (?, ?, ?, ?)",
                                 (time.time(), address, workers, int(resumed)))
        return int(cursor.lastrowid)

    def finish_run(self, run: int) -> None:
        self.db.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run))

    def runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY id")]

    # --- series -----------------------------------------------------------------------------------
    def add(self, items: Iterable[Item], run: int) -> int:
        """Record newly discovered items: usable ones ``pending``; non-images ``done``/skipped and
        unreadable inputs ``failed``, each with its reason. Keys already present are left as they are."""
        now = time.time()
        rows = []
        for item in items:
            if item.kind == "non-image":
                state, result, stage = DONE, "skipped", "screen"
            elif item.reason is not None:
                state, result, stage = FAILED, None, "discover"
            else:
                state, result, stage = PENDING, None, None
            rows.append((item.key, item.kind, json.dumps(item.inputs), len(item.inputs), state, result, stage,
                         item.reason, None if state == PENDING else run, now))
        with self.db:
            before = self.db.total_changes
            self.db.executemany(
                "INSERT OR IGNORE INTO series (key, kind, inputs, files, state, result, stage, reason, run, "
                "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return self.db.total_changes - before

    def to_do(self, retry_failed: bool = False) -> list[sqlite3.Row]:
        """The series a (resumed) run still has to do; ``running`` ones of a killed run go back to
        ``pending`` first, and with ``retry_failed`` the failed ones that can be read again."""
        with self.db:
            self.db.execute("UPDATE series SET state = ?, updated = ? WHERE state = ?",
                            (PENDING, time.time(), RUNNING))
            if retry_failed:
                self.db.execute("UPDATE series SET state = ?, reason = NULL, stage = NULL, updated = ? "
                                "WHERE state = ? AND kind NOT IN ('unknown', 'non-image')",
                                (PENDING, time.time(), FAILED))
        # keys and kinds only: the inputs (hundreds of paths a series) are read as each series starts
        return list(self.db.execute("SELECT key, kind FROM series WHERE state = ? ORDER BY key", (PENDING,)))

    def inputs(self, key: str) -> list[str]:
        return json.loads(self.db.execute("SELECT inputs FROM series WHERE key = ?", (key,)).fetchone()[0])

    def running(self, key: str, stage: str) -> None:
        """The series was handed to a worker for ``stage``; the first stage counts an attempt."""
        attempt = 1 if stage == "screen" else 0
        self.db.execute("UPDATE series SET state = ?, stage = ?, attempts = attempts + ?, updated = ? "
                        "WHERE key = ?", (RUNNING, stage, attempt, time.time(), key))

    def finish(self, key: str, state: str, run: int, **columns: Any) -> None:
        """Record the final ``state`` (done or failed) of a series with any of :data:`COLUMNS`."""
        if state not in (DONE, FAILED):
            raise ValueError(f"a series finishes done or failed, not {state!r}")
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown manifest columns {sorted(unknown)}")
        values = {k: (json.dumps(v) if k in ("kinds", "shape", "timings") and v is not None else v)
                  for k, v in columns.items()}
        assignments = "".join(f", {k} = ?" for k in values)
        self.db.execute(f"UPDATE series SET state = ?, run = ?, updated = ?{assignments} WHERE key = ?",
                        (state, run, time.time(), *values.values(), key))

    def get(self, key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM series WHERE key = ?", (key,)).fetchone()

    def rows(self) -> list[dict[str, Any]]:
        """Every series as a dict, JSON columns decoded, ordered by key."""
        decoded = []
        for row in self.db.execute("SELECT * FROM series ORDER BY key"):
            d = dict(row)
            for name in ("inputs", "kinds", "shape", "timings"):
                d[name] = json.loads(d[name]) if d[name] else None
            decoded.append(d)
        return decoded

    def counts(self) -> dict[str, int]:
        return {r["state"]: r["n"] for r in self.db.execute(
            "SELECT state, COUNT(*) AS n FROM series GROUP BY state")}
