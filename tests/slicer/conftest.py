"""Fixtures for the Slicer module's tests: its library on the import path, real processes, real MRML.

The module's Slicer-free library lives in ``plugins/slicer/MedInpaint/MedInpaintLib`` (Slicer puts the
module folder on its import path; so do we). MRML comes from the PyPI package ``slicer-core``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_module

MODULE_DIR = Path(__file__).resolve().parents[2] / "plugins" / "slicer" / "MedInpaint"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))


def running(pids) -> list[int]:
    """Which of ``pids`` still run (zombies excluded), read straight from the OS, not from MedInpaintLib."""
    left = []
    for pid in pids:
        if os.path.exists("/proc/self/stat"):
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    state = f.read().decode("ascii", "replace").rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
        else:
            out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
            state = out.strip()[:1]
            if not state:
                continue
        if state not in ("Z", "X"):
            left.append(pid)
    return left


#: A stand-in for PythonSlicer: a launcher process whose real work runs in a child it waits for.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def launched(command: list[str]) -> list[str]:
    """``command`` started through :data:`LAUNCHER`, as Slicer starts PythonSlicer's real Python."""
    return [sys.executable, "-c", LAUNCHER, *command]


@pytest.fixture(scope="session")
def slicer_mrml():
    """The ``slicer`` package of slicer-core (real MRML, no Qt); fails under CI=true when missing."""
    require_module("slicer_core")
    import slicer
    import slicer.util  # noqa: F401

    return slicer


@pytest.fixture(scope="session")
def repair_cli() -> str:
    """The interpreter that runs ``medinpaint repair``; fails when the subcommand does not exist."""
    result = subprocess.run([sys.executable, "-m", "medinpaint.cli", "repair", "--help"], capture_output=True,
                            text=True)
    assert result.returncode == 0, f"`medinpaint repair` is not available: {result.stderr.strip()}"
    return sys.executable


@pytest.fixture(scope="session")
def mr_slab_int16(sample_data) -> np.ndarray:
    """A real MR head block (Colin27 slab from sample_data), as int16, Slicer's (k, j, i) order."""
    from medinpaint.io import read

    volume = read(sample_data / "mr_head.nii.gz")
    block = volume.array[40:136, 60:156, 20:28]  # (i, j, k): 96 x 96 x 8 voxels of brain and skull
    return np.ascontiguousarray(np.transpose(block).astype(np.int16) * 4)


def oblique_ijk_to_ras() -> np.ndarray:
    """An IJK-to-RAS matrix with oblique axes, anisotropic spacing and a non-zero origin."""
    a, b = np.deg2rad(17.0), np.deg2rad(-8.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    matrix = np.eye(4)
    matrix[:3, :3] = rz @ rx @ np.diag([0.82, 0.91, 3.3])
    matrix[:3, 3] = [-41.25, 17.5, 96.125]
    return matrix


REPOSITORY = MODULE_DIR.parents[2]
WHEEL_BUILDER = MODULE_DIR.parent / "CMake" / "build_medinpaint_wheel.py"


@pytest.fixture(scope="session")
def carried_wheel(tmp_path_factory) -> Path:
    """The medinpaint wheel the extension carries, built from this repository by the extension's own
    build step (the script CMake runs), into a fresh folder."""
    out = tmp_path_factory.mktemp("wheels")
    result = subprocess.run([sys.executable, str(WHEEL_BUILDER), str(REPOSITORY), str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("medinpaint-*.whl")
    return wheel


@pytest.fixture(scope="session")
def module(slicer_mrml):
    """MedInpaint.py itself, imported on plain MRML (slicer-core): no Qt, no Slicer application."""
    import MedInpaint

    return MedInpaint
