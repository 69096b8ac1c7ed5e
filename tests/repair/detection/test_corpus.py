"""Detection gives, bit for bit, what it gave when the corpus was recorded: the proof that a refactor
changed nothing. Each case of :mod:`tests.repair.detection.record_corpus` (clean scans, and damaged
copies of them at fixed seeds) is detected again and its input, labels and report are compared with
``corpus.json``. A change of detection that is meant re-records the corpus, and says why."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import require_file
from tests.repair.detection.record_corpus import CORPUS, Case, cases, fingerprint

RECORDED: dict[str, dict] = json.loads(CORPUS.read_text())
CASES: dict[str, Case] = {case.name: case for case in cases()}
# cases detected again on one thread: the slabs run on several threads by default, in any order
ONE_THREAD = ("sample/mr_head.nii.gz/RandBitErrors/seed0", "special/mr_head/four-kinds/slab8")


def _build(case: Case):
    if not any(path.exists() for path in case.requires):
        require_file(case.requires[0])  # skips, or fails under CI=true
    return case.build()


def test_the_corpus_and_its_cases_match():
    assert sorted(RECORDED) == sorted(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_detection_is_unchanged(name):
    volume, slab = _build(CASES[name])
    found, recorded = fingerprint(volume, slab), RECORDED[name]
    if CASES[name].cpu_dependent and found["input"] != recorded["input"]:
        # another CPU's rounding made another input: what detection finds in it must still be the same
        assert found["counts"] == recorded["counts"]
        return
    assert found == recorded


def _set_workers(monkeypatch, workers: int) -> None:
    """Every detection module holding the thread count (wherever the slab driver lives) gets ``workers``."""
    import medinpaint.repair.detection  # noqa: F401  (and, once a package, its modules)

    modules = [module for name, module in sys.modules.items()
               if name.startswith("medinpaint.repair.detection") and hasattr(module, "WORKERS")]
    assert modules
    for module in modules:
        monkeypatch.setattr(module, "WORKERS", workers)


@pytest.mark.parametrize("name", ONE_THREAD)
def test_one_thread_gives_what_several_give(name, monkeypatch):
    volume, slab = _build(CASES[name])
    assert volume.shape[2] > slab  # several slabs
    _set_workers(monkeypatch, 1)
    assert fingerprint(volume, slab) == RECORDED[name]
    assert RECORDED[name]["counts"]  # something found
