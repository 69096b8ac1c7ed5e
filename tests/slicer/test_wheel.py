"""CMake/build_medinpaint_wheel.py: the medinpaint wheel the extension carries and installs with --no-deps.

The wheel is built here exactly as the extension's build builds it, then checked against the repository
(every module and every declared data file, hashes that verify) and installed by the real pip, offline and
without dependencies, into a fresh folder from which ``medinpaint repair`` starts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile

from tests.slicer.conftest import REPOSITORY, WHEEL_BUILDER


def test_the_wheel_holds_every_module_and_the_shipped_models(carried_wheel, tmp_path):
    modules = {p.relative_to(REPOSITORY).as_posix() for p in (REPOSITORY / "medinpaint").rglob("*.py")
               if "__pycache__" not in p.parts}
    # a wheel built just now: the repository may have gained modules since the session's wheel was built
    subprocess.run([sys.executable, str(WHEEL_BUILDER), str(REPOSITORY), str(tmp_path)], check=True,
                   capture_output=True)
    names = set(zipfile.ZipFile(tmp_path / carried_wheel.name).namelist())
    assert modules <= names
    for data in ("medinpaint/models/repair.safetensors", "medinpaint/models/denoise.safetensors",
                 "medinpaint/models/repair.json", "medinpaint/bundle/configs/inference.json"):
        assert data in names
    assert "medinpaint-0.1.0.dist-info/entry_points.txt" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_the_record_verifies(carried_wheel):
    with zipfile.ZipFile(carried_wheel) as wheel:
        record = wheel.read("medinpaint-0.1.0.dist-info/RECORD").decode().splitlines()
        assert len(record) == len(wheel.namelist())
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            if not digest:
                assert name.endswith("RECORD")
                continue
            data = wheel.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}" and int(size) == len(data), name


def test_the_same_sources_give_the_same_bytes(carried_wheel, tmp_path):
    for build in ("first", "second"):  # back to back, so that nobody edits the sources in between
        subprocess.run([sys.executable, str(WHEEL_BUILDER), str(REPOSITORY), str(tmp_path / build)],
                       check=True, capture_output=True)
    first, second = (tmp_path / build / carried_wheel.name for build in ("first", "second"))
    assert first.read_bytes() == second.read_bytes()


def test_pip_installs_it_offline_without_dependencies_and_the_repair_command_starts(carried_wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--disable-pip-version-check", "--target", str(target), str(carried_wheel)], check=True)
    env = dict(os.environ, PYTHONPATH=str(target))
    where = subprocess.run([sys.executable, "-c", "import medinpaint; print(medinpaint.__file__)"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(target))
    help_text = subprocess.run([sys.executable, "-m", "medinpaint.cli", "repair", "--help"], env=env,
                               cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "--progress" in help_text and "--mask-out" in help_text
