"""Fetch the training and validation sources with the package managers: ``make data``.

Run: ``python -m medinpaint.data.fetch [DIR]`` (DIR defaults to the data folder of
:func:`medinpaint.data.sources.data_dir`). Debian packages come from ``apt-get download`` and are
unpacked with ``dpkg-deb -x`` into ``DIR/debian/<package>/``; PyPI packages from
``pip download --no-deps --only-binary :all:`` and are unzipped into ``DIR/pypi/<package>/``. Nothing is
installed, and a package already unpacked is left alone, so the command can be rerun.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from medinpaint.data.sources import PACKAGES, available_sources, data_dir


def _run(command: list[str], cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def fetch_debian(package: str, folder: Path) -> Path:
    """Download a Debian package and unpack it into ``folder/debian/<package>``."""
    target = folder / "debian" / package
    if target.exists():
        return target
    downloads = folder / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    _run(["apt-get", "download", package], downloads)
    debs = sorted(downloads.glob(f"{package}_*.deb"))
    if not debs:
        raise FileNotFoundError(f"apt-get download {package} left no .deb in {downloads}")
    partial = target.with_name(package + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _run(["dpkg-deb", "-x", str(debs[-1]), str(partial)], downloads)
    partial.rename(target)
    return target


def fetch_pypi(package: str, folder: Path) -> Path:
    """Download a PyPI wheel (no dependencies) and unzip it into ``folder/pypi/<package>``."""
    target = folder / "pypi" / package
    if target.exists():
        return target
    downloads = folder / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
          "--dest", str(downloads), package], downloads)
    wheels = sorted(downloads.glob(f"{package.replace('-', '_')}-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip download {package} left no wheel in {downloads}")
    partial = target.with_name(package + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        wheel.extractall(partial)
    partial.rename(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medinpaint.data.fetch",
                                     description="Fetch the training and validation sources of "
                                     "docs/data.md with apt-get and pip into DIR (this is `make data`).")
    parser.add_argument("folder", nargs="?", type=Path, default=None, metavar="DIR",
                        help=f"data folder (default: $MEDINPAINT_DATA or {data_dir()})")
    args = parser.parse_args(argv)
    folder = (args.folder or data_dir()).resolve()
    failed = []
    for registry, fetch in (("debian", fetch_debian), ("pypi", fetch_pypi)):
        for package in PACKAGES[registry]:
            try:
                print(f"{registry} {package}: {fetch(package, folder)}")
            except (OSError, subprocess.CalledProcessError) as error:
                detail = getattr(error, "output", "") or str(error)
                print(f"{registry} {package}: FAILED: {detail.strip().splitlines()[-1:]}", file=sys.stderr)
                failed.append(package)
    found = available_sources(folder, include_optional=True)
    print(f"{len(found)} sources available: {', '.join(s.name for s in found)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
