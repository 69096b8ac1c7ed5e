"""Start the real commands as the tests' subprocesses: ``medinpaint watch`` and ``medinpaint listen``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL: Path | None = None  # the repair model the tests' watchers use (set by conftest.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def medinpaint(*args: str) -> list[str]:
    return [sys.executable, "-m", "medinpaint.cli", "-v", *args]


def watch_args(tmp: Path, *extra: str, stable: float = 1.0) -> list[str]:
    """``medinpaint watch`` on tmp/in -> tmp/out with its state in tmp/state, repairing with MODEL."""
    model = ["--model", str(MODEL)] if MODEL is not None else []
    return medinpaint("watch", "--in", str(tmp / "in"), "--out", str(tmp / "out"),
                      "--state", str(tmp / "state"), "--stable-seconds", str(stable), *model, *extra)


class Process:
    """A running command whose stderr is collected line by line (to wait for a failpoint or a log line)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, failpoint: str | None = None):
        env = dict(os.environ if env is None else env)
        env.pop("MEDINPAINT_WATCH_FAILPOINT", None)
        if failpoint:
            env["MEDINPAINT_WATCH_FAILPOINT"] = failpoint
        self.lines: list[str] = []
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Wait until a stderr line contains ``text``; fail with the log if the process ends or time
        runs out."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                if any(text in line for line in self.lines):
                    return
                raise AssertionError(f"process exited ({self.proc.returncode}) before {text!r}:\n{self.log}")
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} within {timeout} s:\n{self.log}")

    def finish(self, timeout: float = 120.0) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"did not finish within {timeout} s:\n{self.log}") from None
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed, as in a crash or a power cut."""
        self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=5)

    def terminate(self, timeout: float = 60.0) -> int:
        self.proc.terminate()
        return self.finish(timeout)


def run_watch(tmp: Path, *extra: str, stable: float = 1.0, timeout: float = 120.0) -> tuple[int, str]:
    """``medinpaint watch --once``: its exit status and log."""
    proc = Process(watch_args(tmp, "--once", *extra, stable=stable))
    code = proc.finish(timeout)
    return code, proc.log


def watch_status(tmp: Path) -> dict:
    """``medinpaint watch --status``: the journal's summary."""
    result = subprocess.run(medinpaint("watch", "--in", str(tmp / "in"), "--out", str(tmp / "out"), "--state",
                                       str(tmp / "state"), "--status"),
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
