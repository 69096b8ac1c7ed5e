"""Moving files the crash-safe way: staging and publishing results, copies, quarantine, the done folder.

Results are built in a staging folder on OUT's file system and appear in OUT with one ``rename``, so a
reader of OUT sees a series whole or not at all and never a temporary name. The staging folder belongs to
the watcher alone and is emptied at every start, which removes whatever a killed run left half-written.
Inputs are only ever read, copied or renamed; moves across file systems copy, fsync, rename, and only
then remove the original. When IN is read-only the original cannot be removed: it is copied once and
the caller remembers that it was (``COPIED``), so it is never copied again.

Everything written here is ``0640`` and every folder made here ``0750``, whatever the umask or the path
taken (a rename keeps a file's mode, ``mkdtemp`` makes ``0700``): results hold patient data.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
from pathlib import Path

from medinpaint.errors import OutputError
from medinpaint.io.atomic import fsync_dir

REASON_SUFFIX = ".reason.txt"
FILE_MODE, DIR_MODE = 0o640, 0o750
MOVED, COPIED = "moved", "copied"
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def short_hash(text: str, length: int = 12) -> str:
    """A short, stable name for a UID: used in logs and file names instead of tag values."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def instance_hash(sop_uid: str) -> str:
    """How logs and the journal name an instance: a short hash of its SOPInstanceUID."""
    return short_hash(sop_uid, 16)


def make_dirs(folder: Path) -> Path:
    """``mkdir -p`` with every folder it makes ``0750``."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        try:
            made.mkdir(DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(made, DIR_MODE)
    return missing[0] if missing else folder


def restrict(path: Path) -> None:
    """``0640`` for a file, ``0750`` for a folder (and what is in it); a file we do not own is left."""
    try:
        if path.is_dir():
            os.chmod(path, DIR_MODE)
            for entry in path.iterdir():
                restrict(entry)
        else:
            os.chmod(path, FILE_MODE)
    except PermissionError:
        pass


def write_file_atomic(path: Path, data: bytes, temp_suffix: str = ".part") -> None:
    """Write ``data`` under ``path + temp_suffix``, fsync it, then rename it to ``path``."""
    temp = path.with_name(path.name + temp_suffix)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with open(fd, "wb") as f:
        os.fchmod(fd, FILE_MODE)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
    fsync_dir(path.parent)


def copy_atomic(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` under a temporary name, fsync, rename; ``0640``."""
    temp = dst.with_name(dst.name + ".part")
    shutil.copyfile(src, temp)
    os.chmod(temp, FILE_MODE)
    with open(temp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(temp, dst)
    fsync_dir(dst.parent)


def staging_folder(state: Path, out: Path, chosen: Path | None = None) -> Path:
    """A folder for results in the making, on the same file system as ``out`` (so that rename works).

    ``state/staging`` when the state folder shares OUT's file system, else ``out/.medinpaint-staging``
    (hidden, so that importers which skip dot-names never see it).
    """
    make_dirs(out)
    if chosen is not None:
        make_dirs(chosen)
        if os.stat(chosen).st_dev != os.stat(out).st_dev:
            raise OutputError(chosen, f"the staging folder must be on the same file system as {out}")
        return chosen
    candidate = state / "staging"
    make_dirs(candidate)
    if os.stat(candidate).st_dev == os.stat(out).st_dev:
        return candidate
    fallback = out / ".medinpaint-staging"
    make_dirs(fallback)
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
    restrict(staged)
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
    make_dirs(folder)
    copies = []
    for n, src in enumerate(files, start=1):
        dst = folder / f"IM{n:05d}.dcm"
        shutil.copyfile(src, dst)
        os.chmod(dst, FILE_MODE)
        copies.append(dst)
    return copies


def move_file(src: Path, dst: Path) -> str:
    """Move ``src`` to ``dst`` (parents created); across file systems copy, fsync, rename, then unlink.

    Returns ``MOVED``, or ``COPIED`` when the original could not be removed (IN is read-only): the
    copy is complete at ``dst``, and the caller must remember not to copy it again.
    """
    make_dirs(dst.parent)
    try:
        os.rename(src, dst)
        restrict(dst)
        fsync_dir(dst.parent)
        return MOVED
    except OSError as exc:
        if exc.errno != errno.EXDEV and exc.errno not in READ_ONLY:
            raise
    if not (dst.exists() and dst.stat().st_size == src.stat().st_size):  # not copied by a killed run
        copy_atomic(src, dst)
    try:
        src.unlink()
    except OSError as exc:
        if exc.errno in READ_ONLY:
            return COPIED
        raise
    fsync_dir(dst.parent)
    return MOVED


def quarantine(path: Path, reason: str, folder: Path, root: Path) -> tuple[Path, str]:
    """Move an unreadable input into ``folder`` with ``<name>.reason.txt`` beside it; the new path and
    ``MOVED`` or ``COPIED`` (IN read-only: the original stays, the caller remembers it).

    The reason file is written first, so a crash in between leaves the file in place to be found
    (and quarantined) again, never a file in quarantine without its reason. A reason file without its
    file is such a leftover, and is written again.
    """
    make_dirs(folder)
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
    # a name that is not UTF-8 is written back as the bytes it was
    write_file_atomic(dst.with_name(dst.name + REASON_SUFFIX), text.encode("utf-8", "surrogateescape"))
    return dst, move_file(path, dst)


def done_path(path: Path, root: Path, folder: Path) -> Path:
    """Where an input goes in the done folder: the same path relative to the watched folder."""
    try:
        return folder / path.relative_to(root)
    except ValueError:
        return folder / path.name
