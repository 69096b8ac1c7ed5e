"""Shared fixtures: real test files from pydicom, pydicom-data and nibabel, and tool requirements.

Under CI=true a test whose tool or package is missing fails instead of skipping, so CI can never go
green by silently not testing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is missing")
    pytest.skip(f"{what} is not installed")


def require_tool(name: str) -> str:
    """Path of a command-line tool, or skip (fail under CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        _missing(f"the tool {name!r}")
    return path


def require_module(name: str):
    """Import a Python module, or skip (fail under CI) when it is missing."""
    if importlib.util.find_spec(name) is None:
        _missing(f"the Python package {name!r}")
    return importlib.import_module(name)


def require_file(path: str | Path) -> Path:
    """A data file from a system package, or skip (fail under CI) when it is missing."""
    path = Path(path)
    if not path.exists():
        _missing(f"the file {path}")
    return path


def require_source(name: str) -> Path:
    """Where a training source of ``medinpaint.data`` lies (the data folder, then the installed package).

    ``make test`` fetches the sources first (``make data``); a source still missing skips the test with
    the places looked in, and fails it under CI=true.
    """
    from medinpaint.data.sources import find_source

    source = find_source(name)
    path = next((p for p in source.candidates() if p.exists()), None)
    if path is None:
        looked = ", ".join(map(str, source.candidates()))
        _missing(f"the source {name!r} (looked in {looked}; run `make data`)")
    return path


@pytest.fixture(scope="session")
def pydicom_files() -> Path:
    import pydicom

    return Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.fixture(scope="session")
def pydicom_data_files() -> Path:
    """pydicom-data's store (multi-frame and compressed twins); reserved for I/O tests only."""
    module = require_module("data_store")
    return Path(module.__file__).parent / "data"


@pytest.fixture(scope="session")
def nibabel_files() -> Path:
    import nibabel

    return Path(nibabel.__file__).parent / "tests" / "data"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="session")
def mr_head() -> Path:
    """Colin27 T1 head (Debian mricron-data), a training source."""
    return require_source("ch2")
