"""Every damage kind behaves like a MONAI transform and keeps its promises, on real CT and MR images:
reproducible with a seed, bit-identical outside its mask, array and dictionary twins agree, the random
transform is replayed exactly by its deterministic twin, bad arguments name themselves, meta is kept,
2D and 3D."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

import medinpaint.damage as damage
from medinpaint.damage import PRESETS, dictionary_twin

RANDOM = list(PRESETS["all"].items())
IDS = [cls.damage_class.kind for cls, _ in RANDOM]
IMAGES = ["mr2d", "ct2d", "mr2d-float", "mr3d"]


def _run(cls, kwargs, image, seed):
    transform = cls(**kwargs)
    transform.set_random_state(seed)
    out, mask = transform(image)
    return out, mask, transform.last_params


def _replay_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "kind"}


@pytest.mark.parametrize(("cls", "kwargs"), RANDOM, ids=IDS)
@pytest.mark.parametrize("name", IMAGES)
def test_nothing_changes_outside_the_mask(cls, kwargs, name, images):
    image = images[name]
    for seed in (0, 1, 2):
        out, mask, params = _run(cls, kwargs, image, seed)
        assert out.shape == image.shape and out.dtype == image.dtype
        assert mask.shape == image.shape and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        outside = mask == 0
        assert out[outside].tobytes() == image[outside].tobytes()
        assert params["kind"] == cls.damage_class.kind
        assert mask.any(), f"{params['kind']} damaged nothing on {name} with seed {seed}"


@pytest.mark.parametrize(("cls", "kwargs"), RANDOM, ids=IDS)
def test_same_seed_same_damage_other_seed_other_damage(cls, kwargs, images):
    image = images["mr3d"]
    out1, mask1, params1 = _run(cls, kwargs, image, 11)
    out2, mask2, params2 = _run(cls, kwargs, image, 11)
    assert np.array_equal(out1, out2) and np.array_equal(mask1, mask2) and params1 == params2
    others = [_run(cls, kwargs, image, seed)[2] for seed in (12, 13, 14)]
    assert any(p != params1 for p in others)


@pytest.mark.parametrize(("cls", "kwargs"), RANDOM, ids=IDS)
@pytest.mark.parametrize("name", ["ct2d", "mr3d"])
def test_random_damage_is_replayed_by_its_deterministic_twin(cls, kwargs, name, images):
    image = images[name]
    out, mask, params = _run(cls, kwargs, image, 5)
    replay = cls.damage_class(**_replay_params(params))
    again, again_mask = replay(image)
    assert np.array_equal(out, again) and np.array_equal(mask, again_mask)
    assert replay.last_params == params


@pytest.mark.parametrize(("cls", "kwargs"), RANDOM, ids=IDS)
def test_array_and_dictionary_twins_agree(cls, kwargs, images):
    image = images["mr2d"]
    out, mask, params = _run(cls, kwargs, image, 21)

    twin = getattr(damage, cls.__name__ + "d")
    assert twin is dictionary_twin(cls)
    rand_d = twin(keys="image", mask_key="m", **kwargs)
    rand_d.set_random_state(21)
    d = rand_d({"image": image, "other": "kept"})
    assert np.array_equal(d["image"], out) and np.array_equal(d["m"], mask)
    assert d["damage"] == params and d["other"] == "kept"

    det_d = getattr(damage, cls.damage_class.__name__ + "d")(keys="image", **_replay_params(params))
    d = det_d({"image": image})
    assert np.array_equal(d["image"], out) and np.array_equal(d["mask"], mask) and d["damage"] == params


@pytest.mark.parametrize(("cls", "kwargs"), RANDOM, ids=IDS)
def test_meta_and_tensor_types_are_kept(cls, kwargs, images):
    image = images["mr3d"]
    affine = torch.diag(torch.tensor([2.0, 3.0, 4.0, 1.0], dtype=torch.float64))
    meta_image = MetaTensor(torch.as_tensor(image), affine=affine, meta={"filename_or_obj": "ch2.nii.gz"})
    out, mask, params = _run(cls, kwargs, meta_image, 3)
    assert isinstance(out, MetaTensor) and isinstance(mask, MetaTensor)
    assert torch.equal(out.affine, affine) and torch.equal(mask.affine, affine)
    assert out.meta["filename_or_obj"] == "ch2.nii.gz"
    assert out.applied_operations[-1]["extra_info"] == params
    assert out.dtype == torch.uint8 and mask.dtype == torch.uint8
    # the same damage as on the numpy array
    np_out, np_mask, _ = _run(cls, kwargs, image, 3)
    assert np.array_equal(out.numpy(), np_out) and np.array_equal(mask.numpy(), np_mask)

    plain_out, plain_mask, _ = _run(cls, kwargs, torch.as_tensor(image), 3)
    assert type(plain_out) is torch.Tensor and type(plain_mask) is torch.Tensor


@pytest.mark.parametrize(("cls", "kwargs"), RANDOM, ids=IDS)
def test_prob_zero_leaves_the_image_alone(cls, kwargs, images):
    image = images["ct2d"]
    out, mask, params = _run(cls, {**kwargs, "prob": 0.0}, image, 0)
    assert np.array_equal(out, image) and not mask.any() and params == {"kind": "none"}


BAD_ARGUMENTS = [
    (damage.RandLostSlices, {"num_slices": (0, 2)}, "num_slices"),
    (damage.RandLostSlices, {"fills": ("max",)}, "fills"),
    (damage.LostSlices, {"slices": [-1]}, "slices"),
    (damage.LostSlices, {"slices": [1], "fill": "max"}, "fill"),
    (damage.RandLostLines, {"run_length": (5, 2)}, "run_length"),
    (damage.LostLines, {"lines": "3"}, "lines"),
    (damage.RandPacketLoss, {"tile_sizes": ()}, "tile_sizes"),
    (damage.RandPacketLoss, {"burst_tiles": (0, 1)}, "burst_tiles"),
    (damage.PacketLoss, {"tile_size": 0, "first_tile": 0, "num_tiles": 1}, "tile_size"),
    (damage.RandCorruptBlocks, {"block_size": (0, 3)}, "block_size"),
    (damage.CorruptBlocks, {"blocks": [(1, 2, 3)], "seed": 0}, "blocks"),
    (damage.RandBitErrors, {"rate": (0.1, 2.0)}, "rate"),
    (damage.BitErrors, {"rate": 0.01, "top_bits": 9}, "top_bits"),
    (damage.RandTruncation, {"kept_fraction": (0.5, 1.5)}, "kept_fraction"),
    (damage.Truncation, {"kept": -1}, "kept"),
    (damage.RandRician, {"std": (-1.0, 0.1)}, "std"),
    (damage.Rician, {"std": -0.1}, "std"),
    (damage.RandGibbs, {"alpha": (0.2, 1.2)}, "alpha"),
    (damage.Gibbs, {"alpha": 1.5}, "alpha"),
    (damage.RandKSpaceSpikes, {"num_spikes": (0, 1)}, "num_spikes"),
    (damage.KSpaceSpikes, {"locations": [], "strength": 0.1}, "locations"),
    (damage.KSpaceSpikes, {"locations": [(1, 2)], "strength": -1.0}, "strength"),
    (damage.RandGhosting, {"num_ghosts": (1, 3)}, "num_ghosts"),
    (damage.Ghosting, {"num_ghosts": 3, "intensity": 2.0}, "intensity"),
    (damage.RandBias, {"degree": 0}, "degree"),
    (damage.Bias, {"strength": "strong"}, "strength"),
    (damage.RandLowDoseNoise, {"sigma": (-5.0, 3.0)}, "sigma"),
    (damage.LowDoseNoise, {"sigma": 10.0, "grain": 0.0}, "grain"),
    (damage.RandRings, {"num_rings": (3, 1)}, "num_rings"),
    (damage.Rings, {"center": (5, 5), "radii": [1, 2], "amplitudes": [1]}, "amplitudes"),
    (damage.RandStreaks, {"width": (0.0, 1.0)}, "width"),
    (damage.Streaks, {"center": [1], "angles": [0.1], "amplitudes": [10]}, "center"),
] + [(cls, {"prob": 1.5}, "prob") for cls, _ in RANDOM]


@pytest.mark.parametrize(("cls", "kwargs", "argument"), BAD_ARGUMENTS,
                         ids=[f"{c.__name__}-{a}" for c, _, a in BAD_ARGUMENTS])
def test_bad_arguments_raise_value_error_naming_them(cls, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        cls(**kwargs)
    with pytest.raises(ValueError, match=argument):
        getattr(damage, cls.__name__ + "d")(keys="image", **kwargs)


def test_inputs_that_are_not_channel_first_images_are_refused(images):
    with pytest.raises(ValueError, match="channel-first"):
        damage.LostLines(lines=[1])(images["mr2d"][0])


# --- what each transmission kind does, exactly ---------------------------------------------------


def test_lost_lines_fill_whole_rows_of_the_slices_hit(images):
    image = images["mr3d"]
    out, mask = damage.LostLines(lines=[3, 4], fill=7, slices=[2])(image)
    assert (out[:, :, 3:5, 2] == 7).all() and mask[:, :, 3:5, 2].all()
    assert mask.sum() == 2 * image.shape[1]


def test_lost_slices_of_a_2d_image_lose_the_instance(images):
    image = images["ct2d"]
    out, mask = damage.LostSlices(slices=[0], fill="min")(image)
    assert mask.all() and (out == image.min()).all()


def test_packet_loss_runs_in_raster_order(images):
    image = images["ct2d"]  # 128 x 128: 16 tiles of 8 per row
    out, mask = damage.PacketLoss(tile_size=8, first_tile=15, num_tiles=2, fill=0)(image)
    assert mask[0, 120:128, 0:8].all() and mask[0, 0:8, 8:16].all() and mask.sum() == 2 * 64
    assert (out[mask == 1] == 0).all()


def test_truncation_loses_the_tail_of_the_stream(images):
    image = images["mr3d"]
    kept = image[0].size - image.shape[1] * image.shape[2] - 5  # the last slice and 5 pixels before it
    out, mask = damage.Truncation(kept=kept, fill=0)(image)
    assert mask[0, :, :, -1].all() and mask[0, :, :, :-1].sum() == 5
    assert mask[0, -5:, -1, -2].all()  # the end of the last row of the slice before


def test_bit_errors_flip_one_high_bit_of_integers(images):
    image = images["ct2d"]
    out, mask = damage.BitErrors(rate=0.01, top_bits=4, seed=1)(image)
    flipped = (out.view(np.uint16) ^ image.view(np.uint16))[mask == 1]
    assert mask.sum() > 50
    assert set(np.unique(flipped)) <= {1 << b for b in range(12, 16)}


def test_bit_errors_in_floats_stay_finite(images):
    out, mask = damage.BitErrors(rate=0.05, top_bits=8, seed=2)(images["mr2d-float"])
    assert np.isfinite(out).all() and mask.any()


def test_corrupted_blocks_hold_garbage_within_the_image_range(images):
    image = images["ct2d"]
    out, mask = damage.CorruptBlocks(blocks=[(10, 20, 16, 8)], seed=3)(image)
    block = out[0, 10:26, 20:28]
    assert mask.sum() == 16 * 8 and image.min() <= block.min() and block.max() <= image.max()
    assert len(np.unique(block)) > 50
