"""Archive throughput of ``medinpaint batch`` on Ray against the plain ways of repairing many scans.

The archive: ``--series`` copies of the sample MR head (181x217x48 uint8, NIfTI), each damaged by
``medinpaint.damage`` with its own seed of the 'transmission' preset (truncations and bit errors), so
every one is screened, repaired and written. The same archive is repaired four ways, in one run:

- ``loop of medinpaint repair``: one ``medinpaint repair IN OUT`` process per series, in turn (what a shell
  loop does: Python, PyTorch and the model loaded once per series);
- ``one process in turn``: :func:`medinpaint.repair.run.repair_file` over the series in one process, the
  model loaded once;
  both with ``--threads`` torch threads (default 1, as a Ray worker holding one CPU: on a busy 2-core
  machine two threads ran the same repair 3x slower than one);
- ``batch, N workers``: ``run_batch`` with a Ray started for the job on this machine's cores and N repair
  workers (actors), reading and screening as tasks beside them.

Reported: series per minute of each (wall clock from start to the last result, Ray's start included);
Ray's overhead per series (the batch's wall time per series with one worker, less the one-process time per
series); the time spent per stage summed over the series (read, screen, repair, write) from the manifest;
and peak memory (VmHWM) of every Ray worker process by its role, sampled from /proc.

Run (as root, in a network namespace of its own so that Ray's traffic stays on the loopback):
``unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/bench_batch.py --series 8 --json b.json'``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEEDS = [0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16]


def make_archive(folder: Path, count: int) -> list[Path]:
    from medinpaint.damage.simulate import simulate_volume
    from medinpaint.io import read, write

    clean = read(ROOT / "sample_data" / "mr_head.nii.gz")
    made = []
    for seed in SEEDS:
        if len(made) == count:
            break
        damaged, mask = simulate_volume(clean, "transmission", seed)
        if not mask.any():
            continue
        path = folder / f"mr_{seed:02d}.nii.gz"
        write(damaged, path)
        made.append(path)
    return made


def make_tiny_archive(folder: Path, count: int) -> int:
    """``count`` single-slice DICOM series (pydicom's 128x128 CT slice, each damaged with its own seed, so
    each has a UID of its own): so little work per series that the batch's time is Ray's overhead."""
    from medinpaint.damage.simulate import simulate_volume
    from medinpaint.io import read, write

    clean = read(ROOT / "sample_data" / "ct_slice.dcm")
    made, seed = 0, 0
    while made < count:
        damaged, mask = simulate_volume(clean, "transmission", seed)
        seed += 1
        if mask.any():
            write(damaged, folder / f"s{made:03d}", derivation=f"Damage simulated (seed {seed})")
            made += 1
    return made


class PeakMemory:
    """Peak resident memory (VmHWM, MiB) of Ray's worker processes, sampled every 0.2 s from /proc: a
    process that ever ran a ``Repairer`` is a repair worker, any other ``ray::`` worker a task worker
    (screening, writing), and Ray's own agents are left out."""

    def __init__(self):
        self.peaks: dict[str, float] = {}
        self.by_pid: dict[int, tuple[set, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for roles, peak in self.by_pid.values():
            if roles & {"DashboardAgent", "RuntimeEnvAgent"}:
                continue
            kind = "repair worker" if "Repairer" in roles else "task worker"
            self.peaks[kind] = round(max(self.peaks.get(kind, 0.0), peak))

    @staticmethod
    def _read(pid: str) -> tuple[str, int] | None:
        try:
            name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            if not name.startswith("ray::"):
                return None
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0)
        return name.split()[0][5:].split(".")[0], hwm

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            for entry in os.listdir("/proc"):
                found = self._read(entry) if entry.isdigit() else None
                if found is None:
                    continue
                roles, peak = self.by_pid.get(int(entry), (set(), 0.0))
                self.by_pid[int(entry)] = (roles | {found[0]}, max(peak, found[1] / 1024))


def run_loop(scans: list[Path], out: Path, threads: int) -> float:
    out.mkdir()
    started = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))  # torch takes its thread count from it
    for scan in scans:
        subprocess.run([sys.executable, "-c", "import sys; from medinpaint.cli import main; sys.exit(main())",
                        "repair", str(scan), str(out / scan.name)], check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def run_in_turn(scans: list[Path], out: Path, threads: int) -> float:
    import torch

    from medinpaint.nets import default_model_path, load_model
    from medinpaint.repair.run import repair_file

    torch.set_num_threads(threads)
    out.mkdir()
    started = time.perf_counter()
    model, _ = load_model(default_model_path("repair"))
    for scan in scans:
        repair_file(scan, out / scan.name, model=model, device="cpu")
    return time.perf_counter() - started


def run_ray(source: Path, out: Path, workers: int, cpus: int) -> tuple[float, dict, dict]:
    from medinpaint.batch import BatchOptions, Manifest, run_batch

    with PeakMemory() as memory:
        started = time.perf_counter()
        summary = run_batch(source, out, BatchOptions(workers=workers, cpus=cpus, progress=False))
        seconds = time.perf_counter() - started
    manifest = Manifest(out / "batch.sqlite")
    stages: dict[str, float] = {}
    for row in manifest.rows():
        for stage, value in (row["timings"] or {}).items():
            stages[stage] = round(stages.get(stage, 0.0) + value, 2)
    manifest.close()
    assert summary["failed"] == 0 and summary["repaired"] == summary["damaged"], summary
    return seconds, stages, memory.peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=8)
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=1, help="run every way this often, in turn; "
                        "the median is reported (for a busy machine)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the loop and the one "
                        "process (default 1, as a Ray worker holding one CPU)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        source = work / "archive"
        source.mkdir()
        scans = make_archive(source, args.series)
        n = len(scans)
        ways = ["loop of `medinpaint repair` processes", "one process repairing in turn",
                "`medinpaint batch`, 1 repair worker", "`medinpaint batch`, 2 repair workers"]
        times: dict[str, list[float]] = {way: [] for way in ways}
        stages_by_workers, peaks_by_workers, loads = {}, {}, [os.getloadavg()[0]]
        for attempt in range(args.repeat):
            times[ways[0]].append(run_loop(scans, work / f"loop{attempt}", args.threads))
            times[ways[1]].append(run_in_turn(scans, work / f"in_turn{attempt}", args.threads))
            for workers in (1, 2):
                seconds, stages, peaks = run_ray(source, work / f"ray{workers}-{attempt}", workers, args.cpus)
                times[ways[1 + workers]].append(seconds)
                stages_by_workers[workers], peaks_by_workers[workers] = stages, peaks
            loads.append(os.getloadavg()[0])
        rows = []
        for way in ways:
            seconds = round(statistics.median(times[way]), 2)
            rows.append({"way": way, "seconds": seconds, "series_per_minute": round(60 * n / seconds, 2),
                         "all_seconds": [round(t, 2) for t in times[way]]})
        tiny = {}
        for count in (10, 40):
            folder = work / f"tiny{count}"
            folder.mkdir()
            make_tiny_archive(folder, count)
            tiny[count] = run_ray(folder, work / f"tiny{count}-out", 1, args.cpus)[0]
        overhead = round((tiny[40] - tiny[10]) / 30, 3)
        fixed = round(tiny[10] - 10 * overhead, 2)
        loads.append(os.getloadavg()[0])
        result = {
            "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "series": n, "cpus": args.cpus,
            "load_average_1min": [round(x, 1) for x in loads], "repeat": args.repeat, "threads": args.threads,
            "series_shape": [181, 217, 48], "ways": rows, "ray_overhead_s_per_series": overhead,
            "ray_fixed_cost_s_per_job": fixed, "tiny_jobs_s": tiny,
            "stage_seconds_summed": stages_by_workers, "peak_memory_mib_by_role": peaks_by_workers,
        }
        print(json.dumps(result, indent=2))
        table = ["| way | series/min | wall s |", "| --- | ---: | ---: |"]
        table += [f"| {r['way']} | {r['series_per_minute']} | {r['seconds']} |" for r in rows]
        table.append(f"\nRay overhead per series (tiny series, 1 worker): {overhead} s; per job (Ray start "
                     f"and stop, model load): {fixed} s")
        for workers, peaks in peaks_by_workers.items():
            table.append(f"Peak memory with {workers} worker(s), MiB: "
                         + ", ".join(f"{k} {v}" for k, v in sorted(peaks.items())))
        markdown = "\n".join(table)
        print(markdown)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        if args.markdown:
            args.markdown.write_text(markdown + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
