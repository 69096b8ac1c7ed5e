"""Privacy and permissions: no path, file name or patient value of the input reaches a log line or a
journal column (series are named by tag, instances by hash), and everything the watcher creates is
``0640`` (files) or ``0750`` (folders), whatever the umask it was started with."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess

import pydicom

from tests.watch.runner import ROOT, watch_args
from tests.watch.series import built_series

PATIENT = {"PatientName": "DOE^JOHN", "PatientID": "PID4711XYZ", "PatientBirthDate": "19700101",
           "AccessionNumber": "ACC80234Q", "StudyDescription": "HEADTRAUMAQ"}
FOLDER = "DOE_JOHN_19700101"


def patient_series(tmp):
    files = built_series(tmp / "in" / FOLDER, 5, damaged=[1], prefix="CT")
    for f in files:
        ds = pydicom.dcmread(f)
        for keyword, value in PATIENT.items():
            setattr(ds, keyword, value)
        ds.save_as(f, enforce_file_format=True)
    return files


def secrets(files) -> list[str]:
    """Every patient value and every path part of the test data below IN."""
    parts = {FOLDER, "DOE", "JOHN", "notes_DOE"}
    for f in files:
        parts |= {f.name, f.stem}
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        parts.add(str(ds.SOPInstanceUID))
    return sorted(parts | set(PATIENT.values()) | {"DOE^JOHN"})


def journal_text(state) -> list[str]:
    """Every column of every row of every table of the journal, as text."""
    with sqlite3.connect(state / "journal.sqlite") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [str(value) for table in tables
                for row in db.execute(f"SELECT * FROM {table}") for value in row]


def test_no_path_file_name_or_patient_value_in_logs_or_journal_and_modes_are_0640_0750(tmp_path):
    files = patient_series(tmp_path)
    (tmp_path / "in" / FOLDER / "notes_DOE_JOHN.txt").write_text("not a scan")  # quarantined
    files[4].write_bytes(files[4].read_bytes()[:-500])  # the last slice lost its tail: quarantined
    hidden = secrets(files)
    result = subprocess.run(watch_args(tmp_path, "--once", "--done", str(tmp_path / "done")), cwd=ROOT,
                            capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0))
    log = result.stderr
    assert result.returncode == 0, log
    assert "quarantined" in log and "written" in log  # the log does tell what happened

    found = {s: [line for line in log.splitlines() if s in line] for s in hidden}
    assert {s: lines for s, lines in found.items() if lines} == {}
    column_hits = {s: [v for v in journal_text(tmp_path / "state") if s in v] for s in hidden}
    assert {s: values for s, values in column_hits.items() if values} == {}

    wrong = []
    for top in ("out", "done", "state"):
        for folder, dirs, names in os.walk(tmp_path / top):
            for name, want in [(d, 0o750) for d in dirs] + [(n, 0o640) for n in names]:
                mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
                if mode != want:
                    wrong.append((os.path.relpath(os.path.join(folder, name), tmp_path), oct(mode)))
            if folder != str(tmp_path / top) and stat.S_IMODE(os.stat(folder).st_mode) != 0o750:
                wrong.append((os.path.relpath(folder, tmp_path), oct(stat.S_IMODE(os.stat(folder).st_mode))))
    assert wrong == []
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == 0o750
