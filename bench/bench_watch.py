"""Watcher latency and throughput: how soon after its last file arrives is a series repaired in OUT?

Runs the real ``medinpaint watch`` (inotify) as a subprocess. Series are 64 instances of pydicom's real
CT slice ``CT_small.dcm`` (128x128 int16), each copy with its own SOP instance UID and position, and a
block of 16 lost rows (stored value 0) in 4 of the slices, so every series is detected and repaired.

- latency: a series is copied into IN file by file; from the moment the last file is closed to the moment
  ``OUT/<tag>`` appears (renamed into place, complete). Goal: at most stable-seconds + 5 s. A warm-up
  series first, so the figure is that of a running service (PyTorch loaded), not of a cold start.
- throughput: ``--series`` series copied into IN at once; series per minute from the first file copied to
  the last result in OUT.

Run: ``nice -n 10 .venv/bin/python bench/bench_watch.py [--stable-seconds 2] [--series 20] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinpaint.watch.files import short_hash  # noqa: E402
from tests.watch.series import CT_SLICE, built_series  # noqa: E402

DAMAGED = [10, 25, 40, 55]


def make_series(folder: Path, count: int, slices: int) -> list[tuple[str, list[Path]]]:
    """``count`` series of ``slices`` real CT slices each, damaged, prebuilt outside IN."""
    made = []
    for n in range(count):
        files = built_series(folder / f"s{n:03d}", slices, CT_SLICE, damaged=DAMAGED, rows=slice(40, 56))
        made.append((short_hash(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID), files))
    return made


def copy_in(files: list[Path], inbox: Path, name: str) -> float:
    """Copy a series into IN as an export would, file by file; the time the last file was closed."""
    folder = inbox / name
    folder.mkdir(parents=True)
    for f in files:
        shutil.copyfile(f, folder / f.name)
    return time.time()


def wait_for(paths: list[Path], timeout: float) -> list[float]:
    """The time each path appeared (polled every 10 ms)."""
    seen: dict[Path, float] = {}
    end = time.monotonic() + timeout
    while len(seen) < len(paths) and time.monotonic() < end:
        for p in paths:
            if p not in seen and p.exists():
                seen[p] = time.time()
        time.sleep(0.01)
    if len(seen) < len(paths):
        raise TimeoutError(f"{len(paths) - len(seen)} results did not appear within {timeout} s")
    return [seen[p] for p in paths]


def step_times(journal: Path, arrived: dict[str, float]) -> dict[str, float]:
    """Median time of each step for the latency series, from the journal: last file -> stable (the
    stable-seconds wait), then read, repair and write (the watcher's own timings); stable -> written
    adds the journal and the rename to those three."""
    db = sqlite3.connect(journal)
    rows = {name: [] for name in ("last_file_to_stable", "read", "repair", "write", "stable_to_written")}
    for tag, last in arrived.items():
        (report,) = db.execute("SELECT report FROM series WHERE tag = ?", (tag,)).fetchone()
        for name, value in json.loads(report)["timings_s"].items():
            rows[name].append(value)
        at = dict(db.execute("SELECT event, at FROM events WHERE tag = ? AND event IN ('stable', 'written')",
                             (tag,)).fetchall())
        rows["last_file_to_stable"].append(at["stable"] - last)
        rows["stable_to_written"].append(at["written"] - at["stable"])
    return {name: round(statistics.median(values), 2) for name, values in rows.items() if values}


def repair_model(chosen: str | None, work: Path) -> tuple[Path, str]:
    """The model to run: the one asked for, the shipped one, or an untrained RepairNet of the same size."""
    from medinpaint.nets import RepairNet, default_model_path, save_model

    if chosen:
        return Path(chosen), Path(chosen).name
    if default_model_path("repair").exists():
        return default_model_path("repair"), "shipped repair.safetensors"
    path = work / "fill.safetensors"
    save_model(RepairNet(context=1), path, {"context": 1})
    return path, "untrained RepairNet(context=1) (shipped model not present)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stable-seconds", type=float, default=2.0)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--series", type=int, default=20, help="series in the throughput batch")
    parser.add_argument("--repeats", type=int, default=3, help="series timed one at a time for latency")
    parser.add_argument("--model", help="repair model (default: the shipped one; without it an untrained "
                        "RepairNet, i.e. its classical fill, which costs the same to run)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_watch."))
    model, model_name = repair_model(args.model, work)
    inbox, out = work / "in", work / "out"
    built = make_series(work / "built", 1 + args.repeats + args.series, args.slices)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "medinpaint.cli", "watch", "--in", str(inbox), "--out", str(out), "--state",
         str(work / "state"), "--stable-seconds", str(args.stable_seconds), "--model", str(model)], cwd=ROOT)
    try:
        time.sleep(1.0)
        tag, files = built[0]  # warm-up: loads PyTorch and the models
        copy_in(files, inbox, "warmup")
        wait_for([out / tag], timeout=300)

        latencies, arrived = [], {}
        for tag, files in built[1:1 + args.repeats]:
            arrived[tag] = copy_in(files, inbox, tag)
            (appeared,) = wait_for([out / tag], timeout=300)
            latencies.append(appeared - arrived[tag])

        batch = built[1 + args.repeats:]
        start = time.time()
        for tag, files in batch:
            copy_in(files, inbox, f"batch-{tag}")
        copied = time.time()
        done = wait_for([out / tag for tag, _ in batch], timeout=1800)
        elapsed = max(done) - start
    finally:
        watcher.terminate()
        watcher.wait(timeout=300)
    steps = step_times(work / "state" / "journal.sqlite", arrived)

    results = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "series": f"{args.slices} copies of pydicom CT_small.dcm (128x128 int16), new UIDs and positions, "
                  f"16 rows lost in slices {DAMAGED}",
        "model": model_name,
        "stable_seconds": args.stable_seconds,
        "latency_s": [round(v, 2) for v in latencies],
        "latency_median_s": round(statistics.median(latencies), 2),
        "latency_over_stable_s": round(statistics.median(latencies) - args.stable_seconds, 2),
        "latency_steps_median_s": steps,
        "batch_series": len(batch),
        "batch_copy_s": round(copied - start, 2),
        "batch_elapsed_s": round(elapsed, 2),
        "series_per_minute": round(60 * len(batch) / elapsed, 2),
        "watcher_exit": watcher.returncode,
    }
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    print(f"\n| measure | value |\n| --- | --- |\n"
          f"| latency, last file in -> series in OUT (median of {len(latencies)}) "
          f"| {results['latency_median_s']} s "
          f"(stable-seconds {args.stable_seconds:g} + {results['latency_over_stable_s']} s) |\n"
          + "".join(f"| - {name} (median) | {value} s |\n" for name, value in steps.items()) +
          f"| throughput, {len(batch)} series of {args.slices} slices "
          f"| {results['series_per_minute']} series/min "
          f"({results['batch_elapsed_s']} s) |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
