"""GPU repair throughput: slices per second for a 512x512 CT with every slice 8% damaged (lost packets).

End to end means `repair_volume` from the stored volume in memory to the repaired volume in memory:
host copies both ways, rescale, normalisation, fills, network, rounding and composite (the mask given,
as from `--mask`; detection, which runs on the CPU, is timed separately). Reading and writing files is
not included. Also times the network alone on batches already on the GPU, the ceiling of the above.
Needs a CUDA GPU; prints JSON, then a table.

    python bench/bench_gpu.py [--depth 600] [--repeats 3] [--model PATH] [--compile]
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


def network_only(model, batch: int, repeats: int, device: str, compile_too: bool) -> dict:
    """Slices/s of the repair network (float32 fills, bf16 body) on 512x512 batches already on the
    device, and of its in-plane fill alone; eager with and without cuDNN's algorithm search, and compiled."""
    x = torch.rand(batch, model.in_channels, 512, 512, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    x[:, -1] = (torch.rand(batch, 512, 512, device=device) < 0.08).float()
    kind = torch.device(device).type

    def rate(net) -> float:
        def run():
            with torch.inference_mode(), torch.autocast(kind, dtype=torch.bfloat16):
                net(x)

        run()
        return batch / timed(run, repeats * 5)

    out = {"fill_only": batch / timed(lambda: model.in_plane_fill(x[:, 1:2], x[:, -1:]), repeats * 5)}
    before = torch.backends.cudnn.benchmark
    for flag in (False, True):
        torch.backends.cudnn.benchmark = flag
        out[f"eager_cudnn_benchmark_{'on' if flag else 'off'}"] = rate(model)
    if compile_too:
        start = time.perf_counter()
        compiled = torch.compile(model)
        with torch.inference_mode(), torch.autocast(kind, dtype=torch.bfloat16):
            compiled(x)
        out["compile_seconds"] = time.perf_counter() - start
        out["compiled_cudnn_benchmark_on"] = rate(compiled)
    torch.backends.cudnn.benchmark = before
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="repair model; default: the shipped one")
    parser.add_argument("--depth", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time the network under torch.compile")
    parser.add_argument("--device", default="cuda", help="cuda (cpu: only to try the script out)")
    args = parser.parse_args()
    from medinpaint.nets import default_model_path, load_model
    from medinpaint.repair import repair_volume

    model = load_model(args.model or default_model_path("repair"), device=args.device)[0]
    volume, mask = damaged_volume(args.depth)
    depth = args.depth
    repair_volume(volume.with_array(volume.array[:, :, :80].copy(order="F")), mask=mask[:, :, :80],
                  model=model, device=args.device)  # warm-up: CUDA context, kernels
    card = torch.cuda.get_device_name() if args.device != "cpu" else "CPU"
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{card}, {platform.machine()}",
               "torch": torch.__version__, "shape": list(volume.shape),
               "damaged_fraction": float(mask.mean())}
    from medinpaint.repair import planes

    start = time.perf_counter()
    copy = repair_volume(volume, mask=mask, model=model, device=args.device)
    seconds = time.perf_counter() - start
    results["bf16"] = {"seconds": seconds, "slices_per_s": depth / seconds}
    results["outside_mask_identical"] = bool(np.array_equal(copy.volume.array[~mask], volume.array[~mask]))
    del copy
    start = time.perf_counter()
    own = volume.array.copy(order="F")
    # fresh pages: the VM's first-touch cost
    results["copy_of_the_volume_seconds"] = time.perf_counter() - start
    target = volume.with_array(own)  # repaired over and over: the same work each time, the mask being given
    variants = {"bf16_in_place": ("auto", True), "bf16_in_place_no_cudnn_benchmark": ("auto", False),
                "float32_in_place": ("float32", True)}
    for name, (precision, search) in variants.items():
        planes.CUDNN_BENCHMARK = search
        seconds = timed(lambda p=precision: repair_volume(target, mask=mask, model=model, device=args.device,
                                                          precision=p, in_place=True),
                        args.repeats if search else 2)
        results[name] = {"seconds": seconds, "slices_per_s": depth / seconds}
    planes.CUDNN_BENCHMARK = True
    part = min(100, depth)
    sub = volume.with_array(volume.array[:, :, :part].copy(order="F"))
    seconds = timed(lambda: repair_volume(sub, mask=mask[:, :, :part], model=model, device=args.device,
                                          whole_planes=False), 1)
    results["bf16_crops"] = {"slices": part, "seconds": seconds, "slices_per_s": part / seconds}
    part = min(200, depth)
    sub = volume.with_array(volume.array[:, :, :part].copy(order="F"))
    start = time.perf_counter()
    detected = repair_volume(sub, model=model, device=args.device)
    seconds = time.perf_counter() - start
    results["with_detection"] = {"slices": part, "seconds": seconds, "slices_per_s": part / seconds,
                                 "found_voxels": detected.report["damaged_voxels"],
                                 "true_voxels": int(mask[:, :, :part].sum())}
    results["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    results["network"] = network_only(model, 64 if args.device != "cpu" else 2, args.repeats, args.device,
                                      args.compile)
    print(json.dumps(results, indent=2))
    print(f"\n{results['machine']}, 512x512x{depth} CT, every slice "
          f"{100 * results['damaged_fraction']:.1f}% damaged\n")
    net = results["network"]
    rows = [
        ("end to end, mask given, bf16 (a new repaired volume)", results["bf16"]["slices_per_s"], ">= 2000"),
        ("same, repaired in place", results["bf16_in_place"]["slices_per_s"], ""),
        ("same, without cuDNN's algorithm search",
         results["bf16_in_place_no_cudnn_benchmark"]["slices_per_s"], ""),
        ("same, float32", results["float32_in_place"]["slices_per_s"], ""),
        ("crops around the damage (the CPU path), bf16", results["bf16_crops"]["slices_per_s"], ""),
        ("end to end with detection (on the CPU)", results["with_detection"]["slices_per_s"], ""),
        ("network alone, batches of 64, eager", net["eager_cudnn_benchmark_on"], ""),
        ("network alone, eager, no algorithm search", net["eager_cudnn_benchmark_off"], ""),
        ("in-plane fill alone", net["fill_only"], ""),
    ]
    if "compile_seconds" in net:
        rows.append((f"network alone, torch.compile ({net['compile_seconds']:.0f} s to compile)",
                     net["compiled_cudnn_benchmark_on"], ""))
    print("| measure | slices/s | target |\n| --- | --- | --- |")
    for name, value, goal in rows:
        print(f"| {name} | {value:.0f} | {goal} |")
    print(f"\ncopying the volume (fresh memory): {results['copy_of_the_volume_seconds']:.2f} s; "
          f"peak GPU memory {results['peak_gpu_mib'] or 0:.0f} MiB")

if __name__ == "__main__":
    main()
