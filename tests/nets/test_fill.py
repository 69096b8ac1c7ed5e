"""medinpaint.nets.fill: the exact in-plane fill is scikit-image's biharmonic inpainting, and a 2D image
repaired by the repair network gets it (issue 19: single slices never behind the best classical fill)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.restoration import inpaint_biharmonic

from medinpaint.nets import RepairNet, biharmonic_inpaint, exact_fill
from tests.generators.independent import damage
from tests.train.slices import load_head


@pytest.fixture(scope="module")
def plane() -> np.ndarray:
    return load_head()[:, :, 90].astype(np.float64)  # 181x217 axial Colin27 slice, about [0, 1]


def _holes(plane: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    holes = {kind: damage(plane.astype(np.float32), kind, rng, **options).lost
             for kind, options in (("tiles", {"share": 0.08}), ("lines", {"share": 0.04}),
                                   ("impulses", {"share": 0.01}), ("truncation", {"share": 0.2}),
                                   ("tiles", {"share": 0.25, "tile": 32}))}
    corner = np.zeros(plane.shape, bool)
    corner[:70, :90] = True  # one wide hole on two edges of the image: the sparse LU and the edge stencils
    holes["corner"] = corner
    return holes


def test_biharmonic_inpaint_is_scikit_images_on_holes_of_every_size(plane):
    for name, mask in _holes(plane).items():
        assert mask.any(), name
        ours = biharmonic_inpaint(np.where(mask, 0.0, plane), mask)
        theirs = inpaint_biharmonic(np.where(mask, 0.0, plane), mask)
        assert np.abs(ours - theirs).max() < 1e-6, name
        assert np.array_equal(ours[~mask], plane[~mask]), name


def test_biharmonic_inpaint_leaves_a_full_or_empty_mask_alone(plane):
    assert np.array_equal(biharmonic_inpaint(plane, np.zeros(plane.shape, bool)), plane)
    assert np.array_equal(biharmonic_inpaint(plane, np.ones(plane.shape, bool)), plane)
    with pytest.raises(ValueError):
        biharmonic_inpaint(plane, np.zeros((3, 3), bool))


def test_exact_fill_of_a_batch_is_each_plane_filled_alone(plane):
    holes = _holes(plane)
    masks = np.stack([holes["lines"], holes["tiles"]])[:, None]
    images = torch.from_numpy(np.stack([plane, plane[::-1].copy()])[:, None]).float()
    filled = exact_fill(images, torch.from_numpy(masks).float())
    for b in range(2):
        expected = biharmonic_inpaint(images[b, 0].double().numpy(), masks[b, 0])
        assert torch.allclose(filled[b, 0].double(), torch.from_numpy(expected), atol=1e-6)
    assert torch.equal(exact_fill(images[:1], torch.ones_like(images[:1])), torch.zeros_like(images[:1]))


def test_a_single_slice_takes_the_exact_fill_in_thin_holes_and_the_network_in_wide_ones(plane):
    """With neighbours that are copies of the centre's in-plane fill (what the engine gives a 2D image),
    thin holes (lines) take scikit-image's fill, wide ones (a corner block) the network's repair; with
    real neighbours the network repairs both."""
    thin = np.zeros(plane.shape, bool)
    thin[100, 100:200] = thin[140:142, 20:150] = True  # one line, and two lines side by side
    thin[::37, 150::29] = True  # impulses
    wide = np.zeros(plane.shape, bool)
    wide[:40, :60] = True  # a corner block, apart from the rest
    mask = thin | wide
    centre = torch.from_numpy(np.where(mask, 0.0, plane)).float()[None, None]
    hole = torch.from_numpy(mask).float()[None, None]
    model = RepairNet(context=1).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        fill = model.in_plane_fill(centre, hole)
        single = model(torch.cat([fill, centre, fill, hole], dim=1), fill=fill)[0, 0].double().numpy()
        stack = model(torch.cat([centre + 0.01, centre, centre - 0.01, hole], dim=1), fill=fill)
        model.single_slice_fill = False  # the network's own answer on the single slice
        own = model(torch.cat([fill, centre, fill, hole], dim=1), fill=fill)[0, 0].double().numpy()
    expected = inpaint_biharmonic(np.where(mask, 0.0, plane), mask)
    assert np.abs(single - expected)[thin].max() < 1e-5
    assert np.array_equal(single[wide], own[wide])
    assert np.abs(own - expected)[thin].max() > 1e-3
    assert np.abs(stack[0, 0].double().numpy() - expected)[thin].max() > 1e-3


def test_holes_apart_can_be_solved_alone(plane):
    mask = np.zeros(plane.shape, bool)
    mask[100, 100:200] = True
    mask[:40, :60] = True
    part = np.zeros(plane.shape, bool)
    part[100, 100:200] = True
    image = np.where(mask, 0.0, plane)
    alone = biharmonic_inpaint(image, mask, part)
    assert np.abs(alone - biharmonic_inpaint(image, mask))[part].max() < 1e-9
    assert np.array_equal(alone[mask & ~part], image[mask & ~part])
