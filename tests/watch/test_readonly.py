"""IN on a read-only mount (a bind mount made read-only in a private mount namespace, ``unshare -m``):
an unreadable file is copied to the quarantine once and a finished series' inputs to the done folder
once; both are remembered, so no later look or later run copies them again, and ``--once`` exits."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import require_tool
from tests.watch.runner import ROOT, watch_args, watch_status
from tests.watch.series import built_series, digest, out_series


def run_with_read_only_in(tmp, *extra: str) -> tuple[int, str]:
    """``medinpaint watch --once`` with IN mounted read-only, in a mount namespace of its own."""
    unshare = require_tool("unshare")
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    inbox = str(tmp / "in")
    command = " ".join(f"'{a}'" for a in watch_args(tmp, "--once", *extra))
    script = f"mount --bind '{inbox}' '{inbox}' && mount -o remount,bind,ro '{inbox}' && exec {command}"
    result = subprocess.run([unshare, "--mount", *user, "bash", "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    return result.returncode, result.stderr


def test_read_only_in_each_file_is_copied_once_and_once_exits(tmp_path):
    files = built_series(tmp_path / "in" / "export", 3)
    (tmp_path / "in" / "junk.txt").write_text("not a scan")
    before = digest(tmp_path / "in")
    done = ("--done", str(tmp_path / "done"))
    code, log = run_with_read_only_in(tmp_path, *done)
    assert code == 0, log  # it exits, with the junk file still in IN
    assert "read-only" in log and "Traceback" not in log
    assert sorted(p.name for p in (tmp_path / "state" / "quarantine").iterdir()) == [
        "junk.txt", "junk.txt.reason.txt"]
    ((tag, written),) = out_series(tmp_path / "out").items()
    assert len(written) == 3
    filed = digest(tmp_path / "done")
    assert sorted(filed) == sorted(f"{tag}/export/{f.name}" for f in files)
    assert digest(tmp_path / "in") == before  # IN untouched

    code, log = run_with_read_only_in(tmp_path, *done)  # a restart: everything is remembered
    assert code == 0, log
    assert len(list((tmp_path / "state" / "quarantine").iterdir())) == 2
    assert digest(tmp_path / "done") == filed
    assert "quarantined" not in log and "copied" not in log
    summary = watch_status(tmp_path)
    assert summary["series"] == {"written": 1}
    assert [e["event"] for e in summary["events"]].count("quarantined") == 1
