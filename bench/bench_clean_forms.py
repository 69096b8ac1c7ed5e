"""Detections on clean scans, per storage form (issue 18: zero false positives).

Every case of ``tests/repair/detection/clean_forms.py`` (each source of the data list along each axis,
single slice and bounded volume, in every form of its ``FORMS``) and of its motion cases (slices moved
between them) goes through ``detect()``; any voxel it labels is a false one. Prints a table per form
(cases, cases with detections, voxels) and each case with detections.

    MEDINPAINT_DATA=data .venv/bin/python bench/bench_clean_forms.py [--forms jpeg90 ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medinpaint.repair.detection import detect  # noqa: E402
from tests.repair.detection.clean_forms import clean_cases, motion_cases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", nargs="+", default=None,
                        help="only these forms ('motion': the motion cases)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = [(name, name.rsplit("/", 1)[1], volume) for name, volume in clean_cases()]
    cases = ((name, form, volume) for name, form, volume in cases if not args.forms or form in args.forms)
    if not args.forms or "motion" in args.forms:
        cases = [*cases, *((name, "motion", volume) for name, volume in motion_cases())]
    rows = []
    for name, form, volume in cases:
        counts = detect(volume).counts()
        rows.append({"case": name, "form": form, "kinds": counts, "voxels": int(sum(counts.values()))})
        if counts:
            print(f"{name:45s} {counts}", flush=True)
    per_form = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        tally = per_form[row["form"]]
        tally[0] += 1
        tally[1] += row["voxels"] > 0
        tally[2] += row["voxels"]
    print("\n| form | cases | with detections | voxels |\n| --- | ---: | ---: | ---: |")
    for form, (n, hit, voxels) in per_form.items():
        print(f"| {form} | {n} | {hit} | {voxels:,} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "per_form": per_form}, indent=1))


if __name__ == "__main__":
    main()
