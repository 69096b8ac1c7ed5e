"""What both ways of sending damaged slices through the repair network share, written once.

In the spirit of ``monai.inferers`` (an ``Inferer`` base, ``SlidingWindowInferer`` and ``SliceInferer``
beside it): :class:`RepairInferer` sets the network up (channels-last weights, its slice context, its
in-plane fill, the precision of its body), fills planes in-plane, stacks a slice with its neighbours
and its mask into the network's input, and runs the network. Its two subclasses decide which pixels
go through and how they travel: :class:`~medinpaint.repair.crops.CropInferer` sends crops around the
damage, computed on the host (the CPU path); :class:`~medinpaint.repair.planes.PlaneInferer` sends
whole planes in large batches with every step on the device (the GPU path).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import torch

from medinpaint.io import Volume
from medinpaint.nets import RepairNet, channels_last, classical_fill
from medinpaint.nets.utils import FILL_WORK, threads_for

PRECISIONS = ("auto", "float32", "bfloat16")

Progress = Callable[[float, str], None]


def uses_bfloat16(device: torch.device, precision: str) -> bool:
    """Whether the networks' bodies run in bfloat16. ``"auto"``: on CUDA, and on CPUs whose bf16 arithmetic
    torch can use natively (:func:`native_bfloat16_cpu`), where it measured 1.8x faster than float32 for
    the repair net; elsewhere bf16 is emulated and slower (4.5x slower than float32 for the bench slice
    with torch held to AVX2). The fills and the composite stay float32 either way."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision == "bfloat16"
    if device.type == "cuda":
        return True
    return device.type == "cpu" and native_bfloat16_cpu()


# oneDNN instruction-set caps (ONEDNN_MAX_CPU_ISA) that keep native bf16: those naming BF16 or AMX, the
# AVX10 and AVX512_CORE_FP16 sets (which include it), and no cap
_BF16_ISA = ("BF16", "AMX", "AVX10", "FP16", "ALL")


def native_bfloat16_cpu() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX) and torch may use it: its kernels
    built for AVX512 (not held below it by ``ATEN_CPU_CAPABILITY``) and oneDNN not capped below
    AVX512_CORE_BF16 (``ONEDNN_MAX_CPU_ISA``)."""
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        return False
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    if not any(name in cap for name in _BF16_ISA):
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private torch.cpu probes: guarded
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


# normalised values (about 0..1 for tissue) beyond this many windows are no tissue: garbage, a flipped
# exponent, a NaN of "no data" that was not repaired. As a neighbour they would overflow the network's
# sums and turn the voxels it repairs into NaN; they enter as the nearest of these limits (NaN as 0).
CONTEXT_LIMIT = 64.0


def sane_context(planes):
    """Normalised planes (a torch tensor or a NumPy array) with NaN at 0 and every value within
    ``CONTEXT_LIMIT`` either way: what the network sees of voxels it does not repair."""
    if isinstance(planes, torch.Tensor):
        return torch.nan_to_num(planes, nan=0.0).clamp_(-CONTEXT_LIMIT, CONTEXT_LIMIT)
    return np.clip(np.nan_to_num(planes, nan=0.0), -CONTEXT_LIMIT, CONTEXT_LIMIT)


def autocast(device: torch.device, bfloat16: bool) -> torch.autocast:
    """The precision a network's body runs in: bfloat16 under autocast, or float32 as it is."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16)


class RepairInferer(ABC):
    """Repairs the damaged slices of one 3D volume with the repair network (see the module).

    Args:
        model: the repair network (a :class:`~medinpaint.nets.RepairNet`, or any module taking the
            stack of ``2 * context + 1`` slices and the mask as channels).
        meta: its description; ``meta["args"]["context"]`` is the number of neighbours on each side.
        device: where the network runs.
        bfloat16: run the network's body in bfloat16 (:func:`uses_bfloat16`).
        progress: called with (fraction done, stage) as work proceeds.
    """

    def __init__(self, model: torch.nn.Module, meta: dict, *, device: torch.device, bfloat16: bool,
                 progress: Progress | None = None) -> None:
        # channels-last convolutions: ~30% faster on this CPU for the shipped RepairNet (bench/RESULTS.md)
        self.model = channels_last(model)
        self.device, self.amp, self.progress = device, bfloat16, progress
        self.context = int(meta.get("args", {}).get("context", 0))
        # a RepairNet takes the centre's in-plane fill from the engine, which computes it anyway as the
        # stand-in for missing neighbours: computed once, not twice
        self.takes_fill = isinstance(model, RepairNet)
        self.fill = model.in_plane_fill if self.takes_fill else classical_fill

    @abstractmethod
    def __call__(self, volume: Volume, out: np.ndarray, mask: np.ndarray, slices: list[int], *,
                 recreated: dict[int, np.ndarray], norm: dict) -> None:
        """Repair ``slices`` of ``out`` (the stored voxels of ``volume``, ``(H, W, K)``, written in place)
        where ``mask`` is set. ``recreated``: the physical values of whole slices re-created already
        (and written to ``out``); as neighbours they count as intact. ``norm``: the normalisation
        record the network's inputs are scaled by."""

    def in_plane_fill(self, planes: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """The network's in-plane fill of ``planes`` ``(B, H, W)`` where ``holes`` (1 = missing) is set."""
        with torch.inference_mode(), threads_for(planes.numel(), small=FILL_WORK):
            return self.fill(planes[:, None], holes[:, None].float())[:, 0]

    def stack(self, centres: torch.Tensor, masks: torch.Tensor, fills: torch.Tensor, slices: list[int], *,
              depth: int, neighbours: Callable[[int], torch.Tensor]) -> torch.Tensor:
        """The network's input ``(B, 2 * context + 2, H, W)``, channels-last: slices ``k - context`` to
        ``k + context`` around each centre ``k`` of ``slices`` (of a volume ``depth`` slices deep), then
        the centre's mask. ``neighbours(d)``: the planes ``d`` slices from the centres (any value where
        that slice does not exist: it is not used); at the scan's edge, or in a 2D image, the centre's
        in-plane fill (``fills``) stands in for the missing neighbour."""
        layers = []
        for d in range(-self.context, self.context + 1):
            if d == 0:
                layers.append(centres)
                continue
            inside = [0 <= k + d < depth for k in slices]
            if all(inside):
                layers.append(neighbours(d))
            elif not any(inside):  # a 2D image, or every centre at the same edge: no neighbour to read
                layers.append(fills)
            else:
                where = torch.tensor(inside, device=centres.device).view(-1, 1, 1)
                layers.append(torch.where(where, neighbours(d), fills))
        # stacked along the last axis and viewed as (B, C, H, W): channels-last in one pass (stacking
        # along the channels and then converting made two; the copy is small work, so one thread)
        with threads_for(centres.numel()):
            return torch.stack(layers + [masks], dim=-1).permute(0, 3, 1, 2)

    def predict(self, x: torch.Tensor, fills: torch.Tensor) -> torch.Tensor:
        """The network's repair of the centres of ``x`` (:meth:`stack`), ``(B, H, W)`` in float32."""
        extra = {"fill": fills[:, None]} if self.takes_fill else {}
        with torch.inference_mode(), autocast(self.device, self.amp), threads_for(x[:, 0].numel()):
            return self.model(x, **extra)[:, 0].float()

    def report(self, fraction: float, stage: str) -> None:
        """Tell the caller's ``progress`` how far the repair has got, when it asked to know."""
        if self.progress:
            self.progress(fraction, stage)


__all__ = ["PRECISIONS", "Progress", "RepairInferer", "autocast", "native_bfloat16_cpu", "uses_bfloat16"]
