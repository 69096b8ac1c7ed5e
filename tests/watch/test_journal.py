"""The journal: states per series, the frozen file list, events and the health summary; it survives a
process that is killed between two steps."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from medinpaint.watch.journal import FAILED, REPAIRING, SEEN, STABLE, WRITTEN, Journal


def test_a_series_through_its_states(tmp_path):
    journal = Journal(tmp_path / "state" / "journal.sqlite")
    assert journal.seen("1.2.3", "abc", "image")
    assert not journal.seen("1.2.3", "abc", "image")  # known already
    journal.mark_stable("1.2.3", [tmp_path / "b.dcm", tmp_path / "a.dcm"])
    assert journal.get("1.2.3")["state"] == STABLE and journal.get("1.2.3")["files"] == 2
    assert journal.members("1.2.3") == [tmp_path / "a.dcm", tmp_path / "b.dcm"]
    journal.set_state("1.2.3", REPAIRING)
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
    assert summary["service"] == {"running": True, "pid": 1} and summary["heartbeat_age_s"] < 5
    assert journal.inputs_kept(WRITTEN)[0]["tag"] == "abc"
    journal.close()


def test_a_step_is_recorded_whole_even_when_the_process_is_killed(tmp_path):
    """A child marks a series stable with 500 files and is SIGKILLed right after the commit returns:
    the journal, reopened, has the state and all 500 members (WAL + synchronous=FULL)."""
    db = tmp_path / "journal.sqlite"
    child = textwrap.dedent(f"""
        import os, signal
        from medinpaint.watch.journal import Journal
        j = Journal({str(db)!r})
        j.seen("1.2.3", "abc", "image")
        j.mark_stable("1.2.3", [f"/in/{{n:04d}}.dcm" for n in range(500)])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", child], cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == -signal.SIGKILL
    journal = Journal(db)
    assert journal.get("1.2.3")["state"] == STABLE and len(journal.members("1.2.3")) == 500
