"""A separate process whose output is read by a thread and handed out without ever blocking.

Slicer's GUI thread must not wait on a pipe. A reader thread puts each output line into a queue;
the GUI drains it from a Qt timer with :meth:`BackgroundProcess.poll` (or a script simply calls
:meth:`BackgroundProcess.wait`). The process is started by a *launcher*: in Slicer that is
``slicer.util.launchConsoleProcess``, elsewhere :func:`default_launcher`, which behaves the same way
(stdout and stderr merged, text mode).
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Callable, Mapping

from . import proctree

#: ``launcher(args, environment_updates) -> Popen`` with stdout piped (stderr merged) in text mode.
Launcher = Callable[[list, Mapping], subprocess.Popen]


def default_launcher(args: list, environment_updates: Mapping) -> subprocess.Popen:
    """Start ``args`` the way ``slicer.util.launchConsoleProcess`` does, outside Slicer."""
    env = dict(os.environ)
    env.update(environment_updates)
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)


class BackgroundProcess:
    """One external process: start it, collect its lines, end its whole tree on request.

    Events come out of :meth:`poll` as ``("line", text)`` and, last, ``("exit", status)``.
    """

    def __init__(self, args: list, environment_updates: Mapping | None = None,
                 launcher: Launcher = default_launcher):
        self.args = [str(a) for a in args]
        self.environment_updates = dict(environment_updates or {})
        self.launcher = launcher
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.cancelled = False
        self.ended_pids: list[int] = []
        self._events: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._groups: set[int] = set()

    def start(self) -> None:
        if self.proc is not None:
            raise RuntimeError("this process was started already")
        self.proc = self.launcher(self.args, self.environment_updates)
        self._thread = threading.Thread(target=self._read, name="medinpaint-output", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self._thread is not None and self._thread.is_alive()

    def _read(self) -> None:
        proc = self.proc
        first = True
        while True:
            try:
                line = proc.stdout.readline()
            except UnicodeDecodeError:  # a non-UTF-8 line from a library: skip it, as Slicer does
                continue
            except ValueError:  # the pipe was closed under us by a cancel
                break
            if not line:
                break
            if first:
                # By its first line the run has moved into its own session: remember that group,
                # so a cancel still finds its processes should the launcher have gone already.
                first = False
                self._groups |= proctree.tree_groups(proc.pid)
            self._events.put(("line", line.rstrip("\r\n")))
        self.returncode = proc.wait()
        self._events.put(("exit", self.returncode))

    def poll(self) -> list[tuple[str, object]]:
        """Every event that arrived since the last call; never blocks."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def wait(self, timeout: float | None = None) -> list[tuple[str, object]]:
        """Block until the process has ended and its output is read; return the remaining events."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the process {self.pid} is still running after {timeout} s")
        return self.poll()

    def cancel(self, timeout: float = 10.0) -> list[int]:
        """End the process and every process it started; return their pids.

        Raises :class:`~MedInpaintLib.errors.ProcessesLeft` if any survive ``timeout`` seconds.
        """
        self.cancelled = True
        if self.proc is None:
            return []
        if self.proc.poll() is None or self._groups:
            self.ended_pids = proctree.end_tree(self.proc.pid, self._groups, timeout)
        self.proc.wait(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        return self.ended_pids
