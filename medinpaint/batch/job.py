"""``medinpaint batch``: screen and repair every series of an archive on Ray, exactly once, resumably.

The job follows Ray's pattern for batch inference: reading and screening are CPU tasks, the repair runs in
a pool of actors that load the model once (``num_gpus`` each where there are GPUs), writing is a task.
Volumes travel between them through Ray's object store, never through this driver, which only schedules
and records. Without an address a Ray is started for the job on this machine (on the loopback interface
only) and stopped after it; with one the job runs on that cluster, whose nodes must all see SOURCE and OUT
at the same paths (a shared file system).

Exactly once: the driver alone writes the result manifest (:mod:`medinpaint.batch.manifest`), one
transaction per finished series. Ray retries a task whose worker died (``max_retries``) and restarts a
repair actor that died, retrying its call (``max_restarts``, ``max_task_retries``); every output is
published with one rename of a complete folder named by the series' key, and a retry that finds it
published keeps it. A series that fails anyway (unreadable, a repair error, a worker that keeps dying) is
recorded with its reason and the job goes on. A driver killed at any point: ``--resume`` does the rest.
"""

from __future__ import annotations

import collections
import fcntl
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medinpaint.batch import sources, work
from medinpaint.batch.manifest import DONE, FAILED, MANIFEST_NAME, Manifest
from medinpaint.errors import MedinpaintError, OutputError

log = logging.getLogger(__name__)

LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # Ray's switch for a single-node, loopback-only Ray
SCAN_CHUNK = 256  # files whose headers one discovery task reads
TASK_RETRIES = 3  # Ray re-runs a task this often when its worker process dies
ACTOR_RETRIES = 2  # and a repair call this often, on the restarted actor


@dataclass
class BatchOptions:
    """The settings of one ``medinpaint batch`` job (see :func:`run_batch`)."""

    manifest: str | None = None
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    cpus: int | None = None
    report: str | None = None
    resume: bool = False
    retry_failed: bool = False
    clean: str = "skip"
    model: str | None = None
    device: str = "auto"
    precision: str = "auto"
    progress: bool = True


def _lock(out: Path):
    """Hold OUT for this job: a second job on the same OUT would share its staging folder and manifest."""
    handle = open(out / ".batch.lock", "w")  # noqa: SIM115 - held open for the job's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise OutputError(out, "another batch job is running on this output folder") from None
    return handle


def _connect(address: str | None, cpus: int | None):
    """Ray, connected: to ``address``, or to a new Ray on this machine's loopback interface. Returns the
    ``ray`` module and whether this call started it (then :func:`run_batch` stops it)."""
    if address is None and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ONLY, "0")  # read by Ray at import: node address 127.0.0.1
    import ray

    if ray.is_initialized():
        return ray, False
    if address is None:
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        return ray, True
    ray.init(address=address, log_to_driver=False, configure_logging=False)
    return ray, False


def _discover(ray, source: str, manifest: Manifest, run: int) -> None:
    """Walk SOURCE on the driver, read the files' headers in tasks, record every item as pending (or
    failed / skipped, with its reason)."""
    scan = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(sources.scan_files)
    files = sources.list_files(sources.source_roots(source))
    chunks = [files[i:i + SCAN_CHUNK] for i in range(0, len(files), SCAN_CHUNK)]
    records = [r for chunk in ray.get([scan.remote(c) for c in chunks]) for r in chunk]
    items = sources.group(records)
    manifest.add(items, run)
    manifest.set_meta("discovered", str(len(items)))
    log.info("found %d files in %d series or items", len(files), len(items))


def _plan_workers(ray, options: BatchOptions) -> tuple[int, float, float]:
    """How many repair actors, with how many CPUs and GPUs each. Actors hold their CPUs for the whole job,
    so at least one CPU is left to the screening tasks."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    if options.workers is not None:
        workers = options.workers
    elif options.gpus_per_worker > 0:
        workers = max(1, int(gpus // options.gpus_per_worker))
    else:
        workers = max(1, int(cpus // 4) or 1)
    if workers < 1:
        raise MedinpaintError(None, f"--workers must be at least 1, not {workers}")
    if options.gpus_per_worker > gpus:
        raise MedinpaintError(None, f"--gpus-per-worker {options.gpus_per_worker:g}, but the Ray cluster has "
                                    f"{gpus:g} GPUs")
    cpus_each = 1.0 if cpus - workers >= 1 else max(0.1, round((cpus - 1) / workers, 2))
    return workers, cpus_each, options.gpus_per_worker


class _Job:
    """The scheduling loop of one run: screens in, repairs through the actors, writes out, all recorded."""

    def __init__(self, ray, manifest: Manifest, run: int, options: BatchOptions, work_options: work.Options,
                 actors: list, screens_at_once: int):
        self.ray, self.manifest, self.run, self.options = ray, manifest, run, options
        self.work = work_options
        self.screen = ray.remote(num_cpus=1, num_returns=2, max_retries=TASK_RETRIES)(work.screen)
        self.write = ray.remote(num_cpus=0.5, max_retries=TASK_RETRIES)(work.write_result)
        self.copy = ray.remote(num_cpus=0.5, max_retries=TASK_RETRIES)(work.copy_clean)
        self.idle = collections.deque(actors)
        self.workers = len(actors)
        self.screens_at_once = screens_at_once
        self.inflight: dict[Any, tuple] = {}  # summary ref -> (stage, row, extra)
        self.to_repair: collections.deque = collections.deque()
        self.started: dict[str, float] = {}
        self.timings: dict[str, dict] = {}
        self.finished = 0
        self.counts: collections.Counter = collections.Counter()
        self.manifest_done = 0

    def run_all(self, rows: list, bar) -> None:
        pending = collections.deque(rows)
        while pending or self.inflight or self.to_repair:
            screening = sum(1 for stage, _, _ in self.inflight.values() if stage == "screen")
            while pending and screening < self.screens_at_once and len(self.to_repair) < 2 * self.workers:
                self._submit_screen(pending.popleft())
                screening += 1
            while self.to_repair and self.idle:
                self._submit_repair(self.idle.popleft(), *self.to_repair.popleft())
            ready, rest = self.ray.wait(list(self.inflight), num_returns=1, timeout=1.0)
            if ready and rest:  # and every other one ready by now, in the same pass
                ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in ready:
                stage, row, extra = self.inflight.pop(ref)
                try:
                    summary = self.ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a worker that died more often than Ray retries
                    summary = {"status": "failed", "stage": stage, "reason": _died(stage, exc)}
                if stage == "repair":
                    self.idle.append(extra[0])
                getattr(self, f"_after_{stage}")(row, summary, extra)
                bar.set_postfix(self.counts, refresh=False)
                bar.n = self.manifest_done + self.finished
                bar.refresh()

    # --- submitting -------------------------------------------------------------------------------
    def _submit_screen(self, row) -> None:
        key = row["key"]
        row = {"key": key, "kind": row["kind"], "inputs": self.manifest.inputs(key)}
        self.started[key] = time.perf_counter()
        self.manifest.running(key, "screen")
        summary, payload = self.screen.remote(key, row["kind"], _inputs(row), self.work)
        self.inflight[summary] = ("screen", row, (payload,))

    def _submit_repair(self, actor, row, payload, screened: dict) -> None:
        self.manifest.running(row["key"], "repair")
        call = actor.repair.options(num_returns=2)
        summary, result = call.remote(row["key"], _inputs(row), payload, screened.get("kinds") or {})
        self.inflight[summary] = ("repair", row, (actor, result, screened))

    # --- results ----------------------------------------------------------------------------------
    def _after_screen(self, row, summary: dict, extra: tuple) -> None:
        key = row["key"]
        self.timings[key] = dict(summary.get("timings") or {})
        if summary["status"] == "failed":
            self._finish(row, FAILED, summary, stage="screen")
        elif summary["status"] == "damaged":
            self.to_repair.append((row, extra[0], summary))
        elif self.work.clean == "copy":
            self.manifest.running(key, "write")
            ref = self.copy.remote(key, row["kind"], _inputs(row), summary, self.work)
            self.inflight[ref] = ("copy", row, (summary,))
        else:
            self._finish(row, DONE, summary, result="clean", stage="screen")

    def _after_repair(self, row, summary: dict, extra: tuple) -> None:
        _, result, screened = extra
        self.timings[row["key"]].update(summary.get("timings") or {})
        if summary["status"] == "failed":
            self._finish(row, FAILED, {**screened, **summary}, stage="repair")
            return
        self.manifest.running(row["key"], "write")
        ref = self.write.remote(row["key"], row["kind"], _inputs(row), result, self.work)
        self.inflight[ref] = ("write", row, ({**screened, "node": summary.get("node")},))

    def _after_write(self, row, summary: dict, extra: tuple) -> None:
        screened = extra[0]
        self.timings[row["key"]].update(summary.get("timings") or {})
        if summary["status"] == "failed":
            self._finish(row, FAILED, {**screened, **summary}, stage="write")
        else:
            if summary["status"] == "found":
                log.info("series %s: found published by an earlier attempt; kept", row["key"])
            self._finish(row, DONE, {**screened, "output": summary["output"]}, result="repaired",
                         stage="write")

    def _after_copy(self, row, summary: dict, extra: tuple) -> None:
        screened = extra[0]
        self.timings[row["key"]].update(summary.get("timings") or {})
        if summary["status"] == "failed":
            self._finish(row, FAILED, {**screened, **summary}, stage="write")
        else:
            self._finish(row, DONE, {**screened, "output": summary["output"]}, result="copied", stage="write")

    def _finish(self, row, state: str, summary: dict, result: str | None = None, stage: str = "") -> None:
        key = row["key"]
        seconds = round(time.perf_counter() - self.started.pop(key, time.perf_counter()), 3)
        self.manifest.finish(key, state, self.run, result=result, stage=stage, reason=summary.get("reason"),
                             kinds=summary.get("kinds"), damaged_voxels=summary.get("damaged_voxels"),
                             shape=summary.get("shape"), output=summary.get("output"),
                             node=summary.get("node"), timings=self.timings.pop(key, None), seconds=seconds)
        self.finished += 1
        self.counts[result or "failed"] += 1
        if state == FAILED:
            log.warning("series %s failed in %s: %s", key, stage, summary.get("reason"))
        else:
            log.info("series %s: %s", key, result)
        work.failpoint(os.environ.get(work.FAILPOINT_VARIABLE), f"driver-{self.finished}")


def _inputs(row: dict) -> list[str]:
    return row["inputs"]


def _died(stage: str, exc: BaseException) -> str:
    what = {"screen": "reading or screening", "repair": "repairing", "write": "writing", "copy": "copying"}
    return (f"the worker process died while {what.get(stage, stage)} it, also on every retry "
            f"({type(exc).__name__}; out of memory?)")


def run_batch(source: str | os.PathLike, out: str | os.PathLike, options: BatchOptions | None = None) -> dict:
    """Screen every series of ``source`` (a folder tree, or a CSV of paths) and write the repaired ones to
    ``out``; returns the job's summary (also written as JSON, CSV and HTML to ``options.report``,
    default ``OUT/report``)."""
    from tqdm import tqdm

    from medinpaint.batch.report import write_reports

    options = options or BatchOptions()
    if options.clean not in ("skip", "copy"):
        raise ValueError(f"clean must be 'skip' or 'copy', got {options.clean!r}")
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    manifest_path = Path(options.manifest) if options.manifest else out / MANIFEST_NAME
    fresh = not manifest_path.exists()
    manifest = Manifest(manifest_path)
    ray = None
    started_ray = False
    try:
        if not fresh and manifest.get_meta("discovered") is not None and not options.resume:
            raise OutputError(manifest_path, "holds the results of an earlier job: add --resume to finish "
                                             "it, or give another OUT or --manifest")
        cleared = work.clear_staging(out)
        if cleared:
            log.info("removed %d unfinished results of a killed run from staging", cleared)
        ray, started_ray = _connect(options.address, options.cpus)
        workers, cpus_each, gpus_each = _plan_workers(ray, options)
        run = manifest.start_run(options.address or "local", workers, resumed=not fresh)
        if manifest.get_meta("discovered") is None:
            _discover(ray, str(source), manifest, run)
        rows = manifest.to_do(retry_failed=options.retry_failed)
        total = sum(manifest.counts().values())
        work_options = work.Options(out=str(out), clean=options.clean, model=options.model,
                                    device=options.device, precision=options.precision,
                                    threads=max(1, int(cpus_each)),
                                    failpoint=os.environ.get(work.FAILPOINT_VARIABLE))
        actors = []
        if rows:
            actor_class = ray.remote(num_cpus=cpus_each, num_gpus=gpus_each, max_restarts=-1,
                                     max_task_retries=ACTOR_RETRIES,
                                     scheduling_strategy="SPREAD")(work.Repairer)
            actors = [actor_class.remote(work_options) for _ in range(workers)]
            ray.get([a.ready.remote() for a in actors])  # a model that cannot load stops the job here
        cpus = float(ray.cluster_resources().get("CPU", 1))
        job = _Job(ray, manifest, run, options, work_options, actors,
                   screens_at_once=max(1, int(cpus - workers * cpus_each)) + 1)
        job.manifest_done = total - len(rows)
        log.info("run %d: %d series to do of %d, %d repair workers", run, len(rows), total, workers)
        with tqdm(total=total, initial=total - len(rows), unit="series", desc="medinpaint batch",
                  disable=not options.progress, file=sys.stderr, smoothing=0.1) as bar:
            job.run_all(rows, bar)
        for actor in actors:
            ray.kill(actor)
        manifest.finish_run(run)
        report_dir = Path(options.report) if options.report else out / "report"
        return write_reports(manifest, report_dir, run, out)
    finally:
        manifest.close()
        if started_ray:
            ray.shutdown()
        lock.close()
