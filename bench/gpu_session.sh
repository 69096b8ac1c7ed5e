#!/usr/bin/env bash
# One short session on a lent GPU (see bench/gpu_kit.sh): the CUDA tests, then the GPU repair
# benchmark (with the network also timed under torch.compile). Results go to $OUT (the device tool brings that folder back).
set -uo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD MEDINPAINT_DATA=$PWD/.gpu/data
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
T0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys, torch, monai; print(sys.version.split()[0], torch.__version__, monai.__version__, torch.cuda.is_available())"
echo "=== tests"
timeout "${TEST_S:-90}" python3 -m pytest -q -p no:cacheprovider tests/repair/test_planes.py tests/train/test_loop.py \
  -k "cuda or planes" > "$OUT/tests.log" 2>&1; echo "tests rc $?"
grep -E "passed|failed|FAILED|ERROR|Error" "$OUT/tests.log" | tail -12
echo "=== bench $(( $(date +%s) - T0 )) s"
timeout "${BENCH_S:-200}" python3 bench/bench_gpu.py --depth 600 --repeats 3 --compile > "$OUT/bench_gpu.log" 2>&1; echo "bench rc $?"
sed -n '/^| measure/,$p' "$OUT/bench_gpu.log"
echo "=== done $(( $(date +%s) - T0 )) s"
