"""RepairNet's split of a 2D image's holes into thin ones (the exact fill's) and wide ones (the network's):
the batched search with its shortcut finds, plane by plane, what the plain definition finds, and a
batch of 2D images with thin holes only takes the exact fill without running the body."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from medinpaint.nets import biharmonic_inpaint
from medinpaint.nets.repair import wide_holes


def _defined(hole: np.ndarray) -> np.ndarray:
    """The definition, one plane at a time: pixels of the holes (grouped when within 3 pixels of each
    other) that hold a pixel with no intact one within 2 (city-block)."""
    within_two = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), 2)
    deep = ndimage.binary_erosion(hole, within_two, border_value=1)
    labels, _ = ndimage.label(ndimage.binary_dilation(hole, np.ones((3, 3), bool)), np.ones((3, 3)))
    groups = np.unique(labels[deep])
    return np.isin(labels, groups[groups > 0]) & hole


def _planes(seed: int) -> np.ndarray:
    """Lost lines, impulses, packets (16x16 tiles), blocks and whole planes, alone and mixed, at edges."""
    rng = np.random.default_rng(seed)
    planes = np.zeros((8, 48, 40), bool)
    planes[0, :, 10] = True  # a lost line: thin
    planes[1][rng.random((48, 40)) < 0.02] = True  # impulses: thin
    planes[2, 16:32, 0:16] = True  # a packet at the edge: wide
    planes[3, 16:32, 16:32] = True  # a packet and a line 3 pixels off it: one group, wide
    planes[3, :, 35] = True
    planes[4, 5:9, 5:9] = True  # a 4x4 tile (deep), and a line far from it (thin)
    planes[4, 40, :] = True
    planes[5] = True  # all lost
    planes[6, 20:26, 3:30] = True  # a band 6 pixels high: deep
    planes[6][rng.random((48, 40)) < 0.01] = True
    return planes  # planes[7]: intact


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_holes_are_those_of_the_definition_plane_by_plane(seed):
    planes = _planes(seed)
    found = wide_holes(torch.from_numpy(planes[:, None].astype(np.float32)))
    assert found.shape == (8, 1, 48, 40) and found.dtype == torch.bool
    for plane, wide in zip(planes, found[:, 0].numpy(), strict=True):
        assert np.array_equal(wide, _defined(plane))
    for index in range(len(planes)):  # alone, as on a batch of one: the shortcuts agree
        alone = wide_holes(torch.from_numpy(planes[index : index + 1, None].astype(np.float32)))
        assert np.array_equal(alone[0, 0].numpy(), _defined(planes[index]))


def test_a_2d_image_with_thin_holes_only_skips_the_body_and_repairs_the_same():
    """Every damaged pixel of lost lines takes the exact fill, so the body is not run; where a hole is
    wide it is, and the thin holes beside it still take the exact fill."""
    from medinpaint.nets import default_model_path, load_model

    model = load_model(default_model_path("repair"))[0]
    rng = np.random.default_rng(0)
    image = torch.from_numpy(ndimage.gaussian_filter(rng.random((2, 64, 48)), 3).astype(np.float32))
    mask = torch.zeros(2, 64, 48)
    mask[:, 20, :] = mask[:, 40:43, :] = 1.0  # lost lines
    calls = []
    hook = model.body.register_forward_hook(lambda module, args, out: calls.append(out.shape))

    def repair(mask: torch.Tensor) -> torch.Tensor:
        fill = model.in_plane_fill(image[:, None], mask[:, None])
        x = torch.cat([fill, image[:, None], fill, mask[:, None]], dim=1)  # a 2D image: fills beside it
        with torch.inference_mode():
            return model(x, fill=fill)[:, 0]

    lines = repair(mask)
    assert calls == []
    thin = mask.bool()
    expected = torch.stack([torch.from_numpy(biharmonic_inpaint(image[b].numpy(), thin[b].numpy())).float()
                            for b in range(2)])
    assert torch.allclose(lines[thin], expected[thin], atol=1e-5)
    assert torch.equal(lines[~thin], image[~thin])
    with_packet = mask.clone()
    with_packet[1, 2:14, 30:42] = 1.0  # a lost packet in the second image: the body runs for the batch
    both = repair(with_packet)
    assert len(calls) == 1
    assert torch.equal(both[0], lines[0])  # the thin holes' exact fill, as before
    hook.remove()
