"""Slice-pair datasets on real CT and MR volumes: the split is by subject, every sample keeps the
contract the networks are built on (shapes, dtypes, mask, undoable normalisation), training is
reproducible from its seed, validation is fixed, and MONAI's DataLoader and CacheDataset feed them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, DataLoader

from medinpaint.damage import KINDS
from medinpaint.damage.presets import CT_ARTIFACTS, MR_ARTIFACTS
from medinpaint.data import SOURCES, VALIDATION_SUBJECTS, SlicePairDataset, denormalise, select_split
from medinpaint.data.slices import RandSlabAffined
from tests.conftest import require_source

# real volumes: Debian's ch2 and Cranium (fetched by `make data`), pip's nibabel and pydicom files
NAMES = ["ch2", "cranium", "nibabel-anatomical", "pydicom-ct-small"]
MR_KINDS = {cls.damage_class.kind for cls in MR_ARTIFACTS}
CT_KINDS = {cls.damage_class.kind for cls in CT_ARTIFACTS}


@pytest.fixture(scope="module")
def volumes():
    for name in NAMES:
        require_source(name)
    return [SOURCES[name].load() for name in NAMES]


@pytest.fixture(scope="module")
def train(volumes):
    return SlicePairDataset(volumes, preset="all", patch_size=64, context=2, split="train", seed=1)


@pytest.fixture(scope="module")
def val(volumes):
    return SlicePairDataset(volumes, preset="all", split="val", seed=1)


def test_the_split_is_by_subject_with_a_fixed_validation_set():
    sources = list(SOURCES.values())
    train_subjects = {s.subject for s in select_split(sources, "train")}
    val_subjects = {s.subject for s in select_split(sources, "val")}
    assert not train_subjects & val_subjects
    assert val_subjects == set(VALIDATION_SUBJECTS)
    assert {"colin27", "invesalius-cranium", "mni152"} <= train_subjects
    assert len(select_split(sources, "all")) == len(sources)
    with pytest.raises(ValueError, match="split"):
        select_split(sources, "test")


def test_datasets_draw_from_their_split_only(train, val):
    assert train.subjects == ["colin27", "invesalius-cranium"]
    assert val.subjects == ["nipy-example", "pydicom-ct-small"]
    assert {item["subject"] for item in train.data} == set(train.subjects)
    assert {item["axis"] for item in train.data} == {0, 1, 2}


def _check_contract(sample, channels, size=None):
    assert set(sample) == {"damaged", "clean", "mask", "subject", "kind", "norm"}
    damaged, clean, mask = sample["damaged"], sample["clean"], sample["mask"]
    for tensor in (damaged, clean, mask):
        assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    assert damaged.shape[0] == channels and clean.shape[0] == 1 and mask.shape == clean.shape
    assert damaged.shape[1:] == clean.shape[1:] and (size is None or tuple(clean.shape[1:]) == (size, size))
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    centre = damaged[channels // 2: channels // 2 + 1]
    assert torch.equal(centre[mask == 0], clean[mask == 0])
    assert isinstance(sample["subject"], str) and sample["kind"] in KINDS + ("none",)
    assert set(sample["norm"]) == {"method", "low", "high"}
    inside = centre[mask == 1]
    assert inside.numel() == 0 or (-1.0 <= float(inside.min()) and float(inside.max()) <= 2.0)


def test_training_samples_keep_the_contract(train):
    kinds = set()
    for i in range(0, len(train), len(train) // 40):
        sample = train[i]
        _check_contract(sample, channels=5, size=64)
        kinds.add(sample["kind"])
        modality_kinds = MR_KINDS if sample["norm"]["method"] == "ct-window" else CT_KINDS
        assert sample["kind"] not in modality_kinds  # no MR artifacts on CT, no CT artifacts on MR
    assert len(kinds) >= 6


def test_plain_2d_samples_have_one_channel_and_no_lost_slices(volumes):
    dataset = SlicePairDataset(volumes[:1], preset="transmission", patch_size=48, context=0, seed=2)
    kinds = set()
    for i in range(0, len(dataset), 12):
        sample = dataset[i]
        _check_contract(sample, channels=1, size=48)
        kinds.add(sample["kind"])
    assert "lost-slices" not in kinds and len(kinds) == 5


def test_validation_gives_whole_slices_with_fixed_damage_and_undoable_normalisation(val, volumes):
    again = SlicePairDataset(volumes, preset="all", split="val", seed=1)
    for i in (0, len(val) // 2, len(val) - 1):
        sample, item = val[i], val.data[i]
        entry = val.store[item["volume"]]
        plane_shape = tuple(n for a, n in enumerate(entry.array.shape) if a != item["axis"])
        _check_contract(sample, channels=1)
        assert tuple(sample["clean"].shape[1:]) == plane_shape
        repeat, other = val[i], again[i]
        assert (torch.equal(repeat["damaged"], sample["damaged"])
                and torch.equal(other["damaged"], sample["damaged"]))
        assert repeat["kind"] == sample["kind"]
        # the normalisation is undone exactly by the recorded norm
        physical = np.take(entry.array * entry.slope + entry.intercept, item["index"], axis=item["axis"])
        np.testing.assert_allclose(denormalise(sample["clean"][0].numpy().astype(np.float64), sample["norm"]),
                                   physical, atol=1e-3 * (sample["norm"]["high"] - sample["norm"]["low"]))


def test_ct_is_normalised_by_a_fixed_hu_window(val):
    ct = next(val[i] for i in range(len(val)) if val[i]["subject"] == "pydicom-ct-small")
    assert ct["norm"] == {"method": "ct-window", "low": -1024.0, "high": 3071.0}


def test_training_is_reproducible_from_its_seed(volumes):
    def draw(seed):
        dataset = SlicePairDataset(volumes, preset="all", patch_size=64, context=2, split="train", seed=seed)
        return [dataset[i] for i in (3, 500, 900, 3)]

    a, b, c = draw(1), draw(1), draw(2)
    assert all(torch.equal(x["damaged"], y["damaged"]) and torch.equal(x["mask"], y["mask"])
               for x, y in zip(a, b, strict=True))
    assert any(not torch.equal(x["damaged"], z["damaged"]) for x, z in zip(a, c, strict=True))
    assert not torch.equal(a[0]["damaged"], a[3]["damaged"])  # fresh patch and damage on every visit


def test_a_dataloader_with_two_workers_gives_batches_of_the_contract(train):
    loader = DataLoader(train, batch_size=4, shuffle=True, num_workers=2)
    batches = list(itertools.islice(loader, 3))
    for batch in batches:
        assert batch["damaged"].shape == (4, 5, 64, 64) and batch["damaged"].dtype == torch.float32
        assert batch["clean"].shape == (4, 1, 64, 64) and batch["mask"].shape == (4, 1, 64, 64)
        assert batch["clean"].dtype == torch.float32 and batch["mask"].dtype == torch.float32
        assert len(batch["subject"]) == 4 and len(batch["kind"]) == 4
        assert batch["norm"]["low"].shape == (4,) and len(batch["norm"]["method"]) == 4


def test_cache_dataset_caches_the_slices_and_keeps_the_damage_random(train):
    cached = CacheDataset(data=train.data[:6], transform=train.transform, cache_rate=1.0, num_workers=0,
                          progress=False)
    first, second = cached[0], cached[0]
    _check_contract(first, channels=5, size=64)
    assert first["subject"] == second["subject"]
    assert not (torch.equal(first["damaged"], second["damaged"]) and first["kind"] == second["kind"])


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"preset": "everything"}, "preset"), ({"split": "test"}, "split"), ({"patch_size": 0}, "patch_size"),
    ({"axes": (3,)}, "axes"), ({"seed": -1}, "seed"), ({"context": -1}, "context"),
])
def test_bad_arguments_raise_value_error_naming_them(volumes, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        SlicePairDataset(volumes[3:], **{"split": "all", **kwargs})


def test_a_split_without_volumes_is_refused(volumes):
    with pytest.raises(ValueError, match="no volume"):
        SlicePairDataset(volumes[3:], split="train")


def test_per_slice_rescale_is_followed_along_every_axis(volumes):
    # a DICOM series may rescale each slice differently: take ch2 with slopes and intercepts per slice
    ch2 = volumes[0]
    depth = ch2.array.shape[2]
    volume = ch2.with_array(ch2.array[:, :, 60:100], slope=np.linspace(1.0, 2.0, 40),
                            intercept=np.linspace(-5.0, 5.0, 40))
    volume.meta["subject"] = "rescaled"
    assert depth > 100
    dataset = SlicePairDataset([volume], preset="transmission", split="val", val_subjects=("rescaled",),
                               stride=17)
    physical = volume.physical(np.float64)
    for i in range(len(dataset)):
        sample, item = dataset[i], dataset.data[i]
        expected = np.take(physical, item["index"], axis=item["axis"])
        np.testing.assert_allclose(denormalise(sample["clean"][0].numpy().astype(np.float64), sample["norm"]),
                                   expected, atol=1e-4 * (sample["norm"]["high"] - sample["norm"]["low"]))
        centre = sample["damaged"][0]
        outside = sample["mask"][0] == 0
        assert torch.equal(centre[outside], sample["clean"][0][outside])


def test_each_dataloader_worker_draws_its_own_damage(volumes):
    dataset = SlicePairDataset(volumes[:1], preset="all", patch_size=32, seed=0)
    batches = list(itertools.islice(DataLoader(dataset, batch_size=1, shuffle=False, num_workers=2), 12))
    # with two workers batch n comes from worker n % 2; the same random state in both would repeat kinds
    first, second = ([b["kind"][0] for b in batches[w::2]] for w in (0, 1))
    assert first != second


def test_rotation_and_zoom_come_before_the_damage_and_keep_stored_values(volumes):
    ch2 = volumes[0]
    slab = np.ascontiguousarray(ch2.array[40:140, 50:150, 88:91].transpose(2, 0, 1))  # (3, 100, 100) uint8
    item = {"image": slab, "slope": np.float64(1.0), "intercept": np.float64(0.0), "padding": 0.0}
    turn = RandSlabAffined(prob=1.0, zoom=(1.0, 1.0))
    turn.randomize()
    turn._angle = np.pi / 2  # a quarter turn lands every sample on a pixel centre: exact
    turn.randomize = lambda data=None: None
    out = turn(item)["image"]
    assert out.dtype == np.uint8
    assert any(np.array_equal(out, np.rot90(slab, k, axes=(1, 2))) for k in (1, 3))
    shrink = RandSlabAffined(prob=1.0, zoom=(0.5, 0.5))
    shrink.set_random_state(3)
    small = shrink(item)["image"]
    assert small.dtype == np.uint8 and small.shape == slab.shape
    assert (small[:, :10, :10] == 0).all()  # outside the zoomed-out slab: the padding value
    assert abs(float(small.astype(float).sum()) - 0.25 * float(slab.astype(float).sum())) < 0.05 * slab.sum()
    # the training chain rotates the clean slab first, so the damage is still axis-aligned
    train = SlicePairDataset(volumes[:1], preset="transmission", patch_size=64, context=1, split="train",
                             seed=2)
    names = [type(step).__name__ for step in train.transform.transforms]
    assert names.index("RandSlabAffined") < names.index("DamageCentred")
