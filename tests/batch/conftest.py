"""Fixtures for the batch tests: the small archive, and real Ray clusters in a private network namespace.

Every Ray these tests start lives in a network namespace of its own (``unshare -n``, as root) whose only
interface is the loopback: Ray on Linux names its nodes by the machine's routable address even when told
127.0.0.1, and inside the namespace that address is 127.0.0.1, so no Ray traffic can leave the loopback.
A cluster is stopped by killing exactly the processes inside its namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.batch.tree import make_archive
from tests.conftest import _missing

ROOT = Path(__file__).resolve().parents[2]
RAY_BIN = Path(sys.executable).parent / "ray"


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Path:
    return make_archive(tmp_path_factory.mktemp("archive") / "tree")


class Namespace:
    """A network namespace with only the loopback up, held open by a sleeping process."""

    def __init__(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
            _missing("a private network namespace (root, unshare and nsenter)")
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "3600"])
        time.sleep(0.2)
        up = subprocess.run(self.prefix() + ["ip", "link", "set", "lo", "up"], capture_output=True)
        if self.holder.poll() is not None or up.returncode != 0:
            self.holder.kill()
            _missing("a private network namespace (unshare -n failed)")
        self.temp = Path(tempfile.mkdtemp(prefix="mpray-", dir="/tmp"))  # short: Ray's socket paths
        self.token = secrets.token_hex(32)  # Ray's token authentication, shared by nodes and drivers

    def prefix(self) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", "--"]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, RAY_TMPDIR=str(self.temp), PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0",
                   RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, **extra)
        env.pop("RAY_ADDRESS", None)
        return env

    def members(self) -> list[int]:
        """The processes inside the namespace, but its holder."""
        mine = os.readlink(f"/proc/{self.holder.pid}/ns/net")
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != self.holder.pid:
                try:
                    if os.readlink(f"/proc/{entry}/ns/net") == mine:
                        found.append(int(entry))
                except OSError:
                    continue
        return found

    def stop_all(self) -> None:
        for pid in self.members():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self.stop_all()
        self.holder.kill()
        self.holder.wait()
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture(scope="module")
def namespace():
    ns = Namespace()
    yield ns
    ns.close()


@pytest.fixture(scope="module")
def cluster(namespace):
    """A real two-node Ray cluster on this machine: ``ray start --head`` and a second ``ray start
    --address`` with resources of its own, 2 CPUs each. Yields the head's address."""
    port = "6390"
    env = namespace.env()
    head = [str(RAY_BIN), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
            "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={namespace.temp / 'head'}"]
    worker = [str(RAY_BIN), "start", f"--address=127.0.0.1:{port}", "--num-cpus=2",
              '--resources={"second": 1}', "--disable-usage-stats", f"--temp-dir={namespace.temp / 'second'}"]
    for command in (head, worker):
        done = subprocess.run(namespace.prefix() + command, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    yield f"127.0.0.1:{port}"
    namespace.stop_all()


def batch_command(*args: str) -> list[str]:
    """``medinpaint -v batch --no-progress ARGS``: every series logged, to check that no log names one."""
    return [sys.executable, "-m", "medinpaint.cli", "-v", "batch", "--no-progress", *args]


def run_batch_cli(namespace: Namespace, *args: str, timeout: float = 150,
                  **env: str) -> subprocess.CompletedProcess:
    """``medinpaint batch ARGS`` inside the namespace, to its end."""
    return subprocess.run(namespace.prefix() + batch_command(*args), env=namespace.env(**env),
                          capture_output=True, text=True, timeout=timeout)


def manifest_rows(out: Path) -> dict[str, dict]:
    db = sqlite3.connect(out / "batch.sqlite")
    db.row_factory = sqlite3.Row
    rows = {r["key"]: dict(r) for r in db.execute("SELECT * FROM series")}
    db.close()
    return rows


def published(out: Path) -> dict[str, Path]:
    """The result folders in OUT, by key."""
    return {p.name: p for p in out.glob("??/*") if p.is_dir()}


def wait_for(path: Path, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.2)
    raise AssertionError(f"{path.name} did not appear within {timeout} s")


def summary(out: Path) -> dict:
    return json.loads((out / "report" / "summary.json").read_text())
