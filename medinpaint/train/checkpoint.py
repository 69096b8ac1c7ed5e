"""Training checkpoints: the model as safetensors + JSON, the optimizer's tensors as safetensors.

A checkpoint named ``NAME`` in a run folder is ``NAME.safetensors`` + ``NAME.json`` (a model that
:func:`medinpaint.nets.load_model` reads as it is) and, for resuming, ``NAME.optim.safetensors``
with AdamW's moments; the JSON holds the optimizer's scalar settings and the loop's position.
Nothing is pickled in either direction.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import torch

from medinpaint.errors import InputError
from medinpaint.nets import read_model_meta, save_model


def git_commit() -> str | None:
    """The commit of the medinpaint source tree, or None outside a repository with commits."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(
    folder: str | os.PathLike,
    name: str,
    model: torch.nn.Module,
    args: dict[str, Any],
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write checkpoint ``name`` into ``folder``; with ``optimizer``, also what resuming needs."""
    folder = Path(folder)
    meta = dict(meta)
    if optimizer is not None:
        from safetensors.torch import save_file

        tensors, description = _flatten_optimizer(optimizer)
        meta["optimizer"] = description
        target = folder / f"{name}.optim.safetensors"
        folder.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(target) + ".tmp")
        os.replace(str(target) + ".tmp", target)
    return save_model(model, folder / f"{name}.safetensors", args, meta)


def load_training_state(folder: str | os.PathLike, name: str, model: torch.nn.Module,
                        optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Fill ``model`` and ``optimizer`` from checkpoint ``name`` in ``folder``; return its JSON."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_model_meta(folder / f"{name}.json")
    if "optimizer" not in meta:
        raise InputError(folder / f"{name}.json", "checkpoint has no optimizer state to resume from")
    device = next(model.parameters()).device
    model.load_state_dict(load_file(str(folder / f"{name}.safetensors"), device=str(device)))
    tensors = load_file(str(folder / f"{name}.optim.safetensors"), device=str(device))
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta["optimizer"]["scalars"].items()):
        index, field = key.split(".", 1)
        state.setdefault(int(index), {})[field] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    return meta

