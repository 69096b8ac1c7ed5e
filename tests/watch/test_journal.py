"""The journal: states per series, the frozen list of instances (by content: instance hash, sha256, size;
never a path), events and the health summary; it survives a process that is killed between two steps."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from medinpaint.watch.journal import FAILED, MEMBER, REPAIRING, SEEN, STABLE, WRITTEN, Instance, Journal


def test_a_series_through_its_states(tmp_path):
    journal = Journal(tmp_path / "state" / "journal.sqlite")
    assert journal.seen("1.2.3", "abc", "image")
    assert not journal.seen("1.2.3", "abc", "image")  # known already
    journal.mark_stable("1.2.3", [("bb", "d2", 20), ("aa", "d1", 10)])
    assert journal.get("1.2.3")["state"] == STABLE and journal.get("1.2.3")["files"] == 2
    assert journal.instances("1.2.3") == [Instance("aa", "d1", 10, MEMBER, 1),
                                          Instance("bb", "d2", 20, MEMBER, 1)]
    assert journal.start_attempt("1.2.3") == 1 and journal.get("1.2.3")["state"] == REPAIRING
    journal.set_state("1.2.3", WRITTEN, "repaired", result="repaired", damaged_voxels=64,
                      report={"damaged_voxels": 64})
    journal.seen("4.5.6", "def", "non-image")
    journal.set_state("4.5.6", FAILED, "broken", error="broken")
    journal.heartbeat(running=True, pid=1)
    summary = journal.summary()
    assert summary["series"] == {WRITTEN: 1, FAILED: 1}
    assert summary["attention"] == [{"series": "def", "state": FAILED, "error": "broken",
                                     "forward_attempts": 0}]
    assert [e["event"] for e in summary["events"]] == [SEEN, STABLE, REPAIRING, WRITTEN, SEEN, FAILED]
    assert journal.prune(3600) == 0 and len(journal.summary()["events"]) == 6
    assert summary["service"] == {"running": True, "pid": 1} and summary["heartbeat_age_s"] < 5
    assert journal.inputs_kept(WRITTEN)[0]["tag"] == "abc"
    journal.close()


def test_a_step_is_recorded_whole_even_when_the_process_is_killed(tmp_path):
    """A child marks a series stable with 500 instances and is SIGKILLed right after the commit returns:
    the journal, reopened, has the state and all 500 members (WAL + synchronous=FULL)."""
    db = tmp_path / "journal.sqlite"
    child = textwrap.dedent(f"""
        import os, signal
        from medinpaint.watch.journal import Journal
        j = Journal({str(db)!r})
        j.seen("1.2.3", "abc", "image")
        j.mark_stable("1.2.3", [(f"{{n:04d}}", "d", 1) for n in range(500)])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", child], cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == -signal.SIGKILL
    journal = Journal(db)
    assert journal.get("1.2.3")["state"] == STABLE and len(journal.instances("1.2.3")) == 500


def test_a_journal_of_the_first_release_loses_its_paths_and_keeps_its_series(tmp_path):
    import sqlite3

    db = tmp_path / "journal.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript("""
            CREATE TABLE series (uid TEXT PRIMARY KEY, tag TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
                state TEXT NOT NULL, files INTEGER DEFAULT 0, result TEXT, damaged_voxels INTEGER,
                report TEXT, error TEXT, forward_attempts INTEGER DEFAULT 0, next_forward REAL,
                inputs TEXT DEFAULT 'kept', created REAL NOT NULL, updated REAL NOT NULL);
            CREATE TABLE files (path TEXT PRIMARY KEY, uid TEXT NOT NULL, status TEXT NOT NULL);
            CREATE TABLE events (id INTEGER PRIMARY KEY, at REAL NOT NULL, tag TEXT, event TEXT NOT NULL,
                detail TEXT);
            INSERT INTO series (uid, tag, kind, state, created, updated)
                VALUES ('1.2', 'a', 'image', 'stable', 0, 0), ('3.4', 'b', 'image', 'written', 0, 0);
            INSERT INTO files VALUES ('/in/DOE_JOHN/CT1.dcm', '1.2', 'member');
            INSERT INTO events (at, tag, event, detail) VALUES (0, 'a', 'late-file', 'CT1.dcm');
        """)
    journal = Journal(db)
    assert journal.get("1.2")["state"] == SEEN and journal.get("3.4")["state"] == WRITTEN  # taken again
    assert journal.get("3.4")["version"] == 1 and journal.instances("1.2") == []
    tables = {r[0] for r in journal.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "files" not in tables and journal.summary()["events"] == []
