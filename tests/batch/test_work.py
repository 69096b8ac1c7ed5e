"""The work on one series without Ray: screening, repair with a model loaded once, publishing exactly once;
and the result manifest that makes a job resumable."""

from __future__ import annotations

import json

import pydicom
import pytest

from medinpaint.batch import work
from medinpaint.batch.manifest import DONE, FAILED, PENDING, RUNNING, Manifest
from medinpaint.batch.sources import Item, discover


@pytest.fixture(scope="module")
def repairer(tmp_path_factory):
    return work.Repairer(work.Options(out=str(tmp_path_factory.mktemp("unused"))))


def _item(archive, part: str) -> Item:
    return next(i for i in discover(archive) if any(part in p for p in i.inputs))


def test_a_damaged_series_is_screened_repaired_and_published_once(archive, repairer, tmp_path):
    options = work.Options(out=str(tmp_path))
    item = _item(archive, "ct_seed0")
    screened, payload = work.screen(item.key, item.kind, item.inputs, options)
    assert screened["status"] == "damaged" and screened["damaged_voxels"] > 0
    summary, result = repairer.repair(item.key, item.inputs, payload, screened["kinds"])
    assert summary["status"] == "repaired"
    first = work.write_result(item.key, item.kind, item.inputs, result, options)
    assert first["status"] == "written"
    folder = tmp_path / first["output"]
    assert sorted(p.name for p in folder.iterdir()) == ["mask.nii.gz", "report.json", "series"]
    report = json.loads((folder / "report.json").read_text())
    assert report["kinds"] == screened["kinds"] and report["mask_source"] == "detected"
    derived = pydicom.dcmread(next((folder / "series").iterdir()))
    assert "DERIVED" in derived.ImageType
    # a retry (its worker killed after the rename) finds it and writes nothing
    inode = folder.stat().st_ino
    again = work.write_result(item.key, item.kind, item.inputs, result, options)
    assert again["status"] == "found" and folder.stat().st_ino == inode
    assert list((tmp_path / work.STAGING).iterdir()) == []


def test_a_clean_series_is_screened_clean(archive, tmp_path):
    item = _item(archive, "mr_clean")
    screened, payload = work.screen(item.key, item.kind, item.inputs, work.Options(out=str(tmp_path)))
    assert screened["status"] == "clean" and payload is None


def test_a_reason_never_holds_the_input_path(archive, tmp_path):
    item = _item(archive, "truncated")
    screened, _ = work.screen(item.key, item.kind, item.inputs, work.Options(out=str(tmp_path)))
    assert screened["status"] == "failed"
    assert "truncated" in screened["reason"] and str(archive) not in screened["reason"]
    assert work.scrub(f"cannot open {item.inputs[0]}", item.inputs) == "cannot open <input>"


def test_publish_never_replaces_a_published_result(tmp_path):
    target = tmp_path / "ab" / "abcd"
    for n in (1, 2):
        staged = tmp_path / f"staged{n}"
        staged.mkdir()
        (staged / "report.json").write_text(str(n))
        assert work.publish(staged, target) is (n == 1)
        assert not staged.exists()
    assert (target / "report.json").read_text() == "1"


def test_the_manifest_resumes_what_a_killed_run_left(tmp_path):
    manifest = Manifest(tmp_path / "batch.sqlite")
    items = [Item("a" * 16, "nifti", ["/x/a.nii.gz"]), Item("b" * 16, "nifti", ["/x/b.nii.gz"]),
             Item("c" * 16, "unknown", ["/x/c.txt"], "not an image"),
             Item("d" * 16, "non-image", ["/x/d.dcm"], "a report")]
    assert manifest.add(items, run=1) == 4
    assert manifest.add(items, run=2) == 0  # known keys are kept as they are
    assert [r["key"] for r in manifest.to_do()] == ["a" * 16, "b" * 16]
    manifest.running("a" * 16, "screen")
    manifest.running("b" * 16, "screen")
    manifest.finish("b" * 16, DONE, 1, result="clean", kinds={})
    assert manifest.get("a" * 16)["state"] == RUNNING
    # the driver is killed here; a new one resumes
    assert [r["key"] for r in Manifest(tmp_path / "batch.sqlite").to_do()] == ["a" * 16]
    assert manifest.get("a" * 16)["state"] == PENDING and manifest.get("a" * 16)["attempts"] == 1
    assert manifest.get("c" * 16)["state"] == FAILED and manifest.get("c" * 16)["reason"] == "not an image"
    assert manifest.get("d" * 16)["result"] == "skipped"
    with pytest.raises(ValueError):
        manifest.finish("a" * 16, PENDING, 1)


def test_a_clean_series_is_copied_unchanged_with_clean_copy(archive, tmp_path):
    options = work.Options(out=str(tmp_path), clean="copy")
    item = _item(archive, "ct_clean")
    screened, _ = work.screen(item.key, item.kind, item.inputs, options)
    summary = work.copy_clean(item.key, item.kind, item.inputs, screened, options)
    assert summary["status"] == "written"
    copies = sorted((tmp_path / summary["output"] / "series").iterdir())
    assert [c.read_bytes() for c in copies] == [open(p, "rb").read() for p in item.inputs]
    assert work.copy_clean(item.key, item.kind, item.inputs, screened, options)["status"] == "found"
