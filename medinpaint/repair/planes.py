"""Whole planes through the repair network in large batches, with every step on the device.

On a GPU, cutting planes into crops around the damage (the CPU path, :mod:`medinpaint.repair.crops`)
costs more in Python and host copies than it saves in arithmetic. Here the host only copies stored
voxels to the device and back; the rescale to physical units, the normalisation, the in-plane fills,
the network, the rounding to the stored dtype and the composite all run on the device. Voxels outside
the mask are taken from the stored values themselves, so they stay bit-identical.
"""

from __future__ import annotations

import numpy as np
import torch

from medinpaint.io import Volume
from medinpaint.repair.inferer import Progress, RepairInferer, sane_context

PIXELS_PER_BATCH = 64 * 512 * 512  # on a GPU: 64 planes of 512x512 per network call
PIXELS_PER_BATCH_CPU = 4 * 512 * 512
CUDNN_BENCHMARK = True  # let cuDNN time its convolution algorithms once per batch shape (batches repeat)


def groups(slices: list[int], context: int, batch: int) -> list[list[int]]:
    """Damaged slices in runs spanning at most ``batch`` slices, a new run where a gap leaves planes
    that no slice of the run needs (so each run reads one contiguous span of at most ``batch`` +
    2 ``context`` planes, none of them idle)."""
    runs: list[list[int]] = []
    for k in sorted(slices):
        if runs and k - runs[-1][0] < batch and k - runs[-1][-1] <= 2 * context + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs


class Transfer:
    """Copies spans of planes between a volume ``(H, W, K)`` and the device ``(n, H, W)``.

    Planes travel in the volume's own memory order (a span of a Fortran-ordered volume, NIfTI's layout,
    is one block already) and are transposed on the device. On CUDA they go through reused page-locked
    host buffers, which the bus reads and writes at full speed (pageable memory is staged by the driver)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.pinned = device.type == "cuda"
        self.buffers: dict[tuple, torch.Tensor] = {}

    def _staged(self, shape, dtype: torch.dtype, role: str) -> torch.Tensor:
        """A view of one buffer per role and dtype, grown when a span needs more (spans vary in length:
        a buffer per shape would keep page-locked memory for every length met)."""
        size = int(np.prod(shape))
        buffer = self.buffers.get((role, dtype))
        if buffer is None or buffer.numel() < size:
            buffer = torch.empty(size, dtype=dtype)
            self.buffers[(role, dtype)] = buffer = buffer.pin_memory() if self.pinned else buffer
        return buffer[:size].view(tuple(shape))

    def load(self, planes: np.ndarray, role: str) -> torch.Tensor:
        """A ``(H, W, n)`` span as an ``(n, H, W)`` tensor on the device (``role`` names its buffer)."""
        fortran = planes.flags.f_contiguous
        source = planes.T if fortran else planes
        native = source.dtype.newbyteorder("=")  # torch holds native byte order only; copyto swaps
        staged = self._staged(source.shape, torch.from_numpy(np.empty(0, native)).dtype, role)
        np.copyto(staged.numpy(), source)
        # asynchronous from page-locked memory: safe to refill the buffer for the next span only because
        # ``store`` waits for the device (its copy back to the host blocks) before the next load
        on_device = staged.to(self.device, non_blocking=self.pinned)
        return on_device.transpose(1, 2) if fortran else on_device.permute(2, 0, 1)

    def store(self, array: np.ndarray, ks: list[int], values: torch.Tensor) -> None:
        """Write ``values`` ``(n, H, W)`` into the planes ``ks`` of ``array`` ``(H, W, K)``."""
        fortran = array[:, :, ks[0]].flags.f_contiguous
        ordered = values.transpose(1, 2) if fortran else values.permute(1, 2, 0)
        staged = self._staged(ordered.shape, ordered.dtype, "out")
        staged.copy_(ordered)
        host = staged.numpy()
        if fortran:
            for i, k in enumerate(ks):
                array[:, :, k].T[...] = host[i]
        else:
            array[:, :, ks] = host


def _per_slice(value, nk: int) -> torch.Tensor:
    return torch.as_tensor(np.broadcast_to(np.asarray(value, dtype=np.float64), (nk,)).copy())


class PlaneInferer(RepairInferer):
    """Repairs the damaged planes of one 3D volume in place, whole planes at a time (see the module)."""

    def __init__(self, model: torch.nn.Module, meta: dict, *, device: torch.device, bfloat16: bool,
                 progress: Progress | None = None) -> None:
        super().__init__(model, meta, device=device, bfloat16=bfloat16, progress=progress)
        self.transfer = Transfer(device)

    def __call__(self, volume: Volume, out: np.ndarray, mask: np.ndarray, slices: list[int], *,
                 recreated: dict[int, np.ndarray], norm: dict) -> None:
        """As :meth:`RepairInferer.__call__`; re-created slices are read back from ``out`` as stored.
        Torch lacks some operations for some dtypes on some devices: that raises NotImplementedError,
        with the planes of the runs done so far written (repaired under the mask only)."""
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = CUDNN_BENCHMARK and self.device.type == "cuda"
        try:
            self._run(volume, out, mask, slices, lost=set(recreated), norm=norm)
        finally:
            torch.backends.cudnn.benchmark = before

    def _run(self, volume: Volume, array: np.ndarray, mask: np.ndarray, slices: list[int], *, lost: set[int],
             norm: dict) -> None:
        nk = array.shape[2]
        per_batch = PIXELS_PER_BATCH if self.device.type == "cuda" else PIXELS_PER_BATCH_CPU
        batch = max(1, per_batch // (array.shape[0] * array.shape[1]))
        dtype = np.dtype(array.dtype)
        # float32 holds every 8- and 16-bit value and float32 itself exactly; wider types need float64
        work = torch.float32 if dtype.itemsize <= 2 or dtype == np.float32 else torch.float64
        slope = _per_slice(volume.slope, nk).to(self.device, work)
        intercept = _per_slice(volume.intercept, nk).to(self.device, work)
        limits = None
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            limits = volume.meta.get("stored_range") or (info.min, info.max)
        low, span = norm["low"], norm["high"] - norm["low"]
        runs = groups(slices, self.context, batch)
        for done, run in enumerate(runs, 1):
            k0, k1 = max(run[0] - self.context, 0), min(run[-1] + self.context, nk - 1) + 1
            raw = self.transfer.load(array[:, :, k0:k1], "volume")
            damaged = self.transfer.load(mask[:, :, k0:k1], "mask").bool()
            scale = slope[k0:k1].view(-1, 1, 1), intercept[k0:k1].view(-1, 1, 1)
            values = raw.to(work)  # exact; and torch cannot index uint16 tensors on CUDA
            planes = sane_context(((values * scale[0] + scale[1] - low) / span).float())
            holes = damaged.clone()
            holes[[k - k0 for k in lost if k0 <= k < k1]] = False  # re-created slices: neighbours as they are
            with torch.inference_mode():
                filled = self.in_plane_fill(planes, holes)
                at = torch.tensor([k - k0 for k in run], device=self.device)

                def neighbours(d: int, filled=filled, at=at, last=k1 - k0 - 1) -> torch.Tensor:
                    return filled[(at + d).clamp(0, last)]

                x = self.stack(planes[at], damaged[at].float(), filled[at], run, depth=nk,
                               neighbours=neighbours)
                y = self.predict(x, filled[at])
                stored = ((y.to(work) * span + low) - scale[1][at]) / scale[0][at]
                if limits is not None:
                    stored = stored.round().clamp(*limits)
                # outside the mask the stored values themselves (exact in ``work``): bit-identical whatever
                # the arithmetic; composed in ``work`` because torch has no ``where`` for uint16
                repaired = torch.where(damaged[at], stored, values[at]).to(raw.dtype)
            self.transfer.store(array, run, repaired)
            self.report(done / len(runs), "repairing damaged planes")


__all__ = ["CUDNN_BENCHMARK", "PIXELS_PER_BATCH", "PIXELS_PER_BATCH_CPU", "PlaneInferer", "Transfer",
           "groups"]
