"""A 2D image keeps the network's fill or takes biharmonic inpainting, whichever misses less on trial
holes of the image itself (medinpaint.nets.single_slice), on real slices damaged by the independent
generator."""

import numpy as np
import torch
from scipy import ndimage

from medinpaint.data.normalise import denormalise, normalise
from medinpaint.data.sources import find_source
from medinpaint.io import Volume
from medinpaint.nets import biharmonic_inpaint, default_model_path, load_model
from medinpaint.nets.single_slice import CLEARANCE, single_slice_trial, trial_holes
from medinpaint.repair import repair_volume
from medinpaint.repair.engine import _normalisation
from tests.conftest import require_source
from tests.generators.independent import damage


def middle_slice(name: str) -> Volume:
    require_source(name)
    volume = find_source(name).load()
    array = np.asarray(volume.array)
    plane = np.ascontiguousarray(array[:, :, array.shape[2] // 2, np.newaxis])
    return Volume(plane, np.eye(4), float(np.ravel(volume.slope)[0]), float(np.ravel(volume.intercept)[0]),
                  dict(volume.meta))


def network_alone(damaged: Volume, holes: np.ndarray) -> np.ndarray:
    """The shipped network's repair of a 2D image, as the engine builds its input (its in-plane fill
    in place of both neighbours), in physical values."""
    model, _ = load_model(default_model_path("repair"))
    norm = _normalisation(damaged, [0], holes[:, :, np.newaxis])
    centre = torch.from_numpy(normalise(damaged.physical_slice(0), norm))[None, None]
    mask = torch.from_numpy(holes.astype(np.float32))[None, None]
    with torch.inference_mode():
        fill = model.in_plane_fill(centre, mask)
        repaired = model(torch.cat([fill, centre, fill, mask], dim=1), fill)
    return denormalise(repaired[0, 0].numpy().astype(np.float64), norm)


def test_trial_holes_are_copies_of_the_holes_on_intact_pixels_away_from_them():
    mask = np.zeros((160, 200), bool)
    mask[20:36, 30:46] = True  # a lost tile
    mask[90, :] = True  # a lost line
    mask[120:130, 150:170] = True  # a block
    trial = trial_holes(mask)
    assert trial.any()
    distance = ndimage.distance_transform_cdt(~mask, metric="chessboard")
    assert distance[trial].min() > CLEARANCE
    # every copy is one of the holes, whole: the same shapes, moved
    shapes = {tuple(np.asarray(mask[box].shape)) for box in ndimage.find_objects(ndimage.label(mask)[0])}
    labels, n = ndimage.label(trial, structure=np.ones((3, 3), bool))
    for index, box in enumerate(ndimage.find_objects(labels)):
        assert tuple(np.asarray(labels[box].shape)) in shapes
        assert (labels[box] == index + 1).all()


def test_a_2d_image_takes_biharmonic_inpainting_where_the_network_misses_more():
    clean = middle_slice("mni152")  # lost tiles on a smooth template slice: the network alone does worse
    result = damage(np.asarray(clean.array), "tiles", np.random.default_rng(0))
    holes = np.asarray(result.lost, bool)
    damaged = clean.with_array(np.asarray(result.damaged))
    repaired = repair_volume(damaged, mask=holes, device="cpu", precision="float32")
    choice = repaired.report["single_slice_fill"][0]
    assert choice["fill"] == "biharmonic"
    assert choice["trial_rms"]["biharmonic"] < choice["trial_rms"]["network"]
    out, before = np.asarray(repaired.volume.array), np.asarray(damaged.array)
    assert np.array_equal(out[~holes], before[~holes])  # nothing outside the holes changes
    expected = damaged.to_stored_slice(0, biharmonic_inpaint(damaged.physical_slice(0, np.float64),
                                                             holes[:, :, 0]))
    assert np.array_equal(out[:, :, 0][holes[:, :, 0]], expected[holes[:, :, 0]])
    # and it was the better fill: closer to the truth in the holes than the network alone
    truth = clean.physical_slice(0, np.float64)[holes[:, :, 0]]
    chosen = repaired.volume.physical_slice(0, np.float64)[holes[:, :, 0]]
    alone = network_alone(damaged, holes[:, :, 0])[holes[:, :, 0]]
    assert np.mean((chosen - truth) ** 2) < np.mean((alone - truth) ** 2)


def test_volumes_are_not_judged_slice_by_slice():
    require_source("mni152")
    volume = find_source("mni152").load()
    array = np.ascontiguousarray(np.asarray(volume.array)[60:124, 60:124, 80:86])
    small = Volume(array, np.eye(4), float(np.ravel(volume.slope)[0]), float(np.ravel(volume.intercept)[0]))
    result = damage(array, "tiles", np.random.default_rng(0))
    repaired = repair_volume(small.with_array(np.asarray(result.damaged)), mask=np.asarray(result.lost),
                             device="cpu", precision="float32")
    assert "single_slice_fill" not in repaired.report


def test_a_hole_at_the_edge_is_copied_only_along_that_edge():
    mask = np.zeros((120, 160), bool)
    mask[100:, :] = True  # the tail of the stream cut off: a band across the whole slice, at its end
    assert not trial_holes(mask).any()  # no other place is like it
    mask = np.zeros((120, 160), bool)
    mask[:16, 40:56] = True  # a lost tile in the first row of tiles
    trial = trial_holes(mask)
    rows = np.nonzero(trial.any(axis=1))[0]
    assert trial.any() and rows.min() == 0 and rows.max() == 15  # beside it on the same edge, not below


def test_a_band_cut_off_the_end_of_a_slice_is_tried_on_the_opposite_edge():
    """No copy of a truncated stream's band fits beside it: the same cut, mirrored onto the slice's
    first rows, is the trial (where those rows are intact and clear of the holes)."""
    mask = np.zeros((120, 160), bool)
    mask[100:, :] = True
    mask[99, 90:] = True  # the tail starts part way along a row
    has_wide, trial, mirrored = single_slice_trial(mask)
    assert has_wide and mirrored and trial is not None
    assert np.array_equal(trial, mask[::-1])
    mask[:10, :] = True  # the first rows lost too: no intact place left for the mirror
    assert single_slice_trial(mask)[1] is None


def test_a_truncated_2d_image_takes_the_fill_that_does_best_on_its_mirrored_band():
    """cranium's middle slice with the last 30% of its stream cut (the independent generator, seed 1):
    the network, trained with neighbours, extrapolates the band worse than biharmonic inpainting, as
    the mirrored trial band says, and the detected repair takes biharmonic inpainting."""
    clean = middle_slice("cranium")
    result = damage(np.asarray(clean.array), "truncation", np.random.default_rng(1), share=0.3, order="nifti",
                    fill="minimum", on="stored", slope=float(clean.slope), intercept=float(clean.intercept))
    damaged = clean.with_array(np.ascontiguousarray(result.damaged))
    repaired = repair_volume(damaged, device="cpu")
    assert repaired.report["single_slice_fill"][0]["fill"] == "biharmonic"
    assert repaired.report["single_slice_fill"][0]["trial_rms"]


def test_garbage_in_the_holes_sets_no_scale_for_the_network():
    """dipy's PIESNO phantom's middle slice (float64, 0..0.66) with a block of random bytes read as
    float64 (the independent generator's seed 252: values from 1e-303 to 1e300) in its holes: the only
    slice's percentiles, garbage counted, had set the network's scale, and the repair came back at
    1.6e10. The scale is taken from the voxels outside the holes."""
    clean = middle_slice("dipy-piesno")
    array = np.asarray(clean.array)
    result = damage(array, "blocks", np.random.default_rng(252))
    holes = np.asarray(result.mask, bool)
    assert holes.sum() > 500 and np.nanmax(np.abs(np.asarray(result.damaged)[holes])) > 1e6
    damaged = clean.with_array(np.asarray(result.damaged))
    norm = _normalisation(damaged, [0], holes)
    assert array.min() <= norm["low"] < norm["high"] <= array.max()
    # detected (the network's fill kept on the trial holes then), as a user runs it
    repaired = repair_volume(damaged, device="cpu")
    assert repaired.report["kinds"] == {"corrupted-blocks": int(repaired.report["damaged_voxels"])}
    values = np.asarray(repaired.volume.array, dtype=np.float64)[holes]
    assert np.isfinite(values).all()
    assert values.min() >= array.min() - 1 and values.max() <= array.max() + 1
