"""Never invent a slice that exists: a slice is re-created only where the series has no instance for it.
An instance that exists but cannot be read (a copy that stalled longer than stable_seconds) holds the
series until it arrives whole; a true gap is filled, and the report and the journal say which slices."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pydicom

from medinpaint.watch.files import short_hash
from tests.watch.runner import run_watch, watch_status
from tests.watch.series import built_series, out_series


def journal_row(tmp, tag: str) -> sqlite3.Row:
    with sqlite3.connect(tmp / "state" / "journal.sqlite") as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM series WHERE tag = ?", (tag,)).fetchone()


def test_a_stalled_copy_holds_the_series_until_the_real_slice_arrives(tmp_path):
    files = built_series(tmp_path / "src", 5, damaged=[1])
    tag = short_hash(pydicom.dcmread(files[0]).SeriesInstanceUID)
    (tmp_path / "in").mkdir()
    for f in files:
        shutil.copyfile(f, tmp_path / "in" / f.name)
    stalled = tmp_path / "in" / files[2].name
    stalled.write_bytes(files[2].read_bytes()[:-3000])  # the copy stopped half-way through the pixels
    code, log = run_watch(tmp_path)
    assert code == 1, log  # held: not published with the stalled slice invented
    assert out_series(tmp_path / "out") == {}
    ((item),) = watch_status(tmp_path)["attention"]
    assert item["state"] == "held" and "could not be read" in item["error"]

    shutil.copyfile(files[2], tmp_path / "in" / "resent.dcm")  # the real slice, sent again
    code, log = run_watch(tmp_path)
    assert code == 0, log
    ((name, written),) = out_series(tmp_path / "out").items()
    assert name == tag and len(written) == 5  # the series as it was sent, version 1 (none was published)
    row = journal_row(tmp_path, tag)
    assert json.loads(row["report"])["recreated_for_gaps"] == [] and json.loads(row["recreated"]) == []
    assert "re-created" not in log


def test_a_true_gap_is_filled_and_the_report_says_which_slice(tmp_path):
    files = built_series(tmp_path / "src", 5, damaged=[1])
    tag = short_hash(pydicom.dcmread(files[0]).SeriesInstanceUID)
    (tmp_path / "in").mkdir()
    for f in files[:2] + files[3:]:  # the third instance was never sent
        shutil.copyfile(f, tmp_path / "in" / f.name)
    code, log = run_watch(tmp_path)
    assert code == 0, log
    assert {t: len(v) for t, v in out_series(tmp_path / "out").items()} == {tag: 5}
    row = journal_row(tmp_path, tag)
    assert json.loads(row["recreated"]) == [2] and json.loads(row["report"])["recreated_for_gaps"] == [2]
    written = [e for e in watch_status(tmp_path)["events"] if e["event"] == "written"]
    assert "1 missing slice(s) re-created for gaps in the series" in written[0]["detail"]
    assert "1 missing slice(s) re-created" in log


def test_a_copy_that_stalled_before_its_first_byte_holds_the_series_too(tmp_path):
    """The copy created the file and stalled at once: nothing says which series it belongs to, but
    it was quarantined from the series' folder while the series arrived, and the series has a gap."""
    files = built_series(tmp_path / "src", 5, damaged=[1])
    tag = short_hash(pydicom.dcmread(files[0]).SeriesInstanceUID)
    (tmp_path / "in").mkdir()
    for f in files[:2] + files[3:]:
        shutil.copyfile(f, tmp_path / "in" / f.name)
    (tmp_path / "in" / files[2].name).write_bytes(b"")  # created, not one byte written yet
    code, log = run_watch(tmp_path)
    assert code == 1 and out_series(tmp_path / "out") == {}, log
    ((item),) = watch_status(tmp_path)["attention"]
    assert item["state"] == "held" and "quarantined from the series' folder" in item["error"]

    shutil.copyfile(files[2], tmp_path / "in" / files[2].name)  # the copy is done again
    code, log = run_watch(tmp_path)
    assert code == 0, log
    assert {t: len(v) for t, v in out_series(tmp_path / "out").items()} == {tag: 5}
    assert json.loads(journal_row(tmp_path, tag)["recreated"]) == []
