"""Damaged-pair throughput: can the slice-pair datasets keep a training loop fed?

Measures 2D 256x256 damaged/clean/mask pairs per second through ``monai.data.DataLoader`` for a few
presets, contexts and worker counts, and the cost of each damage kind on one 256x256 CT slice (in one
thread, as inside a DataLoader worker). Prints a table and writes JSON.

Run: ``nice -n 10 .venv/bin/python bench/bench_damage.py [--batches 30] [--json bench/damage.json]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time

import numpy as np
import torch
from monai.data import DataLoader

from medinpaint.damage import PRESETS
from medinpaint.data import SOURCES, SlicePairDataset

TRAIN_SOURCES = ["ch2", "cranium", "mni152"]


def kind_costs(repeats: int = 20) -> dict[str, float]:
    """Milliseconds per call of each random damage on one 256x256 int16 CT slice, single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    image = SOURCES["cranium"].load().array[:, :, 60][None].copy()
    costs = {}
    for cls, kwargs in PRESETS["all"].items():
        transform = cls(**kwargs)
        transform.set_random_state(0)
        transform(image)
        start = time.perf_counter()
        for _ in range(repeats):
            transform(image)
        costs[cls.damage_class.kind] = (time.perf_counter() - start) / repeats * 1000
    torch.set_num_threads(threads)
    return costs


def loader_rate(volumes, preset: str, context: int, workers: int, batch_size: int, batches: int) -> float:
    """Pairs per second through a MONAI DataLoader, after two warm-up batches."""
    dataset = SlicePairDataset(volumes, preset=preset, patch_size=256, context=context, split="train", seed=0)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
    iterator = iter(loader)
    for batch in itertools.islice(iterator, 2):
        assert batch["damaged"].shape == (batch_size, 2 * context + 1, 256, 256)
    start = time.perf_counter()
    count = sum(len(batch["kind"]) for batch in itertools.islice(iterator, batches))
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30, help="timed batches per configuration")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    volumes = [SOURCES[name].load() for name in TRAIN_SOURCES]
    rows = []
    for preset, context, workers in [("transmission", 0, 0), ("transmission", 0, 2), ("all", 0, 0),
                                     ("all", 0, 2), ("all", 2, 2)]:
        rate = loader_rate(volumes, preset, context, workers, args.batch_size, args.batches)
        rows.append({"preset": preset, "context": context, "num_workers": workers,
                     "batch_size": args.batch_size, "pairs_per_s": round(rate, 1)})
    costs = {kind: round(ms, 2) for kind, ms in kind_costs().items()}
    result = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
              "sources": TRAIN_SOURCES, "patch": [256, 256], "loader": rows, "kind_ms_256": costs}

    print(f"{'preset':14s} {'context':>7s} {'workers':>7s} {'batch':>5s} {'pairs/s':>8s}")
    for row in rows:
        print(f"{row['preset']:14s} {row['context']:7d} {row['num_workers']:7d} {row['batch_size']:5d} "
              f"{row['pairs_per_s']:8.1f}")
    print(f"\n{'kind (256x256, 1 thread)':26s} {'ms/call':>8s}")
    for kind, ms in costs.items():
        print(f"{kind:26s} {ms:8.2f}")
    print(f"mean over kinds: {np.mean(list(costs.values())):.2f} ms")
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
