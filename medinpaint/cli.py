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

from medinpaint import __version__
from medinpaint.errors import MedinpaintError

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
    p = sub.add_parser("convert", help="convert between DICOM, NIfTI and ITK formats, keeping metadata",
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


COMMANDS = [
    ("info", _add_info, _run_info),
    ("convert", _add_convert, _run_convert),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medinpaint",
        description="Repair damaged medical scans (DICOM, NIfTI, NRRD/MHA) with a convolutional neural network.",
    )
    parser.add_argument("--version", action="version", version=f"medinpaint {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for _, add, run in COMMANDS:
        add(sub)
        next(reversed(sub.choices.values())).set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="medinpaint: %(levelname)s: %(message)s")
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
