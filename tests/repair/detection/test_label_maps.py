"""Label maps (segmentations stored as images) are no measurement: detection leaves them alone and a repair
writes nothing into them. Before this rule, masks and tissue classes made from every data source called
bit errors (a lone voxel of a 0/1 mask is one flipped bit from its neighbours) in 47 of 112 of them."""

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from medinpaint.cli import main
from medinpaint.io import Volume
from medinpaint.repair import detect, repair_volume
from medinpaint.repair.detection.label_maps import MOST_LABELS, label_count


def _sources():
    from medinpaint.data.sources import available_sources

    sources = available_sources()
    if not sources:
        pytest.skip("no data source is available (run `make data`)")
    for source in sources:
        array = np.asarray(source.load().array, dtype=np.float64)
        yield source.name, (array[..., 0] if array.ndim == 4 else array)


def label_maps(array: np.ndarray):
    """(name, label map) made from a scan as segmentations are: a mask at its median, tissue classes of
    the smoothed scan (uint8) and of the raw one (int16, with the noise's specks), a float32 mask."""
    cut = np.percentile(array, 50)
    classes = np.percentile(array, [60, 80, 95])
    yield "mask", (array > cut).astype(np.uint8)
    yield "classes", np.digitize(ndimage.gaussian_filter(array, 1), classes).astype(np.uint8)
    yield "noisy-classes", np.digitize(array, classes).astype(np.int16)
    yield "float-mask", (array > cut).astype(np.float32)


def test_no_detection_on_a_label_map_of_any_source():
    found, counted = {}, {}
    for source, array in _sources():
        for name, labels in label_maps(array):
            for view, part in (("volume", labels[:128, :128, :24]),
                               ("slice", labels[:128, :128, labels.shape[2] // 2:][:, :, :1])):
                detection = detect(Volume(np.ascontiguousarray(part), np.eye(4), meta={"format": "nifti"}))
                if detection.labels.any():
                    found[f"{source}/{name}/{view}"] = detection.counts()
                values = len(np.unique(part))  # (one value: a constant scan, no label map)
                if detection.details.get("label_map") != (values if values > 1 else None):
                    counted[f"{source}/{name}/{view}"] = detection.details.get("label_map")
    assert not found, f"detections on label maps: {found}"
    assert not counted, f"label maps not told (or miscounted): {counted}"


def test_every_source_is_a_scan_and_labels_past_the_limit_are_too():
    for source, array in _sources():
        assert label_count(array, 32) is None, source
    steps = np.arange(64 * 64 * 4).reshape(64, 64, 4) % (MOST_LABELS + 1)
    assert label_count(steps, 32) is None  # one value past the limit
    assert label_count(steps % MOST_LABELS, 32) == MOST_LABELS
    assert label_count(steps.astype(np.float32) / 2, 32) is None  # halves: no labels
    with_nan = (steps % 3).astype(np.float32)
    with_nan[0, 0, 0] = np.nan
    assert label_count(with_nan, 32) == 3  # NaN: no label


def test_a_repair_leaves_a_label_map_bit_identical(tmp_path, fill_model, capsys):
    """Through the command line, with detection: the same labels and affine come back (dipy's PIESNO
    crop as noisy tissue classes, in which detection had called bit errors)."""
    array = next(array for source, array in _sources() if source == "dipy-piesno")
    labels = np.digitize(array, np.percentile(array, [60, 80, 95])).astype(np.int16)[16:80, 16:80, :12]
    source = tmp_path / "labels.nii.gz"
    nib.Nifti1Image(labels, np.diag([0.9, 0.9, 2.0, 1.0])).to_filename(str(source))
    assert main(["repair", str(source), str(tmp_path / "out.nii.gz"), "--model", str(fill_model)]) == 0
    assert "a label map of 4 labels, not screened" in capsys.readouterr().out
    out = nib.load(str(tmp_path / "out.nii.gz"))
    assert out.get_data_dtype() == np.int16
    assert np.array_equal(np.asarray(out.dataobj), labels)
    assert np.allclose(out.affine, np.diag([0.9, 0.9, 2.0, 1.0]))


def test_a_4d_label_map_is_one_and_a_counted_scan_is_none():
    """A segmentation of each frame of a series is judged whole; a nuclear medicine or PET scan's
    low-count frames hold as few values as a label map, and are scans."""
    masks = np.stack([(np.indices((48, 48, 6)).sum(axis=0) % (7 + t)) < 3 for t in range(3)], axis=-1)
    detection = detect(Volume(masks.astype(np.uint8), np.eye(4), meta={"format": "nifti"}))
    assert detection.details == {"label_map": 2}
    counts = np.random.default_rng(0).poisson(4.0, (64, 64, 8)).astype(np.int16)
    assert 2 <= len(np.unique(counts)) <= MOST_LABELS
    for modality in ("NM", "PT"):
        detection = detect(Volume(counts, np.eye(4), meta={"format": "dicom", "modality": modality}))
        assert "label_map" not in detection.details


def test_a_label_map_is_not_denoised():
    array = next(array for source, array in _sources() if source == "dipy-piesno")
    labels = np.digitize(array, np.percentile(array, [60, 80, 95])).astype(np.int16)[16:48, 16:48, :4]
    result = repair_volume(Volume(np.ascontiguousarray(labels), np.eye(4), meta={"format": "nifti"}),
                           denoise=True, device="cpu")
    assert np.array_equal(result.volume.array, labels)
    assert result.report["label_map"] == 4 and result.report["denoised"] is False
