"""Helpers for running the networks: which device, and weights laid out for fast convolutions.

As ``monai.networks.utils`` is to MONAI's networks: used by the repair engine, the MONAI transforms,
the evaluation and the benchmarks alike, so each decides the device the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

# pixels per network call below which torch runs on one thread: waking a second thread for each small
# operation costs more than it saves (a 128x128 slice repaired in 0.10 s on one thread, 0.40 s on two,
# on a shared 2-core machine; bench/RESULTS.md)
SMALL_WORK = 256 * 256
# the in-plane fill is ~100 cheap, memory-bound operations per call: below this many pixels a second
# thread gains little and each operation waits for it (a 512x512 plane's fill: 30 ms on one thread, 580 ms
# on two with the 2-core machine shared, load 6)
FILL_WORK = 4 * 512 * 512


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``device``: ``"auto"`` is CUDA when a GPU is present, else the CPU;
    anything else (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``) is taken as it is."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def channels_last(model: nn.Module) -> nn.Module:
    """``model`` with its convolution weights channels-last, converted only once (a conversion walks
    every parameter: 1.4 ms per call for the shipped net, when a whole slice takes ~55 ms)."""
    weights = [p for p in model.parameters() if p.dim() == 4]
    if weights and not all(w.is_contiguous(memory_format=torch.channels_last) for w in weights):
        model.to(memory_format=torch.channels_last)
    return model


@contextlib.contextmanager
def threads_for(pixels: int, small: int = SMALL_WORK) -> Iterator[None]:
    """Run the torch calls inside on one thread when they work on fewer than ``small`` ``pixels``;
    otherwise on torch's threads as set. The setting is the process's: the one before is put back."""
    before = torch.get_num_threads()
    if before == 1 or pixels >= small:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = ["FILL_WORK", "SMALL_WORK", "channels_last", "pick_device", "threads_for"]
