"""The watcher as a service (inotify, or polling for network shares): a slow copy is not taken before
it is complete, and SIGTERM lets the current series finish before a clean exit."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest

from medinpaint.watch.files import short_hash
from tests.watch.runner import Process, watch_args
from tests.watch.series import out_series, sample_series, temp_names

STABLE = 2.0


def trickle(sources: list[Path], folder: Path, out: Path) -> float:
    """Copy the files one by one, each in three chunks, one of them via a .part name; OUT must stay
    empty all along. Returns the time the last byte was written."""
    folder.mkdir(parents=True)
    for n, src in enumerate(sources):
        data = src.read_bytes()
        target = folder / (src.name + ".part" if n == 1 else src.name)
        with open(target, "wb") as f:
            for chunk in range(3):
                f.write(data[chunk * len(data) // 3:(chunk + 1) * len(data) // 3])
                f.flush()
                last = time.time()
                time.sleep(0.2)
                assert not any(out.iterdir()), "a series was taken while still being copied"
        if target.name.endswith(".part"):
            target.rename(folder / src.name)
        time.sleep(0.3)
    return last


@pytest.mark.parametrize("mode", ["inotify", "polling"])
def test_slow_copy_waits_and_sigterm_finishes_the_series(tmp_path, mode):
    sources = sample_series(tmp_path / "src", damaged=3)
    (tmp_path / "out").mkdir()
    (tmp_path / "watch.toml").write_text("[watch]\npoll_seconds = 0.5\n")
    extra = ["--polling"] if mode == "polling" else []
    watcher = Process(watch_args(tmp_path, "--config", str(tmp_path / "watch.toml"), *extra, stable=STABLE))
    watcher.wait_for("watching")
    last_write = trickle(sources, tmp_path / "in" / "incoming", tmp_path / "out")
    watcher.wait_for("complete with 5 files", timeout=30)
    assert watcher.proc.poll() is None
    watcher.proc.terminate()  # SIGTERM while the series is being repaired
    assert watcher.finish(timeout=90) == 0, watcher.log
    assert "stopped cleanly" in watcher.log

    tag = short_hash(pydicom.dcmread(sources[0]).SeriesInstanceUID)
    assert {t: len(v) for t, v in out_series(tmp_path / "out").items()} == {tag: 5}
    assert temp_names(tmp_path / "out") == []
    with sqlite3.connect(tmp_path / "state" / "journal.sqlite") as db:
        state, = db.execute("SELECT state FROM series WHERE tag = ?", (tag,)).fetchone()
        taken, = db.execute("SELECT at FROM events WHERE tag = ? AND event = 'stable'", (tag,)).fetchone()
        service = dict(db.execute("SELECT key, value FROM service").fetchall())
    assert state == "written"
    assert taken >= last_write + STABLE - 0.05  # complete only S seconds after the last byte
    assert json.loads(service["running"]) is False
