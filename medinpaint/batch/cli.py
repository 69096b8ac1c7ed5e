"""The arguments of ``medinpaint batch`` and the call into :func:`medinpaint.batch.run_batch`.

``medinpaint.cli`` registers these as its ``batch`` subcommand; ``python -m medinpaint.batch`` runs them
alone (:func:`main`). Ray is imported only when a job runs, so ``--help`` works without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json

from medinpaint.errors import MedinpaintError

HELP = "screen and repair a whole archive (a folder tree or a CSV of paths) on Ray, resumably"
DESCRIPTION = (
    "Screen every series under SOURCE (DICOM series found by their SeriesInstanceUID across files and "
    "folders, NIfTI and ITK images; or the paths listed in a CSV file) for damage, repair the damaged ones "
    "and write each to OUT/<ab>/<key>/ (the scan as `medinpaint repair` writes it, mask.nii.gz, "
    "report.json), where <key> is a hash of the series UID or input path. Without --address a Ray is "
    "started on this machine for the job; with it the job runs on that cluster (every node must see SOURCE "
    "and OUT at the same paths). A SQLite manifest (OUT/batch.sqlite) records each series' state and "
    "reason: a job killed at any point finishes with --resume, doing only what is left. The summary goes "
    "to --report (default OUT/report/) as JSON, CSV and HTML. Needs the 'scale' extra (Ray)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE",
                   help="folder tree of scans, or a CSV file of paths (column 'path')")
    p.add_argument("out", metavar="OUT", help="output folder (results, manifest, report)")
    p.add_argument("--manifest", metavar="M", help="result manifest (SQLite; default OUT/batch.sqlite)")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster: 'auto' (the one started on this machine "
                   "with `ray start`), HOST:PORT, or ray://HOST:PORT (Ray Client); default: a Ray for "
                   "this job")
    p.add_argument("--workers", type=int, metavar="N", help="repair workers, each with the model loaded once "
                   "(default: one per GPU with --gpus-per-worker 1, else one per 4 CPUs, at least one)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G",
                   help="GPUs each repair worker holds (e.g. 1, or 0.5 to share one; default 0: CPU)")
    p.add_argument("--cpus", type=int, metavar="N", help="CPUs of the Ray started for the job (default: all)")
    p.add_argument("--report", metavar="DIR", help="folder for summary.json, series.csv, index.html "
                   "(default OUT/report)")
    p.add_argument("--resume", action="store_true", help="finish the job recorded in the manifest: only "
                   "series not yet done are worked on")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: try failed series again")
    p.add_argument("--clean", choices=("skip", "copy"), default="skip",
                   help="series without damage: record them only (skip, default) or copy them to OUT")
    p.add_argument("--model", help="repair model (.safetensors with its .json); default: the shipped one")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the network runs")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"],
                   help="arithmetic of the network (see `medinpaint repair --help`)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    """Run the job; exit status 0 when every series is done, 1 when some failed (they are recorded)."""
    from medinpaint.batch.job import BatchOptions, run_batch

    if importlib.util.find_spec("ray") is None:
        raise MedinpaintError(None, "medinpaint batch needs Ray: pip install 'medinpaint[scale]'")
    if args.retry_failed and not args.resume:
        raise MedinpaintError(None, "--retry-failed goes with --resume")
    options = BatchOptions(manifest=args.manifest, address=args.address, workers=args.workers,
                           gpus_per_worker=args.gpus_per_worker, cpus=args.cpus, report=args.report,
                           resume=args.resume, retry_failed=args.retry_failed, clean=args.clean,
                           model=args.model, device=args.device, precision=args.precision,
                           progress=not args.no_progress)
    summary = run_batch(args.source, args.out, options)
    names = ("series", "screened", "damaged", "repaired", "clean", "skipped", "failed")
    brief = {k: summary[k] for k in names}
    print(json.dumps({**brief, "series_per_minute": summary["this_run"]["series_per_minute"]}))
    return 1 if summary["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m medinpaint.batch``: the subcommand's arguments, parsed and run on their own."""
    import logging
    import sys

    parser = argparse.ArgumentParser(prog="python -m medinpaint.batch", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="log each series to stderr")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="medinpaint: %(levelname)s: %(message)s")
    try:
        return run(args)
    except MedinpaintError as exc:
        print(f"medinpaint: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medinpaint: interrupted; finish the job with --resume", file=sys.stderr)
        return 130
