"""MedInpaintLib.progress: reading `PROGRESS <0-100> <text>` lines and medinpaint's error line."""

from __future__ import annotations

import pytest
from MedInpaintLib.progress import OutputLog, Progress, parse_error, parse_progress
from MedInpaintLib.run import format_report


@pytest.mark.parametrize("line, expected", [
    ("PROGRESS 0 loading model", Progress(0, "loading model")),
    ("PROGRESS 42 repairing slice 12/30\n", Progress(42, "repairing slice 12/30")),
    ("PROGRESS 100 done", Progress(100, "done")),
    ("PROGRESS 7", Progress(7, "")),
    ("PROGRESS 55 a  text with   spaces\r\n", Progress(55, "a  text with   spaces")),
])
def test_progress_lines_are_read(line, expected):
    assert parse_progress(line) == expected


@pytest.mark.parametrize("line", [
    "PROGRESS 101 too far", "PROGRESS -1 negative", "PROGRESS 4.5 fraction", "progress 10 lower case",
    " PROGRESS 10 indented", "PROGRESS10 glued", "medinpaint: INFO: PROGRESS 10 inside a log line",
    "PROGRESS", "", "PROGRESS 1000 four digits",
])
def test_other_lines_are_not_progress(line):
    assert parse_progress(line) is None


def test_error_line_gives_the_message():
    assert parse_error("medinpaint: error: /tmp/x.nrrd: cannot be read by ITK (bad header)\n") == \
        "/tmp/x.nrrd: cannot be read by ITK (bad header)"
    assert parse_error("medinpaint: INFO: repairing") is None
    assert parse_error("medinpaint: error: ") is None


def test_output_log_keeps_progress_error_and_tail_apart():
    log = OutputLog(keep=3)
    assert log.feed("PROGRESS 10 reading") == Progress(10, "reading")
    assert log.feed("medinpaint: INFO: model loaded") is None
    log.feed("PROGRESS 20 detecting")
    log.feed("line a")
    log.feed("line b")
    log.feed("medinpaint: error: out of memory")
    assert log.progress == Progress(20, "detecting")
    assert log.error == "out of memory"
    assert list(log.tail) == ["line a", "line b", "medinpaint: error: out of memory"]
    assert log.failure_message(2) == "out of memory"


def test_failure_without_error_line_reports_the_last_lines_or_the_status():
    log = OutputLog()
    log.feed("Traceback (most recent call last):")
    log.feed("MemoryError")
    assert log.failure_message(1) == "Traceback (most recent call last): / MemoryError"
    assert "status -9" in OutputLog().failure_message(-9)


def test_the_report_box_shows_what_was_found_and_done():
    report = {"damaged_voxels": 112, "kinds": {"lost-lines": 100, "bit-errors": 12}, "damaged_slices": [5, 6],
              "recreated_slices": [], "denoised": False, "device": "cpu", "seconds": 0.874,
              "input": "input.nrrd"}
    assert format_report(report).splitlines() == [
        "Repaired voxels: 112", "Damage found: lost-lines (100), bit-errors (12)", "Slices with damage: 5, 6",
        "Denoised: no", "Device: cpu", "Repair time: 0.9 s"]
    assert (format_report({"damaged_voxels": 0, "kinds": {}, "seconds": 1}).splitlines()[1]
            == "Damage found: none")
