"""GPU repair throughput: slices per second for a 512x512 CT with every slice 8% damaged (lost packets).

End to end means `repair_volume` from the stored volume in memory to the repaired volume in memory:
host copies both ways, rescale, normalisation, fills, network, rounding and composite (the mask given,
as from `--mask`; detection, which runs on the CPU, is timed separately). Reading and writing files is
not included. Also times the network alone on batches already on the GPU, the ceiling of the above.
Needs a CUDA GPU; prints JSON, then a table.

    python bench/bench_gpu.py [--depth 600] [--repeats 3] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from bench_repair import ct_volume, damage_slice


def damaged_volume(depth: int):
    """Every slice damaged, by one of 16 lost-packet patterns of about 8% of the plane, in NIfTI's layout."""
    volume = ct_volume(depth)
    patterns = [damage_slice(volume.array[:, :, 0], 0.08, seed)[1] for seed in range(16)]
    mask = np.zeros(volume.shape, dtype=bool, order="F")
    array = np.asfortranarray(volume.array)
    for k in range(depth):
        mask[:, :, k] = patterns[k % 16]
    array[mask] = 0
    return volume.with_array(array), mask


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        _sync()
        start = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def network_only(model, batch: int, repeats: int, device: str) -> float:
    """Slices/s of the repair network alone (bf16 body, float32 fills) on 512x512 batches on the GPU."""
    x = torch.rand(batch, model.in_channels, 512, 512, device=device).contiguous(memory_format=torch.channels_last)
    x[:, -1] = (torch.rand(batch, 512, 512, device=device) < 0.08).float()

    def run():
        with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            model(x)

    run()
    return batch / timed(run, repeats * 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="repair model; default: the shipped one")
    parser.add_argument("--depth", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda", help="cuda (cpu: only to try the script out)")
    args = parser.parse_args()
    from medinpaint.nets import default_model_path, load_model
    from medinpaint.repair import repair_volume

    model = load_model(args.model or default_model_path("repair"), device=args.device)[0]
    volume, mask = damaged_volume(args.depth)
    depth = args.depth
    repair_volume(volume.with_array(volume.array[:, :, :80].copy(order="F")), mask=mask[:, :, :80], model=model,
                  device=args.device)  # warm-up: CUDA context, kernels
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{torch.cuda.get_device_name() if args.device != 'cpu' else 'CPU'}, {platform.machine()}",
               "torch": torch.__version__, "shape": list(volume.shape), "damaged_fraction": float(mask.mean())}
    runs = {
        "bf16": lambda: repair_volume(volume, mask=mask, model=model, device=args.device),
        "bf16_in_place": lambda: repair_volume(volume.with_array(volume.array.copy(order="F")), mask=mask, model=model,
                                               device=args.device, in_place=True),
        "float32": lambda: repair_volume(volume, mask=mask, model=model, device=args.device, precision="float32"),
    }
    copy_seconds = timed(lambda: volume.array.copy(order="F"), args.repeats)
    for name, fn in runs.items():
        seconds = timed(fn, args.repeats)
        if name == "bf16_in_place":
            seconds -= copy_seconds  # the bench's own copy, so the run does not repair its input
        results[name] = {"seconds": seconds, "slices_per_s": depth / seconds}
    results["bf16_crops"] = {"seconds": timed(lambda: repair_volume(volume, mask=mask, model=model, device=args.device,
                                                                    whole_planes=False), 1)}
    results["bf16_crops"]["slices_per_s"] = depth / results["bf16_crops"]["seconds"]
    check = runs["bf16"]()
    results["outside_mask_identical"] = bool(np.array_equal(check.volume.array[~mask], volume.array[~mask]))
    results["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    results["network_only_slices_per_s"] = network_only(model, 64 if args.device != "cpu" else 2, args.repeats, args.device)
    start = time.perf_counter()
    detected = repair_volume(volume, model=model, device=args.device)
    seconds = time.perf_counter() - start
    results["with_detection"] = {"seconds": seconds, "slices_per_s": depth / seconds,
                                 "found_voxels": detected.report["damaged_voxels"], "true_voxels": int(mask.sum())}
    print(json.dumps(results, indent=2))
    print(f"\n{results['machine']}, 512x512x{depth} CT, every slice {100 * results['damaged_fraction']:.1f}% damaged\n")
    print("| measure | slices/s | target |\n| --- | --- | --- |")
    print(f"| end to end, mask given, bf16 | {results['bf16']['slices_per_s']:.0f} | >= 2000 |")
    print(f"| same, repaired in place (no copy of the volume) | {results['bf16_in_place']['slices_per_s']:.0f} | |")
    print(f"| same, float32 | {results['float32']['slices_per_s']:.0f} | |")
    print(f"| same, crops around the damage (the CPU path) | {results['bf16_crops']['slices_per_s']:.0f} | |")
    print(f"| network alone, batches of 64 on the GPU | {results['network_only_slices_per_s']:.0f} | |")
    print(f"| end to end with detection (CPU) | {results['with_detection']['slices_per_s']:.0f} | |")


if __name__ == "__main__":
    main()
