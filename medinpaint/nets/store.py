"""Saving and loading networks as safetensors weights plus a JSON description, never pickle.

A model is two files side by side: ``NAME.safetensors`` (the tensors) and ``NAME.json`` (which
architecture with which arguments, how intensities were normalised, what damage it was trained
on, on which data, at which commit, and its validation metrics). Loading reads the JSON, builds
the architecture from the registry below and fills it from the safetensors file, so nothing in a
model file can run code.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medinpaint.errors import InputError, OutputError
from medinpaint.nets.denoise import Denoiser
from medinpaint.nets.repair import RepairNet
from medinpaint.nets.seed import SeedCNN

FORMAT = "medinpaint-model"
FORMAT_VERSION = 1
ARCHITECTURES: dict[str, type[nn.Module]] = {"SeedCNN": SeedCNN, "RepairNet": RepairNet, "Denoiser": Denoiser}
DEFAULT_MODELS = ("repair", "denoise")


def build_model(architecture: str, **args: Any) -> nn.Module:
    """Construct a registered architecture by name with its keyword arguments."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**args)


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_model(model: nn.Module, path: str | os.PathLike, args: dict[str, Any],
               meta: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights to ``path`` (``.safetensors``) and its description beside it.

    Args:
        model: a registered architecture (unwrapped from DDP / ``torch.compile``).
        path: the ``.safetensors`` file; the ``.json`` file takes the same stem.
        args: the keyword arguments that rebuild the architecture.
        meta: everything else worth knowing (normalisation, damage preset, data, commit, metrics).

    Both files are written to temporary names and renamed, so a reader never sees half a model.
    """
    from safetensors.torch import save_file

    architecture = type(model).__name__
    if architecture not in ARCHITECTURES:
        raise ValueError(f"{architecture} is not a registered architecture")
    weights, description = _paths(path)
    try:
        weights.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        record = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": architecture,
                  "args": args}
        record.update(meta or {})
        tmp_weights = weights.with_name(weights.name + ".tmp")
        tmp_description = description.with_name(description.name + ".tmp")
        save_file(state, str(tmp_weights), metadata={"format": FORMAT, "architecture": architecture})
        os.chmod(tmp_weights, 0o644)  # safetensors creates it private; a model is meant to be shared
        tmp_description.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp_weights, weights)
        os.replace(tmp_description, description)
    except OSError as error:
        raise OutputError(weights, f"cannot write model: {error.strerror or error}") from error
    return weights


def read_model_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON description of the model at ``path`` (``.safetensors`` or ``.json``)."""
    _, description = _paths(path)
    try:
        record = json.loads(description.read_text())
    except FileNotFoundError as error:
        raise InputError(description, "model description (.json) not found beside the weights") from error
    except (OSError, ValueError) as error:
        raise InputError(description, f"not a readable model description: {error}") from error
    if (not isinstance(record, dict) or record.get("format") != FORMAT
            or record.get("architecture") not in ARCHITECTURES):
        raise InputError(description, f"not a {FORMAT} description with a known architecture")
    return record


def load_model(path: str | os.PathLike,
               device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Build the model described beside ``path``, load its safetensors weights, return it in eval mode.

    Returns ``(model, meta)`` where ``meta`` is the JSON description. A file that is not
    safetensors, a missing description or weights that do not fit the architecture raise
    :class:`~medinpaint.errors.InputError`. Nothing is unpickled.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, _ = _paths(path)
    meta = read_model_meta(path)
    try:
        state = load_file(str(weights), device=str(device))
    except FileNotFoundError as error:
        raise InputError(weights, "model weights not found") from error
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(weights, f"not a safetensors file: {error}") from error
    # built without storage (the meta device) and given the loaded tensors themselves: no random
    # initialisation to overwrite, no copy (a third of a one-slice repair's own time, issue 23)
    with torch.device("meta"):
        model = build_model(meta["architecture"], **meta.get("args", {}))
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        fit = f"{meta['architecture']}{meta.get('args', {})}"
        raise InputError(weights, f"weights do not fit {fit}") from error
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # a tensor not in the state dict
        raise InputError(weights, f"weights do not fill every tensor of {meta['architecture']}")
    return model.to(device).eval(), meta


def resolve_model(model: str | os.PathLike | nn.Module | None, *, default: str,
                  device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any], str]:
    """The network a caller names, ready for inference: ``(model, meta, name)``.

    Args:
        model: a model file (:func:`load_model`), a module already built (moved to ``device`` and put
            in eval mode; ``meta`` then holds its architecture and its ``context`` where it has one),
            or None (or ``""``) for the model shipped as ``default``.
        default: the shipped model to use when none is named: ``"repair"`` or ``"denoise"``.
        device: where the model runs.

    ``name`` is the file's name, or the module's class name, for reports. A model file that does not
    exist raises :class:`~medinpaint.errors.InputError` naming it.
    """
    if isinstance(model, nn.Module):
        # a service passes the same module for every scan: walk its tensors only when they must move
        on_device = all(t.device == torch.device(device) for t in (*model.parameters(), *model.buffers()))
        module = model if on_device else model.to(device)
        module = module.eval() if any(m.training for m in module.modules()) else module
        args = {"context": module.context} if hasattr(module, "context") else {}
        return module, {"architecture": type(module).__name__, "args": args}, type(module).__name__
    path = Path(model) if model else default_model_path(default)
    if not path.exists():
        raise InputError(path, "model file not found")
    loaded, meta = load_model(path, device=device)
    return loaded, meta, path.name


def default_model_path(name: str) -> Path:
    """Path of a model shipped inside the package: ``"repair"`` or ``"denoise"``."""
    if name not in DEFAULT_MODELS:
        raise ValueError(f"no shipped model {name!r}; shipped: {', '.join(DEFAULT_MODELS)}")
    return Path(str(resources.files("medinpaint") / "models" / f"{name}.safetensors"))
