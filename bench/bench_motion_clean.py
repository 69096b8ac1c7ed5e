"""Clean scans with motion between slices must give no detection (issue 18's zero false positives).

A patient who moves between the slices of an acquisition leaves slices translated or turned against
their neighbours: no data is lost, so every voxel detection labels is a false one. Each source of the
data list (its stored values, the middle 32 slices on the last axis; a 4D scan: its first volume)
is moved in each way of :data:`tests.generators.motion.MOTIONS`: every odd slice translated by whole
or sub-pixel amounts (an interleaved acquisition, the patient moved between its two passes), the middle
slice alone translated, every odd slice turned by 1 or 3 degrees.

    MEDINPAINT_DATA=data .venv/bin/python bench/bench_motion_clean.py [--json out.json]

Prints false voxels per source and motion (per kind where any) and the total.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medinpaint.repair.detection import detect  # noqa: E402
from tests.repair.detection.clean_forms import motion_cases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name, volume in motion_cases():
        counts = detect(volume).counts()
        rows.append({"case": name, "false": int(sum(counts.values())), "kinds": counts})
        print(f"{name:40s} {rows[-1]['false']:7d} {counts if counts else ''}", flush=True)
    print(f"\ntotal false voxels {sum(r['false'] for r in rows)} in {sum(r['false'] > 0 for r in rows)} "
          f"of {len(rows)} cases")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
