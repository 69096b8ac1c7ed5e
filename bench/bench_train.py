"""Training throughput and 512x512 inference time of SeedCNN and the shipped models on this machine.

Training: AdamW steps on real damaged/clean batches (``medinpaint.data``, patch 96, batch 16, the
recipes' settings), samples per second after two warm-up steps. Inference: one 512x512 slice (plus
its neighbours and mask where the model takes them), median of several forward passes in
``torch.inference_mode``, in the default memory format, channels-last, and channels-last under
bfloat16 autocast (what the repair engine uses on CPUs with native bf16).

    .venv/bin/python bench/bench_train.py [--threads 2] [--steps 10] [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from medinpaint.nets import SeedCNN, default_model_path, load_model
from medinpaint.train import TrainConfig, Trainer, collate
from medinpaint.train.data import make_dataset


def _models() -> dict[str, tuple[torch.nn.Module, TrainConfig]]:
    repair, repair_meta = load_model(default_model_path("repair"))
    denoise, denoise_meta = load_model(default_model_path("denoise"))
    seed = TrainConfig(model="SeedCNN", context=1, preset="transmission")
    out = {"SeedCNN (in 4, 64 ch)": (SeedCNN(in_channels=4), seed)}
    shipped = {"repair (RepairNet)": (repair, repair_meta), "denoise (Denoiser)": (denoise, denoise_meta)}
    for name, (model, meta) in shipped.items():
        settings = {k: meta["training"][k] for k in ("model", "model_args", "context", "preset", "loss")}
        out[name] = (model, TrainConfig(**settings))
    return out


def training_throughput(model: torch.nn.Module, config: TrainConfig, steps: int) -> float:
    config = TrainConfig(**{**config.to_dict(), "patch_size": 96, "batch_size": 16, "device": "cpu",
                            "num_workers": 0, "output": "/tmp/medinpaint-bench-train"})
    dataset = make_dataset(config, "train")
    trainer = Trainer(config, dataset, model=model.train())
    trainer._setup()
    batches = [collate([dataset[(b * 16 + i) * 7 % len(dataset)] for i in range(16)])
               for b in range(steps + 2)]
    for step in range(2):
        trainer.train_step(batches[step], step, 10**6)
    started = time.perf_counter()
    for step in range(2, steps + 2):
        trainer.train_step(batches[step], step, 10**6)
    return 16 * steps / (time.perf_counter() - started)


def inference_ms(model: torch.nn.Module, channels: int, repeats: int, channels_last: bool,
                 bfloat16: bool = False) -> float:
    model = model.eval()
    x = torch.rand(1, channels, 512, 512)
    if channels % 2 == 0:  # the last channel is a mask
        x[:, -1] = (torch.rand(512, 512) < 0.08).float()  # 8% damaged pixels
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
        model(x)
        for _ in range(repeats):
            started = time.perf_counter()
            model(x)
            times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name, (model, config) in _models().items():
        channels = model.in_channels
        results.append({
            "model": name,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_samples_per_s": round(training_throughput(model, config, args.steps), 1),
            "infer_512_ms": round(inference_ms(model, channels, args.repeats, False), 1),
            "infer_512_ms_channels_last": round(inference_ms(model, channels, args.repeats, True), 1),
            "infer_512_ms_channels_last_bf16": round(inference_ms(model, channels, args.repeats, True, True),
                                                     1),
        })
    print(json.dumps({"threads": args.threads, "results": results}, indent=2))
    print("\n| model | parameters | train samples/s (96x96, batch 16) | 512x512 inference ms "
          "| channels-last ms | channels-last + bf16 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['model']} | {r['parameters']:,} | {r['train_samples_per_s']} | {r['infer_512_ms']} "
              f"| {r['infer_512_ms_channels_last']} | {r['infer_512_ms_channels_last_bf16']} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"threads": args.threads, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
