"""Completeness: files grouped by the SeriesInstanceUID in their headers; a series is complete only when
none of its files changed for stable_seconds and nothing beside it is still being written."""

from __future__ import annotations

import shutil
import time

from medinpaint.watch.tracker import IMAGE, NON_IMAGE, Tracker, in_progress_name
from tests.watch.series import CT_SLICE, MR_SLICE, TEST_FILES, built_series

S = 5.0


class Clock:
    """Wall-clock time that the test moves forward (the files themselves are real).

    It starts well before the real time, so a file written during the test has a ctime "in the
    future" and counts as arriving at the clock's now, as it would in real time.
    """

    def __init__(self, offset: float = -1000.0):
        self.now = time.time() + offset

    def __call__(self) -> float:
        return self.now


def test_in_progress_names():
    assert all(in_progress_name(n) for n in ("a.dcm.part", ".a.dcm", "IM1.tmp", "x.PARTIAL", "y.crdownload"))
    assert not any(in_progress_name(n) for n in ("IM00001.dcm", "1.2.840.113619", "part.dcm"))


def test_files_are_grouped_by_series_uid_not_by_folder(tmp_path):
    ct = built_series(tmp_path / "x", 4, CT_SLICE)
    mr = built_series(tmp_path / "x", 3, MR_SLICE, prefix="MR")
    (tmp_path / "y").mkdir()
    moved = [shutil.move(p, tmp_path / "y" / p.name) for p in (ct[0], mr[0])]  # both series in both folders
    shutil.copyfile(TEST_FILES / "test-SR.dcm", tmp_path / "y" / "report")  # no extension: names mean nothing
    tracker = Tracker(tmp_path)
    tracker.rescan()
    groups = {len(s.files): s for s in tracker.series.values()}
    assert sorted(groups) == [1, 3, 4]
    assert groups[4].kind == IMAGE and groups[3].kind == IMAGE and groups[1].kind == NON_IMAGE
    assert {p.name for p in groups[4].files} == {p.name for p in ct} and moved[0] in groups[4].files


def test_complete_only_after_stable_seconds_without_change(tmp_path):
    clock = Clock()
    files = built_series(tmp_path / "s", 3)
    tracker = Tracker(tmp_path, clock)
    tracker.rescan()
    assert tracker.complete(S) == []
    clock.now += S - 1
    assert tracker.complete(S) == []
    (extra,) = built_series(tmp_path / "s", 1, series_uid=next(iter(tracker.series)), prefix="B")
    tracker.rescan()  # a fourth instance arrives: the series waits again, from now
    clock.now += 2
    assert tracker.complete(S) == []
    clock.now += S
    (entry,) = tracker.complete(S)
    assert entry.files == set(files) | {extra}


def test_a_growing_file_holds_its_series_back_even_without_an_event(tmp_path):
    clock = Clock()
    files = built_series(tmp_path / "s", 3)
    tracker = Tracker(tmp_path, clock)
    tracker.rescan()
    clock.now += S + 1
    with open(files[1], "ab") as f:  # still being written (no rescan, no event: complete() looks again)
        f.write(b"\0" * 16)
    assert tracker.complete(S) == []
    clock.now += S + 1
    assert len(tracker.complete(S)) == 1


def test_a_part_file_or_an_unreadable_file_holds_back_its_folder(tmp_path):
    clock = Clock()
    built_series(tmp_path / "s", 3)
    partial = tmp_path / "s" / "incoming.dcm.part"
    partial.write_bytes(CT_SLICE.read_bytes()[:1000])
    tracker = Tracker(tmp_path, clock)
    tracker.rescan()
    clock.now += S - 1
    partial.write_bytes(CT_SLICE.read_bytes()[:2000])  # still growing
    tracker.rescan()
    clock.now += 2
    assert tracker.complete(S) == []
    clock.now += S
    assert len(tracker.complete(S)) == 1  # a .part file untouched for S seconds no longer counts
    half = tmp_path / "s" / "copying.dcm"
    half.write_bytes(b"\0" * 64)  # a copy that has just begun: no header yet
    tracker.observe(half)
    assert tracker.complete(S) == [] and tracker.broken(S) == []
    clock.now += S
    ((path, reason),) = tracker.broken(S)
    assert path == half and "DICM" in reason
    tracker.forget(half)
    assert len(tracker.complete(S)) == 1


def test_files_complete_long_ago_are_not_waited_for_again(tmp_path):
    """A restart (or a --once run) finds files whose ctime is older than stable_seconds: complete at once."""
    built_series(tmp_path / "s", 3)
    clock = Clock(offset=2 * S)
    tracker = Tracker(tmp_path, clock)
    tracker.rescan()
    assert len(tracker.complete(S)) == 1


def test_a_file_that_leaves_makes_its_series_wait_again(tmp_path):
    clock = Clock()
    files = built_series(tmp_path / "s", 3)
    tracker = Tracker(tmp_path, clock)
    tracker.rescan()
    clock.now += S + 1
    files[0].unlink()
    tracker.rescan()
    assert tracker.complete(S) == []
    clock.now += S
    (entry,) = tracker.complete(S)
    assert entry.files == set(files[1:])


def test_a_finished_series_leaves_the_picture_and_a_rewrite_brings_it_back(tmp_path):
    """Bounded memory: a settled series keeps only its files' sizes and times, is not read again by a
    rescan, and a file rewritten in place is noticed as a change of that series."""
    clock = Clock(offset=2 * S)
    files = built_series(tmp_path / "s", 3)
    other = built_series(tmp_path / "t", 2, MR_SLICE)
    tracker = Tracker(tmp_path, clock)
    tracker.rescan()
    (uid,) = {tracker.files[f].series for f in files}
    tracker.take_dirty()
    tracker.settle(uid)
    assert uid not in tracker.series and not any(f in tracker.files for f in files)
    assert len(tracker.settled) == 3 and set(tracker.series) == {tracker.files[other[0]].series}
    tracker.rescan()  # unchanged: nothing read again, nothing changed
    assert tracker.take_dirty() == set() and uid not in tracker.series
    data = files[1].read_bytes()
    files[1].write_bytes(data[:-2] + b"\0\0")  # rewritten in place
    tracker.rescan()
    assert tracker.take_dirty() == {uid} and tracker.series[uid].files == {files[1]}
    files[0].unlink()
    tracker.rescan()
    assert str(files[0]) not in tracker.settled
