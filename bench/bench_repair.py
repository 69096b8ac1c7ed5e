"""Repair speed and memory: one 512x512 slice, a 512x512x300 CT, peak RSS for 512x512x2000.

Prints JSON, then a table. The scans are made from the Cranium CT (Debian invesalius-examples, loaded
at run time): slices upsampled to 512x512 and stacked to the needed depth. Timings include detection
and repair, not reading or writing, except the memory run, which is `medinpaint repair` end to end.

    .venv/bin/python bench/bench_repair.py [--model PATH] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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


def bench_slice(model_path, repeats: int) -> dict:
    from medinpaint import baselines
    from medinpaint.nets import default_model_path, load_model
    from medinpaint.repair import repair_volume

    model = load_model(model_path or default_model_path("repair"))[0]  # loaded once, as a service would

    volume = ct_volume(12)
    plane = volume.array[:, :, 6]
    damaged, mask = damage_slice(plane, 0.08, 0)
    single = volume.with_array(damaged[:, :, np.newaxis].copy())
    m3 = mask[:, :, np.newaxis]
    repair_volume(single, mask=m3, model=model, device="cpu")  # warm-up: model load, first-call costs
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = repair_volume(single, mask=m3, model=model, device="cpu")
        times.append(time.perf_counter() - start)
    detect_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        repair_volume(single, model=model, device="cpu")
        detect_times.append(time.perf_counter() - start)
    physical = single.physical()[:, :, 0]
    out = {"damaged_fraction": float(mask.mean()), "medinpaint_ms": 1000 * float(np.median(times)),
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


def bench_volume(model) -> dict:
    from medinpaint.repair import repair_volume

    volume = ct_volume(300)
    array = volume.array.copy()
    for n, k in enumerate(range(20, 300, 47)):  # 6 slices = 2%
        lines = list(range(100 + 7 * n, 104 + 7 * n))
        array[:, :, k] = np.asarray(LostLines(lines=lines, fill=0)(array[np.newaxis, :, :, k])[0])[0]
    damaged = volume.with_array(array)
    repair_volume(volume.with_array(array[:, :, :8].copy()), model=model, device="cpu")  # warm-up
    start = time.perf_counter()
    result = repair_volume(damaged, model=model, device="cpu")
    seconds = time.perf_counter() - start
    return {"shape": list(volume.shape), "damaged_slices": result.report["damaged_slices"],
            "found": result.report["kinds"], "seconds": seconds}


def bench_memory(model, depth: int) -> dict:
    import nibabel as nib

    folder = Path(tempfile.mkdtemp(prefix="medinpaint-bench-"))
    try:
        base = ct_volume(64).array
        data = np.empty((512, 512, depth), dtype=np.int16)
        for k in range(depth):
            data[:, :, k] = base[:, :, k % 64]
        data[:, 200:203, depth // 2] = 0
        nib.save(nib.Nifti1Image(data, np.eye(4)), folder / "big.nii")
        del data, base
        command = [sys.executable, "-m", "medinpaint.cli", "repair", str(folder / "big.nii"),
                   str(folder / "out.nii"), "--device", "cpu"] + (["--model", str(model)] if model else [])
        start = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return {"shape": [512, 512, depth], "returncode": run.returncode, "peak_rss_mib": peak_kib / 1024,
                "seconds": seconds, "stderr_tail": run.stderr[-300:]}
    finally:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="repair model; default: the shipped one")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--depth", type=int, default=2000)
    args = parser.parse_args()
    import torch

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    results = {"date": time.strftime("%Y-%m-%d"), "machine": machine,
               "slice_512": bench_slice(args.model, args.repeats),
               "volume_512x512x300": bench_volume(args.model)}
    if not args.skip_memory:
        results["memory"] = bench_memory(args.model, args.depth)
    print(json.dumps(results, indent=2))
    s, v = results["slice_512"], results["volume_512x512x300"]
    print("\n| measure | value | target |\n| --- | --- | --- |")
    print(f"| 512x512 slice, {100 * s['damaged_fraction']:.1f}% damaged, mask given "
          f"| {s['medinpaint_ms']:.0f} ms | <= 60 ms |")
    print(f"| same, damage detected | {s['medinpaint_with_detection_ms']:.0f} ms | |")
    print(f"| OpenCV Telea, same slice | {s['telea_ms']:.0f} ms | |")
    print(f"| scikit-image biharmonic, same slice | {s['biharmonic_ms']:.0f} ms | |")
    print(f"| 512x512x300 CT, 2% slices damaged, detect + repair | {v['seconds']:.2f} s | <= 5 s |")
    if "memory" in results:
        m = results["memory"]
        print(f"| 512x512x{args.depth} `medinpaint repair`, peak RSS "
              f"| {m['peak_rss_mib']:.0f} MiB ({m['seconds']:.0f} s) | <= 2048 MiB |")


if __name__ == "__main__":
    main()
