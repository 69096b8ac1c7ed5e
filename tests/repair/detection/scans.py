"""The scans the detection tests read, and how they damage them."""

import numpy as np

from medinpaint.data.sources import available_sources
from tests.conftest import require_source

PYDICOM_IMAGES = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                  "MR_small_jp2klossless.dcm", "JPEG2000.dcm", "dicomdirtests/98892001/CT5N",
                  "dicomdirtests/98892001/CT2N", "dicomdirtests/77654033/CT2",
                  # an NM bone scan, with a zero 8x8 block of its own in a background of 1s
                  "JPGExtended.dcm"]


NIBABEL_IMAGES = ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz"]


def clean_scans(pydicom_files, nibabel_files, sample_data):
    paths = [sample_data / "ct_head_series", sample_data / "ct_slice.dcm", sample_data / "mr_slice.dcm",
             sample_data / "mr_head.nii.gz"]
    paths += [pydicom_files / name for name in PYDICOM_IMAGES]
    paths += [nibabel_files / name for name in NIBABEL_IMAGES]
    return paths


def damage_copy(volume, transform):
    damaged, mask = transform(volume.array[np.newaxis])
    return volume.with_array(np.ascontiguousarray(np.asarray(damaged)[0])), np.asarray(mask)[0].astype(bool)


def mosaics():
    """heudiconv's Siemens mosaic files: the three b0dwi diffusion mosaics, then the axasc35 EPI."""

    folder = require_source("heudiconv-b0dwi")
    return sorted(folder.glob("*.dcm")) + [require_source("heudiconv-axasc35")]


def mosaic_file(name: str):
    return next(path for path in mosaics() if path.name == name)


def ch2_skull_stripped(by: int):
    """ch2 under ch2bet's brain mask (holes filled) grown by ``by`` voxels, or shrunk where ``by`` < 0:
    a generous or a tight skull strip of a clean scan."""
    from scipy import ndimage

    require_source("ch2")
    sources = {source.name: source for source in available_sources()}
    head = sources["ch2"].load()
    brain = ndimage.binary_fill_holes(sources["ch2bet"].load().array > 0)
    mask = (ndimage.binary_dilation(brain, iterations=by) if by > 0
            else ndimage.binary_erosion(brain, iterations=-by))
    return head.with_array(np.where(mask, head.array, 0).astype(head.array.dtype))


def bench_view(name: str, volume_view: bool, hu_float: bool = False):
    """A source as bench_detection_independent.py views it: its middle slice (256 x 256 at most), or its
    middle 96 x 96 x 16; ``hu_float``: its physical values stored as float32 (a CT in HU)."""
    from medinpaint.io import Volume
    from tests.repair.detection.clean_forms import middle, physical

    require_source(name)
    volume = next(source for source in available_sources() if source.name == name).load()
    stored = np.asarray(volume.array)
    stored = stored[..., 0] if stored.ndim == 4 else stored
    k = stored.shape[2] // 2
    box = ((middle(stored.shape[0], 96), middle(stored.shape[1], 96), middle(stored.shape[2], 16))
           if volume_view else (middle(stored.shape[0], 256), middle(stored.shape[1], 256), slice(k, k + 1)))
    if hu_float:
        return Volume(np.ascontiguousarray(physical(volume)[box].astype(np.float32)), volume.affine)
    return volume.with_array(np.ascontiguousarray(stored[box]))


def independently_damaged(name: str, volume_view: bool, kind: str, seed: int = 0, hu_float: bool = False,
                          fill=None):
    """The bench's view of a source damaged by the independent generator (``seed``; ``fill``: the fill
    value of a kind that writes one, drawn when None): the clean view, the damaged array, what was
    changed, what was lost (changed or not), and the detection."""
    from medinpaint.repair import detect
    from tests.generators.independent import damage

    clean = bench_view(name, volume_view, hu_float)
    options = {} if fill is None else {"fill": fill}
    result = damage(np.asarray(clean.array), kind, np.random.default_rng(seed), **options)
    found = detect(clean.with_array(np.ascontiguousarray(result.damaged)))
    return clean, result.damaged, np.asarray(result.mask, bool), np.asarray(result.lost, bool), found
