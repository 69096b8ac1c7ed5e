"""Ending a whole process tree, and proving that nothing of it is left.

A repair run is a tree: ``PythonSlicer`` is a launcher whose real Python is its child, and that
Python may start workers of its own. Killing the process Slicer started would only end the launcher.
On POSIX the run leads its own session (see ``newsession.py``), so its processes share a process group
even after their parent dies; :func:`end_tree` freezes every process of the tree and of its groups,
kills them, and waits until the process table holds none of them. On Windows it uses ``taskkill /T``.

The process table comes from ``/proc`` (Linux) or ``ps`` (macOS, BSD); no third-party package needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessInfo:
    """One row of the process table."""

    pid: int
    ppid: int
    pgid: int
    zombie: bool  # exited, waiting to be reaped: holds no resources and runs nothing


def process_table() -> dict[int, ProcessInfo]:
    """Every process on the machine that this user can see, by pid."""
    if os.path.exists("/proc/self/stat"):
        return _table_from_proc()
    return _table_from_ps()


def _table_from_proc() -> dict[int, ProcessInfo]:
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:  # ended while we looked
            continue
        # "pid (command) state ppid pgrp ..."; the command may itself contain spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(name)] = ProcessInfo(int(name), int(fields[1]), int(fields[2]), fields[0] in ("Z", "X"))
    return table


def _table_from_ps() -> dict[int, ProcessInfo]:
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,pgid=,stat="], capture_output=True, text=True,
                         check=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            pid, ppid, pgid = (int(p) for p in parts[:3])
            table[pid] = ProcessInfo(pid, ppid, pgid, parts[3].startswith("Z"))
    return table


def descendants(root: int, table: dict[int, ProcessInfo] | None = None) -> set[int]:
    """``root`` and every live process below it (by parent links)."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return {pid for pid in found if pid in table and not table[pid].zombie}


def tree_groups(root: int) -> set[int]:
    """The process groups of ``root``'s tree other than our own: the groups a cancel must end."""
    if os.name == "nt":
        return set()
    table = process_table()
    own = os.getpgrp()
    return {table[pid].pgid for pid in descendants(root, table) if table[pid].pgid not in (own, 0)}


def alive(pids: set[int] | list[int], groups: set[int] = frozenset()) -> list[int]:
    """Which of ``pids``, and which members of ``groups``, are still running (zombies do not count)."""
    if os.name == "nt":
        return [pid for pid in pids if _windows_running(pid)]
    table = process_table()
    left = {pid for pid in pids if pid in table and not table[pid].zombie}
    left |= {pid for pid, info in table.items() if info.pgid in groups and not info.zombie}
    return sorted(left)


def end_tree(root: int, groups: set[int] = frozenset(), timeout: float = 10.0) -> list[int]:
    """End ``root``, everything below it and every process in its tree's groups (plus ``groups``).

    Returns the pids that were ended. Raises :class:`~MedInpaintLib.errors.ProcessesLeft` when some
    are still running after ``timeout`` seconds. ``root`` itself is left as a zombie for its parent
    to reap (``Popen.wait``).
    """
    from .errors import ProcessesLeft

    if os.name == "nt":
        return _end_tree_windows(root, timeout)
    own = os.getpgrp()
    groups = set(groups) - {own, 0}
    frozen: dict[int, int] = {}  # pid -> its process group
    # Freeze first, so that nothing forks new children or re-parents orphans while we collect.
    for _ in range(50):
        table = process_table()
        members = descendants(root, table) | {p for p, i in table.items()
                                              if i.pgid in groups and not i.zombie}
        new = members - frozen.keys()
        if not new:
            break
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            frozen[pid] = table[pid].pgid
            if table[pid].pgid not in (own, 0):
                groups.add(table[pid].pgid)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in frozen:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while True:
        left = alive(set(frozen), groups)
        if not left:
            return sorted(frozen)
        if time.monotonic() > deadline:
            raise ProcessesLeft(left)
        time.sleep(0.02)


def _end_tree_windows(root: int, timeout: float) -> list[int]:
    from .errors import ProcessesLeft

    subprocess.run(["taskkill", "/F", "/T", "/PID", str(root)], capture_output=True, check=False)
    deadline = time.monotonic() + timeout
    while _windows_running(root):
        if time.monotonic() > deadline:
            raise ProcessesLeft([root])
        time.sleep(0.05)
    return [root]


def _windows_running(pid: int) -> bool:
    out = subprocess.run(["tasklist", "/FI", f"PID eq {pid}", "/NH"], capture_output=True, text=True,
                         check=False).stdout
    return str(pid) in out.split()
