"""No single input stops the service: a series whose build kills the process is failed after
``max_attempts`` (counted in the journal before each build) and the queue goes on; an exception at a
step is journaled against its series; a PACS that accepts only part of a series gets nothing of it and
the failure is journaled; names that are not UTF-8 are handled; a kill between the rename into OUT and
the journal commit leaves the series written with its report."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pydicom

from medinpaint.watch import ListenConfig, Listener
from medinpaint.watch.files import short_hash
from tests.watch.runner import Process, free_port, run_watch, watch_args, watch_status
from tests.watch.series import MR_SLICE, TEST_FILES, built_series, out_series


def tag_of(path) -> str:
    return short_hash(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


def test_a_series_that_kills_the_process_fails_after_max_attempts_and_the_queue_goes_on(tmp_path):
    poison = built_series(tmp_path / "in" / "poison", 3)
    good = built_series(tmp_path / "in" / "good", 3, MR_SLICE)
    (tmp_path / "watch.toml").write_text("[watch]\nmax_attempts = 2\n")
    args = watch_args(tmp_path, "--once", "--config", str(tmp_path / "watch.toml"))
    exits = []
    for _ in range(5):  # restarted as systemd would
        proc = Process(args, failpoint=f"kill:read@{tag_of(poison[0])}")
        proc.proc.wait(timeout=120)
        proc._reader.join(timeout=5)
        exits.append(proc.proc.returncode)
        if proc.proc.returncode >= 0:
            break
    assert exits == [-9, -9, 1], proc.log  # two builds cut short, then failed; the run ends
    assert list(out_series(tmp_path / "out")) == [tag_of(good[0])]
    (failed,) = [a for a in watch_status(tmp_path)["attention"] if a["state"] == "failed"]
    assert failed["series"] == tag_of(poison[0]) and "died 2 times" in failed["error"]


def test_an_exception_at_a_step_is_journaled_and_the_queue_goes_on(tmp_path):
    broken = built_series(tmp_path / "in" / "a", 3)
    good = built_series(tmp_path / "in" / "b", 3, MR_SLICE)
    proc = Process(watch_args(tmp_path, "--once"), failpoint=f"raise:staged@{tag_of(broken[0])}")
    assert proc.finish() == 1, proc.log
    assert "Traceback" not in proc.log
    assert list(out_series(tmp_path / "out")) == [tag_of(good[0])]
    (failed,) = watch_status(tmp_path)["attention"]
    assert failed["state"] == "failed" and "FailpointError: failpoint staged" in failed["error"]


def test_a_pacs_that_accepts_only_part_of_a_series_gets_none_of_it(tmp_path):
    """A series of a structured report and an RT plan (passed through as non-image objects) goes to a
    PACS that stores reports only: nothing is sent, the refusal is journaled, the watcher goes on."""
    comprehensive_sr = "1.2.840.10008.5.1.4.1.1.88.33"
    pacs = Listener(ListenConfig(tmp_path / "pacs", port=free_port(), aet="PACS",
                                 sop_classes=[comprehensive_sr]))
    pacs.start()
    try:
        (tmp_path / "in" / "docs").mkdir(parents=True)
        report = pydicom.dcmread(TEST_FILES / "test-SR.dcm")
        report.save_as(tmp_path / "in" / "docs" / "report.dcm")
        plan = pydicom.dcmread(TEST_FILES / "rtplan.dcm")
        plan.SeriesInstanceUID = report.SeriesInstanceUID  # one series, two SOP classes
        plan.save_as(tmp_path / "in" / "docs" / "plan.dcm")
        code, log = run_watch(tmp_path, "--forward", f"PACS@127.0.0.1:{pacs.config.port}")
    finally:
        pacs.stop()
    assert code == 1 and "Traceback" not in log, log  # the forward is pending, nothing escaped
    assert pacs.received == 0
    (pending,) = watch_status(tmp_path)["attention"]
    assert pending["state"] == "written" and pending["forward_attempts"] == 1
    assert "accepts only part of the series: it refused RT Plan Storage" in pending["error"]


def test_file_names_that_are_not_utf8_are_handled(tmp_path):
    files = built_series(tmp_path / "src", 3)
    folder = os.fsencode(tmp_path / "in" / "export")
    os.makedirs(folder)
    for n, f in enumerate(files):
        shutil.copyfile(f, os.path.join(folder, b"IM\xff\xfe%d.dcm" % n))
    with open(os.path.join(folder, b"notes-\xe9t\xe9.txt"), "wb") as f:  # Latin-1, as an old export writes
        f.write(b"not a scan")
    code, log = run_watch(tmp_path)
    assert code == 0, log
    assert {t: len(v) for t, v in out_series(tmp_path / "out").items()} == {tag_of(files[0]): 3}
    assert [p for p in os.listdir(os.fsencode(tmp_path / "state" / "quarantine"))
            if not p.endswith(b".reason.txt")] == [b"notes-\xe9t\xe9.txt"]


def test_killed_between_the_rename_into_out_and_the_journal_commit(tmp_path):
    files = built_series(tmp_path / "in", 4, damaged=[1])
    tag = tag_of(files[0])
    watcher = Process(watch_args(tmp_path), failpoint="published")
    watcher.wait_for("medinpaint failpoint: published", timeout=90)
    watcher.kill()
    code, log = run_watch(tmp_path)
    assert code == 0, log
    with sqlite3.connect(tmp_path / "state" / "journal.sqlite") as db:
        state, report, damaged = db.execute("SELECT state, report, damaged_voxels FROM series").fetchone()
    assert state == "written" and damaged > 0 and json.loads(report)["damaged_voxels"] == damaged
    assert {t: len(v) for t, v in out_series(tmp_path / "out").items()} == {tag: 4}
