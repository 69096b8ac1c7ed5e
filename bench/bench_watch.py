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

- scale (``--scale``): how the watcher's picture of IN grows with it. 200 series of 100 instances
  (20,000 files, real CT slices) are written once into a folder (``--data``, kept between runs); an
  in-process ``Tracker`` (the watcher's completeness logic, no repair) then reads them (first look),
  decides which series are complete while every series has one file just changed (a tick while they
  arrive) and once all are quiet (the decision that takes them), and reports the memory it holds per
  file (its own objects, measured by walking them), before and after the finished series are settled,
  and the time of a later periodic rescan. Run it with this file copied into an older
  checkout to measure that checkout's tracker:
  ``.venv/bin/python bench/bench_watch.py --scale --data /tmp/bench_watch_scale``
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


def scale_data(folder: Path, series: int, per_series: int) -> list[Path]:
    """``series`` folders of ``per_series`` instances made from one real slice (written once)."""
    import numpy as np
    from pydicom.uid import generate_uid

    folders = [folder / f"s{n:03d}" for n in range(series)]
    if all(f.exists() and len(list(f.iterdir())) == per_series for f in folders):
        return folders
    ds = pydicom.dcmread(CT_SLICE)
    normal = np.cross([float(v) for v in ds.ImageOrientationPatient[:3]],
                      [float(v) for v in ds.ImageOrientationPatient[3:]])
    origin = np.array([float(v) for v in ds.ImagePositionPatient])
    for target in folders:
        target.mkdir(parents=True, exist_ok=True)
        ds.SeriesInstanceUID = generate_uid()
        for k in range(per_series):
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.InstanceNumber = k + 1
            ds.ImagePositionPatient = [f"{v:.4f}" for v in origin + k * normal]
            ds.save_as(target / f"IM{k + 1:05d}.dcm", enforce_file_format=True)
    return folders


def deep_size(root) -> int:
    """Bytes held by ``root`` and everything it refers to (each object once): what the tracker keeps."""
    import sys as _sys

    seen, stack, total = set(), [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, type):
            continue
        seen.add(id(obj))
        total += _sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif not isinstance(obj, str | bytes | int | float | bool):
            if hasattr(obj, "__dict__"):
                stack.append(vars(obj))
            for klass in type(obj).__mro__:
                for name in getattr(klass, "__slots__", ()):
                    if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                        stack.append(getattr(obj, name))
    return total


def tracker_size(tracker) -> int:
    """The tracker's own picture (not its clock or root)."""
    return deep_size([value for name, value in vars(tracker).items() if name not in ("clock", "root")])


def scale(args: argparse.Namespace) -> dict:
    """The tracker on 20,000 files: first look, a tick while series arrive, the deciding tick, memory."""
    import os

    from medinpaint.watch.tracker import Tracker

    data = Path(args.data or tempfile.mkdtemp(prefix="bench_watch_scale."))
    folders = scale_data(data, args.scale_series, args.scale_files)
    stable = 60.0

    class Clock:
        now = time.time() + 3600  # an hour later: every file is an hour old

    def fresh() -> Tracker:
        return Tracker(data, clock=lambda: Clock.now)

    results: dict = {"series": len(folders), "files": len(folders) * args.scale_files}
    tracker = fresh()
    started = time.perf_counter()
    tracker.rescan()
    results["first_look_s"] = round(time.perf_counter() - started, 2)
    touched = [sorted(f.iterdir())[0] for f in folders]
    for path in touched:  # one file of each series changed just now: nothing is complete yet
        os.utime(path)
        tracker.observe(path)
    Clock.now += 1
    started = time.perf_counter()
    assert tracker.complete(stable) == []
    results["tick_while_arriving_s"] = round(time.perf_counter() - started, 3)
    Clock.now += stable + 1
    started = time.perf_counter()
    ready = tracker.complete(stable)
    results["deciding_tick_s"] = round(time.perf_counter() - started, 2)
    assert len(ready) == len(folders), len(ready)

    results["memory_per_file_bytes"] = round(tracker_size(tracker) / results["files"])
    if hasattr(tracker, "settle"):
        for entry in ready:
            tracker.settle(entry.uid)
        results["memory_per_file_settled_bytes"] = round(tracker_size(tracker) / results["files"])
        started = time.perf_counter()
        tracker.rescan()  # the periodic safety rescan, every rescan_seconds
        results["rescan_settled_s"] = round(time.perf_counter() - started, 2)
    else:  # no settling: finished series stay as they were
        results["memory_per_file_settled_bytes"] = None
        started = time.perf_counter()
        tracker.rescan()
        results["rescan_settled_s"] = round(time.perf_counter() - started, 2)
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if not args.data:
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stable-seconds", type=float, default=2.0)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--series", type=int, default=20, help="series in the throughput batch")
    parser.add_argument("--repeats", type=int, default=3, help="series timed one at a time for latency")
    parser.add_argument("--model", help="repair model (default: the shipped one; without it an untrained "
                        "RepairNet, i.e. its classical fill, which costs the same to run)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--scale", action="store_true", help="measure the tracker on many files instead")
    parser.add_argument("--scale-series", type=int, default=200)
    parser.add_argument("--scale-files", type=int, default=100, help="files per series with --scale")
    parser.add_argument("--data", help="with --scale: keep the generated files here (reused when present)")
    args = parser.parse_args()
    if args.scale:
        results = scale(args)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        return

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
