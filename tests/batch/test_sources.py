"""What a batch job works on: series found by UID across files and folders, named by an opaque key,
and every input that cannot be a series kept as an item with its reason."""

from __future__ import annotations

import pydicom

from medinpaint.batch.sources import DICOM, NIFTI, UNKNOWN, discover, series_key
from tests.batch.tree import BAD, GOOD


def _uid(path: str) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


def test_the_archive_gives_one_item_per_series_and_per_bad_input(archive):
    items = discover(archive)
    assert len(items) == GOOD + BAD
    by_kind = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    assert len(by_kind[NIFTI]) == 2
    assert [i.reason for i in by_kind[UNKNOWN]] == [
        "not a DICOM, NIfTI or ITK image (no DICM prefix, no .nii/.nrrd/.mha name)"]


def test_a_series_split_over_two_folders_is_one_item(archive):
    split = [i for i in discover(archive) if any("/split/" in p for p in i.inputs)]
    assert len(split) == 1
    assert len(split[0].inputs) == 5
    assert {p.split("/")[-3] for p in split[0].inputs} == {"site_b", "site_c"}


def test_two_series_in_one_folder_are_two_items(archive):
    mixed = [i for i in discover(archive) if any("/mixed/" in p for p in i.inputs)]
    assert sorted(len(i.inputs) for i in mixed) == [1, 1]


def test_keys_are_hashes_of_the_uid_or_path_never_tag_values(archive):
    for item in discover(archive):
        assert len(item.key) == 16 and int(item.key, 16) >= 0
        if item.kind == DICOM:
            assert item.key == series_key(DICOM, _uid(item.inputs[0]))
            assert item.key not in _uid(item.inputs[0])
        else:
            assert item.key == series_key(item.kind, item.inputs[0])


def test_the_same_tree_gives_the_same_items(archive):
    assert discover(archive) == discover(archive)


def test_a_csv_manifest_names_the_same_series(archive, tmp_path):
    csv = tmp_path / "list.csv"
    roots = ["site_a", "site_b", "site_c", "site_d", "bad"]
    csv.write_text("path\n" + "".join(f"{archive / r}\n" for r in roots))
    assert discover(csv) == discover(archive)


def test_a_csv_path_that_is_gone_is_an_item_that_failed(archive, tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text(f"path\n{archive / 'site_d' / 'mr_clean.nii.gz'}\n{tmp_path / 'gone.nii.gz'}\n")
    items = discover(csv)
    assert sorted(i.reason or "" for i in items) == ["", "does not exist"]
