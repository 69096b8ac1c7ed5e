"""Atomic outputs: write under a temporary name beside the target, rename only when complete.

A reader of the output folder never sees a half-written file, and a failed write leaves nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from medinpaint.errors import OutputError


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse an existing output (unless ``overwrite``) and a folder we cannot write into."""
    if path.exists() and not overwrite and not path.is_dir():
        raise OutputError(path, "exists already (use --overwrite to replace it)")
    parent = path.parent if not path.is_dir() else path
    if not parent.exists():
        raise OutputError(path, f"its folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(path, f"its folder {parent} is not writable")


def _suffixes(path: Path) -> str:
    name = path.name
    return name[name.index("."):] if "." in name.lstrip(".") else ""


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path (same folder, same extensions) that becomes ``path`` on success."""
    path = Path(path)
    check_writable(path, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + _suffixes(path), dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder whose files end up in ``path``.

    A new ``path`` appears in one rename. Into an existing folder each file is renamed in turn
    once all of them are written, so no file is ever seen half-written.
    """
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        raise OutputError(path, f"its folder {parent} does not exist")
    if not os.access(path if path.is_dir() else parent, os.W_OK):
        raise OutputError(path, "is not writable")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp",
                                    dir=path if path.is_dir() else parent))
    try:
        yield staging
        for f in staging.iterdir():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
        if path.is_dir():
            clashes = [f.name for f in staging.iterdir() if (path / f.name).exists()]
            if clashes and not overwrite:
                raise OutputError(path / clashes[0], "exists already (use --overwrite to replace it)")
            for f in sorted(staging.iterdir()):
                os.replace(f, path / f.name)
            staging.rmdir()
            fsync_dir(path)
        else:
            os.replace(staging, path)
            fsync_dir(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
