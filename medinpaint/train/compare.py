"""Score trained models against SeedCNN and the classical fills on the held-out validation subjects.

``python -m medinpaint.train.compare --repair R.safetensors --seed-cnn S.safetensors --denoise D.safetensors
--out DIR`` writes ``compare.json`` and ``compare.md`` (the model card's tables): PSNR inside the
damaged region per dropout kind for the repair model, SeedCNN, biharmonic, Telea, median, linear slice
interpolation and the repair net's own in-plane fill (push-pull + biharmonic relaxation); whole-image
PSNR and SSIM of the blind denoiser against BM3D told the true noise level, at fixed Rician noise
levels and with the damage preset's noise. The validation damage is drawn with seeds other than the
one used to pick the best checkpoint. Samples whose neighbour slice is a copy of the clean centre (the
edge slices of a volume, single-slice scans) are left out of the repair table: there, linear slice
interpolation would see the answer.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from medinpaint import baselines
from medinpaint.nets import biharmonic_inpaint, classical_fill, load_model
from medinpaint.nets.guard import guard
from medinpaint.nets.single_slice import network_or_biharmonic, single_slice_trial
from medinpaint.train.augment import VALIDATION_SIGMAS, reference_noise, scored, validation_noise
from medinpaint.train.config import TrainConfig
from medinpaint.train.data import make_dataset
from medinpaint.train.loop import collate, model_input, neighbour_is_target
from medinpaint.train.metrics import psnr, ssim

CLASSICAL = ("biharmonic", "telea", "median", "slice interpolation")
ENGINE_SINGLE = "medinpaint (chosen)"  # a 2D image as the engine repairs it: the network or biharmonic


def _predict(model: torch.nn.Module, sample: dict[str, Any]) -> np.ndarray:
    damaged, mask = sample["damaged"][None], sample["mask"][None]
    with torch.no_grad():
        out = model(model_input(model, damaged, mask))
    centre = damaged[:, damaged.shape[1] // 2 : damaged.shape[1] // 2 + 1]
    return (centre + mask * (out - centre))[0, 0].numpy()


def _predict_single(model: torch.nn.Module, sample: dict[str, Any]) -> np.ndarray:
    """The model's repair of the sample's centre as a 2D image: its neighbours replaced by the centre's
    in-plane fill, as the repair engine builds the input of a single slice."""
    damaged, mask = sample["damaged"][None], sample["mask"][None]
    context = damaged.shape[1] // 2
    centre = damaged[:, context : context + 1]
    with torch.no_grad():
        fill = (model.in_plane_fill(centre, mask) if hasattr(model, "in_plane_fill")
                else classical_fill(centre, mask))
        stack = torch.cat([fill if c != context else centre for c in range(damaged.shape[1])], dim=1)
        extra = {"fill": fill} if hasattr(model, "in_plane_fill") else {}
        out = model(model_input(model, stack, mask), **extra)
    return (centre + mask * (out - centre))[0, 0].numpy()


def _chosen_single(model: torch.nn.Module, sample: dict[str, Any], repaired: np.ndarray) -> np.ndarray:
    """What the repair engine gives for the sample's centre as a 2D image: biharmonic inpainting where
    it has thin holes only; the network's repair (``repaired``) where too few trial holes fit; else one
    network pass over its holes and trial holes beside them, and the network's fill or biharmonic
    inpainting, whichever misses less on the trial holes (:mod:`medinpaint.nets.single_slice`)."""
    mask = sample["mask"][0].numpy() > 0
    centre = sample["damaged"][sample["damaged"].shape[0] // 2].numpy().astype(np.float64)
    has_wide, trial, mirrored = single_slice_trial(mask)
    both, keep = repaired, has_wide
    if trial is not None:
        union = torch.from_numpy((mask | trial)[None].astype(np.float32))
        both = _predict_single(model, {"damaged": sample["damaged"], "mask": union})
        keep, _ = network_or_biharmonic(centre, mask, trial, both.astype(np.float64))
    # (a kept fill made beside a mirrored band is made again without it: the repair alone)
    chosen = (repaired if mirrored else both) if keep else biharmonic_inpaint(centre, mask)
    return np.where(mask, chosen, centre).astype(np.float32)


def _db(prediction: np.ndarray, clean: np.ndarray, mask: np.ndarray | None = None) -> float:
    p, c = torch.from_numpy(prediction)[None, None], torch.from_numpy(clean)[None, None]
    return float(psnr(p, c, None if mask is None
                      else torch.from_numpy(mask.astype(np.float32))[None, None])[0])


def compare_repair(models: dict[str, torch.nn.Module], context: int, seeds: list[int]) -> dict[str, Any]:
    """Mean PSNR (dB) inside the mask per kind and method, with the number of samples."""
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    single: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    skipped = 0
    for seed in seeds:
        dataset = make_dataset(TrainConfig(preset="transmission", context=context), "val", seed=seed)
        for sample in tqdm(dataset, desc=f"repair, seed {seed}", leave=False):
            mask = sample["mask"][0].numpy() > 0
            stack, clean = sample["damaged"].numpy(), sample["clean"][0].numpy()
            centre = stack[context]
            if not mask.any():
                continue
            if context and not mask.all():  # every sample as a 2D image too (edge slices included)
                alone = {name: _predict_single(model, sample) for name, model in models.items()}
                alone[ENGINE_SINGLE] = _chosen_single(models["medinpaint"], sample, alone["medinpaint"])
                alone["biharmonic"] = baselines.biharmonic(centre, mask)
                alone["telea"] = baselines.telea(centre, mask)
                alone["median"] = baselines.median(centre, mask)
                for name, fill in alone.items():
                    single[sample["kind"]][name].append(_db(fill, clean, mask))
            if neighbour_is_target(collate([sample])):
                skipped += 1
                continue
            fills = {name: _predict(model, sample) for name, model in models.items()}
            fills["in-plane fill"] = classical_fill(sample["damaged"][None, context : context + 1],
                                                    sample["mask"][None])[0, 0].numpy()
            fills["biharmonic"] = baselines.biharmonic(centre, mask)
            fills["telea"] = baselines.telea(centre, mask)
            fills["median"] = baselines.median(centre, mask)
            if context:
                fills["slice interpolation"] = baselines.slice_interpolation(stack, mask)
            for name, fill in fills.items():
                scores[sample["kind"]][name].append(_db(fill, clean, mask))
    table = {kind: {name: float(np.mean(v)) for name, v in methods.items()}
             for kind, methods in scores.items()}
    counts = {kind: len(next(iter(methods.values()))) for kind, methods in scores.items()}
    alone = {kind: {name: float(np.mean(v)) for name, v in methods.items()}
             for kind, methods in single.items()}
    at_or_above = {}
    for kind, methods in single.items():
        best = np.max([methods[m] for m in CLASSICAL if m in methods], axis=0)
        at_or_above[kind] = float(np.mean(np.asarray(methods[ENGINE_SINGLE]) >= best - 0.01))
    return {"psnr_mask": table, "n": counts, "skipped_edge_samples": skipped, "seeds": seeds,
            "single_slice": {"psnr_mask": alone, "n": {k: len(v["medinpaint"]) for k, v in single.items()},
                             "at_or_above_best_classical": at_or_above}}


def compare_denoise(model: torch.nn.Module, seeds: list[int]) -> dict[str, Any]:
    """Whole-image PSNR/SSIM of the blind denoiser, BM3D told the true sigma, and the noisy input.

    ``levels``: Rician noise of each of :data:`VALIDATION_SIGMAS` on every validation slice
    (:func:`validation_noise`, as the training validation adds it), per subject and level, with the
    references' median own noise level; pairs whose reference is not clean enough for the level
    (:func:`scored`) are counted in ``not_scored`` instead. ``preset``: the damage preset's noise
    (Rician for MR, low-dose for CT) with ``seeds``; on MR it is weaker than the references' own
    noise, which a blind denoiser removes too, so those rows measure the reference as much as the
    method.
    """
    levels: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    own: dict[str, list[float]] = defaultdict(list)
    too_noisy: dict[str, int] = defaultdict(int)
    preset: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))

    def score(rows, key, noisy, clean, sigma):
        with torch.no_grad():
            denoised = model(torch.from_numpy(noisy)[None, None])[0, 0].numpy()
        guarded = guard(noisy, denoised).output  # what `medinpaint repair --denoise` keeps of it
        outputs = {"medinpaint (blind)": denoised, "medinpaint (guarded)": guarded,
                   "BM3D (true sigma)": baselines.bm3d_denoise(noisy, sigma), "noisy input": noisy}
        for name, image in outputs.items():
            value = float(ssim(torch.from_numpy(image)[None, None], torch.from_numpy(clean)[None, None])[0])
            rows[key][name].append((_db(image, clean), value))

    for number, seed in enumerate(seeds):
        dataset = make_dataset(TrainConfig(preset="noise", context=0), "val", seed=seed)
        for index, sample in enumerate(tqdm(dataset, desc=f"denoise, seed {seed}", leave=False)):
            noisy, clean = sample["damaged"][0].numpy(), sample["clean"][0].numpy()
            score(preset, f"{sample['kind']}, {sample['subject']}", noisy, clean,
                  float(np.std(noisy - clean)))
            if number == 0:  # the slices are the same for every seed; only the preset's noise differs
                for level in range(len(VALIDATION_SIGMAS)):  # every slice at every level its reference allows
                    noisy, sigma = validation_noise(sample["clean"][None],
                                                    len(VALIDATION_SIGMAS) * index + level)
                    if scored(sample["clean"][None], sigma):
                        score(levels, (sample["subject"], sigma), noisy[0, 0].numpy(), clean, sigma)
                    else:
                        too_noisy[f"{sample['subject']}, sigma {sigma:g}"] += 1
                own[sample["subject"]].append(reference_noise(sample["clean"][None]))

    def table(rows):
        return {key: {name: {"psnr": float(np.mean([v[0] for v in values])),
                             "ssim": float(np.mean([v[1] for v in values])),
                             "n": len(values)} for name, values in methods.items()}
                for key, methods in rows.items()}

    by_level: dict[str, dict[str, Any]] = defaultdict(dict)
    for (subject, sigma), methods in sorted(table(levels).items()):
        by_level[subject][f"{sigma:g}"] = methods
    return {"levels": dict(by_level),
            "reference_noise": {subject: float(np.median(v)) for subject, v in own.items()},
            "not_scored": dict(too_noisy), "preset": table(preset)}


def markdown(result: dict[str, Any]) -> str:
    """The model card's tables."""
    lines = []
    if "repair" in result:
        table = result["repair"]["psnr_mask"]
        methods = list(next(iter(table.values())))
        lines += ["| kind (n) | " + " | ".join(methods) + " | gain over best classical |",
                  "|---" * (len(methods) + 2) + "|"]
        for kind in sorted(table):
            row = table[kind]
            best = max(row[m] for m in CLASSICAL if m in row)
            gain = row.get("medinpaint", float("nan")) - best
            lines.append(f"| {kind} ({result['repair']['n'][kind]}) | "
                         + " | ".join(f"{row[m]:.2f}" for m in methods) + f" | {gain:+.2f} |")
        lines.append("")
        alone = result["repair"].get("single_slice", {}).get("psnr_mask")
        if alone:
            methods = list(next(iter(alone.values())))
            lines += ["Single slices (every sample as a 2D image: its neighbours replaced by its in-plane "
                      "fill):", "", "| kind (n) | " + " | ".join(methods)
                      + f" | gain of {ENGINE_SINGLE} over best classical | samples at or above it |",
                      "|---" * (len(methods) + 3) + "|"]
            for kind in sorted(alone):
                row = alone[kind]
                best = max(row[m] for m in CLASSICAL if m in row)
                share = result["repair"]["single_slice"]["at_or_above_best_classical"][kind]
                lines.append(f"| {kind} ({result['repair']['single_slice']['n'][kind]}) | "
                             + " | ".join(f"{row[m]:.2f}" for m in methods)
                             + f" | {row[ENGINE_SINGLE] - best:+.2f} | {100 * share:.0f}% |")
            lines.append("")
    if "denoise" in result:
        denoise = result["denoise"]
        names = list(next(iter(next(iter(denoise["levels"].values())).values())))
        lines += ["| subject (own noise), Rician sigma (n) | " + " | ".join(names) + " | model - BM3D |",
                  "|---" * (len(names) + 2) + "|"]
        for subject, by_sigma in denoise["levels"].items():
            own = denoise["reference_noise"][subject]
            for sigma, methods in by_sigma.items():
                cells = " | ".join(f"{methods[m]['psnr']:.2f} / {methods[m]['ssim']:.3f}" for m in names)
                gap = methods["medinpaint (blind)"]["psnr"] - methods["BM3D (true sigma)"]["psnr"]
                lines.append(f"| {subject} ({own:.3f}), {sigma} ({methods[names[0]]['n']}) | {cells} "
                             f"| {gap:+.2f} |")
        if denoise["not_scored"]:
            lines += ["", "Not scored (the reference's own noise above half the added level): " + ", ".join(
                f"{key} ({n})" for key, n in sorted(denoise["not_scored"].items())) + "."]
        lines += ["", "| preset noise kind, subject | method | n | PSNR (dB) | SSIM |",
                  "|---|---|---|---|---|"]
        for kind, methods in sorted(denoise["preset"].items()):
            for name, v in methods.items():
                lines.append(f"| {kind} | {name} | {v['n']} | {v['psnr']:.2f} | {v['ssim']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medinpaint.train.compare",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repair", help="repair model (.safetensors)")
    parser.add_argument("--seed-cnn", help="SeedCNN trained on the same pairs (.safetensors)")
    parser.add_argument("--denoise", help="denoise model (.safetensors)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="validation damage seeds")
    parser.add_argument("--out", required=True, help="folder for compare.json and compare.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result: dict[str, Any] = {}
    if args.repair:
        model, meta = load_model(args.repair)
        models = {"medinpaint": model}
        if args.seed_cnn:
            models["SeedCNN"] = load_model(args.seed_cnn)[0]
        result["repair"] = compare_repair(models, int(meta["args"].get("context", 0)), args.seeds)
    if args.denoise:
        result["denoise"] = compare_denoise(load_model(args.denoise)[0], args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "compare.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
