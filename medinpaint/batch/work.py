"""The work on one series, as it runs inside a Ray worker: screen, repair, write. Plain functions and one
plain class, so that they can be tested without Ray; :mod:`medinpaint.batch.job` makes them remote.

- :func:`screen` reads a series and detects its damage (a CPU task). A clean series ends here; a damaged
  one hands its volume and mask on, through Ray's object store, to
- :class:`Repairer`, which loads the repair model once per worker (a Ray actor, with a GPU when there is
  one) and repairs the damaged voxels, handing the result to
- :func:`write_result`, which writes the scan (a derived DICOM series, or NIfTI/ITK with its header), the
  mask and the JSON report into a private staging folder and publishes it as ``OUT/<ab>/<key>`` with one
  rename. A target that exists already was published by an earlier attempt (a worker or a driver killed
  after the rename): it is kept, and nothing is written twice.

Nothing here logs or returns a path or a tag value: series are named by their key, and the reason of a
failure has the series' input paths taken out (:func:`scrub`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medinpaint.errors import MedinpaintError

log = logging.getLogger(__name__)

FAILPOINT_VARIABLE = "MEDINPAINT_BATCH_FAILPOINT"
STAGING = ".staging"
REPAIRED = "Damage repaired by medinpaint"  # the derivation `medinpaint repair` writes: the same UIDs


@dataclass(frozen=True)
class Options:
    """What every worker needs to know about the job (sent with each task; small and picklable).

    Args:
        out: the output folder (shared by every node of a cluster).
        clean: what to do with a series without damage: ``"skip"`` (record it) or ``"copy"`` (copy its
            inputs unchanged into OUT).
        model: the repair model's file; None for the shipped one.
        device: where the network runs: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        precision: the networks' arithmetic (see :func:`medinpaint.repair.repair_volume`).
        threads: torch threads of a repair worker.
        failpoint: ``NAME@DIR`` to stop at a named point once (crash tests only; see :func:`failpoint`).
    """

    out: str
    clean: str = "skip"
    model: str | None = None
    device: str = "auto"
    precision: str = "auto"
    threads: int = 1
    failpoint: str | None = None


def failpoint(spec: str | None, name: str) -> None:
    """For crash tests: with ``spec`` ``"NAME@DIR"``, the first process to reach ``NAME`` writes its process
    id to ``DIR/NAME.pid`` and waits there to be killed; later ones pass (the retry of the killed work)."""
    if not spec or spec.partition("@")[0] != name:
        return
    marker = Path(spec.partition("@")[2]) / f"{name}.pid"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    print(f"medinpaint failpoint: {name}", file=sys.stderr, flush=True)
    threading.Event().wait()


def quiet() -> None:
    """pydicom warns about non-conformant values, sometimes quoting them (a patient name among them)."""
    import warnings

    import pydicom  # noqa: F401 - pydicom sets its logger's level on import; set ours after it

    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pydicom")


def scrub(text: str, inputs: list[str]) -> str:
    """``text`` without the series' input paths, their folders and their file names."""
    names = set()
    for path in inputs:
        names.add(path)
        names.add(str(Path(path).parent))
        if len(Path(path).name) >= 4:
            names.add(Path(path).name)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, "<input>")
    return text


def reason_of(exc: BaseException, inputs: list[str]) -> str:
    """One line saying why a series failed: a medinpaint error's problem, else the exception's type and
    message, without paths."""
    if isinstance(exc, MedinpaintError):
        text = exc.problem
    else:
        text = f"{type(exc).__name__}: {exc}"
    return scrub(" ".join(text.split()), inputs)[:500]


def node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - outside Ray, or a Ray without the runtime context
        return None


def output_folder(out: str | os.PathLike, key: str) -> Path:
    """Where a series' results appear: ``OUT/<first two hex digits of the key>/<key>``."""
    return Path(out) / key[:2] / key


def read_item(kind: str, inputs: list[str]):
    """The series' volume: DICOM files as one series (missing instances as slices to re-create)."""
    from medinpaint.io import read, read_series_files

    if kind == "dicom":
        return read_series_files(inputs, fill_gaps=True)
    return read(inputs[0])


def screen(key: str, kind: str, inputs: list[str], options: Options) -> tuple[dict[str, Any], Any]:
    """Read and screen one series. Returns a summary (``status`` clean, damaged or failed, with the damage
    kinds, shape, timings and node) and, for a damaged series, ``(volume, mask)`` to repair, else None."""
    import numpy as np

    from medinpaint.repair import detect

    quiet()
    failpoint(options.failpoint, "screen")
    summary: dict[str, Any] = {"key": key, "stage": "screen", "node": node_id(), "timings": {}}
    started = time.perf_counter()
    try:
        volume = read_item(kind, inputs)
        read_done = time.perf_counter()
        detection = detect(volume)
        kinds = detection.counts()
        mask = detection.mask
        label_map = detection.details.get("label_map")  # a segmentation: not screened
        del detection
    except Exception as exc:  # noqa: BLE001 - one series' failure is recorded, the job goes on
        return {**summary, "status": "failed", "reason": reason_of(exc, inputs)}, None
    damaged = int(np.count_nonzero(mask))
    if label_map:
        summary["label_map"] = label_map
    summary.update(status="damaged" if damaged else "clean", kinds=kinds, damaged_voxels=damaged,
                   shape=list(volume.shape),
                   timings={"read": round(read_done - started, 3),
                            "screen": round(time.perf_counter() - read_done, 3)})
    log.info("series %s: %d damaged voxels", key, damaged)
    return summary, ((volume, mask) if damaged else None)


class Repairer:
    """Repairs series with one model loaded once per worker process (a Ray actor in the job).

    Args:
        options: the job's options (model, device, precision, threads).
    """

    def __init__(self, options: Options):
        import torch

        from medinpaint.nets import default_model_path, load_model, pick_device

        quiet()
        torch.set_num_threads(max(1, options.threads))
        self.options = options
        self.device = pick_device(options.device)
        path = options.model or default_model_path("repair")
        self.model, self.meta = load_model(path, device=self.device)
        self.model_name = Path(path).name

    def ready(self) -> dict[str, Any]:
        """The worker's process id and node (the job waits for every worker to have loaded its model)."""
        return {"pid": os.getpid(), "node": node_id()}

    def repair(self, key: str, inputs: list[str], payload,
               kinds: dict[str, int]) -> tuple[dict[str, Any], Any]:
        """Repair a screened series: the summary, and ``(volume, mask, report)`` to write (None if failed)."""
        from medinpaint.repair import repair_volume

        volume, mask = payload
        failpoint(self.options.failpoint, "repair")
        summary: dict[str, Any] = {"key": key, "stage": "repair", "node": node_id()}
        started = time.perf_counter()
        try:
            # not in place: a volume from Ray's object store is a read-only view of shared memory
            result = repair_volume(volume, mask=mask, model=self.model, device=str(self.device),
                                   precision=self.options.precision)
        except Exception as exc:  # noqa: BLE001 - recorded as this series' failure; the worker goes on
            return {**summary, "status": "failed", "reason": reason_of(exc, inputs)}, None
        # the mask came from screening's detection: say so, with its kinds, as `medinpaint repair` would
        report = dict(result.report, kinds=kinds, mask_source="detected", key=key)
        report["models"]["repair"]["path"] = self.model_name
        summary.update(status="repaired", timings={"repair": round(time.perf_counter() - started, 3)})
        log.info("series %s: repaired", key)
        return summary, (result.volume, result.mask, report)


def _scan_name(kind: str, inputs: list[str]) -> str:
    if kind == "dicom":
        return "series"
    name = Path(inputs[0]).name.lower()
    suffix = next(s for s in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd") if name.endswith(s))
    return "repaired" + suffix


def _fsync_tree(folder: Path) -> None:
    from medinpaint.io.atomic import fsync_dir

    for entry in sorted(folder.rglob("*")):
        if entry.is_file():
            with open(entry, "rb") as f:
                os.fsync(f.fileno())
    for sub in sorted({p.parent for p in folder.rglob("*")} | {folder}):
        fsync_dir(sub)


def publish(staged: Path, target: Path) -> bool:
    """Rename the complete folder ``staged`` to ``target`` in one step. False, with ``staged`` removed,
    when ``target`` exists: an earlier attempt published it, and it is not written twice."""
    from medinpaint.io.atomic import fsync_dir

    _fsync_tree(staged)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(staged)
        return False
    try:
        os.rename(staged, target)  # fails on a non-empty target: a concurrent attempt won the race
    except OSError:
        if not target.exists():
            raise
        shutil.rmtree(staged)
        return False
    fsync_dir(target.parent)
    return True


def _staging(options: Options, key: str) -> Path:
    folder = Path(options.out) / STAGING
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{key}.", dir=folder))


def write_result(key: str, kind: str, inputs: list[str], payload, options: Options) -> dict[str, Any]:
    """Write a repaired series into staging and publish it as ``OUT/<ab>/<key>``: the scan, ``mask.nii.gz``
    and ``report.json``. The summary says ``written``, ``found`` (published before) or ``failed``."""
    from medinpaint.io import write

    summary: dict[str, Any] = {"key": key, "stage": "write", "node": node_id()}
    target = output_folder(options.out, key)
    relative = str(target.relative_to(options.out))
    if target.exists():
        return {**summary, "status": "found", "output": relative, "timings": {"write": 0.0}}
    started = time.perf_counter()
    volume, mask, report = payload
    staged = _staging(options, key)
    try:
        quiet()
        scan = _scan_name(kind, inputs)
        write(volume, staged / scan, derivation=REPAIRED)
        write(volume.with_array(mask, slope=1.0, intercept=0.0), staged / "mask.nii.gz")
        report = dict(report, output=scan, mask="mask.nii.gz")
        (staged / "report.json").write_text(json.dumps(report, indent=2))
        published = publish(staged, target)
    except Exception as exc:  # noqa: BLE001 - recorded as this series' failure
        shutil.rmtree(staged, ignore_errors=True)
        return {**summary, "status": "failed", "reason": reason_of(exc, inputs)}
    failpoint(options.failpoint, "published")
    return {**summary, "status": "written" if published else "found", "output": relative,
            "timings": {"write": round(time.perf_counter() - started, 3)}}


def copy_clean(key: str, kind: str, inputs: list[str], screened: dict[str, Any],
               options: Options) -> dict[str, Any]:
    """Copy a clean series' inputs unchanged to ``OUT/<ab>/<key>`` (``--clean copy``), with a report."""
    summary: dict[str, Any] = {"key": key, "stage": "write", "node": node_id()}
    target = output_folder(options.out, key)
    relative = str(target.relative_to(options.out))
    if target.exists():
        return {**summary, "status": "found", "output": relative}
    staged = _staging(options, key)
    try:
        if kind == "dicom":
            (staged / "series").mkdir()
            for n, path in enumerate(inputs, start=1):
                shutil.copyfile(path, staged / "series" / f"IM{n:05d}.dcm")
        else:
            shutil.copyfile(inputs[0], staged / _scan_name(kind, inputs).replace("repaired", "scan"))
        report = {"key": key, "damaged_voxels": 0, "kinds": {}, "shape": screened.get("shape"),
                  "copied": True}
        (staged / "report.json").write_text(json.dumps(report, indent=2))
        published = publish(staged, target)
    except Exception as exc:  # noqa: BLE001 - recorded as this series' failure
        shutil.rmtree(staged, ignore_errors=True)
        return {**summary, "status": "failed", "reason": reason_of(exc, inputs)}
    return {**summary, "status": "written" if published else "found", "output": relative}


def clear_staging(out: str | os.PathLike) -> int:
    """Remove what killed attempts left in OUT's staging folder (only while no job runs on OUT)."""
    folder = Path(out) / STAGING
    if not folder.exists():
        return 0
    removed = 0
    for entry in folder.iterdir():
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        removed += 1
    return removed
