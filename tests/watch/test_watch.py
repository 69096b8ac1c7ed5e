"""``medinpaint watch --once`` end to end, as a subprocess on real files: each complete series gives one
derived series in OUT, unreadable files go to quarantine with their reason, non-image objects and
undamaged series follow their policy, inputs are never changed, and the journal tells what happened."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from medinpaint.io import read_series_files
from tests.watch.runner import ROOT, medinpaint, run_watch
from tests.watch.series import TEST_FILES, built_series, digest, out_series, sample_series, temp_names


def status(tmp) -> dict:
    result = subprocess.run(medinpaint("watch", "--in", str(tmp / "in"), "--out", str(tmp / "out"), "--state",
                                       str(tmp / "state"), "--status"),
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("policy", ["pass", "skip"])
def test_non_image_objects_and_unreadable_files(tmp_path, policy):
    (tmp_path / "in" / "reports").mkdir(parents=True)
    (tmp_path / "in" / "junk").mkdir()
    for name in ("test-SR.dcm", "rtplan.dcm"):
        shutil.copyfile(TEST_FILES / name, tmp_path / "in" / "reports" / name)
    shutil.copyfile(TEST_FILES / "no_meta.dcm", tmp_path / "in" / "junk" / "no_meta.dcm")
    (tmp_path / "in" / "junk" / "notes.txt").write_text("not a scan")
    kept = digest(tmp_path / "in" / "reports")
    (tmp_path / "watch.toml").write_text(f"[watch]\nnon_image = '{policy}'\n")
    code, log = run_watch(tmp_path, "--config", str(tmp_path / "watch.toml"))
    assert code == 0, log

    quarantine = tmp_path / "state" / "quarantine"
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "no_meta.dcm", "no_meta.dcm.reason.txt", "notes.txt", "notes.txt.reason.txt"]
    reason = (quarantine / "no_meta.dcm.reason.txt").read_text()
    assert "file: junk/no_meta.dcm" in reason and "DICM" in reason
    assert (quarantine / "notes.txt").read_text() == "not a scan"
    assert not any((tmp_path / "in" / "junk").iterdir())
    assert digest(tmp_path / "in" / "reports") == kept  # inputs never changed

    out = tmp_path / "out"
    results = out_series(out)
    summary = status(tmp_path)
    if policy == "pass":  # copied unchanged, one folder per series
        assert len(results) == 2 and summary["series"] == {"written": 2}
        copies = sorted(f.read_bytes() for d in out.iterdir() for f in d.iterdir())
        assert copies == sorted((TEST_FILES / n).read_bytes() for n in ("test-SR.dcm", "rtplan.dcm"))
    else:
        assert results == {} and summary["series"] == {"skipped": 2}
    assert temp_names(out) == []
    assert "quarantined" in [e["event"] for e in summary["events"]]
    assert_no_patient_data(log, tmp_path / "state", [TEST_FILES / "test-SR.dcm", TEST_FILES / "rtplan.dcm"])


def assert_no_patient_data(log: str, state, sources) -> None:
    """Neither the log nor the journal holds a patient's name, ID or birth date, or a UID of the input."""
    journal = b"".join(p.read_bytes() for p in state.glob("journal.sqlite*"))
    for source in sources:
        ds = pydicom.dcmread(source, stop_before_pixels=True)
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "SOPInstanceUID"):
            value = str(ds.get(keyword, "")).strip()
            if len(value) > 3:
                assert value not in log, keyword
                if keyword != "SOPInstanceUID":
                    assert value.encode() not in journal, keyword


def test_damaged_series_gives_one_derived_series_and_a_broken_file_is_quarantined(tmp_path):
    files = sample_series(tmp_path / "in" / "export", damaged=2, rows=slice(5, 9))
    broken = files[4].read_bytes()[:-200]  # the last instance lost its tail
    files[4].write_bytes(broken)
    originals = {f.name: pydicom.dcmread(f) for f in files[:4]}
    before = digest(tmp_path / "in")
    code, log = run_watch(tmp_path, "--done", str(tmp_path / "done"))
    assert code == 0, log

    ((tag, derived),) = out_series(tmp_path / "out").items()
    assert len(derived) == 4  # the rest of the series is still handled
    assert len({ds.SeriesInstanceUID for ds in derived}) == 1
    source_uids = {ds.SOPInstanceUID: name for name, ds in originals.items()}
    for ds in derived:
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert ds.SeriesInstanceUID != originals["CT001.dcm"].SeriesInstanceUID
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID in source_uids
    volume = read_series_files(sorted((tmp_path / "out" / tag).iterdir()))
    source = read_series_files(sorted(tmp_path / "done" / tag / "export" / n for n in originals))
    damaged_slice = [k for k, f in enumerate(source.meta["dicom"]["files"]) if f.endswith("CT003.dcm")][0]
    assert np.any(volume.array[:, 5:9, damaged_slice] != 0)  # the lost rows are filled
    others = [k for k in range(volume.shape[2]) if k != damaged_slice]
    assert np.array_equal(volume.array[:, :, others], source.array[:, :, others])  # the rest untouched

    quarantine = tmp_path / "state" / "quarantine"
    assert (quarantine / "CT005.dcm").read_bytes() == broken
    assert "truncated" in (quarantine / "CT005.dcm.reason.txt").read_text()
    # inputs: never changed; after success moved to done/<tag>/ keeping their paths
    assert not any((tmp_path / "in").rglob("*.dcm"))
    moved = digest(tmp_path / "done" / tag)
    assert moved == {k: v for k, v in before.items() if not k.endswith("CT005.dcm")}
    assert temp_names(tmp_path / "out") == []

    summary = status(tmp_path)
    assert summary["series"] == {"written": 1} and summary["attention"] == []
    row = [e for e in summary["events"] if e["event"] == "written"][0]
    assert row["series"] == tag and "damaged voxels" in row["detail"]
    assert_no_patient_data(log, tmp_path / "state", [tmp_path / "done" / tag / "export" / "CT001.dcm"])

    # the same inputs again (copied back by someone): the series is known, nothing is written twice
    shutil.copytree(tmp_path / "done" / tag / "export", tmp_path / "in" / "again")
    result_before = digest(tmp_path / "out")
    code, log = run_watch(tmp_path)
    assert code == 0, log
    assert digest(tmp_path / "out") == result_before
    assert "arrived after the series was taken" in log


@pytest.mark.parametrize("policy", ["copy", "derived", "skip"])
def test_a_series_without_damage_follows_its_policy(tmp_path, policy):
    files = sample_series(tmp_path / "in", damaged=None)
    (tmp_path / "watch.toml").write_text(f"[watch]\nundamaged = '{policy}'\n")
    code, log = run_watch(tmp_path, "--config", str(tmp_path / "watch.toml"))
    assert code == 0, log
    results = out_series(tmp_path / "out")
    summary = status(tmp_path)
    assert [e["detail"] for e in summary["events"] if e["event"] in ("written", "skipped")] == [
        "no damage found" if policy == "skip" else
        "no damage found; passed on unchanged" if policy == "copy" else
        "Checked by medinpaint: no damage found: 0 damaged voxels"]
    if policy == "skip":
        assert results == {}
        return
    ((tag, written),) = results.items()
    assert len(written) == 5
    if policy == "copy":  # passed on unchanged, byte for byte
        assert sorted(f.read_bytes() for f in (tmp_path / "out" / tag).iterdir()) == sorted(
            f.read_bytes() for f in files)
    else:
        source = read_series_files(files)
        assert all(list(ds.ImageType)[0] == "DERIVED" for ds in written)
        assert np.array_equal(read_series_files(sorted((tmp_path / "out" / tag).iterdir())).array,
                              source.array)


def test_a_series_that_cannot_be_one_volume_fails_with_its_reason(tmp_path):
    files = built_series(tmp_path / "in", 3)
    twin = pydicom.dcmread(files[0])  # a second image at the same position (as in a multi-echo series)
    twin.SOPInstanceUID = twin.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    twin.save_as(tmp_path / "in" / "twin.dcm", enforce_file_format=True)
    before = digest(tmp_path / "in")
    code, log = run_watch(tmp_path)
    assert code == 1 and "failed" in log
    ((tag, state, error, _),) = [tuple(a.values()) for a in status(tmp_path)["attention"]]
    assert state == "failed" and "shares its slice position" in error
    assert digest(tmp_path / "in") == before and out_series(tmp_path / "out") == {}
    code, log = run_watch(tmp_path, "--retry-failed")  # tried again (and fails again, for the same reason)
    assert code == 1 and "1 failed series put back in the queue" in log
    assert [e["event"] for e in status(tmp_path)["events"]].count("failed") == 2
