"""The fixed corpus that proves detection unchanged, bit for bit: clean scans and damaged copies of them.

Every clean volume the detection tests use (cropped where large), and each random damage of
``medinpaint.damage.presets.PRESETS["all"]`` applied to it at fixed seeds, plus a few hand-made cases
that reach the rarer paths (the later bit-error looks, blocks looked for again, a missing DICOM
instance, a float scan with NaN). For each case :func:`fingerprint` records the sha256 of the damaged
input, of the label array (with its dtype and shape) and of a canonical JSON of the ``Detection``'s
report fields (``details``, ``counts()``, the slices of each kind found).

Record (only when detection is meant to change, and say why in the commit)::

    .venv/bin/python -m tests.repair.detection.record_corpus

``tests/repair/detection/test_corpus.py`` recomputes every case and compares.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parent / "corpus.json"
SEEDS = (0, 1)  # each random damage of the presets, at these seeds
# volumes left out of the MR and CT artifacts (their damage alone costs seconds; detection finds nothing)
LARGE = ("sample/mr_head.nii.gz", "source/cranium-middle", "source/mni152-bottom",
         "mosaic/b0dwi_for_fmap+00001", "mosaic/b0dwi_for_fmap+00002", "mosaic/b0dwi_for_fmap+00003")


@dataclass(frozen=True)
class Case:
    """One detection run: ``build()`` gives the volume and the slab size to detect with; ``requires``:
    the files it reads (a missing one skips the case, fails it under CI)."""

    name: str
    requires: tuple[Path, ...]
    build: Callable[[], tuple[object, int]]
    cpu_dependent: bool = False  # the damaged input's last bits differ between CPUs (see CPU_DEPENDENT)


def _pydicom_files() -> Path:
    import pydicom

    return Path(pydicom.__file__).parent / "data" / "test_files"


def _nibabel_files() -> Path:
    import nibabel

    return Path(nibabel.__file__).parent / "tests" / "data"


SAMPLE_DATA = Path(__file__).resolve().parents[3] / "sample_data"
PYDICOM_IMAGES = ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                  "MR_small_jp2klossless.dcm", "JPEG2000.dcm", "dicomdirtests/98892001/CT5N",
                  "dicomdirtests/98892001/CT2N", "dicomdirtests/77654033/CT2", "JPGExtended.dcm")
NIBABEL_IMAGES = ("anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz")
# artifacts whose damaged values differ in their last bits from one CPU to another (FFTs and the normal
# deviates of Rician noise take other vector paths: an AMD EPYC and an Intel Xeon, both with AVX-512,
# stored different values for 29 of their cases); where the input is not the recorded one, only what
# detection finds (nothing, on every one of them) is compared; the CT artifacts on dipy's float64 PIESNO
# too (an AMD EPYC with AVX2 only, 2026-12-06: three inputs differed, detection found nothing in each)
CPU_DEPENDENT = ("RandRician", "RandGibbs", "RandKSpaceSpikes", "RandLowDoseNoise", "RandRings",
                 "RandStreaks")
# training sources, and the slices kept of the large ones (middle slices; ch2's top, beyond the head)
SOURCE_CROPS: dict[str, tuple[str, slice | None]] = {
    "ch2-middle": ("ch2", slice(84, 96)),
    "ch2-top": ("ch2", slice(170, 181)),
    "ch2bet-middle": ("ch2bet", slice(84, 96)),
    "mni152-middle": ("mni152", slice(89, 101)),
    "mni152-bottom": ("mni152", slice(0, 30)),
    "cranium-middle": ("cranium", slice(50, 58)),
    "nibabel-anatomical": ("nibabel-anatomical", None),
    "nipy-anatomical": ("nipy-anatomical", None),
    "nipy-functional": ("nipy-functional", None),
    "dipy-s0": ("dipy-s0", None),
    "dipy-piesno": ("dipy-piesno", None),
}


def _read(path: Path):
    from medinpaint.io import read

    return read(path)


def _first_volume(volume):
    """A 4D volume's first 3D volume (damage transforms take one channel of a 3D image)."""
    if volume.array.ndim == 4:
        return volume.with_array(np.ascontiguousarray(volume.array[..., 0]))
    return volume


def clean_volumes() -> Iterator[tuple[str, tuple[Path, ...], Callable[[], object]]]:
    """(name, files it needs, loader) of every clean volume of the corpus."""
    from medinpaint.data.sources import SOURCES

    for name in ("ct_head_series", "ct_slice.dcm", "mr_slice.dcm", "mr_head.nii.gz"):
        path = SAMPLE_DATA / name
        yield f"sample/{name}", (path,), lambda path=path: _read(path)
    for name in PYDICOM_IMAGES:
        path = _pydicom_files() / name
        yield f"pydicom/{name}", (path,), lambda path=path: _read(path)
    for name in NIBABEL_IMAGES:
        path = _nibabel_files() / name
        yield f"nibabel/{name}", (path,), lambda path=path: _read(path)
    for name, (source, crop) in SOURCE_CROPS.items():
        paths = tuple(SOURCES[source].candidates())

        def load(source=source, crop=crop):
            volume = SOURCES[source].load()
            if crop is None:
                return volume
            return volume.with_array(np.ascontiguousarray(volume.array[:, :, crop]))

        yield f"source/{name}", paths, load
    b0dwi = SOURCES["heudiconv-b0dwi"].candidates()
    for n in (1, 2, 3):
        paths = tuple(folder / f"b0dwi_for_fmap+0000{n}.dcm" for folder in b0dwi)
        yield f"mosaic/b0dwi_for_fmap+0000{n}", paths, lambda paths=paths: _read(_existing(paths))
    paths = tuple(SOURCES["heudiconv-axasc35"].candidates())
    yield "mosaic/axasc35", paths, lambda paths=paths: _read(_existing(paths))


def _fresh_copies(load: Callable[[], object]) -> Callable[[], object]:
    """``load`` read once: each call gives a volume with its own copy of the array."""
    once = functools.cache(load)

    def fresh():
        volume = once()
        return volume.with_array(np.array(volume.array))

    return fresh


def _existing(paths: tuple[Path, ...]) -> Path:
    return next(p for p in paths if p.exists())


def _damaged(volume, transform):
    damaged, _ = transform(volume.array[np.newaxis])
    return volume.with_array(np.ascontiguousarray(np.asarray(damaged)[0]))


def _preset_damage(load: Callable[[], object], cls: type, kwargs: dict, seed: int) -> Callable[[], tuple]:
    def build():
        volume = _first_volume(load())
        damage = cls(**kwargs)
        damage.set_random_state(seed)
        return _damaged(volume, damage), 32

    return build


def _special_cases() -> Iterator[Case]:
    """Hand-made damage that reaches paths the presets reach rarely, as in the detection tests."""
    from medinpaint.damage.transmission import BitErrors, CorruptBlocks, LostLines, PacketLoss

    mr_head = SAMPLE_DATA / "mr_head.nii.gz"
    ct_small = _pydicom_files() / "CT_small.dcm"

    def later_looks():  # flips at 1e-3: the second and the predicted look run
        return _damaged(_read(mr_head), BitErrors(rate=1e-3, top_bits=4, seed=1)), 32

    def many_kinds_slab8():
        clean = _read(mr_head)
        damaged = clean.array[np.newaxis].copy()
        for transform in (LostLines(lines=[50, 51], slices=[3, 40]),
                          PacketLoss(tile_size=16, first_tile=30, num_tiles=8, slices=[10, 35]),
                          CorruptBlocks(blocks=[(60, 60, 12, 12)], seed=1, slices=[20]),
                          BitErrors(rate=0.0005, top_bits=2, seed=3)):
            damaged = np.asarray(transform(damaged)[0])
        return clean.with_array(np.ascontiguousarray(damaged[0])), 8

    def float_with_nan():
        clean = _read(mr_head)
        values = clean.array.astype(np.float32)
        values[values == 0] = np.nan
        values[90, 100, 20] = np.nan
        return _damaged(clean.with_array(values), BitErrors(rate=1e-3, top_bits=4, seed=1)), 32

    def blocks_again(outlier: bool):
        def build():
            clean = _read(ct_small)
            stored = _damaged(clean, CorruptBlocks(blocks=[(40, 40, 16, 20)], seed=1)).array.copy()
            flips = (np.array([10, 20, 100, 110, 70]), np.array([100, 15, 30, 110, 90]),
                     np.zeros(5, dtype=int))
            stored[flips] ^= np.int16(-32768)
            if outlier:
                stored[80, 60, 0] += 1500  # an outlier that no single flip explains
            return clean.with_array(stored), 32

        return build

    def missing_instance():
        folder = Path(tempfile.mkdtemp(prefix="corpus-ct5n-"))
        try:
            for f in (_pydicom_files() / "dicomdirtests/98892001/CT5N").iterdir():
                shutil.copy(f, folder / f.name)
            full = _read(folder)
            (folder / full.meta["dicom"]["files"][2].rsplit("/", 1)[-1]).unlink()
            from medinpaint.io import read

            volume = read(folder, fill_gaps=True)
            return volume.with_array(np.array(volume.array)), 32
        finally:
            shutil.rmtree(folder)

    yield Case("special/mr_head/bit-errors-1e-3", (mr_head,), later_looks)
    yield Case("special/mr_head/four-kinds/slab8", (mr_head,), many_kinds_slab8)
    yield Case("special/mr_head/float-nan-bit-errors", (mr_head,), float_with_nan)
    yield Case("special/CT_small/block-and-sign-flips", (ct_small,), blocks_again(False))
    yield Case("special/CT_small/block-sign-flips-outlier", (ct_small,), blocks_again(True))
    yield Case("special/CT5N/missing-instance", (_pydicom_files() / "dicomdirtests/98892001/CT5N",),
               missing_instance)


def cases() -> Iterator[Case]:
    """Every case of the corpus, in a fixed order: each clean volume, then each transmission damage of
    the presets at ``SEEDS`` and, on volumes of up to ``ARTIFACT_VOXELS``, each MR and CT artifact at
    the first seed (the large mosaics take the transmission damage at one seed, on one of them)."""
    from medinpaint.damage.presets import PRESETS, TRANSMISSION

    for name, requires, read_once in clean_volumes():
        load = _fresh_copies(read_once)
        yield Case(f"{name}/clean", requires, lambda load=load: (load(), 32))
        if name.startswith("mosaic/b0dwi") and not name.endswith("3"):
            continue
        seeds = (1,) if name.startswith("mosaic/b0dwi") else SEEDS
        for cls, kwargs in PRESETS["all"].items():
            if cls in TRANSMISSION:
                chosen = seeds
            else:
                chosen = SEEDS[:1] if name not in LARGE else ()
            for seed in chosen:
                damage = _preset_damage(load, cls, kwargs, seed)
                yield Case(f"{name}/{cls.__name__}/seed{seed}", requires, damage,
                           cls.__name__ in CPU_DEPENDENT)
    yield from _special_cases()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plain(value):
    """A JSON-ready copy of ``value`` (NumPy scalars and arrays to Python ones)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def fingerprint(volume, slab: int) -> dict:
    """Run ``detect`` and record what it gave: hashes of the input, the labels and the report fields."""
    from medinpaint.repair.detection import KINDS, detect

    array = np.ascontiguousarray(volume.array)
    detection = detect(volume, slab)
    labels = np.ascontiguousarray(detection.labels)
    counts = detection.counts()
    report = {"details": _plain(detection.details), "counts": counts,
              "slices": {kind: detection.slices(kind) for kind in KINDS if kind in counts}}
    canonical = json.dumps(report, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return {"input": f"{array.dtype.str}{list(array.shape)}:{_sha256(array.tobytes())}",
            "labels": f"{labels.dtype.str}{list(labels.shape)}:{_sha256(labels.tobytes())}",
            "report": _sha256(canonical.encode()), "counts": counts}


def main() -> None:
    recorded = {}
    missing = []
    before = json.loads(CORPUS.read_text()) if CORPUS.exists() else {}
    for case in cases():
        if not any(path.exists() for path in case.requires):
            missing.append(case.name)
            continue
        volume, slab = case.build()
        recorded[case.name] = fingerprint(volume, slab)
        kept = before.get(case.name)
        if (case.cpu_dependent and kept and kept["input"] != recorded[case.name]["input"]
                and kept["counts"] == recorded[case.name]["counts"]):
            recorded[case.name] = kept  # another CPU's input, as the test judges it: unchanged
        print(case.name, recorded[case.name]["counts"], flush=True)
    if missing:
        sys.exit(f"source files missing for {len(missing)} cases (run `make data`): {missing[:5]} ...")
    CORPUS.write_text(json.dumps(recorded, indent=1, sort_keys=False) + "\n")
    print(f"{len(recorded)} cases written to {CORPUS}")


if __name__ == "__main__":
    main()
