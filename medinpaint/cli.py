"""The ``medinpaint`` command: a thin layer over the library.

Each subcommand is a pair of functions, ``_add_<name>`` (its arguments) and ``_run_<name>`` (the call
into the library), registered in ``COMMANDS``. Heavy imports (torch, MONAI) happen inside the runners,
so ``medinpaint --help`` and ``medinpaint info`` start fast. Any :class:`MedinpaintError` becomes one
line on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from medinpaint.errors import MedinpaintError
from medinpaint.version import __version__

log = logging.getLogger("medinpaint")


# --- info --------------------------------------------------------------------------------------
def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a scan: format, modality, shape, geometry, series and gaps",
                       description="Describe a scan (DICOM file or folder, NIfTI, NRRD, MHA). Patient name, "
                       "ID and birth date are never shown unless you ask with --show-patient.")
    p.add_argument("path", help="a DICOM file or folder, or a NIfTI/ITK image")
    p.add_argument("--series", help="for a folder with several series: SeriesInstanceUID or SeriesNumber")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--show-patient", action="store_true",
                   help="also print patient name, ID and birth date (DICOM); off by default for privacy")


def _run_info(args: argparse.Namespace) -> int:
    from medinpaint.info import describe, format_text

    info = describe(args.path, series=args.series, show_patient=args.show_patient)
    print(json.dumps(info, indent=2) if args.json else format_text(info))
    return 0


# --- convert -----------------------------------------------------------------------------------
def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert between DICOM, NIfTI and ITK formats, keeping metadata",
        description="Convert SRC to the format named by DST's extension (.nii, .nii.gz, .nrrd, "
        ".nhdr, .mha, .mhd). A DST without extension, or an existing folder, gets a derived "
        "DICOM series (needs a DICOM source), one file per instance. Outputs are written atomically.")
    p.add_argument("src", help="input scan")
    p.add_argument("dst", help="output file, or folder for a DICOM series")
    p.add_argument("--series", help="for a folder with several series: SeriesInstanceUID or SeriesNumber")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _run_convert(args: argparse.Namespace) -> int:
    from medinpaint.io import read, write

    volume = read(args.src, series=args.series)
    out = write(volume, args.dst, overwrite=args.overwrite)
    print(f"wrote {out}")
    return 0


# --- simulate ----------------------------------------------------------------------------------
def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="damage a clean scan as a broken transfer or a scanner would, with its mask",
        description="Damage SRC with one kind of damage drawn from a preset and write it to OUT in "
        "the input's format (header and geometry kept), and the mask of the damaged voxels to "
        "MASK with the same geometry. The same seed gives bit-identical output; nothing changes "
        "outside the mask.")
    p.add_argument("src", metavar="SRC", help="input scan (DICOM file or folder, NIfTI, NRRD, MHA)")
    p.add_argument("out", metavar="OUT", help="output file, or folder for a DICOM series")
    # the names of medinpaint.damage.presets.PRESETS, spelled out so that --help need not import MONAI
    p.add_argument("--damage", required=True, choices=("all", "ct-artifacts", "mr-artifacts", "transmission"),
                   metavar="PRESET", help="damage preset: %(choices)s")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: %(default)s)")
    p.add_argument("--mask-out", required=True, metavar="MASK",
                   help="output mask file (uint8, 1 = damaged), or folder for DICOM")
    p.add_argument("--series", help="for a folder with several series: SeriesInstanceUID or SeriesNumber")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _run_simulate(args: argparse.Namespace) -> int:
    from medinpaint.damage.simulate import simulate_volume
    from medinpaint.errors import OutputError
    from medinpaint.io import read, write
    from medinpaint.io.readwrite import output_kind

    volume = read(args.src, series=args.series)
    if output_kind(args.out) != volume.format:
        raise OutputError(args.out, f"the damaged scan is written in the input's format ({volume.format}); "
                          "give a .nii/.nii.gz, .nrrd/.mha path or a folder (DICOM) to match it")
    if output_kind(args.mask_out) == "dicom" and volume.format != "dicom":
        raise OutputError(args.mask_out,
                          "a DICOM mask needs a DICOM input; give a .nii.gz, .nrrd or .mha path")
    damaged, mask = simulate_volume(volume, args.damage, args.seed)
    out = write(damaged, args.out, overwrite=args.overwrite,
                derivation=f"Damage simulated by medinpaint ({args.damage}, seed {args.seed})")
    mask_volume = volume.with_array(mask, slope=1.0, intercept=0.0)
    mask_out = write(mask_volume, args.mask_out, overwrite=args.overwrite,
                     derivation="Damage mask by medinpaint")
    log.info("damaged %d of %d voxels", int(mask.sum()), mask.size)
    print(f"wrote {out} and {mask_out}")
    return 0


# --- watch -------------------------------------------------------------------------------------
def _add_watch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch", help="service: repair each complete DICOM series arriving in a folder, "
        "write it as a derived series, forward it to a PACS",
        description="Watch IN (recursively) for DICOM series; once a series has had no new or "
        "changed file for --stable-seconds, repair it and write it to OUT/<tag>/ as one derived "
        "series (renamed into place when complete), then optionally send it to a PACS. A SQLite "
        "journal in the state folder makes every step crash-safe. Settings can come from a TOML "
        "file (--config); flags override it. Use -v to log each series.")
    p.add_argument("--in", dest="inbox", metavar="IN", help="folder to watch (only read, never modified)")
    p.add_argument("--out", help="folder for the results, one sub-folder per series")
    p.add_argument("--stable-seconds", type=float, metavar="S",
                   help="a series is complete after S seconds without a new or changed file (default 60)")
    p.add_argument("--state", metavar="DIR", help="journal, staging and quarantine folder "
                   "(default: one per IN/OUT pair under ~/.local/state/medinpaint)")
    p.add_argument("--forward", metavar="AET@HOST:PORT", help="send every result to this PACS (C-STORE)")
    p.add_argument("--config", metavar="FILE", help="TOML settings (see docs/service/watch.toml)")
    p.add_argument("--done", metavar="DIR",
                   help="move the inputs of each finished series here (default: leave them)")
    p.add_argument("--model", metavar="FILE", help="repair model (.safetensors; default: the shipped model)")
    p.add_argument("--polling", action="store_true", default=None,
                   help="poll instead of inotify (for NFS/SMB shares, which send no events)")
    p.add_argument("--once", action="store_true",
                   help="handle what is in IN (waiting until it is complete), then "
                   "exit: status 0, or 1 if a series failed or could not be forwarded yet")
    p.add_argument("--status", action="store_true", help="print the journal's summary as JSON and exit")
    p.add_argument("--retry-failed", action="store_true",
                   help="put failed and held series back in the queue, then watch")


def _run_watch(args: argparse.Namespace) -> int:
    import signal

    from medinpaint.watch import JOURNAL_NAME, Journal, Watcher, load_watch_config, retry_failed

    config = load_watch_config(args.config, inbox=args.inbox, out=args.out,
                               stable_seconds=args.stable_seconds, state=args.state, forward=args.forward,
                               done=args.done, polling=args.polling, model=args.model)
    if args.status:
        if not (config.state / JOURNAL_NAME).exists():
            raise MedinpaintError(config.state,
                                  "holds no journal: the watcher has not run with this state folder")
        journal = Journal(config.state / JOURNAL_NAME)
        print(json.dumps(journal.summary(), indent=2))
        journal.close()
        return 0
    if args.retry_failed:
        journal = Journal(config.state / JOURNAL_NAME)
        log.warning("%d failed series put back in the queue", retry_failed(journal))
        journal.close()
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # each failure is logged once, by the watcher
    watcher = Watcher(config, once=args.once)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: watcher.stop())
    return watcher.run()


# --- listen ------------------------------------------------------------------------------------
def _add_listen(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "listen", help="service: a DICOM node (C-STORE, C-ECHO) that writes what it receives "
        "into the folder `medinpaint watch` reads",
        description="Receive DICOM instances (C-STORE SCP, C-ECHO answered) and write each into "
        "OUT/<series hash>/<instance hash>.dcm, first as .part, renamed once on disk. Only "
        "associations calling our AE title are accepted, and with --accept only those calling "
        "AE titles.")
    p.add_argument("--port", type=int, help="TCP port (default 11112)")
    p.add_argument("--aet", help="our AE title (default MEDINPAINT)")
    p.add_argument("--out", dest="inbox", metavar="IN", help="folder to write into: the watcher's --in")
    p.add_argument("--accept", action="append", metavar="AET",
                   help="a calling AE title allowed to send (repeat for several; default: any)")
    p.add_argument("--bind", metavar="ADDRESS",
                   help="address to listen on (default: 127.0.0.1; another address needs an accept list)")
    p.add_argument("--config", metavar="FILE",
                   help="TOML settings ([listen] table of docs/service/watch.toml)")


def _run_listen(args: argparse.Namespace) -> int:
    import signal
    import threading

    from medinpaint.watch import Listener, load_listen_config

    config = load_listen_config(args.config, inbox=args.inbox, port=args.port, aet=args.aet, bind=args.bind,
                                accept=args.accept)
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Listener(config).serve(stop)
    return 0


# --- repair ------------------------------------------------------------------------------------
def _add_repair(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "repair", help="find and repair damage in a scan (DICOM, NIfTI, NRRD/MHA)",
        description="Repair IN and write OUT in the format OUT names (a folder for DICOM: a derived series). "
        "Damage is detected automatically unless --mask gives it. Voxels outside the repaired mask keep "
        "their stored values bit for bit. Missing instances of a DICOM series are re-created.")
    p.add_argument("input", metavar="IN", help="damaged scan: DICOM file or series folder, NIfTI, NRRD, MHA")
    p.add_argument("output", metavar="OUT", help="repaired scan: file, or folder for a derived DICOM series")
    p.add_argument("--mask", help="voxels to repair (non-zero), same geometry as IN; replaces detection")
    p.add_argument("--denoise", action="store_true", help="also remove scanner noise with the blind denoiser")
    p.add_argument("--report", help="write a JSON report (what was found, where, what was done) to this file")
    p.add_argument("--mask-out",
                   help="write the mask of repaired voxels (uint8, geometry of IN) to this file")
    p.add_argument("--model", help="repair model (.safetensors with its .json); default: the shipped one")
    p.add_argument("--denoise-model", help="denoise model; default: the shipped one")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the network runs")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"],
                   help="arithmetic of the networks: auto = bfloat16 where the device has it natively "
                        "(CUDA, CPUs with AVX512-BF16/AMX), float32 gives the same result on every machine")
    p.add_argument("--series", help="for a folder with several series: SeriesInstanceUID or SeriesNumber")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--progress", action="store_true",
                   help="print machine-readable progress lines 'PROGRESS <0-100> <stage>' on stderr")


def _run_repair(args: argparse.Namespace) -> int:
    from medinpaint.repair.run import repair_file

    report = repair_file(args.input, args.output, mask=args.mask, denoise=args.denoise,
                         report_path=args.report, mask_out=args.mask_out, model=args.model,
                         denoise_model=args.denoise_model, device=args.device, series=args.series,
                         overwrite=args.overwrite, progress_lines=args.progress, precision=args.precision)
    kinds = ", ".join(f"{k} {v}" for k, v in report["kinds"].items()) or (
        f"a label map of {report['label_map']} labels, not screened" if report.get("label_map")
        else "no damage found")
    print(f"wrote {args.output}: {report['damaged_voxels']} voxels repaired ({kinds}) "
          f"in {report['seconds']:.2f} s")
    return 0


# --- batch -------------------------------------------------------------------------------------
def _add_batch(sub: argparse._SubParsersAction) -> None:
    from medinpaint.batch.cli import DESCRIPTION, HELP, add_arguments

    add_arguments(sub.add_parser("batch", help=HELP, description=DESCRIPTION))


def _run_batch(args: argparse.Namespace) -> int:
    from medinpaint.batch.cli import run  # Ray is imported only there, when a job runs

    return run(args)


# --- train -------------------------------------------------------------------------------------
def _add_train(sub: argparse._SubParsersAction) -> None:
    from medinpaint.train.config import add_arguments

    p = sub.add_parser(
        "train", help="train a repair or denoise network with MSE on damaged/clean slice pairs",
        description="Train a network (RepairNet, Denoiser or SeedCNN) on damaged/clean slice pairs "
        "made on the fly from the permitted training scans, scoring PSNR/SSIM on subject-held-out "
        "validation slices after every epoch. Writes best/last checkpoints (safetensors + JSON) and "
        "metrics.csv/json into --output. Settings come from --config (JSON; see "
        "medinpaint/train/recipes/) and/or the options below. For several GPUs or processes: "
        "torchrun --nproc_per_node N -m medinpaint.train [same options].")
    add_arguments(p)


def _run_train(args: argparse.Namespace) -> int:
    from medinpaint.train.config import config_from_args
    from medinpaint.train.run import train

    summary = train(config_from_args(args))
    if summary is not None:
        print(f"best validation score {summary['best_score']:.2f} dB after {summary['epochs']} epochs; "
              f"models in {summary['output']}")
    return 0


# --- evaluate ----------------------------------------------------------------------------------
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="damage clean scans on purpose and score medinpaint against classical fills",
        description="For each dropout kind, damage a few slices of each clean scan, repair them with "
        "medinpaint (true mask, and its own detection) and with OpenCV Telea, scikit-image biharmonic, a "
        "median fill and slice interpolation; write OUT/report.md, OUT/report.json and OUT/figures/*.png. "
        "Needs the 'eval' extra (opencv-python-headless, scikit-image, matplotlib).")
    p.add_argument("scans", nargs="*", help="clean scans (default: the sample data's MR head and CT slice)")
    p.add_argument("--out", required=True, help="folder for the report and figures")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated damage")
    p.add_argument("--model", help="repair model; default: the shipped one")


def _run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from medinpaint.repair.evaluate import evaluate

    scans = args.scans or [str(Path(__file__).resolve().parent.parent / "sample_data" / n)
                           for n in ("mr_head.nii.gz", "ct_slice.dcm")]
    evaluate(scans, args.out, seed=args.seed, model=args.model,
             progress=lambda fraction, stage: print(f"{100 * fraction:.0f}% {stage}", file=sys.stderr))
    print(f"report: {Path(args.out) / 'report.md'}\nfigures: {Path(args.out) / 'figures'}")
    return 0


COMMANDS = [
    ("info", _add_info, _run_info),
    ("convert", _add_convert, _run_convert),
    ("simulate", _add_simulate, _run_simulate),
    ("repair", _add_repair, _run_repair),
    ("batch", _add_batch, _run_batch),
    ("evaluate", _add_evaluate, _run_evaluate),
    ("watch", _add_watch, _run_watch),
    ("listen", _add_listen, _run_listen),
    ("train", _add_train, _run_train),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medinpaint",
        description="Repair damaged medical scans (DICOM, NIfTI, NRRD/MHA) with a convolutional neural "
        "network.",
    )
    parser.add_argument("--version", action="version", version=f"medinpaint {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for _, add, run in COMMANDS:
        add(sub)
        next(reversed(sub.choices.values())).set_defaults(run=run)
    return parser


def _quiet_pydicom() -> None:
    """pydicom warns about every non-conformant value it reads, sometimes quoting the value itself (a
    patient name among them): keep those out of the terminal and the service logs."""
    import warnings

    import pydicom  # noqa: F401 - pydicom sets its logger's level on import; set ours after it

    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pydicom")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="medinpaint: %(levelname)s: %(message)s")
    _quiet_pydicom()
    try:
        return args.run(args)
    except MedinpaintError as exc:
        print(f"medinpaint: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medinpaint: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
