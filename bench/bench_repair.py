"""Repair speed, start and memory: one 512x512 slice, a 512x512x300 CT, the whole-process start, peak RSS.

Prints JSON, then a table. The scans are made from the Cranium CT (Debian invesalius-examples, loaded
at run time): slices upsampled to 512x512 and stacked to the needed depth. Timings include detection
and repair, not reading or writing, except the start and memory runs, which are `medinpaint repair`
end to end in a subprocess. The slice and the volume run in each precision (``--precisions``: float32
is the path of a CPU without native bf16; auto is what the machine picks); the CPU features that
decide between them are reported. ``--isa AVX2`` (or ``AVX512_CORE``) holds torch to that instruction
set: a stand-in for a CPU without AVX512 (or without native bf16) on one that has it. Every timing
records the 1-minute load average beside it (on a shared machine, compare only within a run). The
start is timed against `python -c "import torch"`, the two commands interleaved round after round (a
loaded machine slows both alike), medians reported. Memory: `medinpaint repair` on 512x512xD int16
NIfTIs, for each depth D of ``--depths``: the bench's one slice of lost lines, and packet loss in 2%
of the slices (``--memory-kinds``).

    .venv/bin/python bench/bench_repair.py [--model PATH] [--skip-memory] [--depths 1000 2000 4000]
    .venv/bin/python bench/bench_repair.py --skip-memory --start-rounds 0 --isa AVX2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from medinpaint.damage.transmission import LostLines, PacketLoss
from medinpaint.data.sources import find_source
from medinpaint.io import Volume


def ct_volume(depth: int) -> Volume:
    """A 512x512xdepth int16 CT in HU from the Cranium scan (upsampled, slices repeated in order)."""
    cranium = find_source("cranium").load()
    stored = cranium.array
    up = ndimage.zoom(stored, (2, 2, 1), order=1).astype(np.int16)
    index = np.linspace(0, up.shape[2] - 1, depth).round().astype(int)
    affine = cranium.affine @ np.diag([0.5, 0.5, up.shape[2] / depth, 1])
    meta = {"format": "nifti", "modality": "CT", "path": "cranium-512"}
    return Volume(np.ascontiguousarray(up[:, :, index]), affine, cranium.slope, cranium.intercept, meta)


def damage_slice(plane: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Lost 16x16 packets covering about ``fraction`` of a slice, in a few bursts."""
    rng = np.random.default_rng(seed)
    tiles = (plane.shape[0] // 16) * (plane.shape[1] // 16)
    want = round(fraction * tiles)
    damaged, mask = plane[np.newaxis], np.zeros((1,) + plane.shape, dtype=bool)
    while mask.sum() < want * 256:
        first, length = int(rng.integers(0, tiles - 64)), int(rng.integers(8, 32))
        # the last burst is cut short, so the slice holds the fraction asked for (bursts that overlap
        # lose less: the loop goes on until enough is lost)
        length = min(length, want - int(mask.sum()) // 256)
        burst = PacketLoss(tile_size=16, first_tile=first, num_tiles=length)
        damaged, m = burst(damaged)
        mask |= np.asarray(m).astype(bool)
    return np.asarray(damaged)[0], mask[0]


CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")
# --isa: what torch is held to, read when torch starts (ATen's kernels, oneDNN's convolutions)
ISA_CAPS = {"AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
            "AVX512_CORE": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}}


def cpu_features() -> dict:
    """The CPU's model and the flags that decide the network's arithmetic, as Linux reports them, and
    what torch makes of them."""
    import torch

    from medinpaint.repair.inferer import uses_bfloat16

    model, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    caps = {name: os.environ[name] for name in ISA_CAPS["AVX2"] if name in os.environ}
    return {"model": model, "flags": [f for f in CPU_FLAGS if f in flags],
            "torch_capability": torch.backends.cpu.get_cpu_capability(), "held_to": caps,
            "auto_picks": "bfloat16" if uses_bfloat16(torch.device("cpu"), "auto") else "float32"}


def bench_slice(model_path, repeats: int, precision: str = "auto") -> dict:
    from medinpaint import baselines
    from medinpaint.nets import default_model_path, load_model
    from medinpaint.repair import repair_volume

    model = load_model(model_path or default_model_path("repair"))[0]  # loaded once, as a service would

    volume = ct_volume(12)
    plane = volume.array[:, :, 6]
    damaged, mask = damage_slice(plane, 0.08, 0)
    single = volume.with_array(damaged[:, :, np.newaxis].copy())
    m3 = mask[:, :, np.newaxis]
    options = {"model": model, "device": "cpu", "precision": precision}
    repair_volume(single, mask=m3, **options)  # warm-up: model load, first-call costs
    load = os.getloadavg()[0]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = repair_volume(single, mask=m3, **options)
        times.append(time.perf_counter() - start)
    detect_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        repair_volume(single, **options)
        detect_times.append(time.perf_counter() - start)
    physical = single.physical()[:, :, 0]
    out = {"precision": precision, "picked": result.report["precision"], "load_1min": [round(load, 2),
           round(os.getloadavg()[0], 2)], "damaged_fraction": float(mask.mean()),
           "medinpaint_ms": 1000 * float(np.median(times)),
           "medinpaint_with_detection_ms": 1000 * float(np.median(detect_times))}
    for name, fn in (("telea", baselines.telea), ("biharmonic", baselines.biharmonic)):
        ts = []
        for _ in range(max(1, repeats // 2)):
            start = time.perf_counter()
            fn(physical, mask)
            ts.append(time.perf_counter() - start)
        out[f"{name}_ms"] = 1000 * float(np.median(ts))
    truth = volume.physical()[:, :, 6]
    error = result.volume.physical()[:, :, 0][mask] - truth[mask]
    out["psnr_in_mask_db"] = float(10 * np.log10(4095**2 / np.mean(error ** 2)))
    return out


def bench_volume(model, precision: str = "auto") -> dict:
    from medinpaint.repair import repair_volume

    volume = ct_volume(300)
    array = volume.array.copy()
    for n, k in enumerate(range(20, 300, 47)):  # 6 slices = 2%
        lines = list(range(100 + 7 * n, 104 + 7 * n))
        array[:, :, k] = np.asarray(LostLines(lines=lines, fill=0)(array[np.newaxis, :, :, k])[0])[0]
    damaged = volume.with_array(array)
    options = {"model": model, "device": "cpu", "precision": precision}
    repair_volume(volume.with_array(array[:, :, :8].copy()), **options)  # warm-up
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = repair_volume(damaged, **options)
    seconds = time.perf_counter() - start
    return {"precision": precision, "picked": result.report["precision"], "load_1min": round(load, 2),
            "shape": list(volume.shape),
            "damaged_slices": result.report["damaged_slices"],
            "found": result.report["kinds"], "seconds": seconds}


def _median_run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def bench_start(model, rounds: int) -> dict:
    """`medinpaint repair` on a 128x128 one-slice NIfTI (a few lost lines, so the network runs), as a
    whole process, against `python -c "import torch"`, interleaved; medians of ``rounds``."""
    import nibabel as nib

    folder = Path(tempfile.mkdtemp(prefix="medinpaint-bench-"))
    try:
        plane = ct_volume(12).array[::4, ::4, 6:7].copy()
        plane[:, 60:63] = 0
        nib.save(nib.Nifti1Image(plane, np.eye(4)), folder / "small.nii")
        repair = [sys.executable, "-m", "medinpaint.cli", "repair", str(folder / "small.nii"),
                  str(folder / "out.nii"), "--overwrite", "--device", "cpu"]
        repair += ["--model", str(model)] if model else []
        commands = {"import_torch": [sys.executable, "-c", "import torch"], "repair": repair,
                    "import_torch_monai": [sys.executable, "-c", "import torch, monai"]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        loads = []
        _median_run(repair)  # the first run compiles bytecode and fills the page cache
        for _ in range(rounds):
            loads.append(os.getloadavg()[0])
            for name, command in commands.items():
                times[name].append(_median_run(command))
        out = {name: float(np.median(values)) for name, values in times.items()}
        differences = np.subtract(times["repair"], times["import_torch"])
        out["repair_minus_import_torch"] = float(np.median(differences))
        out.update(rounds=rounds, load_1min=[round(v, 2) for v in loads],
                   all={name: [round(v, 3) for v in values] for name, values in times.items()})
        return out
    finally:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


def big_scan(path: Path, depth: int, kind: str) -> None:
    """A 512x512x``depth`` int16 NIfTI of the Cranium CT's slices (anatomy in every slice), damaged:
    ``lines``: three lost lines in the middle slice; ``packets``: 8% packet loss in 2% of the slices."""
    import nibabel as nib

    base = ct_volume(64).array
    image = nib.Nifti1Image(np.zeros((1, 1, 1), np.int16), np.eye(4))
    header = image.header.copy()
    header.set_data_shape((512, 512, depth))
    header.set_data_dtype(np.int16)
    damaged = set(range(depth // 100, depth, 50)) if kind == "packets" else {depth // 2}
    with open(path, "wb") as f:  # written slice by slice: the bench itself stays small
        header.write_to(f)
        f.write(b"\x00" * (int(header["vox_offset"]) - f.tell()))
        for k in range(depth):
            plane = base[:, :, k % 64].copy()
            if k in damaged and kind == "packets":
                plane = damage_slice(plane, 0.08, k)[0]
            elif k in damaged:
                plane[:, 200:203] = 0
            f.write(np.asfortranarray(plane).tobytes(order="F"))


def bench_memory(model, depth: int, kind: str = "lines") -> dict:
    folder = Path(tempfile.mkdtemp(prefix="medinpaint-bench-"))
    try:
        big_scan(folder / "big.nii", depth, kind)
        command = [sys.executable, "-c", "import resource, sys; from medinpaint.cli import main; "
                   "status = main(sys.argv[1:]); "
                   "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
                   "sys.exit(status)",
                   "repair", str(folder / "big.nii"), str(folder / "out.nii"), "--device", "cpu",
                   "--report", str(folder / "report.json")] + (["--model", str(model)] if model else [])
        load = os.getloadavg()[0]
        start = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak = [line for line in run.stderr.splitlines() if line.startswith("PEAK ")]
        report = json.loads((folder / "report.json").read_text()) if run.returncode == 0 else {}
        return {"shape": [512, 512, depth], "damage": kind, "returncode": run.returncode,
                "peak_rss_mib": int(peak[-1].split()[1]) / 1024 if peak else None, "seconds": seconds,
                "load_1min": round(load, 2), "damaged_slices": len(report.get("damaged_slices", [])),
                "kinds": report.get("kinds"), "stderr_tail": run.stderr[-300:]}
    finally:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="repair model; default: the shipped one")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--precisions", nargs="+", default=["float32", "auto"],
                        choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--start-rounds", type=int, default=5, help="rounds of the start timing (0: skip)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-volume", action="store_true", help="time the slice only")
    parser.add_argument("--depths", type=int, nargs="+", default=[2000])
    parser.add_argument("--memory-kinds", nargs="+", default=["lines", "packets"],
                        choices=["lines", "packets"])
    parser.add_argument("--isa", choices=sorted(ISA_CAPS),
                        help="hold torch to this instruction set: a stand-in for a CPU without it")
    args = parser.parse_args()
    if args.isa and any(os.environ.get(k) != v for k, v in ISA_CAPS[args.isa].items()):
        # read when torch starts: the bench starts again with them (its subprocesses inherit them)
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ISA_CAPS[args.isa]})
    import torch

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine, "cpu": cpu_features(),
               "load_1min_at_start": round(os.getloadavg()[0], 2)}
    if not args.skip_speed:
        for precision in args.precisions:
            results[f"slice_512_{precision}"] = bench_slice(args.model, args.repeats, precision)
            if not args.skip_volume:
                results[f"volume_512x512x300_{precision}"] = bench_volume(args.model, precision)
    if args.start_rounds:
        results["start"] = bench_start(args.model, args.start_rounds)
    if not args.skip_memory:
        results["memory"] = [bench_memory(args.model, depth, kind) for kind in args.memory_kinds
                             for depth in args.depths]
    print(json.dumps(results, indent=2))
    cpu = results["cpu"]
    held = f" (held to {cpu['held_to']})" if cpu["held_to"] else ""
    print(f"\nCPU: {cpu['model']}; flags {' '.join(cpu['flags'])}; torch {cpu['torch_capability']}{held}; "
          f"--precision auto picks {cpu['auto_picks']}")
    print("\n| measure | value | target |\n| --- | --- | --- |")
    for precision in [] if args.skip_speed else args.precisions:
        s, v = results[f"slice_512_{precision}"], results.get(f"volume_512x512x300_{precision}")
        tag = f"`--precision {precision}`" + (f" ({s['picked']})" if precision == "auto" else "")
        print(f"| 512x512 slice, {100 * s['damaged_fraction']:.1f}% damaged, mask given, {tag} "
              f"| {s['medinpaint_ms']:.0f} ms (load {s['load_1min'][0]:.1f}) | <= 60 ms |")
        print(f"| same, damage detected | {s['medinpaint_with_detection_ms']:.0f} ms | |")
        print(f"| OpenCV Telea / scikit-image biharmonic, same slice | {s['telea_ms']:.0f} / "
              f"{s['biharmonic_ms']:.0f} ms | |")
        if v:
            print(f"| 512x512x300 CT, 2% slices damaged, detect + repair, {tag} "
                  f"| {v['seconds']:.2f} s (load {v['load_1min']:.1f}) | <= 5 s |")
    if "start" in results:
        t = results["start"]
        print(f"| `medinpaint repair`, 128x128 slice, whole process (median of {t['rounds']}) "
              f"| {t['repair']:.2f} s | |")
        print(f"| `python -c \"import torch\"` / `import torch, monai`, same rounds "
              f"| {t['import_torch']:.2f} / {t['import_torch_monai']:.2f} s | |")
        print(f"| repair minus import torch (median of the rounds' differences) "
              f"| {t['repair_minus_import_torch']:.2f} s | <= 1.5 s |")
    for m in results.get("memory", []):
        what = "3 lost lines in 1 slice" if m["damage"] == "lines" else "packet loss in 2% of the slices"
        print(f"| {'x'.join(map(str, m['shape']))} `medinpaint repair`, {what}, peak RSS "
              f"| {m['peak_rss_mib']:.0f} MiB ({m['seconds']:.0f} s) | <= 1024 MiB |")


if __name__ == "__main__":
    main()
