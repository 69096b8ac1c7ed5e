"""Identity by content: an instance is its SOPInstanceUID (and the sha256 of its bytes), a series its
SeriesInstanceUID, never a path. A path reused by another series is that series' file; an instance
that arrives or changes after its series was written makes a new version of the derived series
(``late = "redo"``) or holds the series for a person (``late = "hold"``), and ``--status`` says so."""

from __future__ import annotations

import shutil

import pydicom

from medinpaint.watch.files import short_hash
from tests.watch.runner import run_watch, watch_status
from tests.watch.series import MR_SLICE, built_series, digest, out_series


def tag_of(path) -> str:
    return short_hash(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


def test_a_second_series_reusing_the_first_ones_file_names_is_not_misfiled(tmp_path):
    """Series A is written and its inputs kept; series B is then exported to the same paths (as
    modalities and PACS exports do), and the watcher runs with a done folder: B is built and filed
    as B, and nothing of B lands in A's done folder."""
    first = built_series(tmp_path / "in" / "export", 3, prefix="IM")
    a = tag_of(first[0])
    code, log = run_watch(tmp_path)
    assert code == 0, log
    second = built_series(tmp_path / "b", 4, MR_SLICE, prefix="IM")
    b = tag_of(second[0])
    for f in second:  # same names, new content
        shutil.copyfile(f, tmp_path / "in" / "export" / f.name)
    code, log = run_watch(tmp_path, "--done", str(tmp_path / "done"))
    assert code == 0, log

    assert {t: len(v) for t, v in out_series(tmp_path / "out").items()} == {a: 3, b: 4}
    assert digest(tmp_path / "done" / b) == {f"export/{f.name}": h for f, h in
                                             zip(second, digest(tmp_path / "b").values(), strict=True)}
    assert not (tmp_path / "done" / a).exists() or not any((tmp_path / "done" / a).rglob("*.dcm"))
    assert watch_status(tmp_path)["series"] == {"written": 2}


def test_a_late_instance_makes_a_new_version_of_the_derived_series(tmp_path):
    files = built_series(tmp_path / "src", 4, damaged=[1])  # repaired: written as a derived series
    tag = tag_of(files[0])
    (tmp_path / "in").mkdir()
    for f in files[:3]:  # the last instance is sent later
        shutil.copyfile(f, tmp_path / "in" / f.name)
    code, log = run_watch(tmp_path)
    assert code == 0, log
    assert {t: len(v) for t, v in out_series(tmp_path / "out").items()} == {tag: 3}

    shutil.copyfile(files[3], tmp_path / "in" / files[3].name)
    code, log = run_watch(tmp_path)
    assert code == 0, log
    results = out_series(tmp_path / "out")
    assert {t: len(v) for t, v in results.items()} == {tag: 3, f"{tag}-v2": 4}  # version 1 is left as it was
    (v1,), (v2,) = ({ds.SeriesInstanceUID for ds in results[t]} for t in (tag, f"{tag}-v2"))
    assert v1 != v2  # a new derived series, not instances added to the old one
    summary = watch_status(tmp_path)
    assert summary["series"] == {"written": 1} and summary["attention"] == []
    events = [(e["event"], e["detail"]) for e in summary["events"]]
    assert not any(f.name in (d or "") for f in files for _, d in events)  # instances named by hash
    assert [e for e, _ in events].count("late-instance") == 1 and "reopened" in [e for e, _ in events]

    # the same late file seen again (a restart) is nothing new
    code, log = run_watch(tmp_path)
    assert code == 0 and sorted(out_series(tmp_path / "out")) == [tag, f"{tag}-v2"], log


def test_a_rewritten_instance_holds_the_series_for_a_person_when_configured(tmp_path):
    files = built_series(tmp_path / "in", 3)
    tag = tag_of(files[0])
    (tmp_path / "watch.toml").write_text("[watch]\nlate = 'hold'\n")
    config = ("--config", str(tmp_path / "watch.toml"))
    code, log = run_watch(tmp_path, *config)
    assert code == 0, log
    written = digest(tmp_path / "out")

    ds = pydicom.dcmread(files[1])  # the same instance, sent again with other pixels
    pixels = ds.pixel_array.copy()
    pixels[:8] = 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(files[1], enforce_file_format=True)
    code, log = run_watch(tmp_path, *config)
    assert code == 1 and "changed after the series was taken" in log, log  # held: needs a person
    assert digest(tmp_path / "out") == written
    ((item),) = watch_status(tmp_path)["attention"]
    assert item["series"] == tag and item["state"] == "held" and item["late_instances"] == 1

    code, log = run_watch(tmp_path, *config, "--retry-failed")  # the person says: build it again
    assert code == 0, log
    assert sorted(out_series(tmp_path / "out")) == [tag, f"{tag}-v2"]
    assert watch_status(tmp_path)["attention"] == []


def test_a_new_version_finds_the_instances_already_filed_in_the_done_folder(tmp_path):
    files = built_series(tmp_path / "src", 4, damaged=[1])
    tag = tag_of(files[0])
    (tmp_path / "in" / "export").mkdir(parents=True)
    for f in files[:3]:
        shutil.copyfile(f, tmp_path / "in" / "export" / f.name)
    done = ("--done", str(tmp_path / "done"))
    code, log = run_watch(tmp_path, *done)
    assert code == 0, log
    assert sorted(digest(tmp_path / "done")) == [f"{tag}/export/{f.name}" for f in files[:3]]

    shutil.copyfile(files[3], tmp_path / "in" / "late.dcm")
    code, log = run_watch(tmp_path, *done)
    assert code == 0, log
    assert {t: len(v) for t, v in out_series(tmp_path / "out").items()} == {tag: 3, f"{tag}-v2": 4}
    assert sorted(digest(tmp_path / "done")) == sorted(
        [f"{tag}/export/{f.name}" for f in files[:3]] + [f"{tag}-v2/late.dcm"])
    assert not any((tmp_path / "in").rglob("*.dcm"))
