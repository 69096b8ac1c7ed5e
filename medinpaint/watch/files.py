"""Moving files the crash-safe way: staging and publishing results, copies, quarantine, the done folder.

Results are built in a staging folder on OUT's file system and appear in OUT with one ``rename``, so a
reader of OUT sees a series whole or not at all and never a temporary name. The staging folder belongs to
the watcher alone and is emptied at every start, which removes whatever a killed run left half-written.
Inputs are only ever read, copied or renamed; moves across file systems copy, fsync, rename, and only
then remove the original.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from medinpaint.errors import OutputError
from medinpaint.io.atomic import fsync_dir

REASON_SUFFIX = ".reason.txt"


def short_hash(text: str, length: int = 12) -> str:
    """A short, stable name for a UID: used in logs and file names instead of tag values."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def write_file_atomic(path: Path, data: bytes, temp_suffix: str = ".part") -> None:
    """Write ``data`` under ``path + temp_suffix``, fsync it, then rename it to ``path``."""
    temp = path.with_name(path.name + temp_suffix)
    with open(temp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
    fsync_dir(path.parent)


def staging_folder(state: Path, out: Path, chosen: Path | None = None) -> Path:
    """A folder for results in the making, on the same file system as ``out`` (so that rename works).

    ``state/staging`` when the state folder shares OUT's file system, else ``out/.medinpaint-staging``
    (hidden, so that importers which skip dot-names never see it).
    """
    out.mkdir(parents=True, exist_ok=True)
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        if os.stat(chosen).st_dev != os.stat(out).st_dev:
            raise OutputError(chosen, f"the staging folder must be on the same file system as {out}")
        return chosen
    candidate = state / "staging"
    candidate.mkdir(parents=True, exist_ok=True)
    if os.stat(candidate).st_dev == os.stat(out).st_dev:
        return candidate
    fallback = out / ".medinpaint-staging"
    fallback.mkdir(exist_ok=True)
    return fallback


def empty_folder(folder: Path) -> int:
    """Remove everything inside ``folder`` (a staging folder after a crash); how many entries went."""
    removed = 0
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed += 1
    return removed


def publish(staged: Path, target: Path) -> bool:
    """Rename the finished folder ``staged`` to ``target`` in one step; False (and ``staged`` removed)
    when ``target`` exists already, i.e. an earlier run published it just before it was killed."""
    for f in staged.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    fsync_dir(staged)
    if target.exists():
        shutil.rmtree(staged)
        return False
    os.rename(staged, target)
    fsync_dir(target.parent)
    return True


def copy_files(files: list[Path], folder: Path) -> list[Path]:
    """Copy ``files`` unchanged into a new ``folder`` as IM00001.dcm..., in the order given."""
    folder.mkdir()
    copies = []
    for n, src in enumerate(files, start=1):
        dst = folder / f"IM{n:05d}.dcm"
        shutil.copyfile(src, dst)
        copies.append(dst)
    return copies


def move_file(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` (parents created); across file systems copy, fsync, rename, then unlink."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another file system
            raise
        temp = dst.with_name(dst.name + ".part")
        shutil.copyfile(src, temp)
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, dst)
        fsync_dir(dst.parent)
        src.unlink()
    fsync_dir(dst.parent)


def quarantine(path: Path, reason: str, folder: Path, root: Path) -> Path:
    """Move an unreadable input into ``folder`` with ``<name>.reason.txt`` beside it; the new path.

    The reason file is written first, so a crash in between leaves the file in place to be found
    (and quarantined) again, never a file in quarantine without its reason. A reason file without its
    file is such a leftover, and is written again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stem = path.name
    dst = folder / stem
    n = 1
    while dst.exists():
        dst = folder / f"{stem}.{n}"
        n += 1
    try:
        where = path.relative_to(root)
    except ValueError:
        where = path
    text = (f"file: {where}\nquarantined: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
            f"reason: {reason}\n")
    write_file_atomic(dst.with_name(dst.name + REASON_SUFFIX), text.encode())
    move_file(path, dst)
    return dst


def done_path(path: Path, root: Path, folder: Path) -> Path:
    """Where an input goes in the done folder: the same path relative to the watched folder."""
    try:
        return folder / path.relative_to(root)
    except ValueError:
        return folder / path.name
