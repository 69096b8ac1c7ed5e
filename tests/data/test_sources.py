"""The sources registry holds the training sources of docs/data.md and nothing reserved, finds them in
the data folder before the installed packages, and reads the InVesalius CT at run time."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from medinpaint.data import fetch
from medinpaint.data.sources import (
    PACKAGES,
    SOURCES,
    VALIDATION_SUBJECTS,
    Source,
    available_sources,
    find_source,
    read_inv3,
)
from medinpaint.errors import InputError
from tests.conftest import require_source

RESERVED = ("data_store", "pydicom-data", "J2K_pixelrep_mismatch", "aniso_vox", "t1_coronal_slice",
            "insighttoolkit", "dicompyler", "octave-dicom")


def test_registry_holds_the_data_md_sources_and_nothing_reserved():
    assert PACKAGES["debian"] == ("invesalius-examples", "mricron-data")
    assert PACKAGES["pypi"] == ("dipy", "heudiconv", "nibabel", "nilearn", "nipy", "pydicom")
    for source in SOURCES.values():
        assert not any(word in source.member or word in source.package for word in RESERVED)
        assert source.modality in ("CT", "MR") and source.registry in ("debian", "pypi")
    assert {find_source(n).subject for n in ("ch2", "ch2bet", "ch2better")} == {"colin27"}
    assert set(VALIDATION_SUBJECTS) <= {s.subject for s in SOURCES.values()}
    with pytest.raises(ValueError, match="source"):
        find_source("lena")


def test_a_source_is_found_in_the_data_folder_first(tmp_path, pydicom_files):
    source = find_source("pydicom-ct-small")
    installed = pydicom_files / "CT_small.dcm"
    assert source.path(tmp_path) == installed
    copy = tmp_path / "pypi" / "pydicom" / source.member
    copy.parent.mkdir(parents=True)
    shutil.copy(installed, copy)
    assert source.path(tmp_path) == copy
    assert source.load(tmp_path).meta["subject"] == "pydicom-ct-small"


def test_a_missing_source_says_where_it_looked(tmp_path):
    missing = Source("nowhere", "nobody", "MR", "debian", "no-such-package", "usr/share/no-such/file.nii.gz")
    assert not missing.available(tmp_path)
    with pytest.raises(InputError, match="make data") as error:
        missing.path(tmp_path)
    assert str(tmp_path) in str(error.value) and "/usr/share/no-such/file.nii.gz" in str(error.value)


def test_installed_packages_count_as_available(tmp_path):
    names = {s.name for s in available_sources(tmp_path)}
    assert {"pydicom-ct-small", "pydicom-mr-small", "nibabel-example4d"} <= names
    assert "heudiconv-axasc35" not in names  # optional sources only when asked for


def test_the_invesalius_ct_is_read_from_its_tar():
    path = require_source("cranium")
    volume = read_inv3(path)
    assert volume.shape == (256, 256, 108) and volume.dtype == np.int16
    np.testing.assert_allclose(volume.spacing, (0.9570312, 0.9570312, 1.5), rtol=1e-6)
    assert volume.modality == "CT" and volume.orientation == "LPS"
    assert volume.array.min() == -1024 and 2000 < volume.array.max() < 3072
    # air outside the head, bone inside: a real CT in HU
    assert volume.array[0, 0, 50] < -900 and (volume.array[:, :, 50] > 700).sum() > 500


def test_a_file_that_is_not_an_invesalius_project_is_an_input_error(pydicom_files):
    with pytest.raises(InputError, match="InVesalius"):
        read_inv3(pydicom_files / "CT_small.dcm")


def test_fetch_leaves_unpacked_packages_alone(tmp_path, capsys):
    for registry, packages in PACKAGES.items():
        for package in packages:
            (tmp_path / registry / package).mkdir(parents=True)
    assert fetch.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(f"{registry} {package}: {tmp_path / registry / package}" in out
               for registry, packages in PACKAGES.items() for package in packages)
    assert not (tmp_path / "downloads").exists()


def test_fetch_is_runnable_as_a_module():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "medinpaint.data.fetch", "--help"], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0 and "DIR" in run.stdout.upper()
